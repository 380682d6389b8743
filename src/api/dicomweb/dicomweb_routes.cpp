#include "api/dicomweb/dicomweb_routes.h"

namespace vg::api {

void AddStowRoutes(http::Router& router, const ApiDeps& deps);
void AddQidoRoutes(http::Router& router, const ApiDeps& deps);
void AddWadoRoutes(http::Router& router, const ApiDeps& deps);

void AddDicomwebRoutes(http::Router& router, const ApiDeps& deps) {
  AddStowRoutes(router, deps);
  AddQidoRoutes(router, deps);
  AddWadoRoutes(router, deps);
}

}  // namespace vg::api
