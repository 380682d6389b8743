// The clinical use cases wired over an opened data folder: volumes, annotations,
// segmentations, exports, and the job handlers that run in the background. Shared by
// `serve` (API + in-process workers) and `worker` (workers only).
#pragma once

#include <memory>

#include "app/context.h"
#include "jobs/export_handler.h"
#include "jobs/worker_pool.h"
#include "services/annotations.h"
#include "services/exports.h"
#include "services/segmentations.h"
#include "services/volumes.h"

namespace vg::app {

struct ClinicalServices {
  explicit ClinicalServices(AppContext& ctx)
      : volumes(*ctx.archive),
        annotations(*ctx.archive, *ctx.catalog),
        segmentations(*ctx.archive, *ctx.catalog, volumes),
        exports(*ctx.archive, *ctx.catalog, annotations, segmentations, volumes),
        export_handler(exports) {}

  // A pool running every kind of job this binary knows, `workers` threads.
  std::unique_ptr<jobs::WorkerPool> MakeWorkers(AppContext& ctx, int workers) {
    jobs::WorkerOptions options;
    options.workers = workers;
    return std::make_unique<jobs::WorkerPool>(*ctx.catalog, std::vector<jobs::JobHandler*>{&export_handler}, options);
  }

  services::Volumes volumes;
  services::Annotations annotations;
  services::Segmentations segmentations;
  services::Exports exports;
  jobs::ExportHandler export_handler;
};

}  // namespace vg::app
