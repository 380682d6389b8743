#include "storage/sql_catalog.h"
#include "core/clock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "core/logging.h"
#include <cstring>

#include "core/strings.h"
#include "storage/sql_schema.h"
#include "storage/sql_where.h"

namespace vg::storage {
namespace {

using sql::AddSeriesClauses;
using sql::AddStudyClauses;
using sql::LimitClause;
using sql::Placeholders;
using sql::SplitList;
using sql::Where;

std::string JoinScopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const auto& s : scopes) out += (out.empty() ? "" : ",") + s;
  return out;
}

TenantRecord ReadTenant(const sql::Stmt& st) {
  return TenantRecord{st.Int(0),  st.Text(1),      st.Text(2), st.Blob(3), st.Int(4),
                      st.Text(5), st.Int(6) != 0, st.Text(7), st.Text(8), st.Text(9), st.Text(10)};
}

TokenRecord ReadToken(const sql::Stmt& st) {
  TokenRecord t;
  t.id = st.Int(0);
  t.tenant_id = st.Int(1);
  t.name = st.Text(2);
  t.scopes = SplitList(st.Text(3));
  t.created_at = st.Int(4);
  t.expires_at = st.OptInt(5);
  t.revoked_at = st.OptInt(6);
  t.user_id = st.OptInt(7).value_or(0);
  t.owner = st.Text(8);
  return t;
}

constexpr const char* kTenantColumns =
    "id, slug, name, wrapped_key, created_at, ae_title, accept_any_caller, deid_profile, deid_reject_modalities, "
    "deid_reject_descriptions, deid_trusted_senders";
constexpr const char* kTokenColumns =
    "id, tenant_id, name, scopes, created_at, expires_at, revoked_at, user_id,"
    " coalesce((SELECT username FROM users WHERE users.id = api_tokens.user_id), '')";

}  // namespace


SqlCatalog::SqlCatalog(sql::Db writer, std::vector<std::unique_ptr<sql::Db>> readers, std::string path,
                       bool durable)
    : path_(std::move(path)), durable_(durable), writer_(std::move(writer)), idle_readers_(std::move(readers)) {}

SqlCatalog::ReaderLease SqlCatalog::Reader() {
  std::unique_lock lock(readers_mutex_);
  readers_cv_.wait(lock, [&] { return !idle_readers_.empty(); });
  auto db = std::move(idle_readers_.back());
  idle_readers_.pop_back();
  return ReaderLease(*this, std::move(db));
}

Result<std::unique_ptr<SqlCatalog>> SqlCatalog::Open(const std::string& path, bool durable, int readers) {
  auto connect = [path, durable] { return sql::Db::OpenSqlite(path, durable); };
  return OpenWith(connect, readers, path, durable);
}

Result<std::unique_ptr<SqlCatalog>> SqlCatalog::OpenPostgres(const std::string& uri, int readers) {
  auto connect = [uri] { return sql::Db::OpenPostgres(uri); };
  // The database makes every commit durable (synchronous_commit is the server's setting).
  auto catalog = OpenWith(connect, readers, "", /*durable=*/false);
  if (catalog) (*catalog)->uri_ = uri;
  return catalog;
}

Result<std::unique_ptr<SqlCatalog>> SqlCatalog::OpenWith(const std::function<Result<sql::Db>()>& connect, int readers,
                                                         const std::string& path, bool durable) {
  auto writer = connect();
  if (!writer) return std::unexpected(writer.error());
  if (auto r = MigrateSchema(*writer); !r) return std::unexpected(r.error());
  std::vector<std::unique_ptr<sql::Db>> pool;
  for (int i = 0; i < std::max(1, readers); ++i) {
    auto reader = connect();
    if (!reader) return std::unexpected(reader.error());
    pool.push_back(std::make_unique<sql::Db>(std::move(*reader)));
  }
  auto catalog = std::unique_ptr<SqlCatalog>(new SqlCatalog(std::move(*writer), std::move(pool), path, durable));
  catalog->connect_ = connect;
  return catalog;
}

