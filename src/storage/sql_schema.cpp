// Versioned schema migrations of the catalog. Each entry moves the schema from version
// N-1 to N; entries are never edited once released, only appended. They are written in
// SQLite's dialect and translated for PostgreSQL (ForPostgres: 64-bit integers, bytea,
// identity keys, the quoted "user" column), so both engines have one schema.
#include "storage/sql_schema.h"

#include <regex>
#include <string>

namespace vg::storage {
namespace {

const char* kMigrations[] = {
    // 1: tenants, tokens, the DICOM index.
    R"sql(
CREATE TABLE tenants(
  id INTEGER PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  wrapped_key BLOB NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE api_tokens(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  token_hash BLOB NOT NULL UNIQUE,
  scopes TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER,
  UNIQUE(tenant_id, name));
CREATE TABLE studies(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  study_uid TEXT NOT NULL,
  study_date TEXT NOT NULL,
  study_time TEXT NOT NULL,
  patient_name_hash BLOB,
  patient_id_hash BLOB,
  accession_hash BLOB,
  attrs BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE(tenant_id, study_uid));
CREATE INDEX studies_by_date ON studies(tenant_id, study_date);
CREATE INDEX studies_by_patient_id ON studies(tenant_id, patient_id_hash);
CREATE INDEX studies_by_patient_name ON studies(tenant_id, patient_name_hash);
CREATE TABLE series(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  study_id INTEGER NOT NULL REFERENCES studies(id),
  series_uid TEXT NOT NULL,
  modality TEXT NOT NULL,
  series_number INTEGER,
  attrs BLOB NOT NULL,
  UNIQUE(tenant_id, series_uid));
CREATE INDEX series_by_study ON series(study_id);
CREATE TABLE instances(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  study_id INTEGER NOT NULL REFERENCES studies(id),
  series_id INTEGER NOT NULL REFERENCES series(id),
  sop_uid TEXT NOT NULL,
  sop_class_uid TEXT NOT NULL,
  instance_number INTEGER,
  transfer_syntax TEXT NOT NULL,
  rows INTEGER NOT NULL,
  columns INTEGER NOT NULL,
  bits_allocated INTEGER NOT NULL,
  frames INTEGER NOT NULL,
  size INTEGER NOT NULL,
  blob_name TEXT NOT NULL,
  metadata BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE(tenant_id, sop_uid));
CREATE INDEX instances_by_series ON instances(series_id, instance_number);
CREATE INDEX instances_by_study ON instances(study_id);
)sql",
    // 2: DICOM networking: each tenant's called AE title, and its known DICOM nodes.
    R"sql(
ALTER TABLE tenants ADD COLUMN ae_title TEXT;
ALTER TABLE tenants ADD COLUMN accept_any_caller INTEGER NOT NULL DEFAULT 0;
UPDATE tenants SET ae_title = upper(substr(slug, 1, 16));
CREATE UNIQUE INDEX tenants_by_ae_title ON tenants(ae_title);
CREATE TABLE dicom_nodes(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  ae_title TEXT NOT NULL,
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  UNIQUE(tenant_id, ae_title));
)sql",
    // 3: the audit trail, one hash chain over the whole installation; blob lookup.
    R"sql(
CREATE TABLE audit_log(
  id INTEGER PRIMARY KEY,
  ts_ms INTEGER NOT NULL,
  tenant_id INTEGER,
  actor TEXT NOT NULL,
  actor_kind TEXT NOT NULL,
  action TEXT NOT NULL,
  object TEXT NOT NULL,
  outcome TEXT NOT NULL,
  remote TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash BLOB NOT NULL,
  hash BLOB NOT NULL);
CREATE INDEX audit_by_tenant ON audit_log(tenant_id, id);
-- Start-up recovery asks whether a staged blob is indexed.
CREATE INDEX instances_by_blob ON instances(tenant_id, blob_name);
)sql",
    // 4: people and their sessions.
    R"sql(
CREATE TABLE users(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  username TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  must_change_password INTEGER NOT NULL DEFAULT 0,
  disabled_at INTEGER,
  created_at INTEGER NOT NULL);
CREATE TABLE sessions(
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  token_hash BLOB NOT NULL UNIQUE,
  csrf_hash BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  revoked_at INTEGER);
CREATE INDEX sessions_by_user ON sessions(user_id);
)sql",
    // 5: tokens belong to users (existing ones to a per-tenant service user, whose name
    // has a ':' no person's name can have); who acted from which tenant; support grants;
    // a DICOM node's role (service: read and write; uploader: store only).
    R"sql(
