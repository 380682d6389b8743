// LicensingStore of SqlCatalog: plans, subscriptions, usage, the licence clock.
#include "core/clock.h"
#include "storage/sql_catalog.h"
#include "storage/sql_where.h"

namespace vg::storage {
namespace {

constexpr const char* kUsageColumns =
    "job_id, tenant_id, \"user\", algorithm_id, algorithm_version, series_uid, outcome, slices, voxels, duration_ms, "
    "started_at, period_start, counted, overage";

PlanRecord ReadPlan(const sql::Stmt& st) { return PlanRecord{st.Text(0), st.Int(1), st.Text(2), st.Text(3), st.Int(4)}; }

UsageRecord ReadUsage(const sql::Stmt& st) {
  UsageRecord u;
  u.job_id = st.Int(0);
  u.tenant_id = st.Int(1);
  u.user = st.Text(2);
  u.algorithm_id = st.Text(3);
  u.algorithm_version = st.Text(4);
  u.series_uid = st.Text(5);
  u.outcome = st.Text(6);
  u.slices = st.Int(7);
  u.voxels = st.Int(8);
  u.duration_ms = st.Int(9);
  u.started_at = st.Int(10);
  u.period_start = st.Int(11);
  u.counted = st.Int(12) != 0;
  u.overage = st.Int(13) != 0;
  return u;
}

}  // namespace

Result<PlanRecord> SqlCatalog::AddPlanVersion(const std::string& name, const std::string& json,
                                                 const std::string& created_by) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  auto latest = sql::Stmt::Prepare(writer_, "SELECT COALESCE(max(version), 0) FROM plans WHERE name = ?");
  if (!latest) return std::unexpected(latest.error());
  latest->Bind(name);
  auto row = latest->Step();
  if (!row) return std::unexpected(row.error());
  PlanRecord plan{name, latest->Int(0) + 1, json, created_by, UnixSeconds()};
  latest->Reset();
  auto st = sql::Stmt::Prepare(writer_, "INSERT INTO plans(name, version, json, created_by, created_at) VALUES(?,?,?,?,?)");
  if (!st) return std::unexpected(st.error());
  st->Bind(plan.name).Bind(plan.version).Bind(plan.json).Bind(plan.created_by).Bind(plan.created_at);
  if (auto r = st->Run(); !r) return std::unexpected(r.error());
  if (auto r = tx->Commit(); !r) return std::unexpected(r.error());
  return plan;
}

Result<PlanRecord> SqlCatalog::FindPlan(const std::string& name, std::optional<std::int64_t> version) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT name, version, json, created_by, created_at FROM plans "
                                                        "WHERE name = ? ") +
                                                (version ? "AND version = ?" : "ORDER BY version DESC LIMIT 1"));
  if (!st) return std::unexpected(st.error());
  st->Bind(name);
  if (version) st->Bind(*version);
  return sql::FirstRow<PlanRecord>(*st, ReadPlan, ErrorCode::kNotFound, "no plan '" + name + "'");
}

Result<std::vector<PlanRecord>> SqlCatalog::ListPlans() {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               "SELECT p.name, p.version, p.json, p.created_by, p.created_at FROM plans p "
                               "WHERE p.version = (SELECT max(version) FROM plans q WHERE q.name = p.name) ORDER BY p.name");
  if (!st) return std::unexpected(st.error());
  return sql::CollectRows<PlanRecord>(*st, ReadPlan);
}

Result<std::optional<SubscriptionRecord>> SqlCatalog::FindSubscription(std::int64_t tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT tenant_id, json, updated_at FROM subscriptions WHERE tenant_id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<SubscriptionRecord>{};
  return std::optional<SubscriptionRecord>(SubscriptionRecord{st->Int(0), st->Text(1), st->Int(2)});
}

Result<std::vector<SubscriptionRecord>> SqlCatalog::ListSubscriptions() {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT tenant_id, json, updated_at FROM subscriptions ORDER BY tenant_id");
  if (!st) return std::unexpected(st.error());
  return sql::CollectRows<SubscriptionRecord>(
      *st, [](const sql::Stmt& s) { return SubscriptionRecord{s.Int(0), s.Text(1), s.Int(2)}; });
}

Result<bool> SqlCatalog::ReplaceSubscription(const std::optional<std::string>& expected,
                                             const SubscriptionRecord& record) {
  std::lock_guard lock(write_mutex_);
  auto st = expected ? sql::Stmt::Prepare(writer_,
                                          "UPDATE subscriptions SET json = ?, updated_at = ? WHERE tenant_id = ? AND json = ?")
                     : sql::Stmt::Prepare(writer_,
                                          "INSERT INTO subscriptions(json, updated_at, tenant_id) VALUES(?,?,?) "
                                          "ON CONFLICT(tenant_id) DO NOTHING");
  if (!st) return std::unexpected(st.error());
  st->Bind(record.json).Bind(UnixSeconds()).Bind(record.tenant_id);
  if (expected) st->Bind(*expected);
  if (auto r = st->Run(); !r) return std::unexpected(r.error());
  return writer_.Changes() > 0;
}