std::unique_ptr<sql::Listener> SqlCatalog::ListenForJobs(std::function<void()> wake) {
  if (writer_.IsSqlite()) return nullptr;
  return sql::ListenPostgres(uri_, "vg_jobs", std::move(wake));
}

std::unique_ptr<LeaderLease> SqlCatalog::NewLeaderLease(std::int64_t key) {
  if (writer_.IsSqlite()) return std::make_unique<AlwaysLeader>();
  return std::make_unique<PostgresLeaderLease>(connect_, key);
}

// ---- tenants and tokens ----

Result<TenantRecord> SqlCatalog::CreateTenant(const std::string& slug, const std::string& name,
                                                 const SealedBytes& wrapped_key, const std::string& ae_title) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(
      writer_, "INSERT INTO tenants(slug, name, wrapped_key, created_at, ae_title) VALUES(?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  st->Bind(slug).Bind(name).Bind(wrapped_key).Bind(UnixSeconds()).Bind(ae_title);
  auto r = sql::RunReturningId(*st);
  if (!r) {
    if (writer_.LastFailure() == sql::Failure::kDuplicate) {
      if (r.error().detail.find("ae_title") != std::string::npos)
        return Fail(ErrorCode::kConflict, "AE title '" + ae_title + "' is already taken by another tenant");
      return Fail(ErrorCode::kConflict, "tenant '" + slug + "' already exists");
    }
    return std::unexpected(r.error());
  }
  TenantRecord created;
  created.id = *r;
  created.slug = slug;
  created.name = name;
  created.wrapped_key = wrapped_key;
  created.created_at = UnixSeconds();
  created.ae_title = ae_title;
  return created;
}

Result<void> SqlCatalog::SetTenantPrivacy(std::int64_t tenant_id, const std::string& deid_profile,
                                             const std::string& reject_modalities, const std::string& reject_descriptions,
                                             const std::string& trusted_deidentifiers) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE tenants SET deid_profile = ?, deid_reject_modalities = ?, "
                                        "deid_reject_descriptions = ?, deid_trusted_senders = ? WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(deid_profile).Bind(reject_modalities).Bind(reject_descriptions).Bind(trusted_deidentifiers).Bind(tenant_id);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such tenant");
  return {};
}

Result<void> SqlCatalog::SetAcceptAnyCaller(std::int64_t tenant_id, bool accept) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "UPDATE tenants SET accept_any_caller = ? WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(static_cast<std::int64_t>(accept)).Bind(tenant_id);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such tenant");
  return {};
}

Result<TenantRecord> SqlCatalog::FindTenantByAeTitle(const std::string& ae_title) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               std::string("SELECT ") + kTenantColumns + " FROM tenants WHERE ae_title = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(ae_title);
  return sql::FirstRow<TenantRecord>(*st, ReadTenant, ErrorCode::kNotFound, "no tenant has the AE title '" + ae_title + "'");
}

Result<void> SqlCatalog::AddDicomNode(const DicomNodeRecord& node) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "INSERT INTO dicom_nodes(tenant_id, ae_title, host, port, role) VALUES(?,?,?,?,?)");
  if (!st) return std::unexpected(st.error());
  st->Bind(node.tenant_id).Bind(node.ae_title).Bind(node.host).Bind(static_cast<std::int64_t>(node.port)).Bind(node.role);
  if (auto r = st->Run(); !r) {
    if (writer_.LastFailure() == sql::Failure::kDuplicate)
      return Fail(ErrorCode::kConflict, "this tenant already has a node with AE title '" + node.ae_title + "'");
    return r;
  }
  return {};
}

