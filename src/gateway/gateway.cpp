#include "gateway/gateway.h"

#include <fcntl.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/clock.h"
#include "core/logging.h"
#include "core/strings.h"
#include "http/client.h"
#include "http/media_type.h"
#include "http/multipart.h"

namespace vg::gateway {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// DICOM JSON tags the gateway reads from the server's answers.
constexpr const char* kFailedSops = "00081198";
constexpr const char* kReferencedSopUid = "00081155";
constexpr const char* kFailureReason = "00081197";
constexpr const char* kSeriesUid = "0020000E";
constexpr const char* kSopUid = "00080018";
constexpr const char* kModality = "00080060";

std::string FirstValue(const json& object, const char* tag) {
  if (!object.is_object() || !object.contains(tag)) return {};
  const json& element = object[tag];
  if (!element.contains("Value") || !element["Value"].is_array() || element["Value"].empty()) return {};
  const json& v = element["Value"][0];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  return {};
}

Result<std::string> ReadSecretLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return Fail(ErrorCode::kInvalidArgument, "cannot read " + path);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) return Fail(ErrorCode::kInvalidArgument, path + " is empty");
  return line;
}

storage::SealedBytes Seal(const crypto::SecretKey& key, const std::string& context, const std::string& text) {
  return crypto::Seal(key, text, context);
}

Result<std::string> OpenSealed(const crypto::SecretKey& key, const std::string& context, const storage::SealedBytes& sealed) {
  return crypto::Open(key, sealed, context);
}

// A server's refusal that will not change by sending again.
bool Permanent(int reason) { return reason == 0xC000 || reason == 0xA900 || reason == 0x0111 || reason == 0x0122; }

std::string Hex(int v) {
  char text[8];
  std::snprintf(text, sizeof text, "%04X", v);
  return text;
}

}  // namespace

Result<GatewayConfig> LoadGatewayConfig(const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Fail(ErrorCode::kInvalidArgument, "cannot read " + path + ": " + std::string(e.description()));
  }
  GatewayConfig c;
  const std::map<std::string, std::vector<std::string>> known = {
      {"gateway", {"data_dir", "ae_title", "dicom_host", "dicom_port", "callers", "status_listen", "profile", "retry_max_seconds",
                   "batch_instances"}},
      {"server", {"url", "token_file", "ca_file", "allow_insecure_http", "poll_seconds", "results_hours"}},
      {"pacs", {"ae_title", "host", "port"}}};
  for (const auto& [section, node] : table) {
    auto it = known.find(std::string(section.str()));
    if (it == known.end() || !node.is_table())
      return Fail(ErrorCode::kInvalidArgument, "unknown section [" + std::string(section.str()) + "] in " + path);
    for (const auto& [key, value] : *node.as_table())
      if (std::find(it->second.begin(), it->second.end(), std::string(key.str())) == it->second.end())
        return Fail(ErrorCode::kInvalidArgument,
                    "unknown key " + std::string(section.str()) + "." + std::string(key.str()) + " in " + path);
  }
  auto str = [&](const char* section, const char* key, std::string& out) {
    if (auto v = table[section][key].value<std::string>()) out = *v;
  };
  auto num = [&](const char* section, const char* key, auto& out) {
    if (auto v = table[section][key].value<std::int64_t>()) out = static_cast<std::remove_reference_t<decltype(out)>>(*v);
  };
  str("gateway", "data_dir", c.data_dir);
  str("gateway", "ae_title", c.ae_title);
  str("gateway", "dicom_host", c.dicom_host);
  num("gateway", "dicom_port", c.dicom_port);
  if (auto* callers = table["gateway"]["callers"].as_array())
    for (const auto& v : *callers)
      if (auto s = v.value<std::string>()) c.callers.push_back(*s);
  str("gateway", "status_listen", c.status_listen);
  str("gateway", "profile", c.profile);
  num("gateway", "retry_max_seconds", c.retry_max_seconds);
  num("gateway", "batch_instances", c.batch_instances);
  str("server", "url", c.server_url);
  str("server", "token_file", c.token_file);
  str("server", "ca_file", c.ca_file);
  if (auto v = table["server"]["allow_insecure_http"].value<bool>()) c.allow_insecure_http = *v;
  num("server", "poll_seconds", c.poll_seconds);
  num("server", "results_hours", c.results_hours);
  str("pacs", "ae_title", c.pacs_ae);
  str("pacs", "host", c.pacs_host);
  num("pacs", "port", c.pacs_port);
  if (c.server_url.empty() || c.token_file.empty())
    return Fail(ErrorCode::kInvalidArgument, path + ": [server] needs url and token_file");
  auto url = http::ParseUrl(c.server_url);
  if (!url) return std::unexpected(url.error());
  if (!c.server_url.starts_with("https://") && !c.allow_insecure_http)
    return Fail(ErrorCode::kInvalidArgument, path + ": [server] url must be https:// (patient data crosses it); "
                                                    "allow_insecure_http = true accepts http:// for tests");
  if (c.pacs_ae.empty()) return Fail(ErrorCode::kInvalidArgument, path + ": [pacs] needs ae_title, host and port");
  if (c.batch_instances < 1) c.batch_instances = 1;
  return c;
}

