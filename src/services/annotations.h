// Annotations: the clinic's settings, tag vocabulary, tags on studies and series, the
// workflow status of each study, and the worklist that joins them with the archive.
// Every call is for one tenant; a study or series of another tenant is kNotFound. Free
// text is sealed with the tenant key before it reaches the store.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "services/archive.h"
#include "storage/annotation_store.h"

namespace vg::services {

inline constexpr const char* kStatuses[] = {"todo", "in_progress", "done", "reviewed"};
bool IsValidStatus(std::string_view status);

struct TagView {
  std::int64_t id = 0;
  std::optional<std::string> name, text, series_uid;
  std::string colour, created_by;
  std::int64_t created_at = 0;
};

struct StudyAnnotations {
  std::string study_uid;
  std::string status = "todo";
  std::optional<std::string> assignee;
  std::int64_t updated_at = 0;
  std::string updated_by;
  std::vector<TagView> tags;
};

struct WorklistQuery {
  std::string patient;  // name or ID; wildcards * ?
  std::optional<storage::Range> date;
  std::vector<std::string> modalities;
  std::vector<std::string> statuses;
  std::vector<std::string> tags;  // any of these vocabulary tags
  std::optional<std::string> assignee;  // username, or "none"
  std::string sort = "-date";
  std::int64_t limit = 50, offset = 0;
  std::vector<std::string> within_studies;  // non-empty: only these (a support grant of single studies)
};

struct WorklistEntry {
  std::string study_uid, patient_name, patient_id, study_date, study_time, description, accession_number;
  std::vector<std::string> modalities;
  std::int64_t series_count = 0, instance_count = 0, segmentations = 0;
  StudyAnnotations annotations;
};

struct WorklistResult {
  std::int64_t total = 0;
  std::vector<WorklistEntry> studies;
};

// Plain logic: "YYYYMMDD", "A-B", "-B", "A-" into a range; nullopt when malformed.
std::optional<storage::Range> ParseDateRange(std::string_view text);

class Annotations {
 public:
  Annotations(Archive& archive, storage::AnnotationStore& store) : archive_(archive), store_(store) {}

  Result<storage::TenantSettings> Settings(std::int64_t tenant_id) { return store_.GetSettings(tenant_id); }
  Result<void> SetSettings(std::int64_t tenant_id, const storage::TenantSettings& s) { return store_.SetSettings(tenant_id, s); }

  Result<std::vector<storage::TagRecord>> Vocabulary(std::int64_t tenant_id) { return store_.ListTags(tenant_id); }
  Result<storage::TagRecord> AddToVocabulary(std::int64_t tenant_id, const std::string& name, const std::string& colour,
                                             const std::string& description);
  Result<void> RemoveFromVocabulary(std::int64_t tenant_id, const std::string& name) {
    return store_.DeleteTag(tenant_id, name);
  }

  Result<StudyAnnotations> ForStudy(std::int64_t tenant_id, const std::string& study_uid);
  // Exactly one of `name` (vocabulary) and `text` (free, up to 256 characters).
  Result<std::pair<TagView, bool>> Tag(std::int64_t tenant_id, const std::string& study_uid,
                                       const std::optional<std::string>& series_uid,
                                       const std::optional<std::string>& name, const std::optional<std::string>& text,
                                       const std::string& author);
  Result<void> Untag(std::int64_t tenant_id, const std::string& study_uid, std::int64_t tag_id);
  // `assignee`: absent keeps it; an empty string clears it; else a user of the tenant.
  Result<StudyAnnotations> SetStatus(std::int64_t tenant_id, const std::string& study_uid,
                                     const std::optional<std::string>& status,
                                     const std::optional<std::optional<std::string>>& assignee, const std::string& author);

  Result<WorklistResult> Worklist(std::int64_t tenant_id, const WorklistQuery& query);

  // The study exists for this tenant (kNotFound otherwise).
  Result<void> RequireStudy(std::int64_t tenant_id, const std::string& study_uid);

 private:
  Result<std::vector<TagView>> TagViews(std::int64_t tenant_id, const std::vector<storage::StudyTagRecord>& records);
  Archive& archive_;
  storage::AnnotationStore& store_;
};

}  // namespace vg::services