Result<std::vector<DicomNodeRecord>> SqlCatalog::ListDicomNodes(std::int64_t tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(
      reader.db(), "SELECT tenant_id, ae_title, host, port, role FROM dicom_nodes WHERE tenant_id = ? ORDER BY ae_title");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id);
  std::vector<DicomNodeRecord> out;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(DicomNodeRecord{st->Int(0), st->Text(1), st->Text(2), static_cast<int>(st->Int(3)), st->Text(4)});
  }
}

Result<void> SqlCatalog::RemoveDicomNode(std::int64_t tenant_id, const std::string& ae_title) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "DELETE FROM dicom_nodes WHERE tenant_id = ? AND ae_title = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(ae_title);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no node with AE title '" + ae_title + "'");
  return {};
}

Result<TenantRecord> SqlCatalog::FindTenant(const std::string& slug) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kTenantColumns + " FROM tenants WHERE slug = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(slug);
  return sql::FirstRow<TenantRecord>(*st, ReadTenant, ErrorCode::kNotFound, "no tenant '" + slug + "'");
}

Result<TenantRecord> SqlCatalog::FindTenantById(std::int64_t id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kTenantColumns + " FROM tenants WHERE id = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(id);
  return sql::FirstRow<TenantRecord>(*st, ReadTenant, ErrorCode::kNotFound, "no such tenant");
}

Result<std::vector<TenantRecord>> SqlCatalog::ListTenants() {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), std::string("SELECT ") + kTenantColumns + " FROM tenants ORDER BY slug");
  if (!st) return std::unexpected(st.error());
  return sql::CollectRows<TenantRecord>(*st, ReadTenant);
}

Result<TokenRecord> SqlCatalog::CreateToken(std::int64_t tenant_id, std::int64_t user_id, const std::string& name,
                                               const Digest& token_hash, const std::vector<std::string>& scopes,
                                               std::optional<std::int64_t> expires_at) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO api_tokens(tenant_id, user_id, name, token_hash, scopes, created_at,"
                               " expires_at) VALUES(?,?,?,?,?,?,?) RETURNING id");
  if (!st) return std::unexpected(st.error());
  std::int64_t now = UnixSeconds();
  st->Bind(tenant_id).Bind(user_id).Bind(name).Bind(token_hash).Bind(JoinScopes(scopes)).Bind(now).Bind(expires_at);
  auto r = sql::RunReturningId(*st);
  if (!r) {
    if (writer_.LastFailure() == sql::Failure::kDuplicate)
      return Fail(ErrorCode::kConflict, "a token named '" + name + "' already exists in this tenant");
    return std::unexpected(r.error());
  }
  TokenRecord created;
  created.id = *r;
  created.tenant_id = tenant_id;
  created.user_id = user_id;
  created.name = name;
  created.scopes = scopes;
  created.created_at = now;
  created.expires_at = expires_at;
  return created;
}

Result<TokenRecord> SqlCatalog::FindTokenByHash(const Digest& token_hash) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               std::string("SELECT ") + kTokenColumns + " FROM api_tokens WHERE token_hash = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(token_hash);
  return sql::FirstRow<TokenRecord>(*st, ReadToken, ErrorCode::kUnauthenticated, "unknown token");
}

Result<void> SqlCatalog::RevokeToken(std::int64_t tenant_id, const std::string& name,
                                        std::optional<std::int64_t> owner_id) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "UPDATE api_tokens SET revoked_at = ? WHERE tenant_id = ? AND name = ?"
                               " AND revoked_at IS NULL AND (CAST(? AS BIGINT) IS NULL OR user_id = ?)");
  if (!st) return std::unexpected(st.error());
  st->Bind(UnixSeconds()).Bind(tenant_id).Bind(name).Bind(owner_id).Bind(owner_id);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no active token named '" + name + "'");
  return {};
}

Result<std::vector<TokenRecord>> SqlCatalog::ListTokens(std::int64_t tenant_id) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(
      reader.db(), std::string("SELECT ") + kTokenColumns + " FROM api_tokens WHERE tenant_id = ? ORDER BY name");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id);
  return sql::CollectRows<TokenRecord>(*st, ReadToken);
}