ALTER TABLE api_tokens ADD COLUMN user_id INTEGER REFERENCES users(id);
INSERT INTO users(tenant_id, username, role, password_hash, created_at)
  SELECT DISTINCT t.id, 'service:' || t.slug, 'service', '', CAST(strftime('%s','now') AS INTEGER)
  FROM tenants t JOIN api_tokens k ON k.tenant_id = t.id;
UPDATE api_tokens SET user_id =
  (SELECT u.id FROM users u JOIN tenants t ON t.id = u.tenant_id
   WHERE u.tenant_id = api_tokens.tenant_id AND u.username = 'service:' || t.slug);
CREATE INDEX tokens_by_user ON api_tokens(user_id);
ALTER TABLE audit_log ADD COLUMN actor_tenant_id INTEGER;
CREATE INDEX audit_by_actor_tenant ON audit_log(actor_tenant_id, id);
CREATE TABLE support_grants(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  study_uid TEXT,
  granted_by TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER);
CREATE INDEX grants_by_tenant ON support_grants(tenant_id, expires_at);
ALTER TABLE dicom_nodes ADD COLUMN role TEXT NOT NULL DEFAULT 'service';
)sql",
    // 6: clinic settings, tags, workflow status, segmentation versions, and the durable
    // job queue (exports now, algorithm runs next).
    R"sql(
ALTER TABLE tenants ADD COLUMN physicians_edit_segmentations INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN share_cases_with_vendor INTEGER NOT NULL DEFAULT 0;
CREATE TABLE tag_vocabulary(
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  colour TEXT NOT NULL,
  description TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(tenant_id, name));
CREATE TABLE study_tags(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  study_uid TEXT NOT NULL,
  series_uid TEXT,
  tag_name TEXT,
  text_sealed BLOB,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE INDEX study_tags_by_study ON study_tags(tenant_id, study_uid);
CREATE INDEX study_tags_by_name ON study_tags(tenant_id, tag_name);
CREATE TABLE study_status(
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  study_uid TEXT NOT NULL,
  status TEXT NOT NULL,
  assignee_id INTEGER REFERENCES users(id),
  updated_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL,
  PRIMARY KEY(tenant_id, study_uid));
CREATE TABLE segmentations(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  study_uid TEXT NOT NULL,
  source_series_uid TEXT NOT NULL,
  seg_series_uid TEXT NOT NULL,
  seg_sop_uid TEXT NOT NULL,
  parent_id INTEGER REFERENCES segmentations(id),
  author TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  source TEXT NOT NULL,
  algorithm_name TEXT NOT NULL,
  algorithm_version TEXT NOT NULL,
  job_id INTEGER,
  comment_sealed BLOB,
  segments_json TEXT NOT NULL,
  labels_blob TEXT NOT NULL);
CREATE INDEX segmentations_by_study ON segmentations(tenant_id, study_uid, id);
CREATE TABLE jobs(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  params TEXT NOT NULL,
  progress_done INTEGER NOT NULL DEFAULT 0,
  progress_total INTEGER NOT NULL DEFAULT 0,
  progress_note TEXT NOT NULL DEFAULT '',
  result TEXT NOT NULL DEFAULT '{}',
  error TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_expires_at INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 3,
  cancel_requested INTEGER NOT NULL DEFAULT 0);
CREATE INDEX jobs_by_state ON jobs(state, priority, id);
CREATE INDEX jobs_by_tenant ON jobs(tenant_id, id);
)sql",
    // 7: the algorithm registry, segmentations by job (a retried job finds its result),
    // and auto-run rules with the series each has fired on.
    R"sql(
