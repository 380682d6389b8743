// AnnotationStore of SqlCatalog: settings, tags, workflow status, segmentations, worklist.
#include "core/clock.h"
#include "storage/sql_catalog.h"
#include "storage/sql_where.h"

namespace vg::storage {
namespace {

constexpr const char* kStudyTagColumns =
    "t.id, t.tenant_id, t.study_uid, t.series_uid, t.tag_name, t.text_sealed, t.created_by, t.created_at, "
    "COALESCE(v.colour, '')";
constexpr const char* kStudyTagFrom =
    " FROM study_tags t LEFT JOIN tag_vocabulary v ON v.tenant_id = t.tenant_id AND v.name = t.tag_name";
constexpr const char* kStatusColumns =
    "st.tenant_id, st.study_uid, st.status, st.assignee_id, COALESCE(u.username, ''), st.updated_at, st.updated_by";
constexpr const char* kSegmentationColumns =
    "id, tenant_id, study_uid, source_series_uid, seg_series_uid, seg_sop_uid, parent_id, author, created_at, source, "
    "algorithm_name, algorithm_version, job_id, comment_sealed, segments_json, labels_blob, layers, origin_format, "
    "origin_manufacturer, origin_software, origin_description";

StudyTagRecord ReadStudyTag(const sql::Stmt& st) {
  StudyTagRecord r;
  r.id = st.Int(0);
  r.tenant_id = st.Int(1);
  r.study_uid = st.Text(2);
  if (!st.IsNull(3)) r.series_uid = st.Text(3);
  if (!st.IsNull(4)) r.tag_name = st.Text(4);
  r.text_sealed = st.Blob(5);
  r.created_by = st.Text(6);
  r.created_at = st.Int(7);
  r.colour = st.Text(8);
  return r;
}

StudyStatusRecord ReadStatus(const sql::Stmt& st, int at = 0) {
  StudyStatusRecord r;
  r.tenant_id = st.Int(at + 0);
  r.study_uid = st.Text(at + 1);
  r.status = st.Text(at + 2);
  r.assignee_id = st.OptInt(at + 3);
  r.assignee = st.Text(at + 4);
  r.updated_at = st.Int(at + 5);
  r.updated_by = st.Text(at + 6);
  return r;
}

SegmentationRecord ReadSegmentation(const sql::Stmt& st) {
  SegmentationRecord r;
  r.id = st.Int(0);
  r.tenant_id = st.Int(1);
  r.study_uid = st.Text(2);
  r.source_series_uid = st.Text(3);
  r.seg_series_uid = st.Text(4);
  r.seg_sop_uid = st.Text(5);
  r.parent_id = st.OptInt(6);
  r.author = st.Text(7);
  r.created_at = st.Int(8);
  r.source = st.Text(9);
  r.algorithm_name = st.Text(10);
  r.algorithm_version = st.Text(11);
  r.job_id = st.OptInt(12);
  r.comment_sealed = st.Blob(13);
  r.segments_json = st.Text(14);
  r.labels_blob = st.Text(15);
  r.layers = st.Int(16);
  r.origin_format = st.Text(17);
  r.origin_manufacturer = st.Text(18);
  r.origin_software = st.Text(19);
  r.origin_description = st.Text(20);
  return r;
}

}  // namespace

Result<TenantSettings> SqlCatalog::GetSettings(std::int64_t tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               "SELECT physicians_edit_segmentations, share_cases_with_vendor, algorithms_full_dicom_headers, "
                               "results_as_rtstruct, results_as_overlay, require_acceptance FROM tenants WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id);
  return sql::FirstRow<TenantSettings>(
      *st,
      [](const sql::Stmt& s) {
        return TenantSettings{s.Int(0) != 0, s.Int(1) != 0, s.Int(2) != 0, s.Int(3) != 0, s.Int(4) != 0, s.Int(5) != 0};
      },
      ErrorCode::kNotFound, "no such tenant");
}

Result<void> SqlCatalog::SetSettings(std::int64_t tenant_id, const TenantSettings& settings) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "UPDATE tenants SET physicians_edit_segmentations = ?, share_cases_with_vendor = ?, "
                               "algorithms_full_dicom_headers = ?, results_as_rtstruct = ?, results_as_overlay = ?, "
                               "require_acceptance = ? WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(std::int64_t{settings.physicians_edit_segmentations}).Bind(std::int64_t{settings.share_cases_with_vendor})
      .Bind(std::int64_t{settings.algorithms_full_dicom_headers}).Bind(std::int64_t{settings.results_as_rtstruct})
      .Bind(std::int64_t{settings.results_as_overlay}).Bind(std::int64_t{settings.require_acceptance}).Bind(tenant_id);
  return st->Run();
}

