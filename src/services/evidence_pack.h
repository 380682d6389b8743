// EvidencePack: what a vendor files with its regulator about one version of its
// algorithm, in one zip: the manifest; its history (registration, every promotion,
// canary, schedule and rollback per clinic); acceptance reports; shadow comparisons;
// run statistics (volume, failures and their reasons, durations) with drift; clinicians'
// assessments and corrections' Dice; bug reports and their states; and the server's
// software bill of materials (CycloneDX, made at build time). Optionally for one clinic
// and a period. No patient data: numbers, codes, UIDs, dates and account names only --
// no free text a clinician typed, no pixels, no log lines.
#pragma once

#include <optional>
#include <string>

#include "services/acceptance.h"
#include "services/algorithms.h"
#include "services/deployments.h"
#include "services/monitoring.h"
#include "services/shadow_runs.h"
#include "storage/catalog.h"
#include "storage/monitoring_store.h"

namespace vg::services {

struct EvidenceRequest {
  std::string algorithm_id, version;
  std::optional<std::int64_t> tenant_id;  // none: every clinic
  std::int64_t from = 0, to = INT64_MAX;  // runs, assessments, events: created in [from, to)
  std::string sbom_path;                  // the build's sbom.cdx.json ("" or missing: said so in the pack)
};

class EvidencePack {
 public:
  EvidencePack(Algorithms& algorithms, Deployments& deployments, ShadowRuns& shadow_runs, Monitoring& monitoring,
               storage::MonitoringStore& monitoring_store, storage::JobStore& jobs, storage::Catalog& catalog)
      : algorithms_(algorithms),
        deployments_(deployments),
        shadow_runs_(shadow_runs),
        monitoring_(monitoring),
        monitoring_store_(monitoring_store),
        jobs_(jobs),
        catalog_(catalog) {}
  // The zip's bytes. kNotFound for an unknown version.
  Result<std::string> Build(const EvidenceRequest& request);

 private:
  Algorithms& algorithms_;
  Deployments& deployments_;
  ShadowRuns& shadow_runs_;
  Monitoring& monitoring_;
  storage::MonitoringStore& monitoring_store_;
  storage::JobStore& jobs_;
  storage::Catalog& catalog_;
};

// Where this binary's SBOM is: beside the executable (a build tree), else where the
// package installs it.
std::string DefaultSbomPath();

}  // namespace vg::services