CREATE TABLE algorithms(
  id TEXT NOT NULL,
  version TEXT NOT NULL,
  name TEXT NOT NULL,
  manifest_json TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  is_default INTEGER NOT NULL DEFAULT 0,
  enabled INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY(id, version));
CREATE INDEX segmentations_by_job ON segmentations(tenant_id, job_id);
CREATE TABLE auto_rules(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  algorithm_id TEXT NOT NULL,
  modality TEXT NOT NULL,
  min_instances INTEGER NOT NULL,
  quiet_seconds INTEGER NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE auto_rule_fired(
  rule_id INTEGER NOT NULL REFERENCES auto_rules(id),
  series_uid TEXT NOT NULL,
  job_id INTEGER,
  fired_at INTEGER NOT NULL,
  PRIMARY KEY(rule_id, series_uid));
)sql",
    // 8: plans (versioned), subscriptions, usage records (metering), the licence clock.
    R"sql(
CREATE TABLE plans(
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  json TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(name, version));
CREATE TABLE subscriptions(
  tenant_id INTEGER PRIMARY KEY REFERENCES tenants(id),
  json TEXT NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE TABLE usage(
  job_id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  user TEXT NOT NULL,
  algorithm_id TEXT NOT NULL,
  algorithm_version TEXT NOT NULL,
  series_uid TEXT NOT NULL,
  outcome TEXT NOT NULL,
  slices INTEGER NOT NULL,
  voxels INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  period_start INTEGER NOT NULL,
  counted INTEGER NOT NULL,
  overage INTEGER NOT NULL);
CREATE INDEX usage_by_tenant ON usage(tenant_id, started_at);
CREATE TABLE licence_clock(id INTEGER PRIMARY KEY CHECK (id = 1), high_water INTEGER NOT NULL);
)sql",
    // 9: monitoring: feedback on results, bug reports and their comments.
    R"sql(
CREATE TABLE feedback(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  job_id INTEGER NOT NULL,
  verdict TEXT NOT NULL,
  reason TEXT NOT NULL,
  comment_sealed BLOB,
  author TEXT NOT NULL,
  segmentation_id INTEGER,
  metrics TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE INDEX feedback_by_job ON feedback(job_id);
CREATE TABLE bug_reports(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  job_id INTEGER,
  reporter TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  body_sealed BLOB NOT NULL,
  browser TEXT NOT NULL,
  app_version TEXT NOT NULL,
  screenshot_blob TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE INDEX bug_reports_by_tenant ON bug_reports(tenant_id, id);
CREATE TABLE bug_comments(
  id INTEGER PRIMARY KEY,
  report_id INTEGER NOT NULL REFERENCES bug_reports(id),
  tenant_id INTEGER NOT NULL,
  author TEXT NOT NULL,
  author_kind TEXT NOT NULL,
  body_sealed BLOB NOT NULL,
  created_at INTEGER NOT NULL);
CREATE INDEX bug_comments_by_report ON bug_comments(report_id, id);
CREATE INDEX jobs_by_kind_time ON jobs(kind, created_at);
)sql",
    // 10: privacy at ingest: a clinic's de-identification profile and burned-in-text rules.
    R"sql(
ALTER TABLE tenants ADD COLUMN deid_profile TEXT NOT NULL DEFAULT 'off';
ALTER TABLE tenants ADD COLUMN deid_reject_modalities TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN deid_reject_descriptions TEXT NOT NULL DEFAULT '';
)sql",
    // 11: names clients gave to images they uploaded (3D Slicer, MONAI Label sessions).
    R"sql(
CREATE TABLE image_aliases(
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  series_uid TEXT NOT NULL,
  kind TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, name));
)sql",
    // 12: the users a clinic trusts to send instances de-identified by its profile already.
    R"sql(
ALTER TABLE tenants ADD COLUMN deid_trusted_senders TEXT NOT NULL DEFAULT '';
)sql",
    // 13: the licence clock's seal, and the installation id a licence names (sealed).
    R"sql(
ALTER TABLE licence_clock ADD COLUMN seal BLOB;
CREATE TABLE installation(id INTEGER PRIMARY KEY CHECK (id = 1), sealed_id BLOB NOT NULL, created_at INTEGER NOT NULL);
)sql",
    // 14: a support grant names the support user it is for.
    R"sql(
