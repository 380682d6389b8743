// The audit hash chain: canonical text and the SQLite append/verify of SqlCatalog.
#include <chrono>

#include "core/clock.h"
#include "crypto/crypto.h"
#include "storage/sql_catalog.h"

namespace vg::storage {
namespace {

// Control characters would let two different records print the same canonical text.
std::string Clean(const std::string& text) {
  std::string out = text;
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return out;
}

Digest ChainHash(const Digest& prev, const std::string& canonical) {
  crypto::Sha256 sha;
  sha.Update(std::span(prev.data(), prev.size()));
  sha.Update(canonical);
  auto digest = sha.Finish();
  return Digest(digest.begin(), digest.end());
}

AuditRecord ReadRecord(const sql::Stmt& st) {
  AuditRecord r;
  r.id = st.Int(0);
  r.ts_ms = st.Int(1);
  r.event.tenant_id = st.OptInt(2);
  r.event.actor = st.Text(3);
  r.event.actor_kind = st.Text(4);
  r.event.action = st.Text(5);
  r.event.object = st.Text(6);
  r.event.outcome = st.Text(7);
  r.event.remote = st.Text(8);
  r.event.detail = st.Text(9);
  r.prev_hash = st.Blob(10);
  r.hash = st.Blob(11);
  r.event.actor_tenant_id = st.OptInt(12);
  return r;
}

constexpr const char* kAuditColumns =
    "id, ts_ms, tenant_id, actor, actor_kind, action, object, outcome, remote, detail, prev_hash, hash,"
    " actor_tenant_id";

}  // namespace

std::string CanonicalAuditText(const AuditRecord& r) {
  const char sep = '\x1f';
  std::string out = std::to_string(r.id) + sep + std::to_string(r.ts_ms) + sep +
                    (r.event.tenant_id ? std::to_string(*r.event.tenant_id) : std::string("-")) + sep;
  for (const std::string* field : {&r.event.actor, &r.event.actor_kind, &r.event.action, &r.event.object,
                                   &r.event.outcome, &r.event.remote, &r.event.detail})
    out += Clean(*field) + sep;
  // Added in schema v5; absent from older records, whose canonical text stays as it was.
  if (r.event.actor_tenant_id) out += "actor_tenant=" + std::to_string(*r.event.actor_tenant_id) + sep;
  return out;
}

Result<void> SqlCatalog::AppendAudit(const std::vector<AuditEvent>& events) {
  if (events.empty()) return {};
  std::lock_guard lock(write_mutex_);
  // The chain's lock is taken before the last hash is read, so two processes (or nodes)
  // cannot both extend the same link; other writes do not wait for it (SQLite: BEGIN
  // IMMEDIATE, its one writer lock).
  auto tx = sql::Transaction::Begin(writer_, sql::Isolation::kAuditChain);
  if (!tx) return std::unexpected(tx.error());
  auto last = sql::Stmt::Prepare(writer_, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1");
  if (!last) return std::unexpected(last.error());
  auto row = last->Step();
  if (!row) return std::unexpected(row.error());
  std::int64_t id = *row ? last->Int(0) : 0;
  Digest prev = *row ? last->Blob(1) : Digest(32, 0);
  auto insert = sql::Stmt::Prepare(
      writer_, "INSERT INTO audit_log(id, ts_ms, tenant_id, actor, actor_kind, action, object, outcome, remote, detail,"
               " prev_hash, hash, actor_tenant_id) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!insert) return std::unexpected(insert.error());
  const std::int64_t now = UnixMillis();
  for (const auto& event : events) {
    AuditRecord record;
    record.id = ++id;
    record.ts_ms = now;
    record.event = event;
    record.prev_hash = prev;
    record.hash = ChainHash(prev, CanonicalAuditText(record));
    insert->Reset();
    insert->Bind(record.id).Bind(record.ts_ms).Bind(event.tenant_id).Bind(event.actor).Bind(event.actor_kind)
        .Bind(event.action).Bind(event.object).Bind(event.outcome).Bind(event.remote).Bind(event.detail)
        .Bind(record.prev_hash).Bind(record.hash).Bind(event.actor_tenant_id);
    if (auto r = insert->Run(); !r) return r;
    prev = record.hash;
  }
  return tx->Commit();
}

Result<std::vector<AuditRecord>> SqlCatalog::ListAudit(const AuditFilter& filter) {
  std::string sql = std::string("SELECT ") + kAuditColumns + " FROM audit_log WHERE 1=1";
  if (filter.tenant_id) sql += filter.or_actor_tenant ? " AND (tenant_id = ? OR actor_tenant_id = ?)" : " AND tenant_id = ?";
  if (!filter.action_prefix.empty()) sql += " AND substr(action, 1, ?) = ?";
  if (!filter.actor.empty()) sql += " AND actor = ?";
  if (!filter.outcome_prefix.empty()) sql += " AND substr(outcome, 1, ?) = ?";
  if (filter.since_ms) sql += " AND ts_ms >= ?";
  if (filter.until_ms) sql += " AND ts_ms <= ?";
  if (filter.after_id) sql += " AND id > ?";
  if (filter.before_id) sql += " AND id < ?";
  sql += filter.newest_first ? " ORDER BY id DESC LIMIT ?" : " ORDER BY id LIMIT ?";
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), sql);
  if (!st) return std::unexpected(st.error());
  if (filter.tenant_id) {
    st->Bind(*filter.tenant_id);
    if (filter.or_actor_tenant) st->Bind(*filter.tenant_id);
  }
  if (!filter.action_prefix.empty()) st->Bind(static_cast<std::int64_t>(filter.action_prefix.size())).Bind(filter.action_prefix);
  if (!filter.actor.empty()) st->Bind(filter.actor);
  if (!filter.outcome_prefix.empty())
    st->Bind(static_cast<std::int64_t>(filter.outcome_prefix.size())).Bind(filter.outcome_prefix);
  if (filter.since_ms) st->Bind(*filter.since_ms);
  if (filter.until_ms) st->Bind(*filter.until_ms);
  if (filter.after_id) st->Bind(*filter.after_id);
  if (filter.before_id) st->Bind(*filter.before_id);
  st->Bind(std::max<std::int64_t>(1, std::min<std::int64_t>(filter.limit, 100000)));
  return sql::CollectRows<AuditRecord>(*st, ReadRecord);
}

Result<AuditVerification> SqlCatalog::VerifyAudit() {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kAuditColumns + " FROM audit_log ORDER BY id");
  if (!st) return std::unexpected(st.error());
  AuditVerification result;
  Digest prev(32, 0);
  std::int64_t expected_id = 1;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return result;
    AuditRecord record = ReadRecord(*st);
    ++result.records;
    auto bad = [&](std::string problem) {
      result.first_bad_id = record.id;
      result.problem = std::move(problem);
      return result;
    };
    if (record.id != expected_id)
      return bad("record " + std::to_string(expected_id) + " is missing (next present: " + std::to_string(record.id) + ")");
    if (record.prev_hash != prev) return bad("it does not follow the record before it (deleted, reordered or altered)");
    if (record.hash != ChainHash(prev, CanonicalAuditText(record))) return bad("its content was altered");
    prev = record.hash;
    ++expected_id;
  }
}

}  // namespace vg::storage
