#include "services/acceptance.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/clock.h"
#include "crypto/crypto.h"

namespace vg::services {
namespace {

using nlohmann::json;

// Student t, two-sided 95 %, by degrees of freedom (1..30); 1.96 beyond.
double T975(std::int64_t df) {
  static const double kTable[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                  2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                  2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) return NAN;
  if (df <= 30) return kTable[df - 1];
  return 1.96;
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? NAN : sum / static_cast<double>(v.size());
}

json Interval(const std::optional<std::pair<double, double>>& ci) {
  return ci ? json::array({ci->first, ci->second}) : json(nullptr);
}

json NumberOrNull(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::string SliceThicknessGroup(const json& facts) {
  if (!facts.contains("slice_thickness_mm") || !facts["slice_thickness_mm"].is_number()) return "unknown";
  const double t = facts["slice_thickness_mm"].get<double>();
  if (t <= 1.5) return "<= 1.5 mm";
  if (t <= 3.0) return "1.5-3 mm";
  return "> 3 mm";
}

// Per segment over a set of cases: counts, means, intervals.
struct LabelStats {
  std::int64_t n = 0, failures = 0;
  std::vector<double> dice, hd95;
};

std::map<int, LabelStats> StatsOf(const AlgorithmManifest& manifest, const std::vector<const json*>& cases) {
  std::map<int, LabelStats> stats;
  for (const auto& s : manifest.segments) stats[s.label];
  for (const json* c : cases) {
    const bool failed = c->value("state", "") != "succeeded";
    for (auto& [label, st] : stats) {
      ++st.n;
      if (failed) {
        ++st.failures;
        continue;
      }
      for (const auto& l : c->value("labels", json::array()))
        if (l.value("label", -1) == label) {
          if (l.contains("dice") && l["dice"].is_number()) st.dice.push_back(l["dice"].get<double>());
          if (l.contains("hd95_mm") && l["hd95_mm"].is_number()) st.hd95.push_back(l["hd95_mm"].get<double>());
        }
    }
  }
  return stats;
}

std::string Escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Fixed(const json& v, int digits = 3) {
  if (!v.is_number()) return "–";
  return fmt::format("{:.{}f}", v.get<double>(), digits);
}

}  // namespace

std::optional<std::pair<double, double>> MeanInterval95(const std::vector<double>& values) {
  if (values.size() < 2) return std::nullopt;
  const double mean = Mean(values);
  double ss = 0;
  for (double x : values) ss += (x - mean) * (x - mean);
  const double sd = std::sqrt(ss / static_cast<double>(values.size() - 1));
  const double half = T975(static_cast<std::int64_t>(values.size()) - 1) * sd / std::sqrt(static_cast<double>(values.size()));
  return std::pair{mean - half, mean + half};
}

std::pair<double, double> WilsonInterval95(std::int64_t events, std::int64_t n) {
  if (n <= 0) return {0, 1};
  const double z = 1.959964, p = static_cast<double>(events) / static_cast<double>(n), nn = static_cast<double>(n);
  const double centre = (p + z * z / (2 * nn)) / (1 + z * z / nn);
  const double half = z * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / (1 + z * z / nn);
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

json EvaluateAcceptance(const AlgorithmManifest& manifest, const std::vector<json>& cases) {
  std::vector<const json*> all;
  for (const auto& c : cases) all.push_back(&c);
  std::map<int, std::string> names;
  for (const auto& s : manifest.segments) names[s.label] = s.name;
  std::map<int, AlgorithmManifest::Acceptance::Segment> criteria;
  if (manifest.acceptance)
    for (const auto& s : manifest.acceptance->segments) criteria[s.label] = s;

  json reasons = json::array();
  json labels = json::array();
  for (const auto& [label, st] : StatsOf(manifest, all)) {
    const double rate = st.n ? static_cast<double>(st.failures) / static_cast<double>(st.n) : 0;
    const auto wilson = WilsonInterval95(st.failures, st.n);
    json entry = {{"label", label},
                  {"name", names[label]},
                  {"n", st.n},
                  {"compared", st.dice.size()},
                  {"failures", st.failures},
                  {"failure_rate", rate},
                  {"failure_rate_ci95", {wilson.first, wilson.second}},
                  {"mean_dice", NumberOrNull(Mean(st.dice))},
                  {"dice_ci95", Interval(MeanInterval95(st.dice))},
                  {"min_dice", st.dice.empty() ? json(nullptr) : json(*std::min_element(st.dice.begin(), st.dice.end()))},
                  {"mean_hd95_mm", NumberOrNull(Mean(st.hd95))},
                  {"hd95_ci95", Interval(MeanInterval95(st.hd95))},
                  {"checks", json::array()}};
    if (auto it = criteria.find(label); it != criteria.end()) {
      const auto& c = it->second;
      auto check = [&](const char* what, double limit, double value, bool ok) {
        entry["checks"].push_back({{"criterion", what}, {"limit", limit}, {"value", NumberOrNull(value)}, {"passed", ok}});
        if (!ok)
          reasons.push_back(fmt::format("{}: {} is {} (limit {})", names[label].empty() ? "segment " + std::to_string(label) : names[label],
                                        what, std::isfinite(value) ? fmt::format("{:.3f}", value) : "not measured", limit));
      };
      if (c.min_mean_dice) {
        const double v = Mean(st.dice);
        check("min_mean_dice", *c.min_mean_dice, v, std::isfinite(v) && v >= *c.min_mean_dice);
      }
      if (c.max_hd95_mm) {
        const double v = Mean(st.hd95);
        check("max_hd95_mm", *c.max_hd95_mm, v, std::isfinite(v) && v <= *c.max_hd95_mm);
      }
      if (c.max_failure_rate) check("max_failure_rate", *c.max_failure_rate, rate, rate <= *c.max_failure_rate);
    }
    labels.push_back(entry);
  }
  const std::int64_t min_cases = manifest.acceptance ? manifest.acceptance->min_cases : 1;
  const bool enough = static_cast<std::int64_t>(cases.size()) >= min_cases;
  if (!enough)
    reasons.push_back(fmt::format("{} reference case{}; the criteria need at least {}", cases.size(), cases.size() == 1 ? "" : "s",
                                  min_cases));
  if (!manifest.acceptance) reasons.push_back("the manifest states no acceptance criteria");

  // Subgroups: the same statistics where the acquisition or a tag of the clinic differs.
  std::map<std::pair<std::string, std::string>, std::vector<const json*>> groups;
  for (const json* c : all) {
    const json facts = c->value("facts", json::object());
    for (const char* key : {"manufacturer", "model", "kernel"}) {
      const std::string v = facts.contains(key) && facts[key].is_string() && !facts[key].get<std::string>().empty()
                                ? facts[key].get<std::string>()
                                : "unknown";
      groups[{key, v}].push_back(c);
    }
    groups[{"slice_thickness", SliceThicknessGroup(facts)}].push_back(c);
    for (const auto& tag : c->value("tags", json::array()))
      if (tag.is_string()) groups[{"tag", tag.get<std::string>()}].push_back(c);
  }
  json subgroups = json::array();
  for (const auto& [key, members] : groups) {
    json group_labels = json::array();
    for (const auto& [label, st] : StatsOf(manifest, members))
      group_labels.push_back({{"label", label},
                              {"n", st.n},
                              {"failures", st.failures},
                              {"mean_dice", NumberOrNull(Mean(st.dice))},
                              {"dice_ci95", Interval(MeanInterval95(st.dice))},
                              {"mean_hd95_mm", NumberOrNull(Mean(st.hd95))}});
    subgroups.push_back({{"by", key.first}, {"value", key.second}, {"n", members.size()}, {"labels", group_labels}});
  }
  // The worst cases first: lowest mean Dice over the segments (failures lowest of all).
  std::vector<std::pair<double, std::string>> ranking;
  for (const json* c : all) {
    double sum = 0;
    int n = 0;
    if (c->value("state", "") == "succeeded")
      for (const auto& l : c->value("labels", json::array()))
        if (l.contains("dice") && l["dice"].is_number()) sum += l["dice"].get<double>(), ++n;
    ranking.push_back({n ? sum / n : -1.0, c->value("series_uid", "")});
  }
  std::sort(ranking.begin(), ranking.end());
  json worst = json::array();
  for (std::size_t i = 0; i < ranking.size() && i < 3; ++i) worst.push_back(ranking[i].second);

  return {{"algorithm", manifest.id},
          {"version", manifest.version},
          {"criteria", json::parse(ManifestToJson(manifest))["acceptance"]},
          {"cases", cases},
          {"labels", labels},
          {"min_cases", {{"required", min_cases}, {"have", cases.size()}, {"passed", enough}}},
          {"subgroups", subgroups},
          {"worst_cases", worst},
          {"passed", reasons.empty()},
          {"reasons", reasons}};
}

std::string AcceptanceReportHtml(const json& report, const std::map<std::string, std::string>& pictures) {
  const bool passed = report.value("passed", false);
  std::string html = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Acceptance of " +
                     Escape(report.value("algorithm", "")) + " " + Escape(report.value("version", "")) +
                     "</title><style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;"
                     "margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.pass{color:#176b2c}"
                     ".fail{color:#a31515}figure{display:inline-block;margin:.5em}</style></head><body>";
  html += "<h1>Acceptance of " + Escape(report.value("algorithm", "")) + " " + Escape(report.value("version", "")) + "</h1>";
  html += std::string("<p class=\"") + (passed ? "pass\"><strong>Passed</strong>" : "fail\"><strong>Not passed</strong>") + "</p>";
  if (!passed) {
    html += "<ul>";
    for (const auto& r : report.value("reasons", json::array())) html += "<li>" + Escape(r.get<std::string>()) + "</li>";
    html += "</ul>";
  }
  const json min_cases = report.value("min_cases", json::object());
  html += fmt::format("<p>{} reference cases (at least {} required).</p>", min_cases.value("have", 0), min_cases.value("required", 0));
  html += "<h2>Segments</h2><table><tr><th>Segment</th><th>Cases</th><th>Failures</th><th>Mean Dice (95 % CI)</th>"
          "<th>Mean HD95 mm (95 % CI)</th><th>Criteria</th></tr>";
  auto ci = [](const json& v) { return v.is_array() ? " (" + Fixed(v[0]) + "–" + Fixed(v[1]) + ")" : std::string(); };
  for (const auto& l : report.value("labels", json::array())) {
    std::string checks;
    for (const auto& c : l.value("checks", json::array()))
      checks += std::string("<span class=\"") + (c.value("passed", false) ? "pass" : "fail") + "\">" +
                Escape(c.value("criterion", "")) + " " + Fixed(c["limit"], 2) + "</span> ";
    html += "<tr><td>" + Escape(l.value("name", "")) + "</td><td>" + std::to_string(l.value("n", 0)) + "</td><td>" +
            std::to_string(l.value("failures", 0)) + " (" + Fixed(l["failure_rate"], 2) + ")</td><td>" + Fixed(l["mean_dice"]) +
            ci(l["dice_ci95"]) + "</td><td>" + Fixed(l["mean_hd95_mm"], 1) + ci(l["hd95_ci95"]) + "</td><td>" + checks +
            "</td></tr>";
  }
  html += "</table>";
  // A chart: each case's Dice per segment, as bars.
  const json cases = report.value("cases", json::array());
  const int bar = 14, gap = 4, height = 120;
  std::string svg;
  int x = 30, bars = 0;
  const char* colours[] = {"#d9705a", "#5a7bd9", "#5ab88a", "#c9a13b", "#8a5ad9"};
  for (const auto& c : cases) {
    int i = 0;
    for (const auto& l : c.value("labels", json::array())) {
      const double d = l.contains("dice") && l["dice"].is_number() ? l["dice"].get<double>() : 0;
      const int h = static_cast<int>(std::lround(std::clamp(d, 0.0, 1.0) * height));
      svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{} {}: {:.3f}</title></rect>", x,
                         10 + height - h, bar, h, colours[i % 5], Escape(c.value("series_uid", "")), l.value("label", 0), d);
      x += bar;
      ++i;
      ++bars;
    }
    x += gap;
  }
  if (bars > 0)
    html += fmt::format("<h2>Dice per case</h2><svg width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"Dice per case\">"
                        "<line x1=\"28\" y1=\"10\" x2=\"28\" y2=\"{}\" stroke=\"#333\"/><text x=\"0\" y=\"18\" font-size=\"10\">1</text>"
                        "<text x=\"0\" y=\"{}\" font-size=\"10\">0</text>{}</svg>",
                        x + 10, height + 30, height + 10, height + 10, svg);
  html += "<h2>Subgroups</h2><table><tr><th>By</th><th>Value</th><th>Cases</th><th>Mean Dice per segment</th></tr>";
  for (const auto& g : report.value("subgroups", json::array())) {
    std::string dice;
    for (const auto& l : g.value("labels", json::array()))
      dice += std::to_string(l.value("label", 0)) + ": " + Fixed(l["mean_dice"]) + " ";
    html += "<tr><td>" + Escape(g.value("by", "")) + "</td><td>" + Escape(g.value("value", "")) + "</td><td>" +
            std::to_string(g.value("n", 0)) + "</td><td>" + Escape(dice) + "</td></tr>";
  }
  html += "</table><h2>Worst cases</h2>";
  for (const auto& uid : report.value("worst_cases", json::array())) {
    const std::string series = uid.get<std::string>();
    html += "<figure>";
    if (auto p = pictures.find(series); p != pictures.end())
      html += "<img alt=\"reference (green) and result (red)\" src=\"data:image/png;base64," +
              crypto::Base64Encode(std::span(reinterpret_cast<const std::uint8_t*>(p->second.data()), p->second.size())) + "\">";
    html += "<figcaption>" + Escape(series) + "</figcaption></figure>";
  }
  if (pictures.empty()) html += "<p>Pictures are shown to the clinic (and to the vendor where the clinic shares cases).</p>";
  html += "<h2>Cases</h2><table><tr><th>Series</th><th>State</th><th>Dice per segment</th><th>Manufacturer</th><th>Model</th></tr>";
  for (const auto& c : cases) {
    std::string dice;
    for (const auto& l : c.value("labels", json::array())) dice += std::to_string(l.value("label", 0)) + ": " + Fixed(l["dice"]) + " ";
    const json facts = c.value("facts", json::object());
    html += "<tr><td>" + Escape(c.value("series_uid", "")) + "</td><td>" + Escape(c.value("state", "")) +
            (c.value("error", "").empty() ? "" : " – " + Escape(c.value("error", ""))) + "</td><td>" + Escape(dice) + "</td><td>" +
            Escape(facts.value("manufacturer", "")) + "</td><td>" + Escape(facts.value("model", "")) + "</td></tr>";
  }
  html += "</table></body></html>";
  return html;
}

Result<storage::ReferenceCaseRecord> Acceptance::MarkReference(std::int64_t tenant_id, const std::string& series_uid,
                                                              std::int64_t segmentation_id, const std::string& by) {
  auto version = segmentations_.Find(tenant_id, segmentation_id);
  if (!version) return Fail(ErrorCode::kNotFound, "no such segmentation");
  if (version->record.source_series_uid != series_uid)
    return Fail(ErrorCode::kInvalidArgument, "that segmentation is of another series");
  auto existing = store_.ListReferenceCases(tenant_id);
  if (!existing) return std::unexpected(existing.error());
  const bool replaces = std::any_of(existing->begin(), existing->end(), [&](const auto& r) { return r.series_uid == series_uid; });
  if (!replaces && existing->size() >= kMaxReferenceCases)
    return Fail(ErrorCode::kConflict, fmt::format("a clinic keeps at most {} reference cases: an acceptance run "
                                                           "executes the version on every one", kMaxReferenceCases));
  storage::ReferenceCaseRecord record{tenant_id, series_uid, version->record.study_uid, segmentation_id, by, UnixSeconds()};
  if (auto ok = store_.PutReferenceCase(record); !ok) return std::unexpected(ok.error());
  return record;
}

Result<storage::AcceptanceRunRecord> Acceptance::Start(std::int64_t tenant_id, const std::string& algorithm_id,
                                                       const std::string& version, const std::string& by) {
  auto algorithm = algorithms_.Resolve(algorithm_id, version);
  if (!algorithm) return std::unexpected(algorithm.error());
  if (!algorithm->second.acceptance)
    return Fail(ErrorCode::kConflict, algorithm_id + " " + algorithm->first.version + " states no acceptance criteria");
  auto references = store_.ListReferenceCases(tenant_id);
  if (!references) return std::unexpected(references.error());
  if (references->empty())
    return Fail(ErrorCode::kConflict, "this clinic has no reference case: mark series with an approved segmentation first");
  storage::AcceptanceRunRecord run;
  run.tenant_id = tenant_id;
  run.algorithm_id = algorithm_id;
  run.version = algorithm->first.version;
  run.created_by = by;
  run.created_at = UnixSeconds();
  auto added = store_.AddAcceptanceRun(run);
  if (!added) return std::unexpected(added.error());
  storage::JobRecord job;
  job.tenant_id = tenant_id;
  job.kind = kJobKind;
  job.priority = -50;  // after the runs clinicians wait for
  job.created_by = by;
  job.max_attempts = 2;
  job.params = json{{"run_id", added->id}, {"algorithm", algorithm_id}, {"version", added->version}}.dump();
  auto queued = jobs_.EnqueueJob(job);
  if (!queued) return std::unexpected(queued.error());
  if (auto ok = store_.SetAcceptanceJob(tenant_id, added->id, queued->id); !ok) return std::unexpected(ok.error());
  added->job_id = queued->id;
  if (job_queued_) job_queued_();
  return *added;
}

Result<storage::AcceptanceRunRecord> Acceptance::Find(std::int64_t tenant_id, std::int64_t id) {
  auto run = store_.FindAcceptanceRun(tenant_id, id);
  if (!run) return std::unexpected(run.error());
  if (!*run) return Fail(ErrorCode::kNotFound, "no such acceptance run");
  return **run;
}

Result<storage::AcceptanceRunRecord> Acceptance::Finish(std::int64_t tenant_id, std::int64_t id, const std::vector<json>& cases,
                                                        const std::map<std::string, std::string>& pictures,
                                                        const std::string& error) {
  auto run = Find(tenant_id, id);
  if (!run) return std::unexpected(run.error());
  auto algorithm = algorithms_.Resolve(run->algorithm_id, run->version);
  if (!algorithm) return std::unexpected(algorithm.error());
  if (!error.empty()) {
    run->state = "error";
    run->passed = false;
    run->report_json = json{{"error", error}}.dump();
  } else {
    const json report = EvaluateAcceptance(algorithm->second, cases);
    run->passed = report.value("passed", false);
    run->state = *run->passed ? "passed" : "failed";
    run->report_json = report.dump();
    auto sealed = SealPictures(tenant_id, id, pictures);
    if (!sealed) return std::unexpected(sealed.error());
    run->pictures_sealed = std::move(*sealed);
  }
  run->finished_at = UnixSeconds();
  if (auto ok = store_.FinishAcceptanceRun(*run); !ok) return std::unexpected(ok.error());
  return *run;
}

Result<std::vector<std::uint8_t>> Acceptance::SealPictures(std::int64_t tenant_id, std::int64_t id,
                                                           const std::map<std::string, std::string>& pictures) {
  json encoded = json::object();
  for (const auto& [series, png] : pictures)
    encoded[series] = crypto::Base64Encode(std::span(reinterpret_cast<const std::uint8_t*>(png.data()), png.size()));
  return SealFor(archive_, tenant_id, "acceptance-pictures:" + std::to_string(id), encoded.dump());
}

Result<void> Acceptance::SaveProgress(std::int64_t tenant_id, std::int64_t id, const std::vector<json>& cases,
                                      const std::map<std::string, std::string>& pictures) {
  auto run = Find(tenant_id, id);
  if (!run) return std::unexpected(run.error());
  auto sealed = SealPictures(tenant_id, id, pictures);
  if (!sealed) return std::unexpected(sealed.error());
  run->state = "queued";
  run->passed.reset();
  run->report_json = json{{"in_progress", {{"cases", cases}}}}.dump();
  run->pictures_sealed = std::move(*sealed);
  run->finished_at.reset();
  return store_.FinishAcceptanceRun(*run);
}

Result<std::vector<json>> Acceptance::CasesSoFar(const storage::AcceptanceRunRecord& run) {
  const json report = json::parse(run.report_json, nullptr, false);
  std::vector<json> out;
  if (report.is_object() && report.contains("in_progress"))
    for (const auto& c : report["in_progress"].value("cases", json::array())) out.push_back(c);
  return out;
}

Result<std::map<std::string, std::string>> Acceptance::Pictures(const storage::AcceptanceRunRecord& run) {
  std::map<std::string, std::string> out;
  if (run.pictures_sealed.empty()) return out;
  auto text = OpenFor(archive_, run.tenant_id, "acceptance-pictures:" + std::to_string(run.id), run.pictures_sealed);
  if (!text) return std::unexpected(text.error());
  const json j = json::parse(*text, nullptr, false);
  if (!j.is_object()) return out;
  for (const auto& [series, b64] : j.items()) {
    if (!b64.is_string()) continue;
    auto bytes = crypto::Base64Decode(b64.get<std::string>());
    if (bytes) out[series] = std::string(bytes->begin(), bytes->end());
  }
  return out;
}

Result<void> Acceptance::Gate(std::int64_t tenant_id, const std::string& algorithm_id, const std::string& version) {
  auto settings = annotations_.GetSettings(tenant_id);
  if (!settings) return std::unexpected(settings.error());
  if (!settings->require_acceptance) return {};
  auto runs = store_.ListAcceptanceRuns(tenant_id, algorithm_id, version, 1000);
  if (!runs) return std::unexpected(runs.error());
  for (const auto& run : *runs)
    if (run.passed && *run.passed) return {};
  return std::unexpected(Error{ErrorCode::kConflict,
                               "this clinic requires a passed acceptance run before " + algorithm_id + " " + version +
                                   " reaches it; " + (runs->empty() ? "there is none" : "none of its runs passed"),
                               "", "acceptance_required"});
}

json AcceptanceRunJson(const storage::AcceptanceRunRecord& run, bool with_report) {
  json out = {{"id", run.id},
              {"algorithm", run.algorithm_id},
              {"version", run.version},
              {"job_id", run.job_id ? json(*run.job_id) : json(nullptr)},
              {"state", run.state},
              {"passed", run.passed ? json(*run.passed) : json(nullptr)},
              {"created_by", run.created_by},
              {"created_at", run.created_at},
              {"finished_at", run.finished_at ? json(*run.finished_at) : json(nullptr)}};
  if (with_report) out["report"] = json::parse(run.report_json, nullptr, false);
  return out;
}

}  // namespace vg::services