Result<void> SqlCatalog::PutUsage(const UsageRecord& u) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, std::string("INSERT INTO usage(") + kUsageColumns +
                                            ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(job_id) DO UPDATE SET "
                                            "tenant_id = excluded.tenant_id, \"user\" = excluded.\"user\", "
                                            "algorithm_id = excluded.algorithm_id, algorithm_version = "
                                            "excluded.algorithm_version, series_uid = excluded.series_uid, "
                                            "outcome = excluded.outcome, slices = excluded.slices, voxels = "
                                            "excluded.voxels, duration_ms = excluded.duration_ms, started_at = "
                                            "excluded.started_at, period_start = excluded.period_start, counted = "
                                            "excluded.counted, overage = excluded.overage");
  if (!st) return std::unexpected(st.error());
  st->Bind(u.job_id).Bind(u.tenant_id).Bind(u.user).Bind(u.algorithm_id).Bind(u.algorithm_version).Bind(u.series_uid)
      .Bind(u.outcome).Bind(u.slices).Bind(u.voxels).Bind(u.duration_ms).Bind(u.started_at).Bind(u.period_start)
      .Bind(std::int64_t{u.counted}).Bind(std::int64_t{u.overage});
  return st->Run();
}

Result<std::vector<UsageRecord>> SqlCatalog::ListUsage(std::int64_t tenant_id, std::int64_t from, std::int64_t to) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kUsageColumns + " FROM usage WHERE " +
                                                (tenant_id ? "tenant_id = ? AND " : "") +
                                                "started_at >= ? AND started_at < ? ORDER BY tenant_id, started_at");
  if (!st) return std::unexpected(st.error());
  if (tenant_id) st->Bind(tenant_id);
  st->Bind(from).Bind(to);
  return sql::CollectRows<UsageRecord>(*st, ReadUsage);
}

Result<std::int64_t> SqlCatalog::CountedRuns(std::int64_t tenant_id, std::int64_t period_start) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT count(*) FROM usage WHERE tenant_id = ? AND period_start = ? AND counted = 1");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(period_start);
  return sql::FirstRow<std::int64_t>(*st, [](const sql::Stmt& s) { return s.Int(0); }, ErrorCode::kInternal, "no count");
}

Result<std::int64_t> SqlCatalog::InFlightRuns(std::int64_t tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT count(*) FROM jobs WHERE tenant_id = ? AND kind = 'algorithm' AND "
                                            "state IN ('queued', 'running')");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id);
  return sql::FirstRow<std::int64_t>(*st, [](const sql::Stmt& s) { return s.Int(0); }, ErrorCode::kInternal, "no count");
}

Result<std::int64_t> SqlCatalog::AdvanceLicenceClock(std::int64_t now) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO licence_clock(id, high_water) VALUES(1, ?) ON CONFLICT(id) DO UPDATE SET "
                               "high_water = " + sql::DialectOf(writer_).Greater("licence_clock.high_water", "excluded.high_water"));
  if (!st) return std::unexpected(st.error());
  st->Bind(now);
  if (auto r = st->Run(); !r) return std::unexpected(r.error());
  auto read = sql::Stmt::Prepare(writer_, "SELECT high_water FROM licence_clock WHERE id = 1");
  if (!read) return std::unexpected(read.error());
  return sql::FirstRow<std::int64_t>(*read, [](const sql::Stmt& s) { return s.Int(0); }, ErrorCode::kInternal, "no clock");
}

Result<std::optional<std::pair<std::int64_t, SealedBytes>>> SqlCatalog::LicenceClock() {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT high_water, coalesce(seal, ") + sql::DialectOf(reader.db()).EmptyBlob() +
                                                ") FROM licence_clock WHERE id = 1");
  if (!st) return std::unexpected(st.error());
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::pair<std::int64_t, SealedBytes>>{};
  return std::optional<std::pair<std::int64_t, SealedBytes>>{std::make_pair(st->Int(0), SealedBytes(st->Blob(1)))};
}

Result<bool> SqlCatalog::SetLicenceClock(std::optional<std::int64_t> expected, std::int64_t value, const SealedBytes& seal) {
  std::lock_guard lock(write_mutex_);
  auto st = expected ? sql::Stmt::Prepare(writer_, "UPDATE licence_clock SET high_water = ?, seal = ? WHERE id = 1 AND high_water = ?")
                     : sql::Stmt::Prepare(writer_, "INSERT INTO licence_clock(id, high_water, seal) VALUES(1, ?, ?) ON CONFLICT DO NOTHING");
  if (!st) return std::unexpected(st.error());
  st->Bind(value).Bind(seal);
  if (expected) st->Bind(*expected);
  if (auto r = st->Run(); !r) return std::unexpected(r.error());
  return writer_.Changes() > 0;
}

Result<std::pair<SealedBytes, bool>> SqlCatalog::InstallationSealed(const SealedBytes& candidate) {
  std::lock_guard lock(write_mutex_);
  auto insert = sql::Stmt::Prepare(writer_, "INSERT INTO installation(id, sealed_id, created_at) VALUES(1, ?, ?) ON CONFLICT DO NOTHING");
  if (!insert) return std::unexpected(insert.error());
  insert->Bind(candidate).Bind(UnixSeconds());
  if (auto r = insert->Run(); !r) return std::unexpected(r.error());
  const bool created = writer_.Changes() > 0;
  auto read = sql::Stmt::Prepare(writer_, "SELECT sealed_id FROM installation WHERE id = 1");
  if (!read) return std::unexpected(read.error());
  auto sealed =
      sql::FirstRow<SealedBytes>(*read, [](const sql::Stmt& s) { return SealedBytes(s.Blob(0)); }, ErrorCode::kInternal, "no installation");
  if (!sealed) return std::unexpected(sealed.error());
  return std::make_pair(std::move(*sealed), created);
}

}  // namespace vg::storage