// ---- ingest ----

Result<bool> SqlCatalog::IsBlobIndexed(std::int64_t tenant_id, const std::string& blob_name) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT 1 FROM instances WHERE tenant_id = ? AND blob_name = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(blob_name);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  return *row;
}

Result<std::optional<ExistingInstance>> SqlCatalog::FindInstance(std::int64_t tenant_id,
                                                                    const std::string& sop_uid) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT blob_name, size FROM instances WHERE tenant_id = ? AND sop_uid = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(sop_uid);
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<ExistingInstance>();
  return std::optional<ExistingInstance>(ExistingInstance{st->Text(0), st->Int(1)});
}

// Every instance stored waits for this commit, from every association and request at
// once. So it is made durable outside the writer lock: the transaction commits with
// synchronous=NORMAL (in WAL mode: consistent, written, not yet synced), the lock is
// released, and then the WAL is fdatasync'ed. Concurrent ingests overlap their syncs
// instead of queueing behind each other's, and nothing is acknowledged before the sync,
// so an acknowledged instance is as durable as with a FULL commit. (A checkpoint in
// between syncs the WAL and the database itself, so the frames are never lost to a WAL
// restart.)
Result<std::vector<CommitResult>> SqlCatalog::CommitInstances(std::int64_t tenant_id,
                                                                 const std::vector<NewInstance>& batch, bool replace) {
  Result<std::vector<CommitResult>> committed;
  if (!writer_.IsSqlite()) {
    // Other nodes commit into the same studies at the same time: the inserts below are
    // conflict-safe, and a deadlock or serialization failure runs the batch again.
    std::lock_guard lock(write_mutex_);
    return sql::Retrying(writer_, [&] { return CommitInstancesLocked(tenant_id, batch, replace); });
  }
  {
    std::lock_guard lock(write_mutex_);
    if (durable_)
      if (auto r = writer_.Exec("PRAGMA synchronous=NORMAL"); !r) return std::unexpected(r.error());
    committed = CommitInstancesLocked(tenant_id, batch, replace);
    if (durable_)  // every other write stays synchronous=FULL
      if (auto r = writer_.Exec("PRAGMA synchronous=FULL"); !r) return std::unexpected(r.error());
  }
  if (committed && durable_)
    if (auto r = SyncLog(); !r) return std::unexpected(r.error());
  return committed;
}

Result<void> SqlCatalog::SyncLog() {
  int fd = ::open((path_ + "-wal").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // No log: it was checkpointed into the database, which the checkpoint synced.
    if (errno == ENOENT) return {};
    return Fail(ErrorCode::kInternal, "catalog sync failed", std::strerror(errno));
  }
  int rc = ::fdatasync(fd);
  int error = errno;
  ::close(fd);
  if (rc != 0) return Fail(ErrorCode::kInternal, "catalog sync failed", std::strerror(error));
  return {};
}