Result<std::vector<TagRecord>> SqlCatalog::ListTags(std::int64_t tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               "SELECT tenant_id, name, colour, description, created_at FROM tag_vocabulary "
                               "WHERE tenant_id = ? ORDER BY name");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id);
  return sql::CollectRows<TagRecord>(
      *st, [](const sql::Stmt& s) { return TagRecord{s.Int(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4)}; });
}

Result<TagRecord> SqlCatalog::CreateTag(const TagRecord& tag) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO tag_vocabulary(tenant_id, name, colour, description, created_at) "
                               "VALUES(?,?,?,?,?)");
  if (!st) return std::unexpected(st.error());
  TagRecord created = tag;
  created.created_at = UnixSeconds();
  st->Bind(tag.tenant_id).Bind(tag.name).Bind(tag.colour).Bind(tag.description).Bind(created.created_at);
  if (auto r = st->Run(); !r) {
    if (writer_.LastFailure() == sql::Failure::kDuplicate)
      return Fail(ErrorCode::kConflict, "the tag '" + tag.name + "' exists");
    return std::unexpected(r.error());
  }
  return created;
}

Result<void> SqlCatalog::DeleteTag(std::int64_t tenant_id, const std::string& name) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  auto del = sql::Stmt::Prepare(writer_, "DELETE FROM tag_vocabulary WHERE tenant_id = ? AND name = ?");
  if (!del) return std::unexpected(del.error());
  del->Bind(tenant_id).Bind(name);
  if (auto r = del->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such tag");
  auto untag = sql::Stmt::Prepare(writer_, "DELETE FROM study_tags WHERE tenant_id = ? AND tag_name = ?");
  if (!untag) return std::unexpected(untag.error());
  untag->Bind(tenant_id).Bind(name);
  if (auto r = untag->Run(); !r) return r;
  return tx->Commit();
}

Result<std::vector<StudyTagRecord>> SqlCatalog::ListStudyTags(std::int64_t tenant_id,
                                                                 const std::vector<std::string>& study_uids) {
  if (study_uids.empty()) return std::vector<StudyTagRecord>{};
  sql::Where w;
  w.sql = " WHERE t.tenant_id = ?";
  w.Int(tenant_id);
  w.In("t.study_uid", study_uids);
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kStudyTagColumns + kStudyTagFrom + w.sql +
                                                " ORDER BY t.study_uid, t.id");
  if (!st) return std::unexpected(st.error());
  w.BindTo(*st);
  return sql::CollectRows<StudyTagRecord>(*st, ReadStudyTag);
}

