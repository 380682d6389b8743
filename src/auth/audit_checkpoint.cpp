#include "auth/audit_checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/strings.h"

namespace vg::auth {
namespace {

constexpr const char* kFormat = "voxelgate-audit-checkpoint/1";

Result<std::string> ReadSmallFile(const std::string& path, std::size_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kInternal, "cannot read " + path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return Fail(ErrorCode::kForbidden, path + " must not be readable by group or others (chmod 600)");
  }
  std::string text(limit, '\0');
  const ssize_t n = ::read(fd, text.data(), text.size());
  ::close(fd);
  if (n < 0) return Fail(ErrorCode::kInternal, "cannot read " + path);
  text.resize(static_cast<std::size_t>(n));
  return text;
}

}  // namespace

std::string AuditCheckpoint::SignedText() const {
  return std::string(kFormat) + "\n" + std::to_string(id) + "\n" + hash_hex + "\n" + std::to_string(head_ts_ms) + "\n" +
         std::to_string(made_at_ms) + "\n";
}

std::string AuditCheckpoint::ToJson() const {
  return nlohmann::json{{"format", kFormat},           {"id", id},
                        {"hash", hash_hex},            {"head_ts_ms", head_ts_ms},
                        {"made_at_ms", made_at_ms},    {"public_key", public_key_b64},
                        {"signature", signature_b64}}
             .dump(2) +
         "\n";
}

Result<AuditCheckpoint> AuditCheckpoint::FromJson(std::string_view text) {
  if (text.size() > 64 * 1024) return Fail(ErrorCode::kInvalidArgument, "an audit checkpoint is a small JSON file");
  const auto j = nlohmann::json::parse(text, nullptr, false);
  const auto bad = [] { return Fail(ErrorCode::kInvalidArgument, "not a voxelgate audit checkpoint"); };
  if (!j.is_object() || !j.contains("format") || !j["format"].is_string() || j["format"].get<std::string>() != kFormat)
    return bad();
  AuditCheckpoint c;
  for (auto [key, out] : {std::pair{"id", &c.id}, std::pair{"head_ts_ms", &c.head_ts_ms}, std::pair{"made_at_ms", &c.made_at_ms}}) {
    if (!j.contains(key) || !j[key].is_number_integer()) return bad();
    *out = j[key].get<std::int64_t>();
  }
  for (auto [key, out] : {std::pair{"hash", &c.hash_hex}, std::pair{"public_key", &c.public_key_b64},
                          std::pair{"signature", &c.signature_b64}}) {
    if (!j.contains(key) || !j[key].is_string()) return bad();
    *out = j[key].get<std::string>();
  }
  if (c.id < 0) return bad();
  return c;
}

std::string AuditSigningKeyFile(const std::string& master_key_file) {
  return (std::filesystem::path(master_key_file).parent_path() / "audit-signing.key").string();
}

Result<crypto::SigningKeyPair> LoadOrCreateAuditSigningKey(const std::string& path, bool create_if_missing) {
  auto text = ReadSmallFile(path, 4096);
  if (!text && text.error().code == ErrorCode::kNotFound && create_if_missing) {
    const crypto::SigningKeyPair pair = crypto::GenerateSigningKeyPair();
    const std::string body = pair.secret_key_b64 + "\n" + pair.public_key_b64 + "\n";
    const std::string tmp = path + ".tmp";
    const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) return Fail(ErrorCode::kInternal, "cannot create the audit signing key " + path, std::strerror(errno));
    const bool ok = ::write(out, body.data(), body.size()) == static_cast<ssize_t>(body.size()) && ::fsync(out) == 0;
    ::close(out);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
      return Fail(ErrorCode::kInternal, "cannot write the audit signing key " + path);
    return pair;
  }
  if (!text) return std::unexpected(text.error());
  const auto lines = Split(*text, '\n');
  if (lines.size() < 2) return Fail(ErrorCode::kInvalidArgument, "the audit signing key " + path + " is damaged");
  crypto::SigningKeyPair pair{std::string(Trim(lines[1])), std::string(Trim(lines[0]))};
  // The pair must belong together: a public key swapped in would verify nothing we sign.
  auto probe = crypto::Sign(pair.secret_key_b64, "probe");
  if (!probe || !crypto::VerifySignature(pair.public_key_b64, "probe", *probe))
    return Fail(ErrorCode::kInvalidArgument, "the audit signing key " + path + " is damaged");
  return pair;
}

Result<void> WriteCheckpointFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (out < 0) return Fail(ErrorCode::kInternal, "cannot write " + path, std::strerror(errno));
  const bool ok = ::write(out, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(out) == 0;
  ::close(out);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return Fail(ErrorCode::kInternal, "cannot write " + path);
  return {};
}

Result<AuditCheckpoint> MakeAuditCheckpoint(storage::Catalog& catalog, const crypto::SigningKeyPair& key) {
  storage::AuditFilter head;
  head.newest_first = true;
  head.limit = 1;
  auto records = catalog.ListAudit(head);
  if (!records) return std::unexpected(records.error());
  AuditCheckpoint c;
  if (!records->empty()) {
    c.id = records->front().id;
    c.hash_hex = HexEncode(records->front().hash);
    c.head_ts_ms = records->front().ts_ms;
  }
  c.made_at_ms = UnixMillis();
  c.public_key_b64 = key.public_key_b64;
  auto signature = crypto::Sign(key.secret_key_b64, c.SignedText());
  if (!signature) return std::unexpected(signature.error());
  c.signature_b64 = *signature;
  return c;
}

Result<CheckpointVerdict> VerifyAgainstCheckpoint(storage::Catalog& catalog, const AuditCheckpoint& checkpoint,
                                                  const std::string& trusted_public_key_b64) {
  CheckpointVerdict verdict;
  if (checkpoint.public_key_b64 != trusted_public_key_b64 ||
      !crypto::VerifySignature(trusted_public_key_b64, checkpoint.SignedText(), checkpoint.signature_b64)) {
    verdict.problem = "the checkpoint is not signed by this installation's audit key (forged or altered)";
    return verdict;
  }
  auto chain = catalog.VerifyAudit();
  if (!chain) return std::unexpected(chain.error());
  verdict.records = chain->records;
  if (chain->first_bad_id) {
    verdict.problem = "record " + std::to_string(*chain->first_bad_id) + ": " + chain->problem;
    return verdict;
  }
  if (checkpoint.id == 0) return verdict;
  storage::AuditFilter at;
  at.after_id = checkpoint.id - 1;
  at.limit = 1;
  auto records = catalog.ListAudit(at);
  if (!records) return std::unexpected(records.error());
  if (records->empty() || records->front().id != checkpoint.id) {
    verdict.problem = "the chain ends at record " + std::to_string(chain->records) + ", before the checkpoint's head " +
                      std::to_string(checkpoint.id) + ": records were deleted";
    return verdict;
  }
  if (HexEncode(records->front().hash) != checkpoint.hash_hex) {
    verdict.problem = "record " + std::to_string(checkpoint.id) +
                      " is not the one the checkpoint signed: the chain was edited, reordered or rebuilt";
    return verdict;
  }
  return verdict;
}

}  // namespace vg::auth
