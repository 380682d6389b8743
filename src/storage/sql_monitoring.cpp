// MonitoringStore of SqlCatalog: feedback, bug reports and comments (runs: sql_jobs.cpp).
#include "core/clock.h"
#include "storage/sql_catalog.h"
#include "storage/sql_where.h"

namespace vg::storage {
namespace {

constexpr const char* kFeedbackColumns =
    "id, tenant_id, job_id, verdict, reason, comment_sealed, author, segmentation_id, metrics, created_at";
constexpr const char* kBugColumns =
    "id, tenant_id, job_id, reporter, severity, status, body_sealed, browser, app_version, screenshot_blob, created_at, "
    "updated_at";

FeedbackRecord ReadFeedback(const sql::Stmt& st) {
  FeedbackRecord f;
  f.id = st.Int(0);
  f.tenant_id = st.Int(1);
  f.job_id = st.Int(2);
  f.verdict = st.Text(3);
  f.reason = st.Text(4);
  f.comment_sealed = st.Blob(5);
  f.author = st.Text(6);
  f.segmentation_id = st.OptInt(7);
  f.metrics = st.Text(8);
  f.created_at = st.Int(9);
  return f;
}

BugReportRecord ReadBug(const sql::Stmt& st) {
  BugReportRecord b;
  b.id = st.Int(0);
  b.tenant_id = st.Int(1);
  b.job_id = st.OptInt(2);
  b.reporter = st.Text(3);
  b.severity = st.Text(4);
  b.status = st.Text(5);
  b.body_sealed = st.Blob(6);
  b.browser = st.Text(7);
  b.app_version = st.Text(8);
  b.screenshot_blob = st.Text(9);
  b.created_at = st.Int(10);
  b.updated_at = st.Int(11);
  return b;
}

}  // namespace

Result<FeedbackRecord> SqlCatalog::AddFeedback(const FeedbackRecord& f) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "INSERT INTO feedback(tenant_id, job_id, verdict, reason, comment_sealed, author, "
                                        "segmentation_id, metrics, created_at) VALUES(?,?,?,?,?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  FeedbackRecord created = f;
  created.created_at = UnixSeconds();
  st->Bind(f.tenant_id).Bind(f.job_id).Bind(f.verdict).Bind(f.reason).Bind(f.comment_sealed).Bind(f.author)
      .Bind(f.segmentation_id).Bind(f.metrics).Bind(created.created_at);
  auto inserted = sql::RunReturningId(*st);
  if (!inserted) return std::unexpected(inserted.error());
  created.id = *inserted;
  return created;
}

Result<std::vector<FeedbackRecord>> SqlCatalog::ListFeedback(std::optional<std::int64_t> tenant_id,
                                                                const std::vector<std::int64_t>& job_ids) {
  sql::Where w;
  w.sql = " WHERE 1 = 1";
  if (tenant_id) { w.And("tenant_id = ?"); w.Int(*tenant_id); }
  if (!job_ids.empty()) {
    w.And("job_id IN (" + sql::Placeholders(job_ids.size()) + ")");
    for (auto id : job_ids) w.Int(id);
  }
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kFeedbackColumns + " FROM feedback" + w.sql + " ORDER BY id");
  if (!st) return std::unexpected(st.error());
  w.BindTo(*st);
  return sql::CollectRows<FeedbackRecord>(*st, ReadFeedback);
}