Result<std::vector<CommitResult>> SqlCatalog::CommitInstancesLocked(std::int64_t tenant_id,
                                                                       const std::vector<NewInstance>& batch,
                                                                       bool replace) {
  auto tx = sql::Transaction::Begin(writer_, sql::Isolation::kConcurrent);
  if (!tx) return std::unexpected(tx.error());
  auto find_study = sql::Stmt::Prepare(writer_, "SELECT id FROM studies WHERE tenant_id = ? AND study_uid = ?");
  auto add_study = sql::Stmt::Prepare(
      writer_,
      "INSERT INTO studies(tenant_id, study_uid, study_date, study_time, patient_name_hash, patient_id_hash, "
      "accession_hash, attrs, created_at) VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id");
  auto find_series = sql::Stmt::Prepare(writer_, "SELECT id FROM series WHERE tenant_id = ? AND series_uid = ?");
  auto add_series = sql::Stmt::Prepare(
      writer_, "INSERT INTO series(tenant_id, study_id, series_uid, modality, series_number, attrs) VALUES(?,?,?,?,?,?) "
      "ON CONFLICT DO NOTHING RETURNING id");
  auto find_instance =
      sql::Stmt::Prepare(writer_, "SELECT id, blob_name, size FROM instances WHERE tenant_id = ? AND sop_uid = ?");
  auto add_instance = sql::Stmt::Prepare(
      writer_,
      "INSERT INTO instances(tenant_id, study_id, series_id, sop_uid, sop_class_uid, instance_number, "
      "transfer_syntax, rows, columns, bits_allocated, frames, size, blob_name, metadata, created_at) "
      "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING");
  auto replace_instance = sql::Stmt::Prepare(
      writer_,
      "UPDATE instances SET study_id=?, series_id=?, sop_class_uid=?, instance_number=?, transfer_syntax=?, rows=?, "
      "columns=?, bits_allocated=?, frames=?, size=?, blob_name=?, metadata=?, created_at=? WHERE id=?");
  for (auto* st : {&find_study, &add_study, &find_series, &add_series, &find_instance, &add_instance,
                   &replace_instance})
    if (!*st) return std::unexpected(st->error());
  // Blob intents exist where blobs go to a shared object store (storage/blob_intent_store.h).
  std::optional<sql::Stmt> forget_intent;
  if (Shared()) {
    auto st = sql::Stmt::Prepare(writer_, "DELETE FROM blob_intents WHERE tenant_id = ? AND blob_name = ?");
    if (!st) return std::unexpected(st.error());
    forget_intent.emplace(std::move(*st));
  }

  // Another writer (another node, on PostgreSQL) may insert the same study or series
  // between the look-up and the insert: the insert then does nothing, and the second
  // look-up finds theirs (READ COMMITTED sees it once it has committed; the insert waited
  // for that).
  auto lookup_or_insert = [&](sql::Stmt& find, auto bind_find, sql::Stmt& insert,
                              auto bind_insert) -> Result<std::int64_t> {
    for (int pass = 0; pass < 2; ++pass) {
      find.Reset();
      bind_find(find);
      auto row = find.Step();
      if (!row) return std::unexpected(row.error());
      if (*row) return find.Int(0);
      if (pass == 1) break;
      insert.Reset();
      bind_insert(insert);
      auto inserted = insert.Step();
      if (!inserted) return std::unexpected(inserted.error());
      if (*inserted) {
        const std::int64_t id = insert.Int(0);
        if (auto done = insert.Run(); !done) return std::unexpected(done.error());
        return id;
      }
    }
    return Fail(ErrorCode::kUnavailable, "catalog is busy", "a row inserted by another writer was not found");
  };

  std::int64_t now = UnixSeconds();
  std::vector<CommitResult> outcomes;
  for (const auto& in : batch) {
    find_instance->Reset();
    find_instance->Bind(tenant_id).Bind(in.sop_uid);
    auto existing = find_instance->Step();
    if (!existing) return std::unexpected(existing.error());
    std::optional<std::int64_t> existing_id;
    CommitResult result;
    if (*existing) {
      result.existing_blob = find_instance->Text(1);
      result.existing_size = find_instance->Int(2);
      if (!replace) {
        result.outcome = CommitOutcome::kExists;
        outcomes.push_back(std::move(result));
        continue;
      }
      existing_id = find_instance->Int(0);
    }

    auto study_id = lookup_or_insert(
        *find_study, [&](sql::Stmt& s) { s.Bind(tenant_id).Bind(in.study_uid); }, *add_study,
        [&](sql::Stmt& s) {
          s.Bind(tenant_id).Bind(in.study_uid).Bind(in.study_date).Bind(in.study_time).Bind(in.patient_name_hash)
              .Bind(in.patient_id_hash).Bind(in.accession_hash).Bind(in.study_attrs).Bind(now);
        });
    if (!study_id) return std::unexpected(study_id.error());
    auto series_id = lookup_or_insert(
        *find_series, [&](sql::Stmt& s) { s.Bind(tenant_id).Bind(in.series_uid); }, *add_series,
        [&](sql::Stmt& s) {
          s.Bind(tenant_id).Bind(*study_id).Bind(in.series_uid).Bind(in.modality).Bind(in.series_number)
              .Bind(in.series_attrs);
        });
    if (!series_id) return std::unexpected(series_id.error());

    sql::Stmt& st = existing_id ? *replace_instance : *add_instance;
    st.Reset();
    if (existing_id) {
      st.Bind(*study_id).Bind(*series_id).Bind(in.sop_class_uid).Bind(in.instance_number).Bind(in.transfer_syntax)
          .Bind(in.rows).Bind(in.columns).Bind(in.bits_allocated).Bind(in.frames).Bind(in.size).Bind(in.blob_name).Bind(in.metadata).Bind(now).Bind(*existing_id);
    } else {
      st.Bind(tenant_id).Bind(*study_id).Bind(*series_id).Bind(in.sop_uid).Bind(in.sop_class_uid)
          .Bind(in.instance_number).Bind(in.transfer_syntax).Bind(in.rows).Bind(in.columns).Bind(in.bits_allocated)
          .Bind(in.frames).Bind(in.size).Bind(in.blob_name).Bind(in.metadata).Bind(now);
    }
    if (auto r = st.Run(); !r) return std::unexpected(r.error());
    if (!existing_id && writer_.Changes() == 0) {
      // Another writer stored this SOP Instance UID since the look-up: theirs stands.
      find_instance->Reset();
      find_instance->Bind(tenant_id).Bind(in.sop_uid);
      auto theirs = find_instance->Step();
      if (!theirs) return std::unexpected(theirs.error());
      if (!*theirs) return Fail(ErrorCode::kUnavailable, "catalog is busy", "a concurrent instance vanished");
      result.existing_blob = find_instance->Text(1);
      result.existing_size = find_instance->Int(2);
      result.outcome = CommitOutcome::kExists;
      outcomes.push_back(std::move(result));
      continue;
    }
    if (forget_intent) {  // committed: the collector need not look at this blob again
      forget_intent->Reset();
      forget_intent->Bind(tenant_id).Bind(in.blob_name);
      if (auto r = forget_intent->Run(); !r) return std::unexpected(r.error());
    }
    result.outcome = existing_id ? CommitOutcome::kReplaced : CommitOutcome::kStored;
    outcomes.push_back(std::move(result));
  }
  if (auto r = tx->Commit(); !r) return std::unexpected(r.error());
  return outcomes;
}