Result<std::unique_ptr<Gateway>> Gateway::Open(GatewayConfig config) {
  std::error_code ec;
  fs::create_directories(fs::path(config.data_dir) / "outbox", ec);
  if (ec) return Fail(ErrorCode::kInternal, "cannot create " + config.data_dir, ec.message());
  auto profile = dicom::ParseDeidProfile(config.profile);
  if (!profile) return std::unexpected(profile.error());
  auto key = crypto::LoadOrCreateKeyFile((fs::path(config.data_dir) / "gateway.key").string(), true);
  if (!key) return std::unexpected(key.error());
  auto store = storage::GatewayStore::Open((fs::path(config.data_dir) / "gateway.db").string());
  if (!store) return std::unexpected(store.error());
  auto token = ReadSecretLine(config.token_file);
  if (!token) return std::unexpected(token.error());
  return std::unique_ptr<Gateway>(new Gateway(std::move(config), std::move(*store), *key, *profile, *token));
}

Result<std::string> Gateway::WriteOutboxFile(const std::string& bytes) {
  const fs::path dir = fs::path(config_.data_dir) / "outbox";
  const std::string name = "q-" + crypto::RandomHexId(16);
  const fs::path final_path = dir / (name + ".dcm"), temp = dir / (name + ".tmp");
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Fail(ErrorCode::kResourceExhausted, "the gateway cannot write its queue");
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return Fail(ErrorCode::kResourceExhausted, "the gateway's disk is full");
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fdatasync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(temp.c_str(), final_path.c_str()) != 0)
    return Fail(ErrorCode::kResourceExhausted, "the gateway cannot make its queue durable");
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return final_path.string();
}

dimse::ScpReply Gateway::Receive(std::string part10, const std::string& calling_ae) {
  auto identity = dicom::ReadIdentity(part10);
  if (!identity) {
    ++refused_;
    return {0xC000, "cannot read the dataset"};
  }
  auto result = dicom::Deidentify(part10, profile_, key_);
  if (!result) {
    ++refused_;
    return {0xC000, "cannot de-identify the dataset"};
  }
  storage::ReceivedInstance record;
  record.sop_uid = result->sop_uid;
  record.study_uid = result->study_uid;
  record.pseudonym = result->pseudonym;
  record.now = UnixSeconds();
  for (const auto& [original, replaced] : result->uid_map)
    record.uids.emplace_back(replaced, Seal(key_, "uid:" + replaced, original));
  record.patient_sealed = Seal(key_, "patient:" + result->pseudonym,
                               json{{"name", identity->patient_name},
                                    {"id", identity->patient_id},
                                    {"issuer", identity->issuer_of_patient_id},
                                    {"birth_date", identity->patient_birth_date},
                                    {"sex", identity->patient_sex}}
                                   .dump());
  record.study_sealed = Seal(key_, "study:" + result->study_uid,
                             json{{"date", identity->study_date},
                                  {"time", identity->study_time},
                                  {"accession", identity->accession_number},
                                  {"id", identity->study_id},
                                  {"referring", identity->referring_physician_name},
                                  {"description", identity->study_description}}
                                 .dump());
  auto file = WriteOutboxFile(result->part10);
  if (!file) {
    ++refused_;
    NoteError(file.error().public_message);
    return {0xA700, file.error().public_message};
  }
  record.file = *file;
  record.size = static_cast<std::int64_t>(result->part10.size());
  if (auto ok = store_->RecordReceived(record); !ok) {
    ++refused_;
    NoteError("the gateway's table could not be written");
    return {0xA700, "the gateway cannot record the instance"};
  }
  ++received_;
  (void)calling_ae;
  return {0, ""};
}