Result<BugReportRecord> SqlCatalog::AddBugReport(const BugReportRecord& b,
                                                    const std::function<Result<SealedBytes>(std::int64_t id)>& seal_body) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  auto st = sql::Stmt::Prepare(writer_, "INSERT INTO bug_reports(tenant_id, job_id, reporter, severity, status, body_sealed, "
                                        "browser, app_version, screenshot_blob, created_at, updated_at) "
                                        "VALUES(?,?,?,?,?," + sql::DialectOf(writer_).EmptyBlob() + ",?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  BugReportRecord created = b;
  created.created_at = created.updated_at = UnixSeconds();
  st->Bind(b.tenant_id).Bind(b.job_id).Bind(b.reporter).Bind(b.severity).Bind(b.status).Bind(b.browser)
      .Bind(b.app_version).Bind(b.screenshot_blob).Bind(created.created_at).Bind(created.updated_at);
  auto inserted = sql::RunReturningId(*st);
  if (!inserted) return std::unexpected(inserted.error());
  created.id = *inserted;
  auto sealed = seal_body(created.id);
  if (!sealed) return std::unexpected(sealed.error());
  auto body = sql::Stmt::Prepare(writer_, "UPDATE bug_reports SET body_sealed = ? WHERE id = ?");
  if (!body) return std::unexpected(body.error());
  body->Bind(*sealed).Bind(created.id);
  if (auto r = body->Run(); !r) return std::unexpected(r.error());
  created.body_sealed = std::move(*sealed);
  if (auto r = tx->Commit(); !r) return std::unexpected(r.error());
  return created;
}

Result<BugReportRecord> SqlCatalog::FindBugReport(std::optional<std::int64_t> tenant_id, std::int64_t id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kBugColumns + " FROM bug_reports WHERE id = ?" +
                                                (tenant_id ? " AND tenant_id = ?" : ""));
  if (!st) return std::unexpected(st.error());
  st->Bind(id);
  if (tenant_id) st->Bind(*tenant_id);
  return sql::FirstRow<BugReportRecord>(*st, ReadBug, ErrorCode::kNotFound, "no such bug report");
}

Result<std::vector<BugReportRecord>> SqlCatalog::ListBugReports(std::optional<std::int64_t> tenant_id,
                                                                  const std::string& status) {
  sql::Where w;
  w.sql = " WHERE 1 = 1";
  if (tenant_id) { w.And("tenant_id = ?"); w.Int(*tenant_id); }
  if (!status.empty()) { w.And("status = ?"); w.Text(status); }
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kBugColumns + " FROM bug_reports" + w.sql +
                                                " ORDER BY id DESC LIMIT 1000");
  if (!st) return std::unexpected(st.error());
  w.BindTo(*st);
  return sql::CollectRows<BugReportRecord>(*st, ReadBug);
}

Result<void> SqlCatalog::SetBugStatus(std::int64_t id, const std::string& status) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE bug_reports SET status = ?, updated_at = ? WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(status).Bind(UnixSeconds()).Bind(id);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such bug report");
  return {};
}

Result<BugCommentRecord> SqlCatalog::AddBugComment(const BugCommentRecord& c) {
  std::lock_guard lock(write_mutex_);
  // The comment and the report's updated_at move together, or neither does.
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  auto st = sql::Stmt::Prepare(writer_, "INSERT INTO bug_comments(report_id, tenant_id, author, author_kind, body_sealed, "
                                        "created_at) VALUES(?,?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  BugCommentRecord created = c;
  created.created_at = UnixSeconds();
  st->Bind(c.report_id).Bind(c.tenant_id).Bind(c.author).Bind(c.author_kind).Bind(c.body_sealed).Bind(created.created_at);
  auto inserted = sql::RunReturningId(*st);
  if (!inserted) return std::unexpected(inserted.error());
  created.id = *inserted;
  auto touch = sql::Stmt::Prepare(writer_, "UPDATE bug_reports SET updated_at = ? WHERE id = ?");
  if (!touch) return std::unexpected(touch.error());
  touch->Bind(created.created_at).Bind(c.report_id);
  if (auto r = touch->Run(); !r) return std::unexpected(r.error());
  if (auto r = tx->Commit(); !r) return std::unexpected(r.error());
  return created;
}

Result<std::vector<BugCommentRecord>> SqlCatalog::ListBugComments(std::int64_t report_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT id, report_id, tenant_id, author, author_kind, body_sealed, created_at "
                                            "FROM bug_comments WHERE report_id = ? ORDER BY id");
  if (!st) return std::unexpected(st.error());
  st->Bind(report_id);
  return sql::CollectRows<BugCommentRecord>(*st, [](const sql::Stmt& s) {
    return BugCommentRecord{s.Int(0), s.Int(1), s.Int(2), s.Text(3), s.Text(4), s.Blob(5), s.Int(6)};
  });
}

}  // namespace vg::storage
