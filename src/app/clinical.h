// The clinical use cases wired over an opened data folder: volumes, annotations,
// segmentations, exports, and the job handlers that run in the background. Shared by
// `serve` (API + in-process workers) and `worker` (workers only).
#pragma once

#include <memory>

#include "app/context.h"
#include "core/clock.h"
#include "core/logging.h"
#include "licensing/licensing.h"
#include "jobs/acceptance_handler.h"
#include "jobs/algorithm_handler.h"
#include "jobs/auto_run.h"
#include "jobs/correction_handler.h"
#include "jobs/export_handler.h"
#include "jobs/result_forms_handler.h"
#include "jobs/worker_pool.h"
#include "services/acceptance.h"
#include "services/algorithms.h"
#include "services/annotations.h"
#include "services/deployments.h"
#include "services/evidence_pack.h"
#include "services/exports.h"
#include "services/monailabel.h"
#include "services/monitoring.h"
#include "services/runs.h"
#include "services/result_forms.h"
#include "services/segmentation_import.h"
#include "services/segmentations.h"
#include "services/shadow_runs.h"
#include "services/volumes.h"

namespace vg::app {

struct ClinicalServices {
  ClinicalServices(AppContext& ctx, licensing::LicensingOptions licensing_options)
      : licensing(*ctx.catalog, *ctx.catalog, std::move(licensing_options)),
        volumes(*ctx.archive),
        annotations(*ctx.archive, *ctx.catalog),
        segmentations(*ctx.archive, *ctx.catalog, volumes),
        segmentation_importer(*ctx.archive, *ctx.catalog, volumes, segmentations),
        result_forms(*ctx.archive, *ctx.catalog, *ctx.catalog, volumes, segmentations),
        exports(*ctx.archive, *ctx.catalog, annotations, segmentations, volumes),
        algorithms(*ctx.catalog, AlgorithmConfinementFor(ctx.config)),
        deployments(*ctx.catalog, *ctx.catalog, *ctx.catalog),
        shadow_runs(*ctx.archive, *ctx.catalog, *ctx.catalog, *ctx.catalog, segmentations),
        acceptance(*ctx.archive, *ctx.catalog, *ctx.catalog, *ctx.catalog, segmentations, algorithms),
        runs(*ctx.archive, *ctx.catalog, algorithms, deployments, licensing),
        monitoring(*ctx.archive, *ctx.catalog, *ctx.catalog, *ctx.catalog, segmentations, volumes, algorithms),
        evidence(algorithms, deployments, shadow_runs, monitoring, *ctx.catalog, *ctx.catalog, *ctx.catalog),
        monailabel(*ctx.archive, *ctx.catalog, *ctx.catalog, *ctx.catalog, volumes, segmentations, algorithms, runs, licensing),
        export_handler(exports),
        algorithm_handler(*ctx.archive, algorithms, volumes, segmentations, *ctx.catalog, licensing, result_forms,
                          shadow_runs, *ctx.catalog, ctx.config.data_dir + "/tmp/jobs"),
        shadow_run_handler(algorithm_handler),
        acceptance_handler(algorithm_handler, acceptance, algorithms, volumes, segmentations, *ctx.catalog),
        correction_handler(monitoring),
        result_forms_handler(result_forms) {
    // A clinician's version over an algorithm's result is a correction: compare them.
    segmentations.OnCreated([this](std::int64_t tenant_id, const storage::SegmentationRecord& version) {
      monitoring.OnVersionCreated(tenant_id, version);
    });
    // A clinic that requires acceptance gets a new version only after a passed run of it.
    deployments.SetPromotionGate([this](std::int64_t tenant_id, const std::string& algorithm_id, const std::string& version) {
      return acceptance.Gate(tenant_id, algorithm_id, version);
    });
    // A correction of a run that has a shadow: how far each version is from it.
    monitoring.OnCorrectionRecorded([this](std::int64_t tenant_id, std::int64_t job_id, std::int64_t correction_id) {
      if (auto ok = shadow_runs.CompareWithCorrection(tenant_id, job_id, correction_id); !ok)
        LogWarn("shadow_correction_not_compared", "\"job\":" + std::to_string(job_id));
    });
  }

  // The algorithms shipped inside the binary, registered once per data folder.
  Result<void> RegisterBuiltins() {
    auto manifest = services::ParseManifest(services::BuiltinCtLungsManifest());
    if (!manifest) return std::unexpected(manifest.error());
    if (algorithms.store().FindAlgorithm(manifest->id, manifest->version)) return {};
    auto registered = algorithms.Register(services::BuiltinCtLungsManifest());
    if (!registered && registered.error().code != ErrorCode::kConflict) return std::unexpected(registered.error());
    return {};
  }

  // A pool running every kind of job this binary knows, `workers` threads.
  std::unique_ptr<jobs::WorkerPool> MakeWorkers(AppContext& ctx, int workers) {
    jobs::WorkerOptions options;
    options.workers = workers;
    options.lease_seconds = std::max(2, ctx.config.job_lease_seconds);
    options.held_tenants = [this] {
      auto held = licensing.HeldTenants(UnixSeconds());
      return held ? *held : std::vector<std::int64_t>{};
    };
    return std::make_unique<jobs::WorkerPool>(
        *ctx.catalog, std::vector<jobs::JobHandler*>{&export_handler, &algorithm_handler, &shadow_run_handler, &acceptance_handler, &correction_handler,
                                                    &result_forms_handler}, options);
  }

  licensing::Licensing licensing;
  services::Volumes volumes;
  services::Annotations annotations;
  services::Segmentations segmentations;
  services::SegmentationImporter segmentation_importer;
  services::ResultForms result_forms;
  services::Exports exports;
  services::Algorithms algorithms;
  services::Deployments deployments;
  services::ShadowRuns shadow_runs;
  services::Acceptance acceptance;
  services::Runs runs;
  services::Monitoring monitoring;
  services::EvidencePack evidence;
  services::MonaiLabel monailabel;
  jobs::ExportHandler export_handler;
  jobs::AlgorithmHandler algorithm_handler;
  jobs::ShadowRunHandler shadow_run_handler;
  jobs::AcceptanceHandler acceptance_handler;
  jobs::CorrectionHandler correction_handler;
  jobs::ResultFormsHandler result_forms_handler;
};

}  // namespace vg::app
