// DICOMweb (PS3.18) routes under /dicomweb: STOW-RS, QIDO-RS, WADO-RS. Thin handlers:
// authentication, negotiation and encoding here; the work is in services/.
#pragma once

#include "auth/tokens.h"
#include "http/router.h"
#include "services/archive.h"

namespace vg::api {

struct DicomwebDeps {
  services::Archive& archive;
  auth::TokenService& tokens;
};

void AddDicomwebRoutes(http::Router& router, DicomwebDeps deps);

}  // namespace vg::api
