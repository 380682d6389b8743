#include "storage/sql_db.h"

#include <chrono>
#include <random>
#include <thread>

namespace vg::storage::sql {

Db::~Db() = default;

Stmt::~Stmt() = default;

Result<Stmt> Stmt::Prepare(const Db& db, std::string_view sql) {
  auto impl = db.connection().Prepare(sql);
  if (!impl) return std::unexpected(impl.error());
  return Stmt(std::move(*impl));
}

Stmt& Stmt::Bind(std::int64_t v) {
  impl_->Bind(next_++, Param{Param::kInt, v, 0, {}});
  return *this;
}
Stmt& Stmt::BindDouble(double v) {
  impl_->Bind(next_++, Param{Param::kDouble, 0, v, {}});
  return *this;
}
Stmt& Stmt::Bind(const std::string& v) {
  impl_->Bind(next_++, Param{Param::kText, 0, 0, v});
  return *this;
}
Stmt& Stmt::Bind(const std::vector<std::uint8_t>& v) {
  if (v.empty()) return BindNull();
  impl_->Bind(next_++, Param{Param::kBlob, 0, 0, std::string(v.begin(), v.end())});
  return *this;
}
Stmt& Stmt::Bind(const std::optional<std::int64_t>& v) {
  if (v) return Bind(*v);
  return BindNull();
}
Stmt& Stmt::Bind(const std::optional<std::string>& v) {
  if (v) return Bind(*v);
  return BindNull();
}
Stmt& Stmt::BindNull() {
  impl_->Bind(next_++, Param{});
  return *this;
}

Result<void> Stmt::Run() {
  while (true) {
    auto row = Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
  }
}

Result<std::int64_t> RunReturningId(Stmt& stmt) {
  auto row = stmt.Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return Fail(ErrorCode::kInternal, "catalog error", "an insert returned no id");
  const std::int64_t id = stmt.Int(0);
  if (auto done = stmt.Run(); !done) return std::unexpected(done.error());
  return id;
}

std::optional<std::int64_t> Stmt::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

namespace {
// Distinct keys for pg_advisory_xact_lock ("vgw" and "vga" in ASCII).
constexpr std::int64_t kWriterLock = 0x766777;
constexpr std::int64_t kAuditLock = 0x766761;
}  // namespace

Result<Transaction> Transaction::Begin(Db& db, Isolation isolation) {
  if (db.IsSqlite()) {
    if (auto r = db.Exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
    return Transaction(db);
  }
  if (auto r = db.Exec("BEGIN"); !r) return std::unexpected(r.error());
  Transaction tx(db);
  if (isolation == Isolation::kSerialised)
    if (auto r = db.Exec("SELECT pg_advisory_xact_lock(" + std::to_string(kWriterLock) + ")"); !r)
      return std::unexpected(r.error());
  if (isolation == Isolation::kAuditChain)
    if (auto r = db.Exec("SELECT pg_advisory_xact_lock(" + std::to_string(kAuditLock) + ")"); !r)
      return std::unexpected(r.error());
  return tx;
}

Transaction::~Transaction() {
  if (open_) (void)db_->Exec("ROLLBACK");
}

Result<void> Transaction::Commit() {
  auto r = db_->Exec("COMMIT");
  if (r) open_ = false;
  return r;
}

void PauseBeforeRetry(int attempt) {
  thread_local std::minstd_rand random(std::random_device{}());
  const int ceiling_ms = std::min(200, 5 << std::min(attempt, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(1 + random() % ceiling_ms));
}

namespace {
std::string JsonPathOf(const std::vector<std::string>& path) {
  std::string out = "$";
  for (const auto& key : path) out += "." + key;
  return out;
}
std::string PgPathOf(const std::vector<std::string>& path) {
  std::string out = "{";
  for (size_t i = 0; i < path.size(); ++i) out += (i ? "," : "") + path[i];
  return out + "}";
}
}  // namespace

// Field names here are the code's own constants, never input.
std::string Dialect::JsonText(const std::string& column, const std::string& field) const {
  if (engine == Engine::kSqlite) return "json_extract(" + column + ", '$." + field + "')";
  return "(CAST(" + column + " AS jsonb) ->> '" + field + "')";
}
std::string Dialect::JsonNumber(const std::string& column, const std::vector<std::string>& path) const {
  if (engine == Engine::kSqlite) return "json_extract(" + column + ", '" + JsonPathOf(path) + "')";
  return "CAST(CAST(" + column + " AS jsonb) #>> '" + PgPathOf(path) + "' AS double precision)";
}
std::string Dialect::JsonIsObject(const std::string& column, const std::string& field) const {
  if (engine == Engine::kSqlite) return "(json_type(" + column + ", '$." + field + "') = 'object')";
  return "(jsonb_typeof(CAST(" + column + " AS jsonb) -> '" + field + "') = 'object')";
}
std::string Dialect::DistinctList(const std::string& column) const {
  if (engine == Engine::kSqlite) return "group_concat(DISTINCT " + column + ")";
  return "string_agg(DISTINCT " + column + ", ',')";
}
std::string Dialect::Greater(const std::string& a, const std::string& b) const {
  if (engine == Engine::kSqlite) return "max(" + a + ", " + b + ")";
  return "GREATEST(" + a + ", " + b + ")";
}

}  // namespace vg::storage::sql
