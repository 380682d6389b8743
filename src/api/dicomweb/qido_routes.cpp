// QIDO-RS: GET /dicomweb/{studies,series,instances} and the nested forms.
#include "api/dicomweb/dicomweb_routes.h"
#include "api/dicomweb/negotiation.h"
#include "auth/audit_trail.h"
#include "services/queries.h"
#include "services/retrieve.h"

namespace vg::api {
namespace {

http::Response Search(http::Request& request, const auth::Principal& principal, const ApiDeps& deps,
                      services::QueryLevel level) {
  if (!AcceptsDicomJson(request))
    return http::ErrorResponse(406, "unsupported", "QIDO-RS answers in application/dicom+json only");
  auto query = services::ParseQidoQuery(level, request.query);
  if (!query) return http::ErrorResponse(query.error());
  if (request.params.count("study")) query->study_uid = request.Param("study");
  if (request.params.count("series")) query->series_uid = request.Param("series");
  std::string base = request.BaseUrl() + "/dicomweb";
  services::StudyQueries queries(deps.archive);
  if (principal.support_grant_id != 0 && !principal.granted_studies.empty())
    query->within_studies = principal.granted_studies;
  auto found = queries.Search(principal.tenant_id, *query, base);
  if (!found) return http::ErrorResponse(found.error());
  std::string body = "[";
  for (size_t i = 0; i < found->size(); ++i) {
    if (i) body += ',';
    body += (*found)[i].dump();
  }
  body += ']';
  http::Response response;
  response.Header("Content-Type", "application/dicom+json");
  response.body = services::ResolveBulkDataUris(body, base);
  // What was searched for is part of the access: kept in the audit, sealed for the clinic.
  if (!request.query.empty())
    if (auto key = deps.archive.tenants.DataKey(principal.tenant_id))
      response.audit_detail = auth::SealSearchKeys(*key, request.query);
  return response;
}

}  // namespace

void AddQidoRoutes(http::Router& router, const ApiDeps& deps) {
  using services::QueryLevel;
  auto add = [&](const char* pattern, const char* name, QueryLevel level) {
    AddGuarded(router, deps, "GET", pattern, name, "dicomweb.qido",
               [deps, level](http::Request& r, const auth::Principal& p) { return Search(r, p, deps, level); });
  };
  add("/dicomweb/studies", "qido_studies", QueryLevel::kStudy);
  add("/dicomweb/series", "qido_series", QueryLevel::kSeries);
  add("/dicomweb/instances", "qido_instances", QueryLevel::kInstance);
  add("/dicomweb/studies/{study}/series", "qido_study_series", QueryLevel::kSeries);
  add("/dicomweb/studies/{study}/instances", "qido_study_instances", QueryLevel::kInstance);
  add("/dicomweb/studies/{study}/series/{series}/instances", "qido_series_instances", QueryLevel::kInstance);
}

}  // namespace vg::api
