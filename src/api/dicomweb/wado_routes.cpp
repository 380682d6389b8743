// WADO-RS: instances, metadata, frames, bulk data, rendered images and thumbnails.
#include <cmath>
#include <cstdlib>

#include "api/dicomweb/dicomweb_routes.h"
#include "api/dicomweb/negotiation.h"
#include "core/strings.h"
#include "crypto/crypto.h"
#include "dicom/dicom.h"
#include "services/prefetch.h"
#include "services/retrieve.h"

namespace vg::api {
namespace {

services::RetrieveScope ScopeOf(const http::Request& request) {
  services::RetrieveScope scope;
  scope.study_uid = request.Param("study");
  if (request.params.count("series")) scope.series_uid = request.Param("series");
  if (request.params.count("instance")) scope.sop_uid = request.Param("instance");
  return scope;
}

std::string NewBoundary() { return "vg-" + crypto::RandomHexId(12); }

// Streams the instances as multipart/related; Content-Length is known from the index.
http::Response RetrieveInstances(http::Request& request, const auth::Principal& principal, const ApiDeps& deps) {
  auto representation = NegotiateInstances(request);
  if (!representation)
    return http::ErrorResponse(406, "unsupported",
                               "instances are served as multipart/related; type=\"application/dicom\"");
  services::Retrieval retrieval(deps.archive);
  auto rows = retrieval.Locate(principal.tenant_id, ScopeOf(request));
  if (!rows) return http::ErrorResponse(rows.error());
  if (!representation->any_transfer_syntax) {
    for (const auto& row : *rows)
      if (row.transfer_syntax != representation->transfer_syntax)
        return http::ErrorResponse(406, "unsupported",
                                   "an instance is stored in transfer syntax " + row.transfer_syntax +
                                       " and this server does not transcode; ask for transfer-syntax=*");
  }
  std::string boundary = NewBoundary();
  std::vector<std::string> heads;
  std::uint64_t total = 0;
  for (const auto& row : *rows) {
    heads.push_back("--" + boundary + "\r\nContent-Type: application/dicom; transfer-syntax=" + row.transfer_syntax +
                    "\r\nContent-Length: " + std::to_string(row.size) + "\r\n\r\n");
    total += heads.back().size() + static_cast<std::uint64_t>(row.size) + 2;
  }
  std::string tail = "--" + boundary + "--\r\n";
  total += tail.size();

  http::Response response;
  response.Header("Content-Type", "multipart/related; type=\"application/dicom\"; boundary=" + boundary);
  response.stream_length = total;
  std::int64_t tenant = principal.tenant_id;
  response.stream = [deps, tenant, rows = std::move(*rows), heads = std::move(heads),
                     tail](http::BodyWriter& out) mutable -> Result<void> {
    services::Retrieval streaming(deps.archive);
    services::InstancePrefetcher instances(streaming, tenant, std::move(rows));
    std::vector<std::uint8_t> buffer;
    for (size_t i = 0;; ++i) {
      auto item = instances.Next();
      if (!item) return std::unexpected(item.error());
      if (!*item) break;
      if (auto r = out.Write(heads[i]); !r) return r;
      std::int64_t sent = 0;
      if ((*item)->stream) {
        buffer.resize(crypto::kStreamChunk);
        while (true) {
          auto n = (*item)->stream->Read(buffer);
          if (!n) return std::unexpected(n.error());
          if (*n == 0) break;
          sent += static_cast<std::int64_t>(*n);
          if (auto r = out.Write(std::span(buffer.data(), *n)); !r) return r;
        }
      } else {
        sent = static_cast<std::int64_t>((*item)->bytes.size());
        if (auto r = out.Write((*item)->bytes); !r) return r;
      }
      if (sent != (*item)->row->size) return Fail(ErrorCode::kInternal, "stored object has the wrong size");
      if (auto r = out.Write("\r\n"); !r) return r;
    }
    return out.Write(tail);
  };
  return response;
}

// Streams the JSON array instance by instance, in writes of about 256 KiB: no buffer
// the size of the whole answer, whatever the series size.
http::Response Metadata(http::Request& request, const auth::Principal& principal, const ApiDeps& deps) {
  if (!AcceptsDicomJson(request))
    return http::ErrorResponse(406, "unsupported", "metadata is served as application/dicom+json");
  services::Retrieval retrieval(deps.archive);
  auto rows = retrieval.Locate(principal.tenant_id, ScopeOf(request), true);
  if (!rows) return http::ErrorResponse(rows.error());
  // Open the first record now, so a key or storage failure is a proper error status.
  std::string base = request.BaseUrl() + "/dicomweb";
  auto first = retrieval.InstanceMetadata(principal.tenant_id, rows->front(), base);
  if (!first) return http::ErrorResponse(first.error());
  http::Response response;
  response.Header("Content-Type", "application/dicom+json");
  std::int64_t tenant = principal.tenant_id;
  response.stream = [deps, tenant, base, rows = std::move(*rows),
                     first = std::move(*first)](http::BodyWriter& out) -> Result<void> {
    constexpr std::size_t kFlushBytes = 256 * 1024;
    services::Retrieval streaming(deps.archive);
    std::string buffer = "[" + first;
    for (size_t i = 1; i < rows.size(); ++i) {
      auto metadata = streaming.InstanceMetadata(tenant, rows[i], base);
      if (!metadata) return std::unexpected(metadata.error());
      buffer += ',';
      buffer += *metadata;
      if (buffer.size() >= kFlushBytes) {
        if (auto r = out.Write(buffer); !r) return r;
        buffer.clear();
      }
    }
    buffer += ']';
    return out.Write(buffer);
  };
  return response;
}

Result<std::vector<std::int64_t>> ParseFrameList(const std::string& text) {
  std::vector<std::int64_t> frames;
  for (auto part : Split(text, ',')) {
    auto n = ParseUint(Trim(part));
    if (!n || *n == 0 || *n > 1'000'000) return Fail(ErrorCode::kInvalidArgument, "frame numbers are 1-based integers");
    frames.push_back(static_cast<std::int64_t>(*n));
  }
  if (frames.empty() || frames.size() > 10000) return Fail(ErrorCode::kInvalidArgument, "give 1 to 10000 frame numbers");
  return frames;
}

// One instance, decrypted into memory (frames, bulk data and rendering need DCMTK).
Result<std::pair<storage::InstanceRow, std::string>> LoadInstance(const http::Request& request, const ApiDeps& deps,
                                                                  std::int64_t tenant) {
  services::Retrieval retrieval(deps.archive);
  auto rows = retrieval.Locate(tenant, ScopeOf(request));
  if (!rows) return std::unexpected(rows.error());
  auto bytes = retrieval.ReadWhole(tenant, rows->front());
  if (!bytes) return std::unexpected(bytes.error());
  return std::make_pair(rows->front(), std::move(*bytes));
}

http::Response MultipartOf(const std::vector<std::pair<std::string, std::string>>& parts, const std::string& type) {
  std::string boundary = NewBoundary();
  http::Response response;
  response.Header("Content-Type", "multipart/related; type=\"" + type + "\"; boundary=" + boundary);
  for (const auto& [content_type, bytes] : parts) {
    response.body += "--" + boundary + "\r\nContent-Type: " + content_type + "\r\nContent-Length: " +
                     std::to_string(bytes.size()) + "\r\n\r\n";
    response.body += bytes;
    response.body += "\r\n";
  }
  response.body += "--" + boundary + "--\r\n";
  return response;
}

http::Response Frames(http::Request& request, const auth::Principal& principal, const ApiDeps& deps) {
  auto representation = NegotiateFrames(request);
  if (!representation)
    return http::ErrorResponse(406, "unsupported",
                               "frames are served as multipart/related; type=\"application/octet-stream\"");
  auto frame_numbers = ParseFrameList(request.Param("frames"));
  if (!frame_numbers) return http::ErrorResponse(frame_numbers.error());
  auto instance = LoadInstance(request, deps, principal.tenant_id);
  if (!instance) return http::ErrorResponse(instance.error());
  auto frames = dicom::ExtractFrames(instance->second, *frame_numbers, representation->allow_compressed);
  if (!frames) return http::ErrorResponse(frames.error());
  http::Response response;
  if (!representation->multipart) {
    if (frames->size() != 1)
      return http::ErrorResponse(406, "unsupported", "several frames need Accept: multipart/related");
    response.Header("Content-Type", "application/octet-stream");
    response.body = std::move((*frames)[0].bytes);
  } else {
    std::vector<std::pair<std::string, std::string>> parts;
    std::string type = "application/octet-stream";
    for (auto& frame : *frames) {
      std::string media = FrameMediaType(frame.transfer_syntax);
      if (media != "application/octet-stream") type = media;
      parts.emplace_back(media + "; transfer-syntax=" + frame.transfer_syntax, std::move(frame.bytes));
    }
    response = MultipartOf(parts, type);
  }
  return response;
}

http::Response BulkData(http::Request& request, const auth::Principal& principal, const ApiDeps& deps) {
  auto representation = NegotiateFrames(request);
  if (!representation)
    return http::ErrorResponse(406, "unsupported", "bulk data is served as application/octet-stream");
  auto tag = dicom::LookupTag(request.Param("tag"));
  if (!tag) return http::ErrorResponse(404, "not_found", "no such bulk data");
  auto instance = LoadInstance(request, deps, principal.tenant_id);
  if (!instance) return http::ErrorResponse(instance.error());
  auto bytes = dicom::ExtractBulkData(instance->second, tag->group, tag->element);
  if (!bytes) return http::ErrorResponse(bytes.error());
  http::Response response;
  if (representation->multipart) {
    response = MultipartOf({{"application/octet-stream", std::move(*bytes)}}, "application/octet-stream");
  } else {
    response.Header("Content-Type", "application/octet-stream");
    response.body = std::move(*bytes);
  }
  return response;
}

// Query parameters of /rendered (PS3.18 §8.3.5.1): window=center,width[,function],
// quality=1..100, viewport=w,h.
Result<dicom::RenderOptions> ParseRenderOptions(const std::string& query) {
  dicom::RenderOptions options;
  for (auto pair : Split(query, '&')) {
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string key(pair.substr(0, eq));
    auto value = PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value) return Fail(ErrorCode::kInvalidArgument, "bad percent-encoding in the query string");
    if (key == "window") {
      auto parts = Split(*value, ',');
      if (parts.size() < 2) return Fail(ErrorCode::kInvalidArgument, "window is center,width[,function]");
      // Whole, finite numbers (strtod took "nan", "inf" and trailing junk).
      auto center = ParseFiniteDouble(Trim(parts[0]));
      auto width = ParseFiniteDouble(Trim(parts[1]));
      if (!center || !width || std::abs(*center) > 1e9 || *width < 1 || *width > 1e9)
        return Fail(ErrorCode::kInvalidArgument, "window is center,width: finite numbers, width at least 1");
      options.window_center = *center;
      options.window_width = *width;
    } else if (key == "quality") {
      auto q = ParseUint(*value);
      if (!q || *q < 1 || *q > 100) return Fail(ErrorCode::kInvalidArgument, "quality is 1..100");
      options.quality = static_cast<int>(*q);
    } else if (key == "viewport") {
      auto parts = Split(*value, ',');
      auto w = ParseUint(parts[0]);
      auto h = parts.size() > 1 ? ParseUint(parts[1]) : w;
      if (!w || !h || *w == 0 || *w > 4096 || *h == 0 || *h > 4096)
        return Fail(ErrorCode::kInvalidArgument, "viewport is width,height (1..4096)");
      options.max_size = static_cast<int>(std::max(*w, *h));
    } else if (key == "annotation" || key == "charset" || key == "iccprofile") {
      // Accepted and ignored: we render no burned-in annotation.
    } else {
      return Fail(ErrorCode::kInvalidArgument, "unknown rendering parameter: " + key);
    }
  }
  return options;
}

http::Response Rendered(http::Request& request, const auth::Principal& principal, const ApiDeps& deps,
                        bool thumbnail) {
  auto media = NegotiateRendered(request);
  if (!media) return http::ErrorResponse(406, "unsupported", "rendered images are served as image/jpeg or image/png");
  auto options = ParseRenderOptions(request.query);
  if (!options) return http::ErrorResponse(options.error());
  options->format = *media == "image/png" ? dicom::ImageFormat::kPng : dicom::ImageFormat::kJpeg;
  if (thumbnail && options->max_size == 0) options->max_size = 128;
  if (request.params.count("frames")) {
    auto frames = ParseFrameList(request.Param("frames"));
    if (!frames) return http::ErrorResponse(frames.error());
    options->frame = frames->front();
  }
  services::Retrieval retrieval(deps.archive);
  auto rows = retrieval.Locate(principal.tenant_id, ScopeOf(request));
  if (!rows) return http::ErrorResponse(rows.error());
  // Study and series thumbnails show the middle image of the (first) series.
  std::vector<storage::InstanceRow> images;
  for (const auto& row : *rows)
    if (row.frames > 0 && row.series_uid == (images.empty() ? row.series_uid : images.front().series_uid))
      images.push_back(row);
  if (images.empty()) return http::ErrorResponse(404, "not_found", "nothing here has pixel data to render");
  const auto& chosen = images[images.size() / 2];
  auto bytes = retrieval.ReadWhole(principal.tenant_id, chosen);
  if (!bytes) return http::ErrorResponse(bytes.error());
  auto image = dicom::RenderFrame(*bytes, *options);
  if (!image) return http::ErrorResponse(image.error());
  http::Response response;
  response.Header("Content-Type", *media);
  response.Header("Cache-Control", "private, max-age=3600");
  response.body = std::move(*image);
  return response;
}

}  // namespace

