// GET /api/v1/audit: the audit trail, newest first, with filters, paging and CSV.
#include <array>
#include <ctime>
#include <map>

#include <nlohmann/json.hpp>

#include "api/account/account_routes.h"
#include "core/strings.h"

namespace vg::api {
namespace {

using nlohmann::json;
constexpr std::int64_t kMaxPage = 1000;
constexpr std::array<const char*, 11> kColumns = {"id",     "time",   "tenant",  "actor_tenant", "actor", "actor_kind",
                                                  "action", "object", "outcome", "remote",       "detail"};

// Unix milliseconds from "2026-11-25", "2026-11-25T10:00:00Z" or a number of ms.
std::optional<std::int64_t> ParseInstant(const std::string& text, bool end_of_day) {
  if (auto ms = ParseUint(text)) return static_cast<std::int64_t>(*ms);
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%d", &tm);
  if (!rest) return std::nullopt;
  bool date_only = *rest == '\0';
  if (!date_only) {
    rest = strptime(rest, "T%H:%M:%S", &tm);
    if (!rest || !(*rest == '\0' || std::string_view(rest) == "Z")) return std::nullopt;
  }
  std::int64_t seconds = timegm(&tm);
  if (date_only && end_of_day) return seconds * 1000 + 86'400'000 - 1;
  return seconds * 1000;
}

Result<storage::AuditFilter> ParseFilter(const std::string& raw_query, std::string& format) {
  storage::AuditFilter filter;
  filter.newest_first = true;
  for (auto pair : Split(raw_query, '&')) {
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq));
    auto value = PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!key || !value || value->size() > 200) return Fail(ErrorCode::kInvalidArgument, "malformed query string");
    auto number = [&]() -> Result<std::int64_t> {
      auto n = ParseUint(*value);
      if (!n) return Fail(ErrorCode::kInvalidArgument, *key + " must be a whole number");
      return static_cast<std::int64_t>(*n);
    };
    if (*key == "action") filter.action_prefix = *value;
    else if (*key == "actor") filter.actor = *value;
    else if (*key == "outcome") filter.outcome_prefix = *value;
    else if (*key == "since" || *key == "until") {
      auto at = ParseInstant(*value, *key == "until");
      if (!at) return Fail(ErrorCode::kInvalidArgument, *key + " is YYYY-MM-DD, YYYY-MM-DDThh:mm:ssZ or Unix ms");
      (*key == "since" ? filter.since_ms : filter.until_ms) = *at;
    } else if (*key == "before_id") {
      auto n = number();
      if (!n) return std::unexpected(n.error());
      filter.before_id = *n;
    } else if (*key == "limit") {
      auto n = number();
      if (!n || *n < 1 || *n > kMaxPage) return Fail(ErrorCode::kInvalidArgument, "limit is 1 to 1000");
      filter.limit = *n;
    } else if (*key == "format") {
      if (*value != "json" && *value != "csv") return Fail(ErrorCode::kInvalidArgument, "format is json or csv");
      format = *value;
    } else {
      return Fail(ErrorCode::kInvalidArgument, "unknown parameter '" + *key +
                                                   "' (known: action, actor, outcome, since, until, before_id, "
                                                   "limit, format)");
    }
  }
  return filter;
}

std::string IsoTime(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
  return std::string(buf) + "." + std::to_string(1000 + ms % 1000).substr(1) + "Z";
}

