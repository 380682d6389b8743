#include "api/dicomweb/negotiation.h"

#include "http/media_type.h"

namespace vg::api {
namespace {
std::vector<http::MediaType> AcceptOf(const http::Request& request) {
  auto header = request.Header("accept");
  if (!header || header->empty()) return {http::ParseMediaType("*/*")};
  return http::ParseAccept(*header);
}
}  // namespace

std::optional<InstanceRepresentation> NegotiateInstances(const http::Request& request) {
  for (const auto& media : AcceptOf(request)) {
    if (media.q <= 0) continue;
    if (media.type == "*/*" || media.type == "multipart/*") return InstanceRepresentation{};
    if (media.type == "multipart/related") {
      std::string type = media.Param("type");
      if (!type.empty() && type != "application/dicom" && type != "application/*" && type != "*/*") continue;
      std::string ts = media.Param("transfer-syntax");
      if (ts.empty() || ts == "*") return InstanceRepresentation{};
      return InstanceRepresentation{false, ts};
    }
  }
  return std::nullopt;
}

std::optional<FrameRepresentation> NegotiateFrames(const http::Request& request) {
  for (const auto& media : AcceptOf(request)) {
    if (media.q <= 0) continue;
    if (media.type == "*/*" || media.type == "multipart/*") return FrameRepresentation{true, false};
    if (media.type == "application/octet-stream") {
      std::string ts = media.Param("transfer-syntax");
      return FrameRepresentation{false, ts == "*"};
    }
    if (media.type == "multipart/related") {
      std::string type = media.Param("type");
      std::string ts = media.Param("transfer-syntax");
      if (type.empty() || type == "application/octet-stream")
        return FrameRepresentation{true, ts == "*"};
      if (type.starts_with("image/") || type.starts_with("video/") || type == "*/*")
        return FrameRepresentation{true, true};
    }
  }
  return std::nullopt;
}

bool AcceptsDicomJson(const http::Request& request) {
  for (const auto& media : AcceptOf(request)) {
    if (http::MediaRangeMatches(media, "application/dicom+json") || http::MediaRangeMatches(media, "application/json"))
      return true;
  }
  return false;
}

std::optional<std::string> NegotiateRendered(const http::Request& request) {
  for (const auto& media : AcceptOf(request)) {
    if (http::MediaRangeMatches(media, "image/jpeg")) return "image/jpeg";
    if (http::MediaRangeMatches(media, "image/png")) return "image/png";
  }
  return std::nullopt;
}

std::string FrameMediaType(const std::string& ts) {
  if (ts == "1.2.840.10008.1.2.4.50" || ts == "1.2.840.10008.1.2.4.51" || ts == "1.2.840.10008.1.2.4.57" ||
      ts == "1.2.840.10008.1.2.4.70")
    return "image/jpeg";
  if (ts == "1.2.840.10008.1.2.4.80" || ts == "1.2.840.10008.1.2.4.81") return "image/jls";
  if (ts == "1.2.840.10008.1.2.4.90" || ts == "1.2.840.10008.1.2.4.91") return "image/jp2";
  if (ts == "1.2.840.10008.1.2.4.201" || ts == "1.2.840.10008.1.2.4.202" || ts == "1.2.840.10008.1.2.4.203")
    return "image/jphc";
  if (ts == "1.2.840.10008.1.2.5") return "image/dicom-rle";
  return "application/octet-stream";
}

}  // namespace vg::api
