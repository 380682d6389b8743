// DICOMweb (PS3.18) routes under /dicomweb: STOW-RS, QIDO-RS, WADO-RS. Thin handlers:
// authentication, negotiation and encoding here; the work is in services/.
#pragma once

#include "auth/audit_trail.h"
#include "auth/tokens.h"
#include "auth/users.h"
#include "http/router.h"
#include "services/archive.h"

namespace vg::api {

struct DicomwebDeps {
  services::Archive& archive;
  auth::TokenService& tokens;
  auth::AuditTrail& audit;
  auth::UserService& users;
};

void AddDicomwebRoutes(http::Router& router, DicomwebDeps deps);

// A handler that runs only for a principal auth::Authorize allows to perform `action`:
// a bearer token with the action's scope, or a signed-in person (session cookie; unsafe
// methods also need the X-CSRF-Token) with one of its roles. Every call, allowed or not,
// is written to the audit trail as `action` on the UIDs in the path (or the handler's
// Response::audit_object), with the caller, tenant, address and the status.
using AuthedHandler = std::function<http::Response(http::Request&, const auth::Principal&)>;
http::Handler Guarded(DicomwebDeps deps, std::string action, AuthedHandler handler);

}  // namespace vg::api