ALTER TABLE support_grants ADD COLUMN grantee TEXT NOT NULL DEFAULT '';
)sql",
    // 15: whether a clinic lets algorithms read the full DICOM headers of its series.
    R"sql(
ALTER TABLE tenants ADD COLUMN algorithms_full_dicom_headers INTEGER NOT NULL DEFAULT 0;
)sql",
    // 16: the login throttle's counts and the addresses each account signed in from,
    // shared by a cluster's nodes (a single machine keeps them in memory).
    R"sql(
CREATE TABLE login_throttle(
  key TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  last_failure_ms INTEGER NOT NULL,
  blocked_until_ms INTEGER NOT NULL);
CREATE TABLE login_addresses(
  username TEXT NOT NULL,
  address TEXT NOT NULL,
  seen_ms INTEGER NOT NULL,
  PRIMARY KEY(username, address));
)sql",
    // 17: blobs written to a shared object store before their row committed, for the
    // garbage collector (storage/blob_collector.h).
    R"sql(
CREATE TABLE blob_intents(
  tenant_id INTEGER NOT NULL,
  blob_name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(tenant_id, blob_name));
CREATE INDEX blob_intents_by_age ON blob_intents(created_at);
CREATE INDEX segmentations_by_labels ON segmentations(tenant_id, labels_blob);
)sql",
    // 18: segmentations imported from DICOM SEG and RTSTRUCT objects (their origin and
    // overlap layers), the importer's record of every SEG/RTSTRUCT instance it has seen,
    // and the forms a clinic's algorithm results are also sent in.
    R"sql(
ALTER TABLE segmentations ADD COLUMN origin_format TEXT NOT NULL DEFAULT '';
ALTER TABLE segmentations ADD COLUMN origin_manufacturer TEXT NOT NULL DEFAULT '';
ALTER TABLE segmentations ADD COLUMN origin_software TEXT NOT NULL DEFAULT '';
ALTER TABLE segmentations ADD COLUMN origin_description TEXT NOT NULL DEFAULT '';
ALTER TABLE segmentations ADD COLUMN layers INTEGER NOT NULL DEFAULT 1;
CREATE INDEX segmentations_by_seg ON segmentations(tenant_id, seg_sop_uid);
CREATE TABLE segmentation_imports(
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  sop_uid TEXT NOT NULL,
  state TEXT NOT NULL,
  referenced_series_uid TEXT NOT NULL,
  segmentation_id INTEGER,
  message TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  took_ms INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(tenant_id, sop_uid));
CREATE INDEX segmentation_imports_waiting ON segmentation_imports(state, tenant_id, referenced_series_uid);
CREATE INDEX series_by_modality ON series(modality, tenant_id);
ALTER TABLE tenants ADD COLUMN results_as_rtstruct INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN results_as_overlay INTEGER NOT NULL DEFAULT 0;
)sql",
    // 19: the algorithm's life in each clinic: the version each clinic runs (and its
    // canary, shadow and scheduled change), every change to it (with its delivery to the
    // webhook), and the shadow runs with their comparison to the clinic's own run.
    R"sql(
CREATE TABLE algorithm_deployments(
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  algorithm_id TEXT NOT NULL,
  state_json TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY(tenant_id, algorithm_id));
CREATE TABLE deployment_events(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  algorithm_id TEXT NOT NULL,
  action TEXT NOT NULL,
  from_version TEXT NOT NULL,
  to_version TEXT NOT NULL,
  detail_json TEXT NOT NULL,
  actor TEXT NOT NULL,
  changed_at INTEGER NOT NULL,
  notified_at INTEGER);
CREATE INDEX deployment_events_by_algorithm ON deployment_events(algorithm_id, tenant_id, id);
CREATE INDEX deployment_events_to_notify ON deployment_events(notified_at, id);
CREATE TABLE shadow_runs(
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  pinned_job_id INTEGER NOT NULL,
  shadow_job_id INTEGER,
  algorithm_id TEXT NOT NULL,
  pinned_version TEXT NOT NULL,
  shadow_version TEXT NOT NULL,
  series_uid TEXT NOT NULL,
  state TEXT NOT NULL,
  labels_blob TEXT NOT NULL,
  result_json TEXT NOT NULL,
  error TEXT NOT NULL,
  correction_json TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  finished_at INTEGER,
  PRIMARY KEY(tenant_id, pinned_job_id));
