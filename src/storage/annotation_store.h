// AnnotationStore: what clinicians add to studies: the clinic's settings, its tag
// vocabulary, tags on studies and series, each study's workflow status, and the
// versions of segmentations (the SEG itself is an instance in the archive; a version row
// points at it and at its label blob).
//
// Contract (every backend): thread-safe; every method is scoped by tenant in the query
// itself; free text that may name a patient arrives sealed (with a keyed hash when it is
// matched exactly), as in Catalog.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/catalog.h"

namespace vg::storage {

struct TenantSettings {
  bool physicians_edit_segmentations = false;
  bool share_cases_with_vendor = false;
  // Algorithms whose manifest asks for input.dicom_headers = "full" may run here.
  bool algorithms_full_dicom_headers = false;
  // An algorithm's result also goes out as an RT structure set and/or as a series of
  // overlay images, for PACS viewers that cannot show DICOM SEG.
  bool results_as_rtstruct = false;
  bool results_as_overlay = false;
  // A new version of an algorithm reaches this clinic only after an acceptance run of it
  // passed here (services/acceptance.h).
  bool require_acceptance = false;
};

struct TagRecord {
  std::int64_t tenant_id = 0;
  std::string name, colour, description;
  std::int64_t created_at = 0;
};

struct StudyTagRecord {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::string study_uid;
  std::optional<std::string> series_uid;  // none: on the whole study
  std::optional<std::string> tag_name;    // a vocabulary tag, or
  SealedBytes text_sealed;                // free text (sealed)
  std::string created_by;
  std::int64_t created_at = 0;
  std::string colour;  // of the vocabulary tag (read only)
};

struct StudyStatusRecord {
  std::int64_t tenant_id = 0;
  std::string study_uid;
  std::string status = "todo";  // todo, in_progress, done, reviewed
  std::optional<std::int64_t> assignee_id;
  std::string assignee;  // username (read only)
  std::int64_t updated_at = 0;
  std::string updated_by;
};

struct SegmentationRecord {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::string study_uid, source_series_uid, seg_series_uid, seg_sop_uid;
  std::optional<std::int64_t> parent_id;
  std::string author;
  std::int64_t created_at = 0;
  std::string source = "manual";  // manual, algorithm, or imported (from a SEG or RTSTRUCT that arrived)
  std::string algorithm_name, algorithm_version;
  std::optional<std::int64_t> job_id;
  SealedBytes comment_sealed;
  std::string segments_json;  // [{label, name, colour, category, type[, layer]}]
  // A .nii.gz of one byte per voxel on the source grid (encrypted blob); with more than one
  // layer (an imported SEG whose segments overlap), 4-D: one label map per layer.
  std::string labels_blob;
  std::int64_t layers = 1;
  // Imported versions: the object's format (SEG or RTSTRUCT; empty otherwise), and its
  // Manufacturer, SoftwareVersions and SeriesDescription as the object states them.
  std::string origin_format, origin_manufacturer, origin_software, origin_description;
};

// What the importer did with one SEG or RTSTRUCT instance of a clinic.
struct SegmentationImportRecord {
  std::int64_t tenant_id = 0;
  std::string sop_uid;
  // internal: made by voxelgate itself (never imported); imported; waiting: its source
  // series is not (fully) here yet; retrying: it could not be read (storage trouble), tried
  // again from updated_at; failed: cannot be imported (message says why).
  std::string state;
  std::string referenced_series_uid;  // waiting: the series it waits for
  std::optional<std::int64_t> segmentation_id;
  std::string message;
  std::int64_t updated_at = 0;
  std::int64_t took_ms = 0;  // the last attempt, from reading the object to recording this
  std::int64_t attempts = 0;  // retrying: how many attempts have failed so far
};

// A SEG or RTSTRUCT instance the importer should look at: new, or waiting for a source
// series that has grown since.
struct SegmentationImportCandidate {
  std::int64_t tenant_id = 0;
  std::string study_uid, series_uid, sop_uid, sop_class_uid;
  // A version made from this object already (voxelgate's own SEG, or an import whose
  // record was not written before a crash): recorded as such, never imported again.
  std::optional<std::int64_t> version_id;
  std::string version_source;
  std::int64_t attempts = 0;  // of a retrying one
};

// The newest segmentation version of one kind (manual or algorithm) on one series.
struct LatestVersion {
  std::string series_uid, source;
  std::int64_t id = 0, created_at = 0;
  std::string author;
};

struct WorklistFilter {
  StudyFilter study;                   // dates, modalities, patient hashes (limit/offset ignored)
  // Matches a study whose patient name hash is .first or whose patient ID hash is .second.
  std::optional<std::pair<Digest, Digest>> patient_name_or_id;
  std::vector<std::string> statuses;   // any of; "todo" also matches studies never touched
  std::vector<std::string> tags;       // any of these vocabulary tags, on the study or a series
  std::optional<std::int64_t> assignee_id;
  bool unassigned = false;
  std::string sort = "-date";          // date, -date, status, updated, -updated
  std::int64_t limit = 50, offset = 0;  // limit -1: all
};

struct WorklistRow {
  StudyRow study;
  StudyStatusRecord status;
};

struct WorklistPage {
  std::int64_t total = 0;
  std::vector<WorklistRow> rows;
};

class AnnotationStore {
 public:
  virtual ~AnnotationStore() = default;

