// The MONAI Label wire format (see docs/slicer-ohif.md and services/monailabel.h): thin
// handlers over services::MonaiLabel. Refusals answer {"detail": "..."} (what MONAI Label
// clients print) with the status and voxelgate's own error object beside it.
#include "api/monailabel/monailabel_routes.h"

#include "auth/policy.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "api/query_params.h"
#include "api/session/session_routes.h"
#include "core/clock.h"
#include "core/json_depth.h"
#include "core/strings.h"
#include "http/media_type.h"
#include "http/multipart.h"

namespace vg::api {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxUploadPart = 4ull << 30;
constexpr std::int64_t kSessionSeconds = 24 * 3600;
constexpr int kInferTimeoutSeconds = 900;

http::Response Detail(int status, const std::string& code, const std::string& message) {
  http::Response response = http::JsonResponse(
      status, json{{"detail", message}, {"error", {{"code", code}, {"message", message}}}}.dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

http::Response Detail(const Error& error) {
  http::Response plain = http::ErrorResponse(error);
  json body = json::parse(plain.body, nullptr, false);
  if (!body.is_object()) body = json::object();
  body["detail"] = error.public_message;
  plain.body = body.dump();
  return plain;
}

// A multipart/form-data body (MONAI Label clients' boundaries may hold '$'). Files (the
// parts named file, files or label, or with a filename) are spooled, encrypted, to the
// staging area as they arrive; the few small text fields (params, label_info...) are
// kept, each up to 64 KiB; other parts are skipped.
struct Form {
  std::unique_ptr<services::UploadSpool> spool;
  std::vector<std::pair<std::string, const services::UploadedFile*>> files;  // by part name, in order
  std::map<std::string, std::string> fields;
  const services::UploadedFile* File(const std::string& name) const {
    for (const auto& [n, f] : files)
      if (n == name) return f;
    return nullptr;
  }
  std::vector<const services::UploadedFile*> Files(std::initializer_list<const char*> names) const {
    std::vector<const services::UploadedFile*> out;
    for (const auto& [n, f] : files)
      for (const char* want : names)
        if (n == want) out.push_back(f);
    return out;
  }
};

constexpr std::uint64_t kMaxFormField = 64 * 1024;
constexpr std::size_t kMaxFormParts = 20000;

Result<Form> ReadForm(http::Request& r, const ApiDeps& deps, std::int64_t tenant_id) {
  const http::MediaType type = http::ParseMediaType(r.Header("content-type").value_or(""));
  if (type.type != "multipart/form-data" || type.Param("boundary").empty())
    return Fail(ErrorCode::kInvalidArgument, "send multipart/form-data");
  http::MultipartReader reader(r.body(), type.Param("boundary"), kMaxFormField);
  Form form;
  form.spool = std::make_unique<services::UploadSpool>(deps.archive.blobs, tenant_id, kMaxUploadPart);
  for (std::size_t count = 0;; ++count) {
    if (count > kMaxFormParts)
      return Fail(ErrorCode::kTooLarge, "the form has more than " + std::to_string(kMaxFormParts) + " parts");
    auto part = reader.NextHeaders();
    if (!part) return std::unexpected(part.error());
    if (!*part) break;
    const http::MediaType disposition = http::ParseMediaType((*part)->Header("content-disposition"));
    const std::string name = disposition.Param("name"), filename = disposition.Param("filename");
    if (name == "file" || name == "files" || name == "label" || !filename.empty()) {
      auto spooled = form.spool->Add(filename, reader.Body());
      if (!spooled) return std::unexpected(spooled.error());
      if (*spooled) form.files.emplace_back(name, *spooled);
      continue;
    }
    if (name != "params" && name != "label_info" && name != "label_names") continue;  // skipped unread
    auto value = ReadAll(reader.Body(), kMaxFormField);
    if (!value)
      return Fail(ErrorCode::kTooLarge, "the form field '" + name + "' is over " + std::to_string(kMaxFormField / 1024) + " KiB");
    form.fields[name] = std::move(*value);
  }
  return form;
}

json ParamsOf(const Form& form) {
  auto it = form.fields.find("params");
  if (it == form.fields.end() || !JsonDepthWithin(it->second)) return json::object();
  json j = json::parse(it->second, nullptr, false);
  return j.is_object() ? j : json::object();
}

std::string QueryValue(const http::Request& r, const std::string& key) {
  auto params = ParseQueryParams(r.query);
  if (!params) return {};
  auto it = params->find(key);
  return it == params->end() ? std::string() : it->second;
}

// application/x-www-form-urlencoded ('+' is a space).
std::map<std::string, std::string> ReadUrlEncoded(const std::string& body) {
  std::map<std::string, std::string> out;
  for (auto pair : Split(body, '&')) {
    const size_t eq = pair.find('=');
    std::string key(pair.substr(0, eq)), value(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    for (auto* s : {&key, &value}) {
      std::replace(s->begin(), s->end(), '+', ' ');
      *s = PercentDecode(*s).value_or(*s);
    }
    out[key] = value;
  }
  return out;
}

// ---- auth ----

http::Response AuthEnabled(http::Request&) {
  return http::JsonResponse(200, json{{"enabled", true}, {"client_id", "voxelgate"}, {"realm", ""}}.dump());
}

http::Response AuthToken(http::Request& r, const ApiDeps& deps) {
  auto body = ReadAll(r.body(), 4096);
  if (!body) return Detail(413, "too_large", "the form is limited to 4 KiB");
  auto form = ReadUrlEncoded(*body);
  if (form["username"].empty() || form["password"].empty())
    return Detail(400, "invalid_argument", "send username and password (application/x-www-form-urlencoded)");
  auto signed_in = SignInThrottled(r, deps, form["username"], form["password"]);
  if (auto* refused = std::get_if<http::Response>(&signed_in)) {
    json original = json::parse(refused->body, nullptr, false);
    if (original.is_object() && original.contains("error")) original["detail"] = original["error"].value("message", "");
    refused->body = original.dump();
    return std::move(*refused);
  }
  auto& login = std::get<auth::LoginResult>(signed_in);
  if (login.must_change_password) {
    auth::Principal p = login.principal;
    (void)deps.users.Logout(p);
    return Detail(403, "forbidden", "change your one-time password in voxelgate's browser app first");
  }
  http::Response response = http::JsonResponse(
      200, json{{"access_token", login.session_token}, {"token_type", "Bearer"}, {"expires_in", 12 * 3600}}.dump());
  response.Header("Cache-Control", "no-store");
  response.tenant = login.principal.tenant_slug;
  return response;
}

http::Response TokenValid(http::Request&, const auth::Principal& p) {
  return http::JsonResponse(200, json{{"username", p.username}, {"email", ""}, {"name", p.username},
                                      {"roles", json::array({p.role})}}.dump());
}

// ---- info, training ----

http::Response Info(http::Request&, const auth::Principal& p, const ApiDeps& deps) {
  auto info = deps.monailabel->Info(p.tenant_id, UnixSeconds());
  if (!info) return Detail(info.error());
  http::Response response = http::JsonResponse(200, info->dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

http::Response NoTraining(http::Request& r, const auth::Principal&) {
  if (r.method == "GET") return Detail(404, "not_found", "No Train Tasks are currently Running");
  if (r.method == "DELETE")
    return http::JsonResponse(404, json{{"detail", "no training runs here"}, {"details", json::array({"nothing to stop"})}}.dump());
  return Detail(501, "not_available",
                "training is not available on voxelgate: the vendor trains its models from the clinics' exported training sets");
}

// ---- datastore ----

http::Response UploadImage(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  const std::string name = QueryValue(r, "image");
  auto form = ReadForm(r, deps, p.tenant_id);
  if (!form) return Detail(form.error());
  const std::int64_t now = UnixSeconds();
  auto series = deps.monailabel->StoreImage(p.tenant_id, name, form->Files({"file", "files"}), "upload", 0, now);
  if (!series) return Detail(series.error());
  http::Response response = http::JsonResponse(200, json{{"image", name}, {"series_uid", *series}}.dump());
  response.audit_object = "image=" + *series + " uploaded";
  return response;
}

http::Response SaveLabel(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  const std::int64_t now = UnixSeconds();
  auto series = deps.monailabel->SeriesOf(p.tenant_id, QueryValue(r, "image"), now);
  if (!series) return Detail(series.error());
  auto form = ReadForm(r, deps, p.tenant_id);
  if (!form) return Detail(form.error());
  const services::UploadedFile* label = form->File("label");
  if (!label) return Detail(400, "invalid_argument", "send the label as the form's file field 'label'");
  const json params = ParamsOf(*form);
  auto saved = deps.monailabel->SaveLabel(p.tenant_id, *series, *label, params.value("label_info", json::array()),
                                          p.username);
  if (!saved) return Detail(saved.error());
  http::Response response = http::JsonResponse(
      200, json{{"image", QueryValue(r, "image")},
                {"label", std::to_string(saved->record.id)},
                {"segmentation_id", saved->record.id},
                {"parent_id", saved->record.parent_id ? json(*saved->record.parent_id) : json(nullptr)},
                {"tag", QueryValue(r, "tag").empty() ? "final" : QueryValue(r, "tag")}}
               .dump());
  response.audit_object = "segmentation=" + std::to_string(saved->record.id) + " series=" + *series;
  return response;
}

http::Response ListDatastore(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto listing = deps.monailabel->Datastore(p.tenant_id, QueryValue(r, "output"));
  if (!listing) return Detail(listing.error());
  return http::JsonResponse(200, listing->dump());
}

http::Response StreamNifti(const ApiDeps& deps, std::int64_t tenant_id, const std::string& series, const std::string& filename) {
  http::Response response;
  response.Header("Content-Type", "application/octet-stream");
  response.Header("Content-Disposition", "attachment; filename=\"" + filename + "\"");
  response.Header("Cache-Control", "private, no-store");
  services::Volumes* volumes = &deps.monailabel->volumes();
  response.stream = [volumes, tenant_id, series](http::BodyWriter& out) -> Result<void> {
    return volumes->WriteNifti(tenant_id, series, [&](std::string_view chunk) { return out.Write(chunk); });
  };
  response.audit_object = "series=" + series + " volume";
  return response;
}

// Slicer downloads a sample without its token: a signed id stands for it; any other id
// needs credentials like every route.
http::Response DownloadImage(http::Request& r, const ApiDeps& deps) {
  const std::string id = QueryValue(r, "image");
  const std::int64_t now = UnixSeconds();
  if (id.find('~') != std::string::npos) {
    auto signed_id = deps.monailabel->VerifySignedId(id, now);
    if (!signed_id) return Detail(signed_id.error());
    auto tenant = deps.catalog.FindTenantById(signed_id->tenant_id);
    if (!tenant) return Detail(404, "not_found", "no such image");
    // The link acts for the user it was handed to, with that user's rights now: a user
    // disabled (or moved out of the clinic, or no longer allowed to read) since gets nothing.
    auto user = deps.catalog.FindUserById(signed_id->user_id);
    if (!user || user->tenant_id != signed_id->tenant_id || user->disabled_at)
      return Detail(403, "forbidden", "the user this link was made for may no longer read this clinic's images");
    auth::Principal reader;
    reader.credential = auth::Credential::kSession;
    reader.tenant_id = reader.home_tenant_id = user->tenant_id;
    reader.tenant_slug = tenant->slug;
    reader.user_id = user->id;
    reader.username = user->username;
    reader.role = user->role;
    if (auto allowed = auth::Authorize(reader, "monailabel.read"); !allowed) return Detail(allowed.error());
    http::Response response = StreamNifti(deps, signed_id->tenant_id, signed_id->series_uid, signed_id->series_uid + ".nii.gz");
    storage::AuditEvent event;
    event.tenant_id = event.actor_tenant_id = signed_id->tenant_id;
    event.actor = user->username;
    event.actor_kind = "user";
    event.action = "monailabel.download";
    event.object = "series=" + signed_id->series_uid;
    event.outcome = "ok 200";
    event.remote = r.remote_address;
    event.detail = "signed link";
    deps.audit.Record(std::move(event));
    response.tenant = tenant ? tenant->slug : "";
    return response;
  }
  return Detail(401, "unauthenticated", "this image needs credentials");
}

http::Response DownloadImageAuthed(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto series = deps.monailabel->SeriesOf(p.tenant_id, QueryValue(r, "image"), UnixSeconds());
  if (!series) return Detail(series.error());
  return StreamNifti(deps, p.tenant_id, *series, *series + ".nii.gz");
}

http::Response DownloadLabel(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  std::string image = QueryValue(r, "label");
  if (image.empty()) image = QueryValue(r, "image");
  const std::string tag = QueryValue(r, "tag").empty() ? "final" : QueryValue(r, "tag");
  auto series = deps.monailabel->SeriesOf(p.tenant_id, image, UnixSeconds());
  if (!series) return Detail(series.error());
  auto listing = deps.monailabel->Datastore(p.tenant_id, "all");
  if (!listing) return Detail(listing.error());
  const json& object = (*listing)["objects"].value(*series, json::object());
  if (!object.contains("labels") || !object["labels"].contains(tag))
    return Detail(404, "not_found", "Label NOT Found");
  const std::int64_t id = object["labels"][tag]["info"].value("segmentation_id", std::int64_t{0});
  auto version = deps.segmentations->Find(p.tenant_id, id);
  if (!version) return Detail(version.error());
  auto nifti = deps.segmentations->LabelsNifti(p.tenant_id, version->record);
  if (!nifti) return Detail(nifti.error());
  http::Response response;
  response.Header("Content-Type", "application/octet-stream");
  response.Header("Content-Disposition", "attachment; filename=\"" + *series + "." + tag + ".nii.gz\"");
  response.body = std::move(*nifti);
  response.audit_object = "segmentation=" + std::to_string(id);
  return response;
}

// ---- inference ----

http::Response Infer(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  const std::string model = r.Param("model");
  const std::int64_t now = UnixSeconds();
  Form form;
  if (http::ParseMediaType(r.Header("content-type").value_or("")).type == "multipart/form-data") {
    auto parts = ReadForm(r, deps, p.tenant_id);
    if (!parts) return Detail(parts.error());
    form = std::move(*parts);
  }
  const json params = ParamsOf(form);
  std::string series;
  if (const services::UploadedFile* file = form.File("file"); file && file->size() > 0) {
    const std::string name = QueryValue(r, "image").empty() ? "upload-" + crypto::RandomHexId(6) : QueryValue(r, "image");
    auto stored = deps.monailabel->StoreImage(p.tenant_id, name, {file}, "upload", 0, now);
    if (!stored) return Detail(stored.error());
    series = *stored;
  } else {
    const std::string session = QueryValue(r, "session_id");
    auto found = deps.monailabel->SeriesOf(p.tenant_id, session.empty() ? QueryValue(r, "image") : session, now);
    if (!found) return Detail(found.error());
    series = *found;
  }
  services::ResultFormat format;
  format.extension = params.value("result_extension", std::string(".nrrd"));
  if (format.extension != ".nii.gz" && format.extension != ".nii") format.extension = ".nrrd";
  format.uint16 = params.value("result_dtype", std::string("uint8")) == "uint16";
  // gzip unless the client says otherwise (OHIF's panels ask for raw NRRD explicitly): a
  // 512 x 512 x 275 label map is 72 MB raw and a few hundred kB compressed.
  format.compress = params.contains("result_compress") && params["result_compress"].is_boolean()
                        ? params["result_compress"].get<bool>()
                        : true;
  auto result = deps.monailabel->Infer(p.tenant_id, model, series, p.username, format, kInferTimeoutSeconds, nullptr,
                                       deps.jobs_queued);
  if (!result) return Detail(result.error());
  const std::string output = QueryValue(r, "output");
  http::Response response;
  if (output == "json") {
    response = http::JsonResponse(200, result->params.dump());
  } else if (output == "image") {
    response.Header("Content-Type", "application/octet-stream");
    response.Header("Content-Disposition", "attachment; filename=\"" + result->filename + "\"");
    response.body = std::move(result->bytes);
  } else {
    // MONAI Label's default: a form with the params (JSON) and the label file.
    const std::string boundary = "voxelgate" + crypto::RandomHexId(12);
    std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"params\"\r\nContent-Type: application/json\r\n\r\n";
    body += result->params.dump();
    body += "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"" + result->filename +
            "\"\r\nContent-Type: application/octet-stream\r\n\r\n";
    body += result->bytes;
    body += "\r\n--" + boundary + "--\r\n";
    response.Header("Content-Type", "multipart/form-data; boundary=" + boundary);
    response.body = std::move(body);
  }
  response.Header("Cache-Control", "no-store");
  response.audit_object = fmt::format("job={} algorithm={} series={}", result->params.value("job_id", std::int64_t{0}), model, series);
  return response;
}

// ---- next sample, sessions ----

http::Response NextSample(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto sample = deps.monailabel->NextSample(p.tenant_id, p.tenant_slug, p.user_id, r.Param("strategy"), UnixSeconds());
  if (!sample) return Detail(sample.error());
  return http::JsonResponse(200, sample->dump());
}

http::Response CreateSession(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto form = ReadForm(r, deps, p.tenant_id);
  if (!form) return Detail(form.error());
  const std::int64_t now = UnixSeconds();
  const std::string id = "session-" + crypto::RandomHexId(12);
  auto series =
      deps.monailabel->StoreImage(p.tenant_id, id, form->Files({"files", "file"}), "session", now + kSessionSeconds, now);
  if (!series) return Detail(series.error());
  http::Response response = http::JsonResponse(
      200, json{{"session_id", id},
                {"session_info", {{"name", id}, {"image", *series}, {"last_access_ts", now}, {"expiry", now + kSessionSeconds}}}}
               .dump());
  response.audit_object = "session=" + id + " series=" + *series;
  return response;
}

http::Response GetSession(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto series = deps.monailabel->SeriesOf(p.tenant_id, r.Param("id"), UnixSeconds());
  if (!series || !r.Param("id").starts_with("session-")) return Detail(404, "not_found", "Session NOT Found");
  return http::JsonResponse(200, json{{"session_id", r.Param("id")}, {"image", *series}}.dump());
}

http::Response DeleteSession(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  if (!r.Param("id").starts_with("session-")) return Detail(404, "not_found", "Session NOT Found");
  if (auto ok = deps.aliases->RemoveImageAlias(p.tenant_id, r.Param("id")); !ok)
    return Detail(404, "not_found", "Session NOT Found");
  return http::JsonResponse(200, json{{"session_id", r.Param("id")}, {"deleted", true}}.dump());
}

}  // namespace

void AddMonaiLabelRoutes(http::Router& router, const ApiDeps& deps) {
  if (deps.monailabel_prefix.empty() || deps.monailabel_prefix == "off") return;
  const std::string p = deps.monailabel_prefix;
  // Both spellings: Slicer writes the trailing slash, OHIF v2 does not.
  for (const char* tail : {"/auth/", "/auth"})
    AddPublic(router, "GET", p + tail, "monailabel_auth", "monailabel.auth", AuthEnabled);
  AddPublic(router, "POST", p + "/auth/token", "monailabel_token", "monailabel.auth",
            [deps](http::Request& r) { return AuthToken(r, deps); });
  AddGuarded(router, deps, "GET", p + "/auth/token/valid", "monailabel_token_valid", "monailabel.read",
             [](http::Request& r, const auth::Principal& principal) { return TokenValid(r, principal); });
  for (const char* tail : {"/info/", "/info"})
    AddGuarded(router, deps, "GET", p + tail, "monailabel_info", "monailabel.read", WithDeps(deps, Info));
  for (const std::string method : {"GET", "POST", "DELETE"})
    for (const char* tail : {"/train/", "/train", "/train/{model}"})
      AddGuarded(router, deps, method, p + tail, "monailabel_train", "monailabel.read",
                 [](http::Request& r, const auth::Principal& principal) { return NoTraining(r, principal); });
  AddGuarded(router, deps, "POST", p + "/infer/{model}", "monailabel_infer", "monailabel.infer", WithDeps(deps, Infer));
  for (const char* tail : {"/datastore/", "/datastore/image"})
    AddGuarded(router, deps, "PUT", p + tail, "monailabel_upload", "monailabel.upload", WithDeps(deps, UploadImage));
  AddGuarded(router, deps, "PUT", p + "/datastore/label", "monailabel_label", "segmentations.write", WithDeps(deps, SaveLabel));
  AddGuarded(router, deps, "GET", p + "/datastore/", "monailabel_datastore", "monailabel.read", WithDeps(deps, ListDatastore));
  AddPublic(router, "GET", p + "/datastore/image", "monailabel_image", "monailabel.download", [deps](http::Request& r) {
    if (QueryValue(r, "image").find('~') != std::string::npos) return DownloadImage(r, deps);
    auto principal = AdmitRequest(r, deps, "monailabel.read");
    http::Response response = principal ? DownloadImageAuthed(r, *principal, deps) : AuthErrorResponse(principal.error());
    AuditCall(deps, r, principal ? &*principal : nullptr, "monailabel.read", "image=" + QueryValue(r, "image").substr(0, 80),
              response.status);
    if (principal) response.tenant = principal->tenant_slug;
    return response;
  });
  AddGuarded(router, deps, "GET", p + "/datastore/label", "monailabel_label_get", "monailabel.read", WithDeps(deps, DownloadLabel));
  AddGuarded(router, deps, "POST", p + "/activelearning/{strategy}", "monailabel_next", "monailabel.read", WithDeps(deps, NextSample));
  for (const char* tail : {"/session/", "/session"})
    AddGuarded(router, deps, "PUT", p + tail, "monailabel_session", "monailabel.upload", WithDeps(deps, CreateSession));
  AddGuarded(router, deps, "GET", p + "/session/{id}", "monailabel_session_get", "monailabel.read", WithDeps(deps, GetSession));
  AddGuarded(router, deps, "DELETE", p + "/session/{id}", "monailabel_session_delete", "monailabel.upload",
             WithDeps(deps, DeleteSession));
}

}  // namespace vg::api