// RFC 4180 quoting; a leading = + - @ is neutralised so that a spreadsheet does not run it.
std::string CsvField(const std::string& value) {
  std::string text = value;
  if (!text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@')) text = "'" + text;
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Tenant slugs by id, looked up once per page.
class SlugCache {
 public:
  explicit SlugCache(const ApiDeps& deps) : deps_(deps) {}
  std::string operator()(std::optional<std::int64_t> tenant_id) {
    if (!tenant_id) return "";
    auto [it, fresh] = slugs_.try_emplace(*tenant_id);
    if (fresh) {
      auto tenant = deps_.catalog.FindTenantById(*tenant_id);
      it->second = tenant ? tenant->slug : std::to_string(*tenant_id);
    }
    return it->second;
  }

 private:
  const ApiDeps& deps_;
  std::map<std::int64_t, std::string> slugs_;
};

http::Response ListAudit(http::Request& request, const auth::Principal& p, const ApiDeps& deps) {
  std::string format = "json";
  auto filter = ParseFilter(request.query, format);
  if (!filter) return http::ErrorResponse(filter.error());
  // A clinic admin reads their clinic's records (including the vendor's accesses to it);
  // a provider admin reads what the vendor's own people did, wherever.
  filter->tenant_id = p.tenant_id;
  filter->or_actor_tenant = p.role == "provider_admin";
  auto records = deps.catalog.ListAudit(*filter);
  if (!records) return http::ErrorResponse(records.error());
  http::Response response;
  response.Header("Cache-Control", "no-store");
  SlugCache slug(deps);
  // Search keys are sealed with the clinic's key: its own admin reads them; anyone else
  // (the vendor's admin) sees that there were some.
  std::optional<crypto::SecretKey> own_key;
  if (p.role == "clinic_admin")
    if (auto key = deps.archive.tenants.DataKey(p.tenant_id)) own_key = *key;
  auto DetailFor = [&](const storage::AuditEvent& e) -> std::string {
    if (!e.detail.starts_with("query:")) return e.detail;
    if (own_key && e.tenant_id == p.tenant_id)
      if (auto keys = auth::OpenSearchKeys(*own_key, e.detail)) return "query: " + *keys;
    return "query: (sealed for the clinic)";
  };
  // One row of fields per record, in kColumns order, for both formats.
  auto row_of = [&](const storage::AuditRecord& r) -> std::array<std::string, kColumns.size()> {
    const auto& e = r.event;
    return {std::to_string(r.id), IsoTime(r.ts_ms), slug(e.tenant_id), slug(e.actor_tenant_id), e.actor,
            e.actor_kind, e.action, e.object, e.outcome, e.remote, DetailFor(e)};
  };
  if (format == "csv") {
    std::string csv;
    auto add_line = [&csv](const auto& fields) {
      for (const auto& field : fields) csv += CsvField(std::string(field)) + ",";
      csv.back() = '\r';
      csv += "\n";
    };
    add_line(kColumns);
    for (const auto& r : *records) add_line(row_of(r));
    response.Header("Content-Type", "text/csv; charset=utf-8");
    response.Header("Content-Disposition", "attachment; filename=\"audit.csv\"");
    response.body = std::move(csv);
    return response;
  }
  json out = json::array();
  for (const auto& r : *records) {
    auto fields = row_of(r);
    json object = {{kColumns[0], r.id}};  // the id stays a number in JSON
    for (std::size_t i = 1; i < kColumns.size(); ++i) object[kColumns[i]] = std::move(fields[i]);
    out.push_back(std::move(object));
  }
  json page = {{"records", out}};
  if (static_cast<std::int64_t>(records->size()) == filter->limit && !records->empty())
    page["next_before_id"] = records->back().id;
  response.Header("Content-Type", "application/json");
  response.body = page.dump();
  return response;
}

}  // namespace

void AddAuditRoutes(http::Router& router, const ApiDeps& deps) {
  AddGuarded(router, deps, "GET", "/api/v1/audit", "audit_list", "audit.read",
             [deps](http::Request& r, const auth::Principal& p) { return ListAudit(r, p, deps); });
  // The chain's head, signed: kept by the clinic, it later shows whether records were
  // deleted or edited (voxelgate admin audit verify --against FILE).
  AddGuarded(router, deps, "GET", "/api/v1/audit/checkpoint", "audit_checkpoint", "audit.read",
             [deps](http::Request&, const auth::Principal&) {
               if (!deps.audit_checkpoint) return http::ErrorResponse(503, "unavailable", "no audit checkpoints here");
               auto text = deps.audit_checkpoint();
               if (!text) return http::ErrorResponse(text.error());
               http::Response response = http::JsonResponse(200, *text);
               response.Header("Content-Disposition", "attachment; filename=\"audit-checkpoint.json\"");
               return response;
             });
}

}  // namespace vg::api
