#include "api/ops/ops_routes.h"

#include <fmt/format.h>

#include "api/guard.h"
#include "core/metrics.h"
#include "crypto/crypto.h"

namespace vg::embedded {
extern const std::string_view kOpenApiJson;  // docs/openapi.json, embedded at build time
}

namespace vg::api {

namespace {

// Redoc (from npm, copied into the app's build as api-docs/redoc.standalone.js) over the
// description this binary was built with; nothing is fetched from elsewhere.
constexpr std::string_view kApiDocsPage = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>voxelgate API</title></head>
<body><redoc spec-url="/api/openapi.json"></redoc>
<noscript>The API description is at <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1).</noscript>
<script src="/api-docs/redoc.standalone.js"></script></body></html>
)";

bool SameText(std::string_view a, std::string_view b) {
  return crypto::ConstantTimeEquals(std::span(reinterpret_cast<const std::uint8_t*>(a.data()), a.size()),
                                    std::span(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
}

}  // namespace

void AddOpsRoutes(http::Router& router, const ApiDeps& deps) {
  storage::Catalog& catalog = deps.catalog;
  AddPublic(router, "GET", "/healthz", "healthz", "ops.health", [](http::Request&) { return http::JsonResponse(200, R"({"status":"ok"})"); });
  AddPublic(router, "GET", "/readyz", "readyz", "ops.health", [&catalog](http::Request&) {
    auto stats = catalog.Stats();
    if (!stats) return http::ErrorResponse(503, "unavailable", "the catalog does not answer");
    return http::JsonResponse(200, R"({"status":"ready"})");
  });
  AddPublic(router, "GET", "/api/openapi.json", "openapi", "ops.api_description", [](http::Request&) {
    http::Response response;
    response.Header("Content-Type", "application/json");
    response.Header("Cache-Control", "no-cache");
    response.body = std::string(embedded::kOpenApiJson);
    return response;
  });
  AddPublic(router, "GET", "/api/docs", "api_docs", "ops.api_description", [](http::Request&) {
    http::Response response;
    response.Header("Content-Type", "text/html; charset=utf-8");
    response.Header("Cache-Control", "no-cache");
    response.body = std::string(kApiDocsPage);
    return response;
  });
  AddPublic(router, "GET", "/metrics", "metrics", "ops.metrics", [&catalog, deps](http::Request& request) {
    if (!deps.metrics_token.empty()) {
      const std::string given = request.Header("authorization").value_or("");
      if (!given.starts_with("Bearer ") || !SameText(std::string_view(given).substr(7), deps.metrics_token)) {
        http::Response refused = http::ErrorResponse(401, "unauthenticated", "/metrics asks for its bearer token");
        refused.Header("WWW-Authenticate", "Bearer realm=\"voxelgate-metrics\"");
        return refused;
      }
    }
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
    if (deps.monitoring)
      if (auto jobs = deps.monitoring->RenderMetrics(deps.metrics_tenant_labels)) response.body += *jobs;
    return response;
  });
}

}  // namespace vg::api