Result<int> Gateway::ForwardOnce(std::int64_t now) {
  std::lock_guard lock(forward_mutex_);
  auto due = store_->DueOutbox(now, config_.batch_instances);
  if (!due) return std::unexpected(due.error());
  if (due->empty()) return 0;
  const std::string boundary = "vgGateway" + crypto::RandomHexId(12);
  std::string body;
  std::vector<std::string> sending;
  for (const auto& item : *due) {
    std::ifstream in(item.file, std::ios::binary);
    if (!in) {
      if (auto dead = store_->Dead(item.sop_uid, "its queued file is missing"); !dead)
        return std::unexpected(dead.error());
      continue;
    }
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    body += "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n";
    body += bytes;
    body += "\r\n";
    sending.push_back(item.sop_uid);
  }
  if (sending.empty()) return 0;
  body += "--" + boundary + "--\r\n";
  http::ClientRequest request;
  request.method = "POST";
  request.url = config_.server_url + "/dicomweb/studies";
  request.headers = {{"Authorization", "Bearer " + token_},
                     {"Content-Type", "multipart/related; type=\"application/dicom\"; boundary=" + boundary},
                     {"Accept", "application/dicom+json"}};
  request.body = std::move(body);
  request.timeout = std::chrono::seconds(120);
  request.max_response_bytes = 8u << 20;
  request.ca_file = config_.ca_file;
  auto response = http::Send(request);
  std::int64_t attempts = 0;
  for (const auto& item : *due) attempts = std::max(attempts, item.attempts);
  const std::int64_t backoff = std::min<std::int64_t>(config_.retry_max_seconds, std::int64_t{1} << std::min<std::int64_t>(attempts, 12));
  if (!response || (response->status != 200 && response->status != 202 && response->status != 409)) {
    const std::string why = !response ? "the server cannot be reached: " + response.error().public_message
                                      : "the server answered HTTP " + std::to_string(response->status);
    NoteError(why);
    if (auto ok = store_->Retry(sending, why, now + backoff); !ok) return std::unexpected(ok.error());
    return 0;
  }
  std::map<std::string, int> failed;
  json answer = json::parse(response->body, nullptr, false);
  if (answer.is_object() && answer.contains(kFailedSops) && answer[kFailedSops].contains("Value"))
    for (const auto& item : answer[kFailedSops]["Value"]) {
      // The server's answer is outside input too: a reason that is not a 16-bit status
      // counts as a processing failure (0x0110), which is retried, never a crash.
      const auto reason = ParseUint(FirstValue(item, kFailureReason));
      failed[FirstValue(item, kReferencedSopUid)] = reason && *reason <= 0xFFFF ? static_cast<int>(*reason) : 0x0110;
    }
  std::vector<std::string> stored, again;
  for (const auto& sop : sending) {
    auto it = failed.find(sop);
    if (it == failed.end()) stored.push_back(sop);
    else if (Permanent(it->second)) {
      if (auto dead = store_->Dead(sop, "the server refused it (0x" + Hex(it->second) + ")"); !dead)
        return std::unexpected(dead.error());
    } else {
      again.push_back(sop);
    }
  }
  if (!again.empty())
    if (auto ok = store_->Retry(again, "the server could not store it now", now + backoff); !ok)
      return std::unexpected(ok.error());
  if (!stored.empty()) {
    if (auto ok = store_->Forwarded(stored, now); !ok) return std::unexpected(ok.error());
    for (const auto& item : *due)
      if (std::find(stored.begin(), stored.end(), item.sop_uid) != stored.end()) std::filesystem::remove(item.file);
    auto states = store_->States();
    std::uint64_t total = 0;
    if (states && states->count("forwarded_total")) total = ParseUint(states->at("forwarded_total")).value_or(0);
    WarnIfFailed(store_->SetState("forwarded_total", std::to_string(total + stored.size())), "gateway_state_not_saved");
    NoteSuccess("last_forward_ok_at");
    LogInfo("gateway_forwarded", "\"instances\":" + std::to_string(stored.size()));
  }
  return static_cast<int>(stored.size());
}