Result<std::pair<StudyTagRecord, bool>> SqlCatalog::AddStudyTag(const StudyTagRecord& tag) {
  std::lock_guard lock(write_mutex_);
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  if (tag.tag_name) {
    auto known = sql::Stmt::Prepare(writer_, "SELECT 1 FROM tag_vocabulary WHERE tenant_id = ? AND name = ?");
    if (!known) return std::unexpected(known.error());
    known->Bind(tag.tenant_id).Bind(*tag.tag_name);
    auto row = known->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return Fail(ErrorCode::kInvalidArgument, "'" + *tag.tag_name + "' is not in the clinic's tag vocabulary");
    auto existing = sql::Stmt::Prepare(writer_, std::string("SELECT ") + kStudyTagColumns + kStudyTagFrom +
                                                     " WHERE t.tenant_id = ? AND t.study_uid = ? AND t.tag_name = ? "
                                                     "AND t.series_uid IS NOT DISTINCT FROM ?");
    if (!existing) return std::unexpected(existing.error());
    existing->Bind(tag.tenant_id).Bind(tag.study_uid).Bind(*tag.tag_name).Bind(tag.series_uid);
    auto found = existing->Step();
    if (!found) return std::unexpected(found.error());
    if (*found) return std::make_pair(ReadStudyTag(*existing), false);
  }
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO study_tags(tenant_id, study_uid, series_uid, tag_name, text_sealed, "
                               "created_by, created_at) VALUES(?,?,?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  StudyTagRecord created = tag;
  created.created_at = UnixSeconds();
  st->Bind(tag.tenant_id).Bind(tag.study_uid).Bind(tag.series_uid).Bind(tag.tag_name).Bind(tag.text_sealed)
      .Bind(tag.created_by).Bind(created.created_at);
  auto inserted = sql::RunReturningId(*st);
  if (!inserted) return std::unexpected(inserted.error());
  created.id = *inserted;
  if (auto r = tx->Commit(); !r) return std::unexpected(r.error());
  return std::make_pair(created, true);
}

Result<void> SqlCatalog::RemoveStudyTag(std::int64_t tenant_id, const std::string& study_uid, std::int64_t id) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "DELETE FROM study_tags WHERE tenant_id = ? AND study_uid = ? AND id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(study_uid).Bind(id);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such tag on this study");
  return {};
}

Result<std::vector<StudyStatusRecord>> SqlCatalog::GetStatuses(std::int64_t tenant_id,
                                                                  const std::vector<std::string>& study_uids) {
  if (study_uids.empty()) return std::vector<StudyStatusRecord>{};
  sql::Where w;
  w.sql = " WHERE st.tenant_id = ?";
  w.Int(tenant_id);
  w.In("st.study_uid", study_uids);
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kStatusColumns +
                                                " FROM study_status st LEFT JOIN users u ON u.id = st.assignee_id" + w.sql);
  if (!st) return std::unexpected(st.error());
  w.BindTo(*st);
  return sql::CollectRows<StudyStatusRecord>(*st, [](const sql::Stmt& s) { return ReadStatus(s); });
}

Result<void> SqlCatalog::SetStatus(const StudyStatusRecord& status) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO study_status(tenant_id, study_uid, status, assignee_id, updated_at, "
                               "updated_by) VALUES(?,?,?,?,?,?) ON CONFLICT(tenant_id, study_uid) DO UPDATE SET "
                               "status = excluded.status, assignee_id = excluded.assignee_id, "
                               "updated_at = excluded.updated_at, updated_by = excluded.updated_by");
  if (!st) return std::unexpected(st.error());
  st->Bind(status.tenant_id).Bind(status.study_uid).Bind(status.status).Bind(status.assignee_id)
      .Bind(status.updated_at ? status.updated_at : UnixSeconds()).Bind(status.updated_by);
  return st->Run();
}

Result<SegmentationRecord> SqlCatalog::CreateSegmentation(const SegmentationRecord& record) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO segmentations(tenant_id, study_uid, source_series_uid, seg_series_uid, "
                               "seg_sop_uid, parent_id, author, created_at, source, algorithm_name, algorithm_version, "
                               "job_id, comment_sealed, segments_json, labels_blob, layers, origin_format, origin_manufacturer, "
                               "origin_software, origin_description) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  SegmentationRecord created = record;
  created.created_at = UnixSeconds();
  st->Bind(record.tenant_id).Bind(record.study_uid).Bind(record.source_series_uid).Bind(record.seg_series_uid)
      .Bind(record.seg_sop_uid).Bind(record.parent_id).Bind(record.author).Bind(created.created_at).Bind(record.source)
      .Bind(record.algorithm_name).Bind(record.algorithm_version).Bind(record.job_id).Bind(record.comment_sealed)
      .Bind(record.segments_json).Bind(record.labels_blob).Bind(record.layers).Bind(record.origin_format)
      .Bind(record.origin_manufacturer).Bind(record.origin_software).Bind(record.origin_description);
  auto inserted = sql::RunReturningId(*st);
  if (!inserted) return std::unexpected(inserted.error());
  created.id = *inserted;
  return created;
}

