// Users and sessions of SqlCatalog.
#include <chrono>

#include "storage/sql_catalog.h"
#include "core/clock.h"

namespace vg::storage {
namespace {

constexpr const char* kUserColumns =
    "id, tenant_id, username, role, password_hash, must_change_password, disabled_at, created_at";
constexpr const char* kSessionColumns = "id, user_id, csrf_hash, created_at, last_seen_at, revoked_at";

UserRecord ReadUser(const sql::Stmt& st) {
  return UserRecord{st.Int(0), st.Int(1), st.Text(2), st.Text(3), st.Text(4), st.Int(5) != 0, st.OptInt(6), st.Int(7)};
}

SessionRecord ReadSession(const sql::Stmt& st) {
  return SessionRecord{st.Int(0), st.Int(1), st.Blob(2), st.Int(3), st.Int(4), st.OptInt(5)};
}

}  // namespace

Result<UserRecord> SqlCatalog::CreateUser(const UserRecord& user) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO users(tenant_id, username, role, password_hash, must_change_password,"
                               " created_at) VALUES(?,?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  UserRecord created = user;
  created.created_at = UnixSeconds();
  st->Bind(user.tenant_id).Bind(user.username).Bind(user.role).Bind(user.password_hash)
      .Bind(static_cast<std::int64_t>(user.must_change_password)).Bind(created.created_at);
  auto r = sql::RunReturningId(*st);
  if (!r) {
    if (writer_.LastFailure() == sql::Failure::kDuplicate)
      return Fail(ErrorCode::kConflict, "the username '" + user.username + "' is taken");
    return std::unexpected(r.error());
  }
  created.id = *r;
  return created;
}

Result<UserRecord> SqlCatalog::FindUser(const std::string& username) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kUserColumns + " FROM users WHERE username = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(username);
  return sql::FirstRow<UserRecord>(*st, ReadUser, ErrorCode::kNotFound, "no such user");
}

Result<UserRecord> SqlCatalog::FindUserById(std::int64_t id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kUserColumns + " FROM users WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(id);
  return sql::FirstRow<UserRecord>(*st, ReadUser, ErrorCode::kNotFound, "no such user");
}

Result<std::vector<UserRecord>> SqlCatalog::ListUsers(std::int64_t tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               std::string("SELECT ") + kUserColumns + " FROM users WHERE tenant_id = ? ORDER BY username");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id);
  return sql::CollectRows<UserRecord>(*st, ReadUser);
}

Result<void> SqlCatalog::SetPassword(std::int64_t user_id, const std::string& password_hash, bool must_change) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE users SET password_hash = ?, must_change_password = ? WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(password_hash).Bind(static_cast<std::int64_t>(must_change)).Bind(user_id);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such user");
  return {};
}

Result<void> SqlCatalog::SetUserDisabled(std::int64_t user_id, bool disabled) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  auto st = sql::Stmt::Prepare(writer_, "UPDATE users SET disabled_at = ? WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  if (disabled) st->Bind(UnixSeconds());
  else st->BindNull();
  st->Bind(user_id);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such user");
  if (disabled) {
    for (const char* end_all : {"UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                                "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL"}) {
      auto end = sql::Stmt::Prepare(writer_, end_all);
      if (!end) return std::unexpected(end.error());
      end->Bind(UnixSeconds()).Bind(user_id);
      if (auto r = end->Run(); !r) return r;
    }
  }
  return tx->Commit();
}

Result<void> SqlCatalog::RevokeUserSessions(std::int64_t user_id, std::optional<std::int64_t> keep) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(
      writer_, "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id IS DISTINCT FROM ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(UnixSeconds()).Bind(user_id).Bind(keep);
  return st->Run();
}

// ---- support grants ----

namespace {

constexpr const char* kGrantColumns =
    "id, tenant_id, study_uid, granted_by, reason, created_at, expires_at, revoked_at, grantee";

SupportGrantRecord ReadGrant(const sql::Stmt& st) {
  SupportGrantRecord g;
  g.id = st.Int(0);
  g.tenant_id = st.Int(1);
  if (!st.IsNull(2)) g.study_uid = st.Text(2);
  g.granted_by = st.Text(3);
  g.reason = st.Text(4);
  g.created_at = st.Int(5);
  g.expires_at = st.Int(6);
  g.revoked_at = st.OptInt(7);
  g.grantee = st.Text(8);
  return g;
}

}  // namespace

Result<SupportGrantRecord> SqlCatalog::CreateGrant(const SupportGrantRecord& grant) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO support_grants(tenant_id, study_uid, granted_by, reason, created_at,"
                               " expires_at, grantee) VALUES(?,?,?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  SupportGrantRecord created = grant;
  created.created_at = UnixSeconds();
  st->Bind(grant.tenant_id).Bind(grant.study_uid).Bind(grant.granted_by).Bind(grant.reason).Bind(created.created_at)
      .Bind(grant.expires_at).Bind(grant.grantee);
  auto r = sql::RunReturningId(*st);
  if (!r) return std::unexpected(r.error());
  created.id = *r;
  return created;
}

Result<std::vector<SupportGrantRecord>> SqlCatalog::ListGrants(std::optional<std::int64_t> tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kGrantColumns +
                                                " FROM support_grants WHERE CAST(? AS BIGINT) IS NULL OR tenant_id = ? ORDER BY id DESC");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(tenant_id);
  return sql::CollectRows<SupportGrantRecord>(*st, ReadGrant);
}

Result<void> SqlCatalog::RevokeGrant(std::int64_t tenant_id, std::int64_t grant_id) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(
      writer_, "UPDATE support_grants SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL");
  if (!st) return std::unexpected(st.error());
  st->Bind(UnixSeconds()).Bind(tenant_id).Bind(grant_id);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no active grant with that id");
  return {};
}

Result<SessionRecord> SqlCatalog::CreateSession(std::int64_t user_id, const Digest& token_hash,
                                                   const Digest& csrf_hash) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(
      writer_, "INSERT INTO sessions(user_id, token_hash, csrf_hash, created_at, last_seen_at) VALUES(?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  const std::int64_t now = UnixSeconds();
  st->Bind(user_id).Bind(token_hash).Bind(csrf_hash).Bind(now).Bind(now);
  auto r = sql::RunReturningId(*st);
  if (!r) return std::unexpected(r.error());
  return SessionRecord{*r, user_id, csrf_hash, now, now, std::nullopt};
}

Result<SessionRecord> SqlCatalog::FindSession(const Digest& token_hash) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               std::string("SELECT ") + kSessionColumns + " FROM sessions WHERE token_hash = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(token_hash);
  return sql::FirstRow<SessionRecord>(*st, ReadSession, ErrorCode::kUnauthenticated, "unknown session");
}

Result<SessionRecord> SqlCatalog::FindSessionById(std::int64_t session_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kSessionColumns + " FROM sessions WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(session_id);
  return sql::FirstRow<SessionRecord>(*st, ReadSession, ErrorCode::kUnauthenticated, "unknown session");
}

Result<void> SqlCatalog::TouchSession(std::int64_t session_id) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE sessions SET last_seen_at = ? WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(UnixSeconds()).Bind(session_id);
  return st->Run();
}

Result<void> SqlCatalog::RevokeSession(std::int64_t session_id) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
  if (!st) return std::unexpected(st.error());
  st->Bind(UnixSeconds()).Bind(session_id);
  return st->Run();
}

}  // namespace vg::storage
