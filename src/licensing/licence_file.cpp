#include "licensing/licence_file.h"

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/toml_json.h"
#include "crypto/crypto.h"

namespace vg::licensing {
namespace {

using nlohmann::json;
constexpr std::string_view kSignaturePrefix = "signature = \"";

std::string TomlList(const std::string& csv) {
  std::string out = "[";
  size_t start = 0;
  bool first = true;
  while (start <= csv.size()) {
    size_t comma = csv.find(',', start);
    std::string item = csv.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) {
      out += (first ? "\"" : ", \"") + item + "\"";
      first = false;
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out + "]";
}

bool SafeText(std::string_view s) {
  for (char c : s)
    if (c == '"' || c == '\\' || c == '\n' || c == '\r') return false;
  return !s.empty() && s.size() <= 128;
}

}  // namespace

std::optional<std::int64_t> ParseDate(std::string_view date) {
  using namespace std::chrono;
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return std::nullopt;
  int y = 0, m = 0, d = 0;
  try {
    y = std::stoi(std::string(date.substr(0, 4)));
    m = std::stoi(std::string(date.substr(5, 2)));
    d = std::stoi(std::string(date.substr(8, 2)));
  } catch (...) {
    return std::nullopt;
  }
  year_month_day ymd{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return duration_cast<seconds>(sys_days{ymd}.time_since_epoch()).count();
}

std::string FormatDate(std::int64_t t) {
  using namespace std::chrono;
  year_month_day ymd{floor<days>(sys_seconds{seconds{t}})};
  return fmt::format("{:04d}-{:02d}-{:02d}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()));
}

Result<std::string> IssueLicence(const LicenceRequest& r, const std::string& secret_key_b64, std::int64_t now) {
  if (!SafeText(r.tenant) || !SafeText(r.plan)) return Fail(ErrorCode::kInvalidArgument, "tenant and plan are needed");
  if (!SafeText(r.installation))
    return Fail(ErrorCode::kInvalidArgument, "the installation id is needed (the server prints it: voxelgate admin installation)");
  auto from = ParseDate(r.not_before), until = ParseDate(r.not_after);
  if (!from || !until) return Fail(ErrorCode::kInvalidArgument, "dates are YYYY-MM-DD");
  if (*until <= *from) return Fail(ErrorCode::kInvalidArgument, "not_after must be after not_before");
  Plan grants;
  grants.name = r.plan;
  SetAlgorithms(grants, r.algorithms);
  if (auto ok = SetFeatures(grants, r.features); !ok) return std::unexpected(ok.error());
  if (r.max_runs < 0) return Fail(ErrorCode::kInvalidArgument, "max runs is 0 (no cap) or more");
  for (const auto& a : grants.algorithms)
    if (!SafeText(a)) return Fail(ErrorCode::kInvalidArgument, "bad algorithm id");
  std::string features;
  for (const auto& f : grants.features) features += (features.empty() ? "" : ",") + f;
  std::string body = "# voxelgate licence\n";
  body += "licence_id = \"" + crypto::RandomHexId(12) + "\"\n";
  body += "tenant = \"" + r.tenant + "\"\n";
  body += "installation = \"" + r.installation + "\"\n";
  body += "plan = \"" + r.plan + "\"\n";
  body += "not_before = \"" + FormatDate(*from) + "\"\n";
  body += "not_after = \"" + FormatDate(*until) + "\"\n";
  body += "algorithms = " + (grants.all_algorithms ? std::string("\"all\"") : TomlList(r.algorithms)) + "\n";
  body += "features = " + TomlList(features) + "\n";
  body += "max_runs = " + std::to_string(r.max_runs) + "\n";
  body += "issued_at = \"" + FormatDate(now) + "\"\n";
  auto signature = crypto::Sign(secret_key_b64, body);
  if (!signature) return std::unexpected(signature.error());
  return body + std::string(kSignaturePrefix) + *signature + "\"\n";
}

Result<Licence> ReadLicence(const std::string& text, const std::string& public_key_b64) {
  if (text.size() > 64 * 1024) return Fail(ErrorCode::kInvalidArgument, "the licence file is too large");
  const size_t at = text.rfind(kSignaturePrefix);
  if (at == std::string::npos || (at > 0 && text[at - 1] != '\n'))
    return Fail(ErrorCode::kInvalidArgument, "the licence is malformed: it has no signature line");
  const std::string body = text.substr(0, at);
  const size_t end = text.find('"', at + kSignaturePrefix.size());
  if (end == std::string::npos) return Fail(ErrorCode::kInvalidArgument, "the licence is malformed: bad signature line");
  const std::string signature = text.substr(at + kSignaturePrefix.size(), end - at - kSignaturePrefix.size());
  if (!crypto::Base64Decode(public_key_b64) || crypto::Base64Decode(public_key_b64)->size() != 32)
    return Fail(ErrorCode::kInvalidArgument, "the licence public key is not an Ed25519 public key (base64 of 32 bytes)");
  if (!crypto::VerifySignature(public_key_b64, body, signature)) {
    // Either the body changed after signing, or another vendor key signed it. The body's
    // own fields cannot tell; a signature that does not even parse is tampering.
    return Fail(ErrorCode::kForbidden,
                "the licence's signature does not match: the file was altered, or it was signed with another key "
                "than the one configured");
  }
  auto as_json = TomlToJson(body);
  if (!as_json) return Fail(ErrorCode::kInvalidArgument, "the licence is malformed: " + as_json.error().public_message);
  auto j = json::parse(*as_json, nullptr, false);
  Licence l;
  try {
    l.licence_id = j.at("licence_id").get<std::string>();
    l.tenant = j.at("tenant").get<std::string>();
    if (!j.contains("installation") || !j["installation"].is_string())
      return Fail(ErrorCode::kInvalidArgument,
                  "the licence names no installation: ask the vendor for one issued for this installation's id");
    l.installation = j["installation"].get<std::string>();
    l.plan = j.at("plan").get<std::string>();
    auto from = ParseDate(j.at("not_before").get<std::string>()), until = ParseDate(j.at("not_after").get<std::string>());
    if (!from || !until) return Fail(ErrorCode::kInvalidArgument, "the licence is malformed: bad dates");
    l.not_before = *from;
    l.not_after = *until;
    l.grants.name = l.plan;
    if (j.at("algorithms").is_array()) {
      l.grants.all_algorithms = false;
      l.grants.algorithms = j["algorithms"].get<std::vector<std::string>>();
    }
    l.grants.features = j.at("features").get<std::set<std::string>>();
    const std::int64_t max_runs = j.at("max_runs").get<std::int64_t>();
    l.grants.included_runs = max_runs == 0 ? -1 : max_runs;  // -1: no cap
    l.grants.overage = "block";
    l.issued_at = j.value("issued_at", "");
  } catch (const json::exception&) {
    return Fail(ErrorCode::kInvalidArgument, "the licence is malformed: a field is missing or of the wrong type");
  }
  return l;
}

}  // namespace vg::licensing
