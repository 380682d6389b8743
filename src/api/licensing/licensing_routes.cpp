// Plans, tenants and subscriptions (the vendor), a clinic's own subscription, usage.
#include "api/licensing/licensing_routes.h"

#include <nlohmann/json.hpp>

#include "api/json_body.h"
#include "api/query_params.h"
#include "core/clock.h"
#include "core/strings.h"
#include "services/tenant_purge.h"

namespace vg::api {
namespace {

using nlohmann::json;

json PlanJson(const licensing::Plan& p) {
  json j = json::parse(licensing::PlanToJson(p));
  return j;
}

Result<licensing::Plan> PlanFromRequest(const json& body) {
  licensing::Plan plan;
  auto name = StringMember(body, "name", true);
  if (!name) return std::unexpected(name.error());
  plan.name = *name;
  try {
    plan.included_runs = body.value("included_runs", std::int64_t{0});
    plan.overage = body.value("overage", "block");
    plan.max_users = body.value("max_users", std::int64_t{0});
    plan.price_note = body.value("price_note", "");
    if (body.contains("algorithms")) {
      if (body["algorithms"].is_string()) licensing::SetAlgorithms(plan, body["algorithms"].get<std::string>());
      else {
        plan.all_algorithms = false;
        plan.algorithms = body["algorithms"].get<std::vector<std::string>>();
      }
    }
    if (body.contains("features")) plan.features = body["features"].get<std::set<std::string>>();
  } catch (const json::exception&) {
    return Fail(ErrorCode::kInvalidArgument, "a plan field has the wrong type");
  }
  if (auto ok = licensing::ValidatePlan(plan); !ok) return std::unexpected(ok.error());
  return plan;
}

http::Response ListPlans(http::Request&, const auth::Principal&, const ApiDeps& deps) {
  auto plans = deps.licensing->ListPlans();
  if (!plans) return http::ErrorResponse(plans.error());
  json out = json::array();
  for (const auto& p : *plans) out.push_back(PlanJson(p));
  return http::JsonResponse(200, out.dump());
}

http::Response SavePlan(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto plan = PlanFromRequest(*body);
  if (!plan) return http::ErrorResponse(plan.error());
  auto saved = deps.licensing->SavePlan(*plan, p.username);
  if (!saved) return http::ErrorResponse(saved.error());
  http::Response response = http::JsonResponse(201, PlanJson(*saved).dump());
  response.audit_object = "plan=" + saved->name + " version=" + std::to_string(saved->version);
  return response;
}

Result<storage::TenantRecord> ClinicTenant(const ApiDeps& deps, const std::string& slug) {
  auto tenant = deps.catalog.FindTenant(slug);
  if (!tenant || tenant->id == deps.licensing->provider_tenant_id()) return Fail(ErrorCode::kNotFound, "no such clinic");
  return tenant;
}

http::Response ListTenants(http::Request&, const auth::Principal&, const ApiDeps& deps) {
  auto tenants = deps.catalog.ListTenants();
  if (!tenants) return http::ErrorResponse(tenants.error());
  json out = json::array();
  const std::int64_t now = UnixSeconds();
  for (const auto& t : *tenants) {
    if (t.id == deps.licensing->provider_tenant_id()) continue;
    json entry = {{"slug", t.slug}, {"name", t.name}, {"ae_title", t.ae_title}, {"created_at", t.created_at}};
    if (auto view = deps.licensing->View(t.id, now)) entry["subscription"] = *view;
    out.push_back(std::move(entry));
  }
  return http::JsonResponse(200, out.dump());
}

http::Response CreateTenant(http::Request& r, const auth::Principal&, const ApiDeps& deps) {
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  auto slug = StringMember(*body, "slug", true);
  auto name = StringMember(*body, "name");
  auto ae = StringMember(*body, "ae_title");
  for (auto* f : {&slug, &name, &ae})
    if (!*f) return http::ErrorResponse(f->error());
  auto created = deps.archive.tenants.Create(*slug, name->empty() ? *slug : *name, *ae);
  if (!created) return http::ErrorResponse(created.error());
  http::Response response = http::JsonResponse(
      201, json{{"slug", created->slug}, {"name", created->name}, {"ae_title", created->ae_title}}.dump());
  response.audit_object = "tenant=" + created->slug;
  return response;
}

http::Response GetTenantSubscription(http::Request& r, const auth::Principal&, const ApiDeps& deps) {
  auto tenant = ClinicTenant(deps, r.Param("slug"));
  if (!tenant) return http::ErrorResponse(tenant.error());
  auto view = deps.licensing->View(tenant->id, UnixSeconds());
  if (!view) return http::ErrorResponse(view.error());
  (*view)["tenant"] = tenant->slug;
  return http::JsonResponse(200, view->dump());
}

http::Response ActOnSubscription(http::Request& r, const auth::Principal&, const ApiDeps& deps) {
  auto tenant = ClinicTenant(deps, r.Param("slug"));
  if (!tenant) return http::ErrorResponse(tenant.error());
  auto kind = licensing::ActionFromName(r.Param("action"));
  if (!kind)
    return http::ErrorResponse(404, "not_found", "actions are activate, renew, suspend, resume, cancel, change-plan");
  auto body = ReadJsonObject(r);
  if (!body) return http::ErrorResponse(body.error());
  licensing::Action action;
  action.kind = *kind;
  auto plan = StringMember(*body, "plan");
  auto reason = StringMember(*body, "reason");
  if (!plan) return http::ErrorResponse(plan.error());
  if (!reason) return http::ErrorResponse(reason.error());
  if (reason->size() > 500) return http::ErrorResponse(400, "invalid_argument", "a reason is at most 500 characters");
  action.plan_name = *plan;
  action.reason = *reason;
  action.immediately = body->value("immediately", false);
  action.trial = body->value("trial", false);
  auto next = deps.licensing->Act(tenant->id, action, UnixSeconds());
  if (!next) return http::ErrorResponse(next.error());
  auto view = deps.licensing->View(tenant->id, UnixSeconds());
  if (!view) return http::ErrorResponse(view.error());
  (*view)["tenant"] = tenant->slug;
  http::Response response = http::JsonResponse(200, view->dump());
  response.audit_object = "tenant=" + tenant->slug + " subscription " + r.Param("action") +
                          (action.plan_name.empty() ? "" : " plan=" + action.plan_name) +
                          (action.immediately ? " immediately" : "") + " state=" + licensing::StateName(next->state) +
                          (action.reason.empty() ? "" : " reason=" + action.reason);
  return response;
}

http::Response PurgeTenantData(http::Request& r, const auth::Principal&, const ApiDeps& deps) {
  auto tenant = ClinicTenant(deps, r.Param("slug"));
  if (!tenant) return http::ErrorResponse(tenant.error());
  if (auto ok = services::PurgeTenant(deps.archive, *deps.licensing, tenant->id, UnixSeconds()); !ok)
    return http::ErrorResponse(ok.error());
  http::Response response;
  response.status = 204;
  response.audit_object = "tenant=" + tenant->slug + " purged (data key shredded)";
  return response;
}

http::Response OwnSubscription(http::Request&, const auth::Principal& p, const ApiDeps& deps) {
  auto view = deps.licensing->View(p.tenant_id, UnixSeconds());
  if (!view) return http::ErrorResponse(view.error());
  http::Response response = http::JsonResponse(200, view->dump());
  response.Header("Cache-Control", "no-store");
  return response;
}

http::Response Usage(http::Request& r, const auth::Principal& p, const ApiDeps& deps) {
  auto params = ParseQueryParams(r.query);
  if (!params) return http::ErrorResponse(params.error());
  std::string period = params->count("period") ? params->at("period") : "";
  if (period.empty()) {
    const auto now = UnixSeconds();
    period = licensing::FormatDate(now).substr(0, 7);
  }
  std::int64_t tenant_id = p.tenant_id;
  const bool vendor = p.role.starts_with("provider_");
  if (vendor) {
    tenant_id = 0;  // every clinic
    if (auto it = params->find("tenant"); it != params->end() && !it->second.empty()) {
      auto tenant = ClinicTenant(deps, it->second);
      if (!tenant) return http::ErrorResponse(tenant.error());
      tenant_id = tenant->id;
    }
  }
  auto report = deps.licensing->UsageReport(tenant_id, period);
  if (!report) return http::ErrorResponse(report.error());
  if (params->count("format") && params->at("format") == "csv") {
    http::Response response;
    response.Header("Content-Type", "text/csv; charset=utf-8");
    response.Header("Content-Disposition", "attachment; filename=\"usage-" + period + ".csv\"");
    response.body = licensing::Licensing::UsageCsv(*report);
    return response;
  }
  return http::JsonResponse(200, report->dump());
}

}  // namespace

void AddLicensingRoutes(http::Router& router, const ApiDeps& deps) {
  AddGuarded(router, deps, "GET", "/api/v1/plans", "plans_list", "plans.read", WithDeps(deps, ListPlans));
  AddGuarded(router, deps, "POST", "/api/v1/plans", "plans_save", "plans.write", WithDeps(deps, SavePlan));
  AddGuarded(router, deps, "GET", "/api/v1/tenants", "tenants_list", "tenants.read", WithDeps(deps, ListTenants));
  AddGuarded(router, deps, "POST", "/api/v1/tenants", "tenants_create", "tenants.write", WithDeps(deps, CreateTenant));
  AddGuarded(router, deps, "GET", "/api/v1/tenants/{slug}/subscription", "tenant_subscription",
             "subscriptions.read", WithDeps(deps, GetTenantSubscription));
  AddGuarded(router, deps, "POST", "/api/v1/tenants/{slug}/subscription/{action}", "tenant_subscription_act",
             "subscriptions.write", WithDeps(deps, ActOnSubscription));
  AddGuarded(router, deps, "DELETE", "/api/v1/tenants/{slug}/data", "tenant_purge", "tenants.purge",
             WithDeps(deps, PurgeTenantData));
  AddGuarded(router, deps, "GET", "/api/v1/subscription", "own_subscription", "subscription.self",
             WithDeps(deps, OwnSubscription));
  AddGuarded(router, deps, "GET", "/api/v1/usage", "usage", "usage.read", WithDeps(deps, Usage));
}

}  // namespace vg::api
