// The clinical use cases wired over an opened data folder: volumes, annotations,
// segmentations, exports, and the job handlers that run in the background. Shared by
// `serve` (API + in-process workers) and `worker` (workers only).
#pragma once

#include <memory>

#include "app/context.h"
#include "jobs/algorithm_handler.h"
#include "jobs/auto_run.h"
#include "jobs/export_handler.h"
#include "jobs/worker_pool.h"
#include "services/algorithms.h"
#include "services/annotations.h"
#include "services/exports.h"
#include "services/runs.h"
#include "services/segmentations.h"
#include "services/volumes.h"

namespace vg::app {

struct ClinicalServices {
  explicit ClinicalServices(AppContext& ctx)
      : volumes(*ctx.archive),
        annotations(*ctx.archive, *ctx.catalog),
        segmentations(*ctx.archive, *ctx.catalog, volumes),
        exports(*ctx.archive, *ctx.catalog, annotations, segmentations, volumes),
        algorithms(*ctx.catalog),
        runs(*ctx.archive, *ctx.catalog, algorithms),
        export_handler(exports),
        algorithm_handler(*ctx.archive, algorithms, volumes, segmentations, *ctx.catalog,
                          ctx.config.data_dir + "/tmp/jobs") {}

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
    return std::make_unique<jobs::WorkerPool>(
        *ctx.catalog, std::vector<jobs::JobHandler*>{&export_handler, &algorithm_handler}, options);
  }

  services::Volumes volumes;
  services::Annotations annotations;
  services::Segmentations segmentations;
  services::Exports exports;
  services::Algorithms algorithms;
  services::Runs runs;
  jobs::ExportHandler export_handler;
  jobs::AlgorithmHandler algorithm_handler;
};

}  // namespace vg::app