void AddWadoRoutes(http::Router& router, const ApiDeps& deps) {
  const std::string study = "/dicomweb/studies/{study}";
  const std::string series = study + "/series/{series}";
  const std::string instance = series + "/instances/{instance}";
  auto read = [](const char* action, AuthedHandler handler) { return std::pair{std::string(action), handler}; };
  auto retrieve = read("dicomweb.wado", [deps](http::Request& r, const auth::Principal& p) {
    return RetrieveInstances(r, p, deps);
  });
  auto metadata = read("dicomweb.metadata", [deps](http::Request& r, const auth::Principal& p) {
    return Metadata(r, p, deps);
  });
  auto rendered = read("dicomweb.rendered", [deps](http::Request& r, const auth::Principal& p) {
    return Rendered(r, p, deps, false);
  });
  auto thumbnail = read("dicomweb.thumbnail", [deps](http::Request& r, const auth::Principal& p) {
    return Rendered(r, p, deps, true);
  });
  auto frames = read("dicomweb.frames", [deps](http::Request& r, const auth::Principal& p) {
    return Frames(r, p, deps);
  });
  auto bulkdata = read("dicomweb.bulkdata", [deps](http::Request& r, const auth::Principal& p) {
    return BulkData(r, p, deps);
  });
  auto add = [&](const std::string& pattern, const char* name, const std::pair<std::string, AuthedHandler>& route) {
    AddGuarded(router, deps, "GET", pattern, name, route.first, route.second);
  };
  add(study, "wado_study", retrieve);
  add(series, "wado_series", retrieve);
  add(instance, "wado_instance", retrieve);
  add(study + "/metadata", "wado_study_metadata", metadata);
  add(series + "/metadata", "wado_series_metadata", metadata);
  add(instance + "/metadata", "wado_instance_metadata", metadata);
  add(instance + "/frames/{frames}", "wado_frames", frames);
  add(instance + "/bulkdata/{tag}", "wado_bulkdata", bulkdata);
  add(study + "/rendered", "wado_study_rendered", rendered);
  add(series + "/rendered", "wado_series_rendered", rendered);
  add(instance + "/rendered", "wado_instance_rendered", rendered);
  add(instance + "/frames/{frames}/rendered", "wado_frame_rendered", rendered);
  add(study + "/thumbnail", "wado_study_thumbnail", thumbnail);
  add(series + "/thumbnail", "wado_series_thumbnail", thumbnail);
  add(instance + "/thumbnail", "wado_instance_thumbnail", thumbnail);
  add(instance + "/frames/{frames}/thumbnail", "wado_frame_thumbnail", thumbnail);
}

}  // namespace vg::api