Result<std::string> Gateway::Reidentify(const std::string& part10, const storage::GatewayStudy& study) {
  auto patient_sealed = store_->Patient(study.pseudonym);
  if (!patient_sealed) return std::unexpected(patient_sealed.error());
  auto patient_text = OpenSealed(key_, "patient:" + study.pseudonym, *patient_sealed);
  auto study_text = OpenSealed(key_, "study:" + study.study_uid, study.original_sealed);
  if (!patient_text || !study_text) return Fail(ErrorCode::kInternal, "the pseudonym table cannot be opened with this key");
  json p = json::parse(*patient_text, nullptr, false), s = json::parse(*study_text, nullptr, false);
  dicom::PatientStudyIdentity id;
  id.patient_name = p.value("name", "");
  id.patient_id = p.value("id", "");
  id.issuer_of_patient_id = p.value("issuer", "");
  id.patient_birth_date = p.value("birth_date", "");
  id.patient_sex = p.value("sex", "");
  id.study_date = s.value("date", "");
  id.study_time = s.value("time", "");
  id.accession_number = s.value("accession", "");
  id.study_id = s.value("id", "");
  id.referring_physician_name = s.value("referring", "");
  id.study_description = s.value("description", "");
  auto original = [this](const std::string& uid) -> std::optional<std::string> {
    auto sealed = store_->OriginalUid(uid);
    if (!sealed || !*sealed) return std::nullopt;
    auto text = OpenSealed(key_, "uid:" + uid, **sealed);
    if (!text) return std::nullopt;
    return *text;
  };
  return dicom::Reidentify(part10, original, id);
}

Result<int> Gateway::PollOnce(std::int64_t now) {
  std::lock_guard lock(poll_mutex_);
  auto studies = store_->StudiesToPoll(now - std::int64_t{config_.results_hours} * 3600);
  if (!studies) return std::unexpected(studies.error());
  auto get = [&](const std::string& path, const std::string& accept) {
    http::ClientRequest request;
    request.url = config_.server_url + path;
    request.headers = {{"Authorization", "Bearer " + token_}, {"Accept", accept}};
    request.timeout = std::chrono::seconds(120);
    request.max_response_bytes = 1u << 30;
    request.ca_file = config_.ca_file;
    return http::Send(request);
  };
  int delivered = 0;
  for (const auto& study : *studies) {
    // Results are the series of the study this gateway did not forward: the SEG, its
    // measurement report (SR), and the RT structure set and overlay images when the clinic
    // asks for them. A series the PACS
    // sent (a SEG or RTSTRUCT of its own included) is never sent back.
    auto series = get("/dicomweb/studies/" + study.study_uid + "/series", "application/dicom+json");
    if (!series) {
      NoteError("the server cannot be reached: " + series.error().public_message);
      return delivered;
    }
    if (series->status == 204 || series->status == 404) continue;
    if (series->status != 200) {
      NoteError("looking for results, the server answered HTTP " + std::to_string(series->status));
      continue;
    }
    json list = json::parse(series->body, nullptr, false);
    if (!list.is_array()) continue;
    for (const auto& s : list) {
      const std::string series_uid = FirstValue(s, kSeriesUid);
      if (series_uid.empty()) continue;
      auto forwarded = store_->OriginalUid(series_uid);
      if (!forwarded || *forwarded) continue;
      // A profile that keeps UIDs leaves no map to tell the PACS's series from results:
      // then only SEG, SR (the measurement report) and RTSTRUCT series are taken (overlay
      // series are not delivered; a PACS's own such series goes back as the same instances).
      const std::string modality = FirstValue(s, kModality);
      if (profile_.retain_uids && modality != "SEG" && modality != "SR" && modality != "RTSTRUCT") continue;
      const std::string base = "/dicomweb/studies/" + study.study_uid + "/series/" + series_uid;
      auto instances = get(base + "/instances", "application/dicom+json");
      if (!instances || instances->status != 200) continue;
      json items = json::parse(instances->body, nullptr, false);
      if (!items.is_array()) continue;
      std::vector<std::string> files, sops;
      for (const auto& item : items) {
        const std::string sop = FirstValue(item, kSopUid);
        auto handled = store_->ResultHandled(sop);
        if (sop.empty() || !handled || *handled) continue;
        auto wado = get(base + "/instances/" + sop, "multipart/related; type=\"application/dicom\"");
        if (!wado || wado->status != 200) continue;
        const std::string boundary = http::ParseMediaType(wado->Header("content-type")).Param("boundary");
        MemorySource source(wado->body);
        http::MultipartReader reader(source, boundary, 1u << 30);
        auto part = reader.Next();
        if (!part || !*part) continue;
        auto restored = Reidentify((*part)->body, study);
        if (!restored) {
          WarnIfFailed(store_->RecordResult(sop, study.study_uid, false, restored.error().public_message, now),
                       "gateway_result_not_recorded");
          NoteError("a result could not be re-identified: " + restored.error().public_message);
          continue;
        }
        files.push_back(std::move(*restored));
        sops.push_back(sop);
      }
      if (files.empty()) continue;
      dimse::StoreTarget target{config_.ae_title, config_.pacs_ae, config_.pacs_host, config_.pacs_port, 60};
      auto sent = dimse::SendInstances(target, files);
      if (!sent) {
        NoteError("the PACS cannot be reached: " + sent.error().public_message);
        for (const auto& sop : sops)
          WarnIfFailed(store_->RecordResult(sop, study.study_uid, false, sent.error().public_message, now),
                       "gateway_result_not_recorded");
        continue;
      }
      for (size_t i = 0; i < sops.size(); ++i) {
        const bool ok = (*sent)[i].Ok();
        // Not recorded: the result is sent again next round, which the PACS takes as a re-store.
        WarnIfFailed(store_->RecordResult(sops[i], study.study_uid, ok, (*sent)[i].message, now),
                     "gateway_result_not_recorded");
        if (ok) ++delivered;
        else NoteError("the PACS refused a result: " + (*sent)[i].message);
      }
    }
  }
  if (delivered > 0) {
    NoteSuccess("last_result_ok_at");
    LogInfo("gateway_results_delivered", "\"instances\":" + std::to_string(delivered));
  }
  return delivered;
}

