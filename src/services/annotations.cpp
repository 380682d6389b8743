#include "services/annotations.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "services/qido.h"
#include "services/queries.h"

namespace vg::services {
namespace {

bool IsColour(std::string_view c) {
  if (c.size() != 7 || c[0] != '#') return false;
  return std::all_of(c.begin() + 1, c.end(), [](char x) { return std::isxdigit(static_cast<unsigned char>(x)); });
}

bool IsDate(std::string_view d) {
  return d.size() == 8 && std::all_of(d.begin(), d.end(), [](char x) { return x >= '0' && x <= '9'; });
}

std::string TextContext(const std::string& study_uid) { return "study-tag:" + study_uid; }

}  // namespace

bool IsValidStatus(std::string_view status) {
  return std::any_of(std::begin(kStatuses), std::end(kStatuses), [&](const char* s) { return status == s; });
}

std::optional<storage::Range> ParseDateRange(std::string_view text) {
  auto dash = text.find('-');
  if (dash == std::string_view::npos) {
    if (!IsDate(text)) return std::nullopt;
    return storage::Range{std::string(text), std::string(text)};
  }
  std::string_view low = text.substr(0, dash), high = text.substr(dash + 1);
  if ((low.empty() && high.empty()) || (!low.empty() && !IsDate(low)) || (!high.empty() && !IsDate(high)))
    return std::nullopt;
  return storage::Range{std::string(low), std::string(high)};
}

Result<void> Annotations::RequireStudy(std::int64_t tenant_id, const std::string& study_uid) {
  storage::StudyFilter filter;
  filter.study_uids = {study_uid};
  filter.limit = 1;
  auto found = archive_.catalog.SearchStudies(tenant_id, filter);
  if (!found) return std::unexpected(found.error());
  if (found->empty()) return Fail(ErrorCode::kNotFound, "no such study");
  return {};
}

Result<storage::TagRecord> Annotations::AddToVocabulary(std::int64_t tenant_id, const std::string& name,
                                                        const std::string& colour, const std::string& description) {
  if (name.empty() || name.size() > 64 || name.find_first_of("\r\n\t,") != std::string::npos)
    return Fail(ErrorCode::kInvalidArgument, "a tag name is 1 to 64 characters, without commas or line breaks");
  if (!colour.empty() && !IsColour(colour)) return Fail(ErrorCode::kInvalidArgument, "colour is #rrggbb");
  if (description.size() > 1024) return Fail(ErrorCode::kInvalidArgument, "a description is at most 1024 characters");
  return store_.CreateTag({tenant_id, name, colour.empty() ? "#4a90d9" : colour, description, 0});
}

Result<std::vector<TagView>> Annotations::TagViews(std::int64_t tenant_id,
                                                   const std::vector<storage::StudyTagRecord>& records) {
  std::vector<TagView> out;
  for (const auto& r : records) {
    TagView v;
    v.id = r.id;
    v.name = r.tag_name;
    v.series_uid = r.series_uid;
    v.colour = r.colour;
    v.created_by = r.created_by;
    v.created_at = r.created_at;
    if (!r.text_sealed.empty()) {
      auto text = OpenFor(archive_, tenant_id, TextContext(r.study_uid), r.text_sealed);
      if (!text) return std::unexpected(text.error());
      v.text = std::move(*text);
    }
    out.push_back(std::move(v));
  }
  return out;
}

Result<StudyAnnotations> Annotations::ForStudy(std::int64_t tenant_id, const std::string& study_uid) {
  if (auto r = RequireStudy(tenant_id, study_uid); !r) return std::unexpected(r.error());
  StudyAnnotations out;
  out.study_uid = study_uid;
  auto statuses = store_.GetStatuses(tenant_id, {study_uid});
  if (!statuses) return std::unexpected(statuses.error());
  if (!statuses->empty()) {
    const auto& s = statuses->front();
    out.status = s.status;
    if (s.assignee_id) out.assignee = s.assignee;
    out.updated_at = s.updated_at;
    out.updated_by = s.updated_by;
  }
  auto tags = store_.ListStudyTags(tenant_id, {study_uid});
  if (!tags) return std::unexpected(tags.error());
  auto views = TagViews(tenant_id, *tags);
  if (!views) return std::unexpected(views.error());
  out.tags = std::move(*views);
  return out;
}

Result<std::pair<TagView, bool>> Annotations::Tag(std::int64_t tenant_id, const std::string& study_uid,
                                                  const std::optional<std::string>& series_uid,
                                                  const std::optional<std::string>& name,
                                                  const std::optional<std::string>& text, const std::string& author) {
  if (name.has_value() == text.has_value())
    return Fail(ErrorCode::kInvalidArgument, "send either \"name\" (a vocabulary tag) or \"text\" (free text)");
  if (text && (text->empty() || text->size() > 256))
    return Fail(ErrorCode::kInvalidArgument, "free-text tags are 1 to 256 characters");
  if (auto r = RequireStudy(tenant_id, study_uid); !r) return std::unexpected(r.error());
  if (series_uid) {
    storage::SeriesFilter filter;
    filter.study_uids = {study_uid};
    filter.series_uids = {*series_uid};
    auto series = archive_.catalog.SearchSeries(tenant_id, filter);
    if (!series) return std::unexpected(series.error());
    if (series->empty()) return Fail(ErrorCode::kNotFound, "no such series in this study");
  }
  storage::StudyTagRecord record;
  record.tenant_id = tenant_id;
  record.study_uid = study_uid;
  record.series_uid = series_uid;
  record.tag_name = name;
  record.created_by = author;
  if (text) {
    auto sealed = SealFor(archive_, tenant_id, TextContext(study_uid), *text);
    if (!sealed) return std::unexpected(sealed.error());
    record.text_sealed = std::move(*sealed);
  }
  auto added = store_.AddStudyTag(record);
  if (!added) return std::unexpected(added.error());
  // The colour comes from the vocabulary: read the entry back through the one view builder.
  auto tags = store_.ListStudyTags(tenant_id, {study_uid});
  if (!tags) return std::unexpected(tags.error());
  auto views = TagViews(tenant_id, *tags);
  if (!views) return std::unexpected(views.error());
  for (auto& v : *views)
    if (v.id == added->first.id) return std::make_pair(std::move(v), added->second);
  return Fail(ErrorCode::kInternal, "the tag vanished as it was added");
}

Result<void> Annotations::Untag(std::int64_t tenant_id, const std::string& study_uid, std::int64_t tag_id) {
  return store_.RemoveStudyTag(tenant_id, study_uid, tag_id);
}

Result<StudyAnnotations> Annotations::SetStatus(std::int64_t tenant_id, const std::string& study_uid,
                                                const std::optional<std::string>& status,
                                                const std::optional<std::optional<std::string>>& assignee,
                                                const std::string& author) {
  if (status && !IsValidStatus(*status))
    return Fail(ErrorCode::kInvalidArgument, "status is one of todo, in_progress, done, reviewed");
  auto current = ForStudy(tenant_id, study_uid);
  if (!current) return std::unexpected(current.error());
  storage::StudyStatusRecord record;
  record.tenant_id = tenant_id;
  record.study_uid = study_uid;
  record.status = status.value_or(current->status);
  record.updated_by = author;
  std::optional<std::string> assignee_name = assignee ? *assignee : current->assignee;
  if (assignee_name && !assignee_name->empty()) {
    auto user = archive_.catalog.FindUser(*assignee_name);
    if (!user || user->tenant_id != tenant_id || user->disabled_at)
      return Fail(ErrorCode::kInvalidArgument, "the assignee must be an active user of this clinic");
    record.assignee_id = user->id;
  }
  if (auto r = store_.SetStatus(record); !r) return std::unexpected(r.error());
  return ForStudy(tenant_id, study_uid);
}

Result<WorklistResult> Annotations::Worklist(std::int64_t tenant_id, const WorklistQuery& query) {
  storage::WorklistFilter filter;
  filter.study.study_date = query.date;
  filter.study.study_uids = query.within_studies;
  filter.study.modalities = query.modalities;
  filter.statuses = query.statuses;
  filter.tags = query.tags;
  filter.sort = query.sort;
  if (query.assignee) {
    if (*query.assignee == "none") {
      filter.unassigned = true;
    } else {
      auto user = archive_.catalog.FindUser(*query.assignee);
      if (!user || user->tenant_id != tenant_id) return WorklistResult{};  // nobody by that name: nothing assigned
      filter.assignee_id = user->id;
    }
  }
  // Exact names and IDs are matched by their keyed hashes in SQL; a wildcard needs the
  // sealed attributes, so those pages are cut here after matching.
  const bool wildcard = !query.patient.empty() && HasWildcard(query.patient);
  if (!query.patient.empty() && !wildcard) {
    auto key = archive_.tenants.SearchKey(tenant_id);
    if (!key) return std::unexpected(key.error());
    filter.patient_name_or_id =
        std::make_pair(SearchHash(*key, "PatientName", query.patient), SearchHash(*key, "PatientID", query.patient));
  }
  filter.limit = wildcard ? -1 : query.limit;
  filter.offset = wildcard ? 0 : query.offset;
  auto page = store_.SearchWorklist(tenant_id, filter);
  if (!page) return std::unexpected(page.error());

  WorklistResult result;
  result.total = page->total;
  std::vector<WorklistEntry> entries;
  for (auto& row : page->rows) {
    auto attrs = OpenFor(archive_, tenant_id, "study:" + row.study.study_uid, row.study.study_attrs);
    if (!attrs) return std::unexpected(attrs.error());
    auto json = nlohmann::json::parse(*attrs, nullptr, false);
    auto first = [&](const char* tag) {
      auto values = JsonValues(json, tag);
      return values.empty() ? std::string() : values.front();
    };
    WorklistEntry e;
    e.study_uid = row.study.study_uid;
    e.patient_name = first("00100010");
    e.patient_id = first("00100020");
    if (wildcard && !MatchesValue("PN", query.patient, e.patient_name) && !MatchesValue("LO", query.patient, e.patient_id))
      continue;
    e.study_date = row.study.study_date;
    e.study_time = row.study.study_time;
    e.description = first("00081030");
    e.accession_number = first("00080050");
    e.modalities = row.study.modalities;
    e.series_count = row.study.series_count;
    e.instance_count = row.study.instance_count;
    e.annotations.study_uid = e.study_uid;
    e.annotations.status = row.status.status;
    if (row.status.assignee_id) e.annotations.assignee = row.status.assignee;
    e.annotations.updated_at = row.status.updated_at;
    e.annotations.updated_by = row.status.updated_by;
    entries.push_back(std::move(e));
  }
  if (wildcard) {
    result.total = static_cast<std::int64_t>(entries.size());
    const auto begin = std::min<std::int64_t>(query.offset, result.total);
    const auto end = query.limit < 0 ? result.total : std::min<std::int64_t>(begin + query.limit, result.total);
    entries = std::vector<WorklistEntry>(std::make_move_iterator(entries.begin() + begin),
                                         std::make_move_iterator(entries.begin() + end));
  }
  std::vector<std::string> uids;
  for (const auto& e : entries) uids.push_back(e.study_uid);
  auto tags = store_.ListStudyTags(tenant_id, uids);
  if (!tags) return std::unexpected(tags.error());
  auto views = TagViews(tenant_id, *tags);
  if (!views) return std::unexpected(views.error());
  auto counts = store_.CountSegmentations(tenant_id, uids);
  if (!counts) return std::unexpected(counts.error());
  for (auto& e : entries) {
    for (size_t i = 0; i < tags->size(); ++i)
      if ((*tags)[i].study_uid == e.study_uid) e.annotations.tags.push_back((*views)[i]);
    if (auto c = counts->find(e.study_uid); c != counts->end()) e.segmentations = c->second;
  }
  result.studies = std::move(entries);
  return result;
}

}  // namespace vg::services
