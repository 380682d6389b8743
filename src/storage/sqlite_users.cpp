// Users and sessions of SqliteCatalog.
#include <chrono>

#include "storage/sqlite_catalog.h"
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

Result<UserRecord> SqliteCatalog::CreateUser(const UserRecord& user) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO users(tenant_id, username, role, password_hash, must_change_password,"
                               " created_at) VALUES(?,?,?,?,?,?)");
  if (!st) return std::unexpected(st.error());
  UserRecord created = user;
  created.created_at = UnixSeconds();
  st->Bind(user.tenant_id).Bind(user.username).Bind(user.role).Bind(user.password_hash)
      .Bind(static_cast<std::int64_t>(user.must_change_password)).Bind(created.created_at);
  if (auto r = st->Run(); !r) {
    if (sqlite3_extended_errcode(writer_.raw()) == SQLITE_CONSTRAINT_UNIQUE)
      return Fail(ErrorCode::kConflict, "the username '" + user.username + "' is taken");
    return std::unexpected(r.error());
  }
  created.id = sqlite3_last_insert_rowid(writer_.raw());
  return created;
}

Result<UserRecord> SqliteCatalog::FindUser(const std::string& username) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kUserColumns + " FROM users WHERE username = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(username);
  return sql::FirstRow<UserRecord>(*st, ReadUser, ErrorCode::kNotFound, "no such user");
}

Result<UserRecord> SqliteCatalog::FindUserById(std::int64_t id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kUserColumns + " FROM users WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(id);
  return sql::FirstRow<UserRecord>(*st, ReadUser, ErrorCode::kNotFound, "no such user");
}

Result<std::vector<UserRecord>> SqliteCatalog::ListUsers(std::int64_t tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               std::string("SELECT ") + kUserColumns + " FROM users WHERE tenant_id = ? ORDER BY username");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id);
  return sql::CollectRows<UserRecord>(*st, ReadUser);
}

Result<void> SqliteCatalog::SetPassword(std::int64_t user_id, const std::string& password_hash, bool must_change) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE users SET password_hash = ?, must_change_password = ? WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(password_hash).Bind(static_cast<std::int64_t>(must_change)).Bind(user_id);
  if (auto r = st->Run(); !r) return r;
  if (sqlite3_changes(writer_.raw()) == 0) return Fail(ErrorCode::kNotFound, "no such user");
  return {};
}

Result<void> SqliteCatalog::SetUserDisabled(std::int64_t user_id, bool disabled) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  auto st = sql::Stmt::Prepare(writer_, "UPDATE users SET disabled_at = ? WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  if (disabled) st->Bind(UnixSeconds());
  else st->BindNull();
  st->Bind(user_id);
  if (auto r = st->Run(); !r) return r;
  if (sqlite3_changes(writer_.raw()) == 0) return Fail(ErrorCode::kNotFound, "no such user");
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

Result<void> SqliteCatalog::RevokeUserSessions(std::int64_t user_id, std::optional<std::int64_t> keep) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(
      writer_, "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id IS NOT ?");
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

Result<SupportGrantRecord> SqliteCatalog::CreateGrant(const SupportGrantRecord& grant) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO support_grants(tenant_id, study_uid, granted_by, reason, created_at,"
                               " expires_at, grantee) VALUES(?,?,?,?,?,?,?)");
  if (!st) return std::unexpected(st.error());
  SupportGrantRecord created = grant;
  created.created_at = UnixSeconds();
  st->Bind(grant.tenant_id).Bind(grant.study_uid).Bind(grant.granted_by).Bind(grant.reason).Bind(created.created_at)
      .Bind(grant.expires_at).Bind(grant.grantee);
  if (auto r = st->Run(); !r) return std::unexpected(r.error());
  created.id = sqlite3_last_insert_rowid(writer_.raw());
  return created;
}

Result<std::vector<SupportGrantRecord>> SqliteCatalog::ListGrants(std::optional<std::int64_t> tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kGrantColumns +
                                                " FROM support_grants WHERE ? IS NULL OR tenant_id = ? ORDER BY id DESC");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(tenant_id);
  return sql::CollectRows<SupportGrantRecord>(*st, ReadGrant);
}

Result<void> SqliteCatalog::RevokeGrant(std::int64_t tenant_id, std::int64_t grant_id) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(
      writer_, "UPDATE support_grants SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL");
  if (!st) return std::unexpected(st.error());
  st->Bind(UnixSeconds()).Bind(tenant_id).Bind(grant_id);
  if (auto r = st->Run(); !r) return r;
  if (sqlite3_changes(writer_.raw()) == 0) return Fail(ErrorCode::kNotFound, "no active grant with that id");
  return {};
}

Result<SessionRecord> SqliteCatalog::CreateSession(std::int64_t user_id, const Digest& token_hash,
                                                   const Digest& csrf_hash) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(
      writer_, "INSERT INTO sessions(user_id, token_hash, csrf_hash, created_at, last_seen_at) VALUES(?,?,?,?,?)");
  if (!st) return std::unexpected(st.error());
  const std::int64_t now = UnixSeconds();
  st->Bind(user_id).Bind(token_hash).Bind(csrf_hash).Bind(now).Bind(now);
  if (auto r = st->Run(); !r) return std::unexpected(r.error());
  return SessionRecord{sqlite3_last_insert_rowid(writer_.raw()), user_id, csrf_hash, now, now, std::nullopt};
}

Result<SessionRecord> SqliteCatalog::FindSession(const Digest& token_hash) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               std::string("SELECT ") + kSessionColumns + " FROM sessions WHERE token_hash = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(token_hash);
  return sql::FirstRow<SessionRecord>(*st, ReadSession, ErrorCode::kUnauthenticated, "unknown session");
}

Result<SessionRecord> SqliteCatalog::FindSessionById(std::int64_t session_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kSessionColumns + " FROM sessions WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(session_id);
  return sql::FirstRow<SessionRecord>(*st, ReadSession, ErrorCode::kUnauthenticated, "unknown session");
}

Result<void> SqliteCatalog::TouchSession(std::int64_t session_id) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE sessions SET last_seen_at = ? WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(UnixSeconds()).Bind(session_id);
  return st->Run();
}

Result<void> SqliteCatalog::RevokeSession(std::int64_t session_id) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
  if (!st) return std::unexpected(st.error());
  st->Bind(UnixSeconds()).Bind(session_id);
  return st->Run();
}

}  // namespace vg::storage