Result<SegmentationRecord> SqlCatalog::FindSegmentation(std::int64_t tenant_id, std::int64_t id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kSegmentationColumns +
                                                " FROM segmentations WHERE tenant_id = ? AND id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(id);
  return sql::FirstRow<SegmentationRecord>(*st, ReadSegmentation, ErrorCode::kNotFound, "no such segmentation");
}

Result<std::optional<SegmentationRecord>> SqlCatalog::FindSegmentationByJob(std::int64_t tenant_id,
                                                                               std::int64_t job_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kSegmentationColumns +
                                                " FROM segmentations WHERE tenant_id = ? AND job_id = ? ORDER BY id LIMIT 1");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(job_id);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<SegmentationRecord>{};
  return std::optional<SegmentationRecord>(ReadSegmentation(*st));
}

Result<std::vector<SegmentationRecord>> SqlCatalog::ListSegmentations(std::int64_t tenant_id,
                                                                         const std::string& study_uid,
                                                                         const std::optional<std::string>& series) {
  auto reader = Reader();
  std::string sql = std::string("SELECT ") + kSegmentationColumns +
                    " FROM segmentations WHERE tenant_id = ? AND study_uid = ?" +
                    (series ? " AND source_series_uid = ?" : "") + " ORDER BY id DESC";
  auto st = sql::Stmt::Prepare(reader.db(), sql);
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(study_uid);
  if (series) st->Bind(*series);
  return sql::CollectRows<SegmentationRecord>(*st, ReadSegmentation);
}

Result<std::map<std::string, std::int64_t>> SqlCatalog::CountSegmentations(
    std::int64_t tenant_id, const std::vector<std::string>& study_uids) {
  std::map<std::string, std::int64_t> out;
  if (study_uids.empty()) return out;
  sql::Where w;
  w.sql = " WHERE tenant_id = ?";
  w.Int(tenant_id);
  w.In("study_uid", study_uids);
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT study_uid, count(*) FROM segmentations" + w.sql + " GROUP BY study_uid");
  if (!st) return std::unexpected(st.error());
  w.BindTo(*st);
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out[st->Text(0)] = st->Int(1);
  }
}