// ---- queries ----

Result<std::vector<StudyRow>> SqlCatalog::SearchStudies(std::int64_t tenant_id, const StudyFilter& filter) {
  Where w;
  w.sql = " WHERE s.tenant_id = ?";
  w.Int(tenant_id);
  AddStudyClauses(w, filter, "s");
  std::string sql =
      "SELECT s.id, s.study_uid, s.study_date, s.study_time, s.attrs, "
      "(SELECT " + dialect().DistinctList("modality") + " FROM series m WHERE m.study_id = s.id), "
      "(SELECT count(*) FROM series m WHERE m.study_id = s.id), "
      "(SELECT count(*) FROM instances i WHERE i.study_id = s.id) FROM studies s" +
      w.sql + " ORDER BY s.study_date DESC, s.study_time DESC, s.id" + LimitClause(filter.limit, filter.offset);
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), sql);
  if (!st) return std::unexpected(st.error());
  w.BindTo(*st);
  std::vector<StudyRow> out;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    StudyRow r;
    r.id = st->Int(0);
    r.study_uid = st->Text(1);
    r.study_date = st->Text(2);
    r.study_time = st->Text(3);
    r.study_attrs = st->Blob(4);
    r.modalities = SplitList(st->Text(5));
    r.series_count = st->Int(6);
    r.instance_count = st->Int(7);
    out.push_back(std::move(r));
  }
}

