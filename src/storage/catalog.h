// Catalog: the index of tenants, tokens, studies, series and instances.
//
// Contract (every backend):
// * Thread-safe; readers never block each other; writes are serialised.
// * Every method that touches clinic data takes the tenant and filters by it in the
//   query itself: a UID of another tenant is simply not found.
// * Patient-identifying values never arrive here in clear: they come sealed (encrypted
//   with the tenant key) or as keyed hashes, prepared by the services layer.
// * CommitInstances is one transaction: all rows of the batch become visible together,
//   or none do. It is durable when it returns (when the catalog was opened durable); other
//   readers may see the rows a moment before that, never a partial batch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace vg::storage {

using SealedBytes = std::vector<std::uint8_t>;
using Digest = std::vector<std::uint8_t>;  // 32 bytes

struct TenantRecord {
  std::int64_t id = 0;
  std::string slug;
  std::string name;
  SealedBytes wrapped_key;
  std::int64_t created_at = 0;
  std::string ae_title;            // called AE title of the tenant's DICOM service
  bool accept_any_caller = false;  // DIMSE: skip the calling-node allow-list
  // Privacy at ingest: "off", or a de-identification profile ("basic+options", see
  // dicom/deid.h) applied to every instance before anything is written; and the series
  // refused because they carry text in their pixels (comma-separated lists).
  std::string deid_profile = "off";
  std::string deid_reject_modalities, deid_reject_descriptions;
  // The users (comma-separated usernames, the clinic's gateway's service user) whose
  // instances are trusted to arrive de-identified by the clinic's profile already: they
  // are checked for what is left instead of being de-identified again.
  std::string deid_trusted_senders;
};

// A DICOM node a tenant trusts: allowed to call in, and a C-MOVE destination.
struct DicomNodeRecord {
  std::int64_t tenant_id = 0;
  std::string ae_title;
  std::string host;
  int port = 0;
  std::string role = "service";  // service (store, find, retrieve) or uploader (store only)
};

struct TokenRecord {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::int64_t user_id = 0;  // the token acts as this user, never beyond the user's role
  std::string owner;         // that user's username (read-only, for listings)
  std::string name;
  std::vector<std::string> scopes;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at;
  std::optional<std::int64_t> revoked_at;
};

// Everything the index keeps for one new instance.
struct NewInstance {
  // study level
  std::string study_uid;
  std::string study_date;  // DA, may be empty
  std::string study_time;  // TM, may be empty
  Digest patient_name_hash, patient_id_hash, accession_hash;  // keyed hashes (may be empty)
  SealedBytes study_attrs;   // sealed DICOM JSON of patient + study attributes
  // series level
  std::string series_uid;
  std::string modality;
  std::optional<std::int64_t> series_number;
  SealedBytes series_attrs;  // sealed DICOM JSON of series attributes
  // instance level
  std::string sop_uid;
  std::string sop_class_uid;
  std::optional<std::int64_t> instance_number;
  std::string transfer_syntax;
  std::int64_t rows = 0, columns = 0, bits_allocated = 0, frames = 0;
  std::int64_t size = 0;  // plaintext bytes of the DICOM file
  std::string blob_name;
  SealedBytes metadata;  // sealed DICOM JSON of the whole dataset (bulk data as URIs)
};

// The outcome of one instance in a commit. kExists: the SOP UID was indexed meanwhile
// (and replacing was not allowed); the caller compares contents to tell a harmless
// duplicate from a conflict.
enum class CommitOutcome { kStored, kReplaced, kExists };

struct CommitResult {
  CommitOutcome outcome = CommitOutcome::kStored;
  std::string existing_blob;  // kExists, kReplaced: the blob of the row found
  std::int64_t existing_size = 0;
};

struct ExistingInstance {
  std::string blob_name;
  std::int64_t size = 0;
};

struct StudyRow {
  std::int64_t id = 0;
  std::string study_uid, study_date, study_time;
  SealedBytes study_attrs;
  std::vector<std::string> modalities;
  std::int64_t series_count = 0, instance_count = 0;
};

struct SeriesRow {
  std::int64_t id = 0;
  std::string study_uid, series_uid, modality;
  std::optional<std::int64_t> series_number;
  SealedBytes study_attrs, series_attrs;
  std::int64_t instance_count = 0;
};

struct InstanceRow {
  std::int64_t id = 0;
  std::string study_uid, series_uid, sop_uid, sop_class_uid, transfer_syntax, blob_name;
  std::optional<std::int64_t> instance_number;
  std::int64_t rows = 0, columns = 0, bits_allocated = 0, frames = 0, size = 0;
  SealedBytes study_attrs, series_attrs;  // filled only when asked for
  SealedBytes metadata;                   // filled only when asked for
};

struct Range {
  std::string low, high;  // inclusive; empty = open
};

