// Building WHERE clauses with their parameters: private to the SQL backends.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/strings.h"
#include "storage/catalog.h"
#include "storage/sql_db.h"

namespace vg::storage::sql {

inline std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  for (auto part : Split(text, ',')) out.emplace_back(part);
  return out;
}

inline std::string Placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i ? ",?" : "?";
  return out;
}

// Accumulates WHERE clauses and their parameters in order.
struct Where {
  std::string sql;
  struct Param {
    enum Kind { kText, kInt, kBlob } kind;
    std::string text;
    std::int64_t number = 0;
    std::vector<std::uint8_t> blob;
  };
  std::vector<Param> params;

  void And(const std::string& clause) { sql += " AND " + clause; }
  void Text(const std::string& v) { params.push_back({Param::kText, v, 0, {}}); }
  void Int(std::int64_t v) { params.push_back({Param::kInt, {}, v, {}}); }
  void Blob(const std::vector<std::uint8_t>& v) { params.push_back({Param::kBlob, {}, 0, v}); }
  void In(const std::string& column, const std::vector<std::string>& values) {
    if (values.empty()) return;
    And(column + " IN (" + Placeholders(values.size()) + ")");
    for (const auto& v : values) Text(v);
  }
  void RangeOf(const std::string& column, const std::optional<Range>& range) {
    if (!range) return;
    if (!range->low.empty()) { And(column + " >= ?"); Text(range->low); }
    if (!range->high.empty()) { And(column + " <= ?"); Text(range->high); }
    And(column + " <> ''");
  }
  void BindTo(Stmt& stmt) const {
    for (const auto& p : params) {
      if (p.kind == Param::kText) stmt.Bind(p.text);
      else if (p.kind == Param::kInt) stmt.Bind(p.number);
      else stmt.Bind(p.blob);
    }
  }
};

inline void AddStudyClauses(Where& w, const StudyFilter& f, const std::string& s) {
  w.In(s + ".study_uid", f.study_uids);
  w.RangeOf(s + ".study_date", f.study_date);
  w.RangeOf(s + ".study_time", f.study_time);
  if (f.patient_name_hash) { w.And(s + ".patient_name_hash = ?"); w.Blob(*f.patient_name_hash); }
  if (f.patient_id_hash) { w.And(s + ".patient_id_hash = ?"); w.Blob(*f.patient_id_hash); }
  if (f.accession_hash) { w.And(s + ".accession_hash = ?"); w.Blob(*f.accession_hash); }
  if (!f.modalities.empty()) {
    w.And("EXISTS (SELECT 1 FROM series m WHERE m.study_id = " + s + ".id AND m.modality IN (" +
          Placeholders(f.modalities.size()) + "))");
    for (const auto& m : f.modalities) w.Text(m);
  }
}

inline void AddSeriesClauses(Where& w, const SeriesFilter& f, const std::string& se, const std::string& s) {
  AddStudyClauses(w, f.study, s);
  w.In(s + ".study_uid", f.study_uids);
  w.In(se + ".series_uid", f.series_uids);
  w.In(se + ".modality", f.modalities);
  if (f.series_number) { w.And(se + ".series_number = ?"); w.Int(*f.series_number); }
}

inline std::string LimitClause(std::int64_t limit, std::int64_t offset) {
  // No limit is the largest one: SQLite's LIMIT -1 is an error in PostgreSQL.
  return " LIMIT " + std::to_string(limit < 0 ? INT64_MAX : limit) + " OFFSET " + std::to_string(offset < 0 ? 0 : offset);
}

}  // namespace vg::storage::sql
