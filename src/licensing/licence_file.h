// Offline licence files: for an installation inside a clinic's own network, the vendor
// signs (Ed25519) what one tenant may do until a date; voxelgate checks the signature with
// the vendor's public key and needs no call home.
//
// A licence is a TOML body followed by one signature line over every byte before it:
//
//   # voxelgate licence
//   licence_id = "..."      tenant = "clinic"      plan = "onprem-2027"
//   installation = "..."    # the installation id the server prints: the licence is for it alone
//   not_before = "2026-12-01"                       not_after = "2027-12-01"
//   algorithms = ["ct-lungs"]  (or "all")           features = ["annotation", "export"]
//   max_runs = 500          # per calendar month, 0 = no cap
//   issued_at = "2026-11-30T10:00:00Z"
//   signature = "base64..."
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "licensing/plan.h"

namespace vg::licensing {

struct Licence {
  std::string licence_id, tenant, plan, installation;
  std::int64_t not_before = 0, not_after = 0;  // Unix seconds (dates at 00:00 UTC)
  Plan grants;                                  // algorithms, features, included runs per month (block)
  std::string issued_at;
};

struct LicenceRequest {
  std::string tenant, plan, not_before, not_after;  // dates YYYY-MM-DD
  std::string algorithms = "all", features = "annotation,export,auto_run,api_tokens";
  std::int64_t max_runs = 0;
  std::string installation;                         // the installation id (voxelgate admin installation)
};

// The signed file's text. kInvalidArgument for bad dates or fields.
Result<std::string> IssueLicence(const LicenceRequest& request, const std::string& secret_key_b64, std::int64_t now);

// Verifies the signature and reads the body. The error says which: malformed, tampered
// (the signature does not match this body), or signed by another key (kForbidden).
Result<Licence> ReadLicence(const std::string& text, const std::string& public_key_b64);

// "2027-12-01" -> Unix seconds at 00:00 UTC.
std::optional<std::int64_t> ParseDate(std::string_view date);
std::string FormatDate(std::int64_t t);

}  // namespace vg::licensing