// SQL-side filters; the services layer applies the rest after decrypting.
struct StudyFilter {
  std::vector<std::string> study_uids;   // empty: any
  std::optional<Range> study_date, study_time;
  std::optional<Digest> patient_name_hash, patient_id_hash, accession_hash;
  std::vector<std::string> modalities;   // ModalitiesInStudy contains any of these
  std::int64_t limit = -1, offset = 0;   // -1: no limit
};

struct SeriesFilter {
  std::vector<std::string> study_uids, series_uids;
  std::vector<std::string> modalities;
  std::optional<std::int64_t> series_number;
  StudyFilter study;  // study-level matches apply too (limit/offset ignored there)
  std::int64_t limit = -1, offset = 0;
};

struct InstanceFilter {
  std::vector<std::string> study_uids, series_uids, sop_uids, sop_class_uids;
  std::optional<std::int64_t> instance_number;
  SeriesFilter series;
  std::int64_t limit = -1, offset = 0;
  bool with_attrs = false;     // fill study_attrs/series_attrs
  bool with_metadata = false;  // fill metadata
};

struct UserRecord {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::string username;
  std::string role;
  std::string password_hash;  // argon2id string
  bool must_change_password = false;
  std::optional<std::int64_t> disabled_at;
  std::int64_t created_at = 0;
};

struct SessionRecord {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  Digest csrf_hash;
  std::int64_t created_at = 0, last_seen_at = 0;
  std::optional<std::int64_t> revoked_at;
};

// One audit record. Never holds patient names or IDs: objects are UIDs.
struct AuditEvent {
  std::optional<std::int64_t> tenant_id;  // the data's tenant; none for installation-wide events
  std::optional<std::int64_t> actor_tenant_id;  // the actor's own tenant (differs under a support grant)
  std::string actor;       // token name, "dimse:AE", "admin", "anonymous"
  std::string actor_kind;  // user, token, support, dimse, admin, system
  std::string action;      // e.g. dicomweb.wado, dimse.store, admin.token.create
  std::string object;      // what was touched (UIDs), or ""
  std::string outcome;     // ok, denied, failed, or a status
  std::string remote;      // client address
  std::string detail;      // short, no patient data
};

struct AuditRecord {
  std::int64_t id = 0;
  std::int64_t ts_ms = 0;
  AuditEvent event;
  Digest prev_hash, hash;
};

struct AuditFilter {
  std::optional<std::int64_t> tenant_id;
  bool or_actor_tenant = false;  // also records whose actor belongs to tenant_id
  std::string action_prefix, actor, outcome_prefix;  // empty: any
  std::optional<std::int64_t> since_ms, until_ms;     // inclusive
  std::optional<std::int64_t> after_id, before_id;
  bool newest_first = false;
  std::int64_t limit = 100;
};

// Time-limited read access a clinic gives the vendor's support staff.
struct SupportGrantRecord {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::optional<std::string> study_uid;  // none: every study of the tenant
  std::string granted_by;                // username
  std::string grantee;                   // the support user it is for (username); "" (older grants): nobody
  std::string reason;
  std::int64_t created_at = 0, expires_at = 0;
  std::optional<std::int64_t> revoked_at;
  bool ActiveAt(std::int64_t now) const { return !revoked_at && expires_at > now; }
};

// Result of checking the audit chain: intact, or the first record that does not fit.
struct AuditVerification {
  std::int64_t records = 0;
  std::optional<std::int64_t> first_bad_id;
  std::string problem;
};

// The canonical text a record's hash covers (fields in a fixed order).
std::string CanonicalAuditText(const AuditRecord& record);

struct CatalogStats {
  std::int64_t tenants = 0, studies = 0, series = 0, instances = 0, bytes = 0;
};

class Catalog {
 public:
  virtual ~Catalog() = default;

  // Tenants and tokens.
  virtual Result<TenantRecord> CreateTenant(const std::string& slug, const std::string& name,
                                            const SealedBytes& wrapped_key, const std::string& ae_title) = 0;
  virtual Result<void> SetAcceptAnyCaller(std::int64_t tenant_id, bool accept) = 0;
  virtual Result<void> SetTenantPrivacy(std::int64_t tenant_id, const std::string& deid_profile,
                                        const std::string& reject_modalities, const std::string& reject_descriptions,
                                        const std::string& trusted_deidentifiers) = 0;
  virtual Result<TenantRecord> FindTenantByAeTitle(const std::string& ae_title) = 0;
  virtual Result<void> AddDicomNode(const DicomNodeRecord& node) = 0;
  virtual Result<std::vector<DicomNodeRecord>> ListDicomNodes(std::int64_t tenant_id) = 0;
  virtual Result<void> RemoveDicomNode(std::int64_t tenant_id, const std::string& ae_title) = 0;
  virtual Result<TenantRecord> FindTenant(const std::string& slug) = 0;
  virtual Result<TenantRecord> FindTenantById(std::int64_t id) = 0;
  virtual Result<std::vector<TenantRecord>> ListTenants() = 0;
  virtual Result<TokenRecord> CreateToken(std::int64_t tenant_id, std::int64_t user_id, const std::string& name,
                                          const Digest& token_hash,
                                          const std::vector<std::string>& scopes,
                                          std::optional<std::int64_t> expires_at) = 0;
  virtual Result<TokenRecord> FindTokenByHash(const Digest& token_hash) = 0;
  // With `owner_id`, only a token of that user is revoked (others are kNotFound).
  virtual Result<void> RevokeToken(std::int64_t tenant_id, const std::string& name,
                                   std::optional<std::int64_t> owner_id) = 0;
  virtual Result<std::vector<TokenRecord>> ListTokens(std::int64_t tenant_id) = 0;

