#include "api/ops/ops_routes.h"

#include <fmt/format.h>

#include "api/guard.h"
#include "core/metrics.h"

namespace vg::api {

void AddOpsRoutes(http::Router& router, storage::Catalog& catalog) {
  AddPublic(router, "GET", "/healthz", "healthz", "ops.health", [](http::Request&) { return http::JsonResponse(200, R"({"status":"ok"})"); });
  AddPublic(router, "GET", "/readyz", "readyz", "ops.health", [&catalog](http::Request&) {
    auto stats = catalog.Stats();
    if (!stats) return http::ErrorResponse(503, "unavailable", "the catalog does not answer");
    return http::JsonResponse(200, R"({"status":"ready"})");
  });
  AddPublic(router, "GET", "/metrics", "metrics", "ops.metrics", [&catalog](http::Request&) {
    http::Response response;
    response.Header("Content-Type", "text/plain; version=0.0.4");
    response.body = Metrics::Global().Render();
    if (auto stats = catalog.Stats()) {
      response.body += "# HELP voxelgate_catalog_instances Instances in the catalog, all tenants.\n";
      response.body += "# TYPE voxelgate_catalog_instances gauge\n";
      response.body += fmt::format("voxelgate_catalog_instances {}\n", stats->instances);
      response.body += "# HELP voxelgate_catalog_bytes Bytes of DICOM in the catalog, all tenants.\n";
      response.body += "# TYPE voxelgate_catalog_bytes gauge\n";
      response.body += fmt::format("voxelgate_catalog_bytes {}\n", stats->bytes);
      response.body += "# HELP voxelgate_tenants Tenants.\n# TYPE voxelgate_tenants gauge\n";
      response.body += fmt::format("voxelgate_tenants {}\n", stats->tenants);
    }
    return response;
  });
}

}  // namespace vg::api
