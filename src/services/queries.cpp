#include "services/queries.h"

#include <map>
#include <set>

#include "core/strings.h"

namespace vg::services {
namespace {

using nlohmann::json;

// Tags matched in SQL, per level.
const std::set<std::string> kStudySqlTags = {"0020000D", "00080020", "00080030", "00100010", "00100020", "00080050",
                                             "00080061"};
const std::set<std::string> kSeriesSqlTags = {"0020000E", "00080060", "00200011"};

// Multiple values: backslash-separated (DICOM), or comma-separated (QIDO UID lists).
std::vector<std::string> SplitValues(const std::string& text) {
  std::vector<std::string> out;
  for (auto group : Split(text, '\\'))
    for (auto v : Split(group, ',')) out.emplace_back(Trim(v));
  return out;
}

std::optional<storage::Range> ToRange(const std::string& value) {
  if (HasWildcard(value)) return std::nullopt;
  auto dash = value.find('-');
  if (dash == std::string::npos) return storage::Range{value, value};
  std::string high = value.substr(dash + 1);
  // An upper time bound "12" must include "125959.999": nines sort after any digit or '.'
  // that could follow, in every collation a catalog may use (a byte like 0xff is not
  // text to PostgreSQL).
  return storage::Range{value.substr(0, dash), high.empty() ? high : high + std::string(16, '9')};
}

json Attr(const std::string& vr, json values) { return json{{"vr", vr}, {"Value", std::move(values)}}; }

struct Plan {
  storage::InstanceFilter filter;          // filter.series and filter.series.study nested
  std::vector<const MatchKey*> post;       // matched after decryption
  bool needs_metadata = false;
};

// Decides which keys SQL can take. Returns false when a key can never match.
bool PlanQuery(const QidoQuery& query, const crypto::SecretKey& search_key, Plan& plan) {
  storage::StudyFilter& study = plan.filter.series.study;
  storage::SeriesFilter& series = plan.filter.series;
  if (!query.study_uid.empty()) study.study_uids = {query.study_uid};
  if (!query.series_uid.empty()) series.series_uids = {query.series_uid};
  for (const auto& m : query.matches) {
    const std::string hex = m.tag.Hex();
    const std::string& v = m.value;
    if (v.empty() || v == "*") continue;  // universal match: return key only
    bool wild = HasWildcard(v);
    if (hex == "0020000D") {
      auto uids = SplitValues(v);
      if (!study.study_uids.empty()) {
        bool any = false;
        for (const auto& u : uids) any |= u == study.study_uids[0];
        if (!any) return false;
      } else {
        study.study_uids = uids;
      }
    } else if (hex == "00080020" && !wild) {
      study.study_date = ToRange(v);
    } else if (hex == "00080030" && !wild) {
      study.study_time = ToRange(v);
    } else if (hex == "00100010" && !wild) {
      study.patient_name_hash = SearchHash(search_key, "PatientName", v);
    } else if (hex == "00100020" && !wild) {
      study.patient_id_hash = SearchHash(search_key, "PatientID", v);
    } else if (hex == "00080050" && !wild) {
      study.accession_hash = SearchHash(search_key, "AccessionNumber", v);
    } else if (hex == "00080061" && !wild) {
      study.modalities = SplitValues(v);
    } else if (hex == "0020000E" && query.level != QueryLevel::kStudy) {
      auto uids = SplitValues(v);
      if (!series.series_uids.empty()) {
        bool any = false;
        for (const auto& u : uids) any |= u == series.series_uids[0];
        if (!any) return false;
      } else {
        series.series_uids = uids;
      }
    } else if (hex == "00080060" && !wild && query.level != QueryLevel::kStudy) {
      series.modalities = SplitValues(v);
    } else if (hex == "00200011" && query.level != QueryLevel::kStudy && ParseUint(v)) {
      series.series_number = static_cast<std::int64_t>(*ParseUint(v));
    } else if (hex == "00080018" && query.level == QueryLevel::kInstance) {
      plan.filter.sop_uids = SplitValues(v);
    } else if (hex == "00080016" && query.level == QueryLevel::kInstance) {
      plan.filter.sop_class_uids = SplitValues(v);
    } else if (hex == "00200013" && query.level == QueryLevel::kInstance && ParseUint(v)) {
      plan.filter.instance_number = static_cast<std::int64_t>(*ParseUint(v));
    } else {
      plan.post.push_back(&m);
      if (query.level == QueryLevel::kInstance && !kStudySqlTags.contains(hex) && !kSeriesSqlTags.contains(hex))
        plan.needs_metadata = true;
    }
  }
  if (query.within_studies) {
    const auto& within = *query.within_studies;
    if (study.study_uids.empty()) {
      study.study_uids = within;
    } else {
      std::erase_if(study.study_uids,
                    [&](const std::string& uid) { return std::find(within.begin(), within.end(), uid) == within.end(); });
    }
    if (study.study_uids.empty()) return false;
  }
  return true;
}

// The object an attribute is looked up in, by level: study attrs, series attrs, metadata.
bool PostMatches(const std::vector<const MatchKey*>& post, const json* study, const json* series,
                 const json* instance, const std::vector<std::string>* modalities) {
  for (const MatchKey* m : post) {
    const std::string hex = m->tag.Hex();
    std::vector<std::string> values;
    if (hex == "00080061" && modalities) {
      values = *modalities;
    } else {
      for (const json* source : {study, series, instance}) {
        if (!source) continue;
        values = JsonValues(*source, hex);
        if (!values.empty()) break;
      }
    }
    bool any = false;
    if (values.empty()) values.push_back("");
    for (const auto& v : values) any |= MatchesValue(m->tag.vr, m->value, v);
    if (!any) return false;
  }
  return true;
}

void Merge(json& into, const json& from) {
  for (auto it = from.begin(); it != from.end(); ++it)
    if (!into.contains(it.key())) into[it.key()] = it.value();
}

void MergeSelected(json& into, const json& from, const QidoQuery& query) {
  if (query.include_all) return Merge(into, from);
  for (const auto& tag : query.include_fields) {
    std::string hex = tag.Hex();
    if (!into.contains(hex) && from.contains(hex)) into[hex] = from[hex];
  }
}

template <typename Row>
std::vector<Row> Page(std::vector<Row> rows, std::int64_t limit, std::int64_t offset) {
  if (offset >= static_cast<std::int64_t>(rows.size())) return {};
  rows.erase(rows.begin(), rows.begin() + offset);
  if (limit >= 0 && static_cast<std::int64_t>(rows.size()) > limit) rows.resize(static_cast<size_t>(limit));
  return rows;
}

}  // namespace

std::vector<std::string> JsonValues(const json& object, const std::string& tag_hex) {
  std::vector<std::string> out;
  auto it = object.find(tag_hex);
  if (it == object.end() || !it->is_object()) return out;
  auto values = it->find("Value");
  if (values == it->end() || !values->is_array()) return out;
  for (const auto& v : *values) {
    if (v.is_string()) out.push_back(v.get<std::string>());
    else if (v.is_number_integer()) out.push_back(std::to_string(v.get<std::int64_t>()));
    else if (v.is_number()) out.push_back(v.dump());
    else if (v.is_object() && v.contains("Alphabetic")) out.push_back(v["Alphabetic"].get<std::string>());
  }
  return out;
}

Result<std::vector<json>> StudyQueries::Search(std::int64_t tenant_id, const QidoQuery& query,
                                               const std::string& base_url) {
  auto search_key = archive_.tenants.SearchKey(tenant_id);
  if (!search_key) return std::unexpected(search_key.error());
  Plan plan;
  if (!PlanQuery(query, *search_key, plan)) return std::vector<json>{};
  const bool paged_in_sql = plan.post.empty();
  std::vector<json> out;

  // Sealed records are shared by many rows: open each once.
  std::map<std::string, json> opened;
  auto open = [&](const std::string& context, const storage::SealedBytes& sealed) -> Result<const json*> {
    auto it = opened.find(context);
    if (it != opened.end()) return &it->second;
    auto text = OpenFor(archive_, tenant_id, context, sealed);
    if (!text) return std::unexpected(text.error());
    auto parsed = json::parse(*text, nullptr, false);
    if (parsed.is_discarded()) return Fail(ErrorCode::kInternal, "stored record is damaged", "bad JSON in " + context);
    return &opened.emplace(context, std::move(parsed)).first->second;
  };

  if (query.level == QueryLevel::kStudy) {
    storage::StudyFilter filter = plan.filter.series.study;
    if (paged_in_sql) {
      filter.limit = query.limit;
      filter.offset = query.offset;
    }
    auto rows = archive_.catalog.SearchStudies(tenant_id, filter);
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto study = open("study:" + row.study_uid, row.study_attrs);
      if (!study) return std::unexpected(study.error());
      if (!PostMatches(plan.post, *study, nullptr, nullptr, &row.modalities)) continue;
      json object = **study;
      object["00080061"] = Attr("CS", row.modalities);
      object["00201206"] = Attr("IS", json::array({row.series_count}));
      object["00201208"] = Attr("IS", json::array({row.instance_count}));
      object["00081190"] = Attr("UR", json::array({base_url + "/studies/" + row.study_uid}));
      out.push_back(std::move(object));
    }
  } else if (query.level == QueryLevel::kSeries) {
    storage::SeriesFilter filter = plan.filter.series;
    if (paged_in_sql) {
      filter.limit = query.limit;
      filter.offset = query.offset;
    }
    auto rows = archive_.catalog.SearchSeries(tenant_id, filter);
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto study = open("study:" + row.study_uid, row.study_attrs);
      if (!study) return std::unexpected(study.error());
      auto series = open("series:" + row.series_uid, row.series_attrs);
      if (!series) return std::unexpected(series.error());
      if (!PostMatches(plan.post, *study, *series, nullptr, nullptr)) continue;
      json object = **series;
      object["0020000D"] = Attr("UI", json::array({row.study_uid}));
      object["00201209"] = Attr("IS", json::array({row.instance_count}));
      object["00081190"] = Attr("UR", json::array({base_url + "/studies/" + row.study_uid + "/series/" + row.series_uid}));
      if (query.study_uid.empty()) Merge(object, **study);
      else MergeSelected(object, **study, query);
      out.push_back(std::move(object));
    }
  } else {
    storage::InstanceFilter filter = plan.filter;
    filter.with_attrs = true;
    filter.with_metadata = plan.needs_metadata || query.include_all || !query.include_fields.empty();
    if (paged_in_sql) {
      filter.limit = query.limit;
      filter.offset = query.offset;
    }
    auto rows = archive_.catalog.SearchInstances(tenant_id, filter);
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
      auto study = open("study:" + row.study_uid, row.study_attrs);
      if (!study) return std::unexpected(study.error());
      auto series = open("series:" + row.series_uid, row.series_attrs);
      if (!series) return std::unexpected(series.error());
      std::optional<json> metadata;
      if (filter.with_metadata) {
        auto text = OpenFor(archive_, tenant_id, "instance:" + row.sop_uid, row.metadata);
        if (!text) return std::unexpected(text.error());
        metadata = json::parse(*text, nullptr, false);
        if (metadata->is_discarded()) return Fail(ErrorCode::kInternal, "stored record is damaged");
      }
      if (!PostMatches(plan.post, *study, *series, metadata ? &*metadata : nullptr, nullptr)) continue;
      json object;
      object["00080016"] = Attr("UI", json::array({row.sop_class_uid}));
      object["00080018"] = Attr("UI", json::array({row.sop_uid}));
      object["00080056"] = Attr("CS", json::array({"ONLINE"}));
      if (row.instance_number) object["00200013"] = Attr("IS", json::array({*row.instance_number}));
      else object["00200013"] = json{{"vr", "IS"}};
      if (row.rows > 0) object["00280010"] = Attr("US", json::array({row.rows}));
      if (row.columns > 0) object["00280011"] = Attr("US", json::array({row.columns}));
      if (row.bits_allocated > 0) object["00280100"] = Attr("US", json::array({row.bits_allocated}));
      if (row.frames > 0) object["00280008"] = Attr("IS", json::array({row.frames}));
      object["0020000D"] = Attr("UI", json::array({row.study_uid}));
      object["0020000E"] = Attr("UI", json::array({row.series_uid}));
      object["00081190"] = Attr("UR", json::array({base_url + "/studies/" + row.study_uid + "/series/" +
                                                   row.series_uid + "/instances/" + row.sop_uid}));
      if (query.series_uid.empty()) {
        Merge(object, **series);
        if (query.study_uid.empty()) Merge(object, **study);
      }
      if (metadata) {
        MergeSelected(object, **series, query);
        MergeSelected(object, **study, query);
        MergeSelected(object, *metadata, query);
      }
      out.push_back(std::move(object));
    }
  }
  if (!paged_in_sql) out = Page(std::move(out), query.limit, query.offset);
  return out;
}

}  // namespace vg::services