void Gateway::NoteError(const std::string& what) {
  WarnIfFailed(store_->SetState("last_error", what), "gateway_state_not_saved");
  WarnIfFailed(store_->SetState("last_error_at", std::to_string(UnixSeconds())), "gateway_state_not_saved");
  LogWarn("gateway_error", "\"detail\":\"" + JsonEscape(what) + "\"");
}

void Gateway::NoteSuccess(const char* key) {
  WarnIfFailed(store_->SetState(key, std::to_string(UnixSeconds())), "gateway_state_not_saved");
}

json Gateway::Status() {
  const auto server = http::ParseUrl(config_.server_url);
  json out = {{"ae_title", config_.ae_title},
              {"dicom_listen", config_.dicom_host + ":" + std::to_string(config_.dicom_port)},
              {"callers", config_.callers.empty() ? json("none: every association is refused until [gateway] callers "
                                                         "names the PACS's AE titles")
                                                  : json(config_.callers)},
              {"profile", profile_.Name()},
              {"server", server ? server->host : ""},
              {"pacs", config_.pacs_ae},
              {"received_since_start", received_.load()},
              {"refused_since_start", refused_.load()}};
  if (auto counts = store_->Counts()) {
    out["queue_depth"] = counts->queued;
    out["dead"] = counts->dead;
    out["studies"] = counts->studies;
    out["results_delivered"] = counts->results_delivered;
    out["results_failed"] = counts->results_failed;
  }
  if (auto states = store_->States()) {
    for (const char* key : {"last_forward_ok_at", "last_result_ok_at", "last_error_at", "forwarded_total"})
      if (auto value = states->count(key) ? ParseUint(states->at(key)) : std::nullopt) out[key] = *value;
      else out[key] = nullptr;
    out["last_error"] = states->count("last_error") ? json(states->at("last_error")) : json(nullptr);
  }
  return out;
}

}  // namespace vg::gateway
