// DICOMweb (PS3.18) routes under /dicomweb: STOW-RS, QIDO-RS, WADO-RS. Thin handlers:
// negotiation and encoding here; authentication, policy and audit in api/guard.h; the
// work in services/.
#pragma once

#include "api/guard.h"

namespace vg::api {

void AddDicomwebRoutes(http::Router& router, const ApiDeps& deps);

}  // namespace vg::api