Result<std::vector<SeriesRow>> SqlCatalog::SearchSeries(std::int64_t tenant_id, const SeriesFilter& filter) {
  Where w;
  w.sql = " WHERE se.tenant_id = ?";
  w.Int(tenant_id);
  AddSeriesClauses(w, filter, "se", "s");
  std::string sql =
      "SELECT se.id, s.study_uid, se.series_uid, se.modality, se.series_number, s.attrs, se.attrs, "
      "(SELECT count(*) FROM instances i WHERE i.series_id = se.id) "
      "FROM series se JOIN studies s ON s.id = se.study_id" +
      w.sql + " ORDER BY s.id, se.series_number, se.id" + LimitClause(filter.limit, filter.offset);
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), sql);
  if (!st) return std::unexpected(st.error());
  w.BindTo(*st);
  std::vector<SeriesRow> out;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    SeriesRow r;
    r.id = st->Int(0);
    r.study_uid = st->Text(1);
    r.series_uid = st->Text(2);
    r.modality = st->Text(3);
    r.series_number = st->OptInt(4);
    r.study_attrs = st->Blob(5);
    r.series_attrs = st->Blob(6);
    r.instance_count = st->Int(7);
    out.push_back(std::move(r));
  }
}

Result<std::vector<InstanceRow>> SqlCatalog::SearchInstances(std::int64_t tenant_id, const InstanceFilter& filter) {
  Where w;
  w.sql = " WHERE i.tenant_id = ?";
  w.Int(tenant_id);
  AddSeriesClauses(w, filter.series, "se", "s");
  w.In("s.study_uid", filter.study_uids);
  w.In("se.series_uid", filter.series_uids);
  w.In("i.sop_uid", filter.sop_uids);
  w.In("i.sop_class_uid", filter.sop_class_uids);
  if (filter.instance_number) { w.And("i.instance_number = ?"); w.Int(*filter.instance_number); }
  std::string sql =
      "SELECT i.id, s.study_uid, se.series_uid, i.sop_uid, i.sop_class_uid, i.transfer_syntax, i.blob_name, "
      "i.instance_number, i.rows, i.columns, i.bits_allocated, i.frames, i.size";
  sql += filter.with_attrs ? ", s.attrs, se.attrs" : ", NULL, NULL";
  sql += filter.with_metadata ? ", i.metadata" : ", NULL";
  sql += " FROM instances i JOIN series se ON se.id = i.series_id JOIN studies s ON s.id = i.study_id" + w.sql +
         " ORDER BY s.id, se.series_number, se.id, i.instance_number, i.id" + LimitClause(filter.limit, filter.offset);
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), sql);
  if (!st) return std::unexpected(st.error());
  w.BindTo(*st);
  std::vector<InstanceRow> out;
  while (true) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    InstanceRow r;
    r.id = st->Int(0);
    r.study_uid = st->Text(1);
    r.series_uid = st->Text(2);
    r.sop_uid = st->Text(3);
    r.sop_class_uid = st->Text(4);
    r.transfer_syntax = st->Text(5);
    r.blob_name = st->Text(6);
    r.instance_number = st->OptInt(7);
    r.rows = st->Int(8);
    r.columns = st->Int(9);
    r.bits_allocated = st->Int(10);
    r.frames = st->Int(11);
    r.size = st->Int(12);
    r.study_attrs = st->Blob(13);
    r.series_attrs = st->Blob(14);
    r.metadata = st->Blob(15);
    out.push_back(std::move(r));
  }
}