Result<WorklistPage> SqlCatalog::SearchWorklist(std::int64_t tenant_id, const WorklistFilter& f) {
  sql::Where w;
  w.sql = " WHERE s.tenant_id = ?";
  w.Int(tenant_id);
  sql::AddStudyClauses(w, f.study, "s");
  if (f.patient_name_or_id) {
    w.And("(s.patient_name_hash = ? OR s.patient_id_hash = ?)");
    w.Blob(f.patient_name_or_id->first);
    w.Blob(f.patient_name_or_id->second);
  }
  if (!f.statuses.empty()) {
    w.And("COALESCE(st.status, 'todo') IN (" + sql::Placeholders(f.statuses.size()) + ")");
    for (const auto& s : f.statuses) w.Text(s);
  }
  if (!f.tags.empty()) {
    w.And("EXISTS (SELECT 1 FROM study_tags t WHERE t.tenant_id = s.tenant_id AND t.study_uid = s.study_uid "
          "AND t.tag_name IN (" + sql::Placeholders(f.tags.size()) + "))");
    for (const auto& t : f.tags) w.Text(t);
  }
  if (f.assignee_id) {
    w.And("st.assignee_id = ?");
    w.Int(*f.assignee_id);
  } else if (f.unassigned) {
    w.And("st.assignee_id IS NULL");
  }
  const std::string from = " FROM studies s LEFT JOIN study_status st ON st.tenant_id = s.tenant_id AND "
                           "st.study_uid = s.study_uid LEFT JOIN users u ON u.id = st.assignee_id";
  std::string order = " ORDER BY s.study_date DESC, s.study_time DESC, s.id DESC";
  if (f.sort == "date") order = " ORDER BY s.study_date, s.study_time, s.id";
  else if (f.sort == "status")
    order = " ORDER BY CASE COALESCE(st.status, 'todo') WHEN 'todo' THEN 0 WHEN 'in_progress' THEN 1 "
            "WHEN 'done' THEN 2 ELSE 3 END, s.study_date DESC, s.id DESC";
  else if (f.sort == "updated") order = " ORDER BY COALESCE(st.updated_at, 0), s.id";
  else if (f.sort == "-updated") order = " ORDER BY COALESCE(st.updated_at, 0) DESC, s.id DESC";

  auto reader = Reader();
  WorklistPage page;
  {
    auto count = sql::Stmt::Prepare(reader.db(), "SELECT count(*)" + from + w.sql);
    if (!count) return std::unexpected(count.error());
    w.BindTo(*count);
    auto row = count->Step();
    if (!row) return std::unexpected(row.error());
    page.total = *row ? count->Int(0) : 0;
  }
  auto st = sql::Stmt::Prepare(
      reader.db(),
      "SELECT s.id, s.study_uid, s.study_date, s.study_time, s.attrs, "
      "(SELECT " + dialect().DistinctList("modality") + " FROM series m WHERE m.study_id = s.id), "
      "(SELECT count(*) FROM series m WHERE m.study_id = s.id), "
      "(SELECT count(*) FROM instances i WHERE i.study_id = s.id), "
      "s.tenant_id, s.study_uid, COALESCE(st.status, 'todo'), st.assignee_id, COALESCE(u.username, ''), "
      "COALESCE(st.updated_at, 0), COALESCE(st.updated_by, '')" +
          from + w.sql + order + sql::LimitClause(f.limit, f.offset));
  if (!st) return std::unexpected(st.error());
  w.BindTo(*st);
  auto rows = sql::CollectRows<WorklistRow>(*st, [](const sql::Stmt& s) {
    WorklistRow r;
    r.study.id = s.Int(0);
    r.study.study_uid = s.Text(1);
    r.study.study_date = s.Text(2);
    r.study.study_time = s.Text(3);
    r.study.study_attrs = s.Blob(4);
    r.study.modalities = sql::SplitList(s.Text(5));
    r.study.series_count = s.Int(6);
    r.study.instance_count = s.Int(7);
    r.status = ReadStatus(s, 8);
    return r;
  });
  if (!rows) return std::unexpected(rows.error());
  page.rows = std::move(*rows);
  return page;
}

Result<std::vector<LatestVersion>> SqlCatalog::LatestVersionsBySeries(std::int64_t tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               "SELECT source_series_uid, source, id, created_at, author FROM ("
                               "SELECT source_series_uid, source, id, created_at, author, row_number() OVER ("
                               "PARTITION BY source_series_uid, source ORDER BY id DESC) AS newest "
                               "FROM segmentations WHERE tenant_id = ?) AS ranked WHERE newest = 1");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id);
  return sql::CollectRows<LatestVersion>(
      *st, [](const sql::Stmt& r) { return LatestVersion{r.Text(0), r.Text(1), r.Int(2), r.Int(3), r.Text(4)}; });
}

