// `voxelgate worker`: job workers in a process of their own, against the same data folder
// (and catalog) as `serve`. Stops on SIGTERM or SIGINT once its running jobs are done.
#include <csignal>
#include <cstdio>

#include "app/args.h"
#include "app/storage_options.h"
#include "app/clinical.h"
#include "app/commands.h"
#include "core/logging.h"

namespace vg::app {
namespace {

constexpr const char* kWorkerHelp = R"(Usage: voxelgate worker [options]

Runs background jobs (exports, algorithm runs) from the catalog's job queue, beside or
instead of the workers inside `voxelgate serve`, on this machine or (with a shared
catalog) on any other.

  --data-dir DIR   data folder (default ./var)
  --algorithms-root DIR  the folder vendor algorithm folders must be in
  --config FILE    TOML configuration (data_dir, master_key_file, storage.*, jobs.workers)
  --workers N      worker threads (default: jobs.workers, 1)
  --lease-seconds N  how long a job stays with this worker without a heartbeat (default 30):
                   if the worker dies, another runs the job after this
  --log-level L    trace, debug, info, warn, error
)";

}  // namespace

int WorkerCommand(const std::vector<std::string>& argv) {
  auto args = Args::Parse(argv, {"help"});
  if (!args) {
    std::fprintf(stderr, "voxelgate worker: %s\n", args.error().public_message.c_str());
    return 2;
  }
  if (args->Has("help")) {
    std::fputs(kWorkerHelp, stdout);
    std::fputs("\nWhere the catalog and blobs are (a cluster shares them):\n", stdout);
    std::fputs(kStorageHelp, stdout);
    return 0;
  }
  if (auto r = args->OnlyKnown(WithStorageFlags({"data-dir", "algorithms-root", "config", "workers", "log-level",
                                                 "lease-seconds", "licence", "licence-public-key"}));
      !r) {
    std::fprintf(stderr, "voxelgate worker: %s (see --help)\n", r.error().public_message.c_str());
    return 2;
  }
  ServerConfig config;
  if (auto file = args->Get("config"))
    if (auto r = ApplyTomlConfig(*file, config); !r) {
      std::fprintf(stderr, "voxelgate worker: %s\n", r.error().public_message.c_str());
      return 2;
    }
  if (auto v = args->Get("data-dir")) config.data_dir = *v;
  if (auto r = ApplyStorageFlags(*args, config); !r) {
    std::fprintf(stderr, "voxelgate worker: %s\n", r.error().public_message.c_str());
    return 2;
  }
  if (auto v = args->Get("algorithms-root")) config.algorithms_root = *v;
  if (auto v = args->Get("log-level")) config.log_level = *v;
  if (auto v = args->Get("licence")) config.licence_file = *v;
  if (auto v = args->Get("licence-public-key")) config.licence_public_key_file = *v;
  if (auto v = args->Get("workers")) {
    auto n = ParseUint(*v);
    if (!n || *n < 1 || *n > 64) {
      std::fprintf(stderr, "voxelgate worker: --workers is 1 to 64\n");
      return 2;
    }
    config.job_workers = static_cast<int>(*n);
  }
  if (auto v = args->Get("lease-seconds")) {
    auto n = ParseUint(*v);
    if (!n || *n < 2 || *n > 3600) {
      std::fprintf(stderr, "voxelgate worker: --lease-seconds is 2 to 3600\n");
      return 2;
    }
    config.job_lease_seconds = static_cast<int>(*n);
  }
  InitLogging(config.log_level);
  // Block the stop signals in every thread; this one waits for them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  auto ctx = OpenContext(config);
  if (!ctx) {
    std::fprintf(stderr, "voxelgate worker: %s\n", ctx.error().public_message.c_str());
    return 1;
  }
  auto licensing_options = LicensingOptionsFor(**ctx);
  if (!licensing_options) {
    std::fprintf(stderr, "voxelgate worker: %s\n", licensing_options.error().public_message.c_str());
    return 1;
  }
  ClinicalServices clinical(**ctx, std::move(*licensing_options));
  if (auto ok = clinical.RegisterBuiltins(); !ok) {
    std::fprintf(stderr, "voxelgate worker: %s\n", ok.error().public_message.c_str());
    return 1;
  }
  auto workers = clinical.MakeWorkers(**ctx, std::max(1, config.job_workers));
  // With a shared catalog, a job queued on any node wakes these workers at once.
  auto job_wakeups = (*ctx)->catalog->ListenForJobs([&workers] { workers->Notify(); });
  workers->Start();
  LogInfo("worker_started", "\"workers\":" + std::to_string(config.job_workers));
  std::printf("voxelgate worker: %d worker(s) on %s\n", config.job_workers, config.data_dir.c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop, &signal);
  LogInfo("worker_stopping");
  workers->Stop();
  return 0;
}

}  // namespace vg::app