  // Ingest. True when an instance row references the blob (crash recovery).
  virtual Result<bool> IsBlobIndexed(std::int64_t tenant_id, const std::string& blob_name) = 0;
  // The stored instance under a SOP UID, if any.
  virtual Result<std::optional<ExistingInstance>> FindInstance(std::int64_t tenant_id, const std::string& sop_uid) = 0;
  // Indexes a batch in one transaction. With `replace`, a row under
  // an existing SOP UID is overwritten (kReplaced); otherwise it is left alone (kExists).
  // Results are in input order.
  virtual Result<std::vector<CommitResult>> CommitInstances(std::int64_t tenant_id,
                                                            const std::vector<NewInstance>& batch, bool replace) = 0;

  // Queries.
  virtual Result<std::vector<StudyRow>> SearchStudies(std::int64_t tenant_id, const StudyFilter& filter) = 0;
  virtual Result<std::vector<SeriesRow>> SearchSeries(std::int64_t tenant_id, const SeriesFilter& filter) = 0;
  virtual Result<std::vector<InstanceRow>> SearchInstances(std::int64_t tenant_id, const InstanceFilter& filter) = 0;

  virtual Result<CatalogStats> Stats() = 0;

  // Crypto-shredding at the end of a clinic: its wrapped key is destroyed (nothing of it
  // can be decrypted again), its index rows, annotations and jobs are deleted, its tokens
  // revoked and its users disabled, in one transaction. Usage records stay (invoices).
  virtual Result<void> PurgeTenant(std::int64_t tenant_id) = 0;

  // People. Usernames are unique across the installation.
  virtual Result<UserRecord> CreateUser(const UserRecord& user) = 0;
  virtual Result<UserRecord> FindUser(const std::string& username) = 0;
  virtual Result<UserRecord> FindUserById(std::int64_t id) = 0;
  virtual Result<std::vector<UserRecord>> ListUsers(std::int64_t tenant_id) = 0;
  virtual Result<void> SetPassword(std::int64_t user_id, const std::string& password_hash, bool must_change) = 0;
  // Disabling also ends every session and revokes every token of the user, in the same
  // transaction (enabling again revives neither).
  virtual Result<void> SetUserDisabled(std::int64_t user_id, bool disabled) = 0;
  // Ends the user's sessions except `keep` (a password change keeps the one making it).
  virtual Result<void> RevokeUserSessions(std::int64_t user_id, std::optional<std::int64_t> keep) = 0;
  // Sessions: random tokens stored as SHA-256.
  virtual Result<SessionRecord> CreateSession(std::int64_t user_id, const Digest& token_hash, const Digest& csrf_hash) = 0;
  virtual Result<SessionRecord> FindSession(const Digest& token_hash) = 0;
  virtual Result<SessionRecord> FindSessionById(std::int64_t session_id) = 0;
  virtual Result<void> TouchSession(std::int64_t session_id) = 0;
  virtual Result<void> RevokeSession(std::int64_t session_id) = 0;

  // Support grants.
  virtual Result<SupportGrantRecord> CreateGrant(const SupportGrantRecord& grant) = 0;
  // Grants of one tenant, or of every tenant; newest first.
  virtual Result<std::vector<SupportGrantRecord>> ListGrants(std::optional<std::int64_t> tenant_id) = 0;
  virtual Result<void> RevokeGrant(std::int64_t tenant_id, std::int64_t grant_id) = 0;

  // Audit trail: append-only, each record carrying SHA-256(previous hash || its canonical
  // text). Appends are serialised (also across processes) so the chain stays linear.
  virtual Result<void> AppendAudit(const std::vector<AuditEvent>& events) = 0;
  virtual Result<std::vector<AuditRecord>> ListAudit(const AuditFilter& filter) = 0;
  virtual Result<AuditVerification> VerifyAudit() = 0;
};

}  // namespace vg::storage
