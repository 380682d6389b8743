#include "api/dicomweb/dicomweb_routes.h"

namespace vg::api {

void AddStowRoutes(http::Router& router, DicomwebDeps deps);
void AddQidoRoutes(http::Router& router, DicomwebDeps deps);
void AddWadoRoutes(http::Router& router, DicomwebDeps deps);

void AddDicomwebRoutes(http::Router& router, DicomwebDeps deps) {
  AddStowRoutes(router, deps);
  AddQidoRoutes(router, deps);
  AddWadoRoutes(router, deps);
}

}  // namespace vg::api