Result<CatalogStats> SqlCatalog::Stats() {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               "SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM studies), "
                               "(SELECT count(*) FROM series), (SELECT count(*) FROM instances), "
                               "(SELECT coalesce(sum(size),0) FROM instances)");
  if (!st) return std::unexpected(st.error());
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  return CatalogStats{st->Int(0), st->Int(1), st->Int(2), st->Int(3), st->Int(4)};
}

Result<void> SqlCatalog::PurgeTenant(std::int64_t tenant_id) {
  std::lock_guard lock(write_mutex_);
  // PostgreSQL keeps dead row versions until VACUUM reuses their space: the wrapped key is
  // unreadable without the master key either way (docs/threat-model.md).
  if (!writer_.IsSqlite()) return PurgeTenantRows(tenant_id);
  // What the purge frees is overwritten with zeros (the wrapped key's old cell included),
  // and the WAL is checkpointed into the file and truncated after the commit: the key
  // cannot be read back from free pages or old WAL frames.
  if (auto r = writer_.Exec("PRAGMA secure_delete = ON"); !r) return r;
  struct SecureDeleteOff {
    sql::Db& db;
    ~SecureDeleteOff() { (void)db.Exec("PRAGMA secure_delete = OFF"); }
  } off{writer_};
  if (auto r = PurgeTenantRows(tenant_id); !r) return r;
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto st = sql::Stmt::Prepare(writer_, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (!st) return std::unexpected(st.error());
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (*row && st->Int(0) == 0) return {};  // not busy: every frame is in the file, the WAL emptied
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a reader holds an old snapshot
  }
  // Committed all the same: the old frames go at the next checkpoint that finds no reader.
  LogWarn("purge_wal_not_truncated");
  return {};
}

Result<void> SqlCatalog::PurgeTenantRows(std::int64_t tenant_id) {
  auto tx = sql::Transaction::Begin(writer_);
  if (!tx) return std::unexpected(tx.error());
  const std::string now = std::to_string(UnixSeconds());
  const std::string id = std::to_string(tenant_id);
  for (const std::string& statement : {
           "UPDATE tenants SET wrapped_key = " + sql::DialectOf(writer_).EmptyBlob() + " WHERE id = " + id,
           "DELETE FROM instances WHERE tenant_id = " + id,
           "DELETE FROM series WHERE tenant_id = " + id,
           "DELETE FROM studies WHERE tenant_id = " + id,
           "DELETE FROM segmentations WHERE tenant_id = " + id,
           "DELETE FROM segmentation_imports WHERE tenant_id = " + id,
           "DELETE FROM shadow_runs WHERE tenant_id = " + id,
           "DELETE FROM reference_cases WHERE tenant_id = " + id,
           "DELETE FROM acceptance_runs WHERE tenant_id = " + id,
           "DELETE FROM study_tags WHERE tenant_id = " + id,
           "DELETE FROM study_status WHERE tenant_id = " + id,
           "DELETE FROM jobs WHERE tenant_id = " + id,
           "DELETE FROM feedback WHERE tenant_id = " + id,
           "DELETE FROM image_aliases WHERE tenant_id = " + id,
           "DELETE FROM bug_comments WHERE tenant_id = " + id,
           "DELETE FROM bug_reports WHERE tenant_id = " + id,
           "DELETE FROM auto_rule_fired WHERE rule_id IN (SELECT id FROM auto_rules WHERE tenant_id = " + id + ")",
           "DELETE FROM auto_rules WHERE tenant_id = " + id,
           "UPDATE api_tokens SET revoked_at = " + now + " WHERE tenant_id = " + id + " AND revoked_at IS NULL",
           "UPDATE sessions SET revoked_at = " + now + " WHERE user_id IN (SELECT id FROM users WHERE tenant_id = " + id + ")",
           "UPDATE users SET disabled_at = " + now + " WHERE tenant_id = " + id + " AND disabled_at IS NULL"})
    if (auto r = writer_.Exec(statement); !r) return r;
  return tx->Commit();
}

}  // namespace vg::storage