CREATE INDEX shadow_runs_by_version ON shadow_runs(algorithm_id, shadow_version, tenant_id);
CREATE TABLE reference_cases(
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  series_uid TEXT NOT NULL,
  study_uid TEXT NOT NULL,
  segmentation_id INTEGER NOT NULL,
  marked_by TEXT NOT NULL,
  marked_at INTEGER NOT NULL,
  PRIMARY KEY(tenant_id, series_uid));
CREATE TABLE acceptance_runs(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  algorithm_id TEXT NOT NULL,
  version TEXT NOT NULL,
  job_id INTEGER,
  state TEXT NOT NULL,
  passed INTEGER,
  report_json TEXT NOT NULL,
  pictures_sealed BLOB,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  finished_at INTEGER);
CREATE INDEX acceptance_runs_by_version ON acceptance_runs(tenant_id, algorithm_id, version, id);
ALTER TABLE tenants ADD COLUMN require_acceptance INTEGER NOT NULL DEFAULT 0;
)sql",
};

// The migration's DDL in PostgreSQL's spelling. Applied to the project's own constant
// statements only; every construct they use is covered by schema tests on both engines.
std::string ForPostgres(std::string ddl) {
  static const std::regex identity(R"(\bid INTEGER PRIMARY KEY\b(?! CHECK))");
  static const std::regex integer(R"(\bINTEGER\b)");
  static const std::regex blob(R"(\bBLOB\b)");
  static const std::regex user_column(R"(\n  user TEXT)");
  static const std::regex now_seconds(R"(CAST\(strftime\('%s','now'\) AS INTEGER\))");
  ddl = std::regex_replace(ddl, identity, "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
  ddl = std::regex_replace(ddl, now_seconds, "CAST(extract(epoch from now()) AS BIGINT)");
  ddl = std::regex_replace(ddl, integer, "BIGINT");
  ddl = std::regex_replace(ddl, blob, "BYTEA");
  ddl = std::regex_replace(ddl, user_column, "\n  \"user\" TEXT");
  return ddl;
}

}  // namespace

int LatestSchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

Result<void> MigrateSchema(sql::Db& db) { return MigrateSchema(db, LatestSchemaVersion()); }

Result<void> MigrateSchema(sql::Db& db, int target) {
  if (target < 1 || target > LatestSchemaVersion())
    return Fail(ErrorCode::kInvalidArgument, "no schema version " + std::to_string(target));
  // Under the writers' lock: nodes starting together migrate one after the other.
  auto tx = sql::Transaction::Begin(db);
  if (!tx) return std::unexpected(tx.error());
  if (auto r = db.Exec("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)"); !r) return r;
  auto read = sql::Stmt::Prepare(db, "SELECT version FROM schema_version");
  if (!read) return std::unexpected(read.error());
  auto row = read->Step();
  if (!row) return std::unexpected(row.error());
  int version = *row ? static_cast<int>(read->Int(0)) : 0;
  read->Reset();
  if (version > LatestSchemaVersion()) {
    return Fail(ErrorCode::kUnsupported,
                "the catalog has schema version " + std::to_string(version) + ", newer than this voxelgate (" +
                    std::to_string(LatestSchemaVersion()) + "): upgrade voxelgate or restore a backup");
  }
  for (int next = version; next < target; ++next)
    if (auto r = db.Exec(db.IsSqlite() ? std::string(kMigrations[next]) : ForPostgres(kMigrations[next])); !r) return r;
  if (version < target) {
    if (auto r = db.Exec("DELETE FROM schema_version"); !r) return r;
    if (auto r = db.Exec("INSERT INTO schema_version VALUES(" + std::to_string(target) + ")"); !r) return r;
  }
  return tx->Commit();
}

}  // namespace vg::storage
