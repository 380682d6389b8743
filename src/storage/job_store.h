// JobStore: the durable queue of background work (exports, algorithm runs). Workers
// claim a job with a lease and renew it while they work; a job whose lease ran out (its
// worker died) is claimed again, up to its attempt limit. Claims are fair between
// tenants: the job of the tenant with the fewest running jobs goes first, then by
// priority, then by age.
//
// Contract (every backend): thread-safe and safe across processes sharing the catalog;
// reads by tenant are scoped by tenant; a worker's writes to a job take effect only while
// it holds the job's lease (otherwise kConflict: the job was cancelled or taken over).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace vg::storage {

struct JobRecord {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::string kind;            // export, algorithm
  std::string state = "queued";  // queued, running, succeeded, failed, cancelled
  std::int64_t priority = 0;   // higher first
  std::string params = "{}";   // JSON
  std::int64_t progress_done = 0, progress_total = 0;
  std::string progress_note;
  std::string result = "{}";   // JSON
  std::string error;           // for the user; no patient data
  std::string created_by;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> started_at, finished_at;
  std::string lease_owner;
  std::int64_t lease_expires_at = 0;
  std::int64_t attempts = 0, max_attempts = 3;
  bool cancel_requested = false;
};

struct JobFilter {
  std::optional<std::string> kind, state;
  std::optional<std::string> series_uid, algorithm;  // of algorithm runs (their parameters)
  std::optional<std::int64_t> before_id;
  std::int64_t limit = 50;
};

struct ClaimOptions {
  std::string worker;  // who claims
  std::vector<std::string> kinds;
  std::int64_t lease_seconds = 30;
  std::int64_t per_tenant_running_limit = 2;
  std::vector<std::int64_t> held_tenants;  // their algorithm jobs wait (a suspended subscription)
  // Work for the vendor, not for a waiting clinician: claimed only while no clinic run
  // (kind "algorithm") is queued or running, on any node.
  std::vector<std::string> background_kinds = {"shadow_run", "acceptance"};
};

class JobStore {
 public:
  virtual ~JobStore() = default;
  virtual Result<JobRecord> EnqueueJob(const JobRecord& job) = 0;
  // Runs `body` (a quota check and its enqueue) while no other process sharing this store
  // runs a body for the same tenant, so that concurrent submissions on several nodes
  // cannot together exceed a quota each checked alone.
  virtual Result<JobRecord> ForTenantAlone(std::int64_t tenant_id, const std::function<Result<JobRecord>()>& body) = 0;
  virtual Result<JobRecord> FindJob(std::int64_t tenant_id, std::int64_t id) = 0;
  virtual Result<std::vector<JobRecord>> ListJobs(std::int64_t tenant_id, const JobFilter& filter) = 0;
  // The next job to run, now leased to `options.worker`; none when nothing is runnable.
  // Jobs whose lease expired are queued again first (or failed after max_attempts).
  virtual Result<std::optional<JobRecord>> ClaimJob(const ClaimOptions& options) = 0;
  // Extends the lease and records progress. kConflict when the lease is lost; the
  // returned flag tells whether cancellation was requested.
  virtual Result<bool> Heartbeat(std::int64_t job_id, const std::string& worker, std::int64_t lease_seconds,
                                 std::int64_t done, std::int64_t total, const std::string& note) = 0;
  // Gives a leased job back to the queue untouched (it could not start yet: its tenant is
  // held); the attempt does not count.
  virtual Result<void> ReleaseJob(std::int64_t job_id, const std::string& worker) = 0;
  // Ends a leased job: succeeded, failed or cancelled.
  virtual Result<void> FinishJob(std::int64_t job_id, const std::string& worker, const std::string& state,
                                 const std::string& result, const std::string& error) = 0;
  // A queued job is cancelled at once; a running one is asked to stop (its worker sees
  // it at the next heartbeat). kNotFound for another tenant's job; kConflict when ended.
  virtual Result<JobRecord> CancelJob(std::int64_t tenant_id, std::int64_t id) = 0;
  // Whether a clinic run (kind "algorithm") is queued or running: background work yields to it.
  virtual Result<bool> ForegroundWorkPending() = 0;
};

}  // namespace vg::storage
