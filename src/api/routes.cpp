#include "api/routes.h"

#include "api/account/account_routes.h"
#include "api/annotations/annotation_routes.h"
#include "api/exports/export_routes.h"
#include "api/deployments/deployment_routes.h"
#include "api/jobs/job_routes.h"
#include "api/licensing/licensing_routes.h"
#include "api/monailabel/monailabel_routes.h"
#include "api/monitoring/monitoring_routes.h"
#include "api/dicomweb/dicomweb_routes.h"
#include "api/ops/ops_routes.h"
#include "api/session/session_routes.h"
#include "api/web/web_routes.h"
#include "auth/policy.h"

namespace vg::api {

Result<http::Router> BuildRouter(const ApiDeps& deps) {
  http::Router router;
  AddOpsRoutes(router, deps);
  AddSessionRoutes(router, deps);
  AddAccountRoutes(router, deps);
  AddAuditRoutes(router, deps);
  AddDicomwebRoutes(router, deps);
  AddAnnotationRoutes(router, deps);
  AddSegmentationRoutes(router, deps);
  AddExportRoutes(router, deps);
  AddJobRoutes(router, deps);
  AddDeploymentRoutes(router, deps);
  AddLicensingRoutes(router, deps);
  AddMonitoringRoutes(router, deps);
  AddMonaiLabelRoutes(router, deps);
  AddWebRoutes(router, deps.web_root);  // last: the catch-all for the app's own pages
  // Answers that wait (a job's event stream, a MONAI Label inference waiting for its run)
  // run on the server's long-lived pool, not the request pool.
  if (auto ok = router.MarkLongLived("job_events"); !ok) return std::unexpected(ok.error());
  if (deps.monailabel_prefix != "off")
    if (auto ok = router.MarkLongLived("monailabel_infer"); !ok) return std::unexpected(ok.error());
  if (auto ok = CheckRoutePolicies(router); !ok) return std::unexpected(ok.error());
  return router;
}

nlohmann::json DescribeRoutes(const http::Router& router) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& route : router.routes()) {
    nlohmann::json entry = {{"method", route.method}, {"pattern", route.pattern}, {"name", route.name},
                            {"action", route.action}};
    if (const auth::ActionPolicy* policy = auth::FindPolicy(route.action)) {
      entry["public"] = policy->is_public;
      entry["scope"] = std::string(policy->scope);
      entry["grantable"] = policy->grantable;
      nlohmann::json roles = nlohmann::json::array();
      for (auto role : policy->roles) roles.push_back(std::string(role));
      entry["roles"] = roles;
      nlohmann::json conditional = nlohmann::json::array();
      for (auto role : policy->conditional_roles) conditional.push_back(std::string(role));
      entry["conditional_roles"] = conditional;
      entry["condition"] = std::string(policy->condition);
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace vg::api