  virtual Result<TenantSettings> GetSettings(std::int64_t tenant_id) = 0;
  virtual Result<void> SetSettings(std::int64_t tenant_id, const TenantSettings& settings) = 0;

  virtual Result<std::vector<TagRecord>> ListTags(std::int64_t tenant_id) = 0;
  // kConflict when the name exists.
  virtual Result<TagRecord> CreateTag(const TagRecord& tag) = 0;
  // Also removes the tag from every study and series.
  virtual Result<void> DeleteTag(std::int64_t tenant_id, const std::string& name) = 0;

  virtual Result<std::vector<StudyTagRecord>> ListStudyTags(std::int64_t tenant_id,
                                                            const std::vector<std::string>& study_uids) = 0;
  // A vocabulary tag already on the same study/series is returned as is (second = false).
  virtual Result<std::pair<StudyTagRecord, bool>> AddStudyTag(const StudyTagRecord& tag) = 0;
  virtual Result<void> RemoveStudyTag(std::int64_t tenant_id, const std::string& study_uid, std::int64_t id) = 0;

  // Studies without a row are absent from the answer (the caller treats them as todo).
  virtual Result<std::vector<StudyStatusRecord>> GetStatuses(std::int64_t tenant_id,
                                                             const std::vector<std::string>& study_uids) = 0;
  virtual Result<void> SetStatus(const StudyStatusRecord& status) = 0;

  virtual Result<SegmentationRecord> CreateSegmentation(const SegmentationRecord& record) = 0;
  virtual Result<SegmentationRecord> FindSegmentation(std::int64_t tenant_id, std::int64_t id) = 0;
  // The version a job made, if any (a retried job must not make a second one).
  virtual Result<std::optional<SegmentationRecord>> FindSegmentationByJob(std::int64_t tenant_id, std::int64_t job_id) = 0;
  // Newest first; `series` limits to one source series.
  virtual Result<std::vector<SegmentationRecord>> ListSegmentations(std::int64_t tenant_id, const std::string& study_uid,
                                                                    const std::optional<std::string>& series) = 0;
  // Of every series of the tenant that has versions: the newest of each kind, in one query.
  virtual Result<std::vector<LatestVersion>> LatestVersionsBySeries(std::int64_t tenant_id) = 0;
  virtual Result<std::map<std::string, std::int64_t>> CountSegmentations(std::int64_t tenant_id,
                                                                         const std::vector<std::string>& study_uids) = 0;

  // Segmentation imports. Candidates: SEG and RTSTRUCT instances (by SOP class) with no
  // import record, stored at least `quiet_seconds` ago and not before `since` (a pass that
  // looks only at recent instances stays cheap; `since` 0 looks at all); waiting ones whose
  // referenced series (or, with none named, any series of their study) got an instance
  // since, its newest at least `quiet_seconds` old (the series has settled); retrying ones
  // whose time has come. Oldest first, at most `limit`.
  virtual Result<std::vector<SegmentationImportCandidate>> FindImportCandidates(std::int64_t now,
                                                                               std::int64_t quiet_seconds,
                                                                               std::int64_t limit,
                                                                               std::int64_t since = 0) = 0;
  // When the newest instance of a series was stored (nullopt: no such series).
  virtual Result<std::optional<std::int64_t>> SeriesLastStored(std::int64_t tenant_id, const std::string& series_uid) = 0;
  // Inserts or replaces the record of (tenant, sop_uid); updated_at 0 is now.
  virtual Result<void> RecordImport(const SegmentationImportRecord& record) = 0;
  virtual Result<std::optional<SegmentationImportRecord>> FindImport(std::int64_t tenant_id, const std::string& sop_uid) = 0;

  virtual Result<WorklistPage> SearchWorklist(std::int64_t tenant_id, const WorklistFilter& filter) = 0;
};

}  // namespace vg::storage