Result<std::vector<SegmentationImportCandidate>> SqlCatalog::FindImportCandidates(std::int64_t now,
                                                                               std::int64_t quiet_seconds,
                                                                               std::int64_t limit, std::int64_t since) {
  auto reader = Reader();
  // New ones are found through the series' modality (indexed) and then the SOP class
  // (what the object really is); a forged modality only hides an object from import.
  constexpr const char* kVersion =
      "(SELECT g.id FROM segmentations g WHERE g.tenant_id = i.tenant_id AND g.seg_sop_uid = i.sop_uid ORDER BY g.id "
      "LIMIT 1) AS version_id, (SELECT g.source FROM segmentations g WHERE g.tenant_id = i.tenant_id AND "
      "g.seg_sop_uid = i.sop_uid ORDER BY g.id LIMIT 1) AS version_source";
  auto st = sql::Stmt::Prepare(
      reader.db(),
      std::string("SELECT * FROM (") +
          "SELECT i.tenant_id, s.study_uid, se.series_uid, i.sop_uid, i.sop_class_uid, i.created_at AS since, " +
          kVersion + ", 0 AS attempts "
          "FROM series se JOIN instances i ON i.series_id = se.id JOIN studies s ON s.id = se.study_id "
          "WHERE se.modality IN ('SEG', 'RTSTRUCT') AND i.sop_class_uid IN (?, ?, ?) AND i.created_at <= ? "
          "AND i.created_at >= ? "
          "AND NOT EXISTS (SELECT 1 FROM segmentation_imports m WHERE m.tenant_id = i.tenant_id AND m.sop_uid = i.sop_uid) "
          "UNION ALL "
          "SELECT i.tenant_id, s.study_uid, se.series_uid, i.sop_uid, i.sop_class_uid, m.updated_at AS since, " +
          kVersion + ", m.attempts AS attempts "
          "FROM segmentation_imports m JOIN instances i ON i.tenant_id = m.tenant_id AND i.sop_uid = m.sop_uid "
          "JOIN series se ON se.id = i.series_id JOIN studies s ON s.id = se.study_id "
          "WHERE (m.state = 'retrying' AND m.updated_at <= ?) OR (m.state = 'waiting' AND EXISTS ("
          "SELECT 1 FROM series r WHERE r.tenant_id = m.tenant_id AND (r.series_uid = m.referenced_series_uid OR "
          "(m.referenced_series_uid = '' AND r.study_id = i.study_id)) AND "
          "(SELECT max(ri.created_at) FROM instances ri WHERE ri.series_id = r.id) BETWEEN m.updated_at AND ?))"
          ") AS c ORDER BY c.since LIMIT ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(std::string("1.2.840.10008.5.1.4.1.1.66.4")).Bind(std::string("1.2.840.10008.5.1.4.1.1.66.7"))
      .Bind(std::string("1.2.840.10008.5.1.4.1.1.481.3")).Bind(now - quiet_seconds).Bind(since).Bind(now)
      .Bind(now - quiet_seconds).Bind(limit);
  return sql::CollectRows<SegmentationImportCandidate>(*st, [](const sql::Stmt& r) {
    SegmentationImportCandidate c{r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4)};
    c.version_id = r.OptInt(6);
    if (!r.IsNull(7)) c.version_source = r.Text(7);
    c.attempts = r.Int(8);
    return c;
  });
}

Result<std::optional<std::int64_t>> SqlCatalog::SeriesLastStored(std::int64_t tenant_id, const std::string& series_uid) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               "SELECT max(i.created_at) FROM series s JOIN instances i ON i.series_id = s.id "
                               "WHERE s.tenant_id = ? AND s.series_uid = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(series_uid);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row || st->IsNull(0)) return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>(st->Int(0));
}

Result<void> SqlCatalog::RecordImport(const SegmentationImportRecord& record) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO segmentation_imports(tenant_id, sop_uid, state, referenced_series_uid, "
                               "segmentation_id, message, updated_at, took_ms, attempts) VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(tenant_id, sop_uid) "
                               "DO UPDATE SET state = excluded.state, referenced_series_uid = excluded.referenced_series_uid, "
                               "segmentation_id = excluded.segmentation_id, message = excluded.message, "
                               "updated_at = excluded.updated_at, took_ms = excluded.took_ms, attempts = excluded.attempts");
  if (!st) return std::unexpected(st.error());
  st->Bind(record.tenant_id).Bind(record.sop_uid).Bind(record.state).Bind(record.referenced_series_uid)
      .Bind(record.segmentation_id).Bind(record.message).Bind(record.updated_at ? record.updated_at : UnixSeconds())
      .Bind(record.took_ms).Bind(record.attempts);
  return st->Run();
}

Result<std::optional<SegmentationImportRecord>> SqlCatalog::FindImport(std::int64_t tenant_id, const std::string& sop_uid) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               "SELECT tenant_id, sop_uid, state, referenced_series_uid, segmentation_id, message, updated_at, "
                               "took_ms, attempts FROM segmentation_imports WHERE tenant_id = ? AND sop_uid = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(sop_uid);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<SegmentationImportRecord>{};
  return std::optional<SegmentationImportRecord>(
      SegmentationImportRecord{st->Int(0), st->Text(1), st->Text(2), st->Text(3), st->OptInt(4), st->Text(5), st->Int(6),
                               st->Int(7), st->Int(8)});
}

}  // namespace vg::storage
