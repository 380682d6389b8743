#include "core/metrics.h"

#include <fmt/format.h>

namespace vg {
namespace {
const double kBounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
// Storage operations are mostly milliseconds: finer, doubling bounds.
const double kStorageBounds[] = {0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032,
                                 0.064,   0.128,  0.256, 0.512, 1.024, 2.048, 4.096, 8.192};

// Counts one observation into `h`, whose buckets are cumulative over `bounds`.
template <size_t N>
void Observe(Metrics::Histogram& h, const double (&bounds)[N], double seconds) {
  if (h.buckets.empty()) h.buckets.assign(N, 0);
  for (size_t i = 0; i < N; ++i)
    if (seconds <= bounds[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}
}  // namespace

Metrics& Metrics::Global() {
  static Metrics metrics;
  return metrics;
}

void Metrics::ObserveRequest(const std::string& route, const std::string& method, int status, double seconds) {
  std::string route_labels = fmt::format(R"(route="{}",method="{}")", route, method);
  std::string labels = fmt::format(R"({},status="{}")", route_labels, status);
  std::lock_guard lock(mutex_);
  ++requests_[labels];
  Observe(latency_[route_labels], kBounds, seconds);
}

void Metrics::AddInstancesStored(std::int64_t count, std::int64_t bytes) {
  instances_stored_ += count;
  bytes_stored_ += bytes;
}

void Metrics::AddIngestFailures(std::int64_t count) { ingest_failures_ += count; }

void Metrics::ObserveStorage(const std::string& operation, double seconds) {
  std::lock_guard lock(mutex_);
  Observe(storage_[operation], kStorageBounds, seconds);
}

namespace {
std::string LimitLabels(const std::string& listener, const std::string& limit) {
  return fmt::format(R"(listener="{}",limit="{}")", listener, limit);
}
}  // namespace

void Metrics::DeclareLimit(const std::string& listener, const std::string& limit) {
  std::lock_guard lock(mutex_);
  limits_.try_emplace(LimitLabels(listener, limit), 0);
}

void Metrics::CountLimit(const std::string& listener, const std::string& limit) {
  std::lock_guard lock(mutex_);
  ++limits_[LimitLabels(listener, limit)];
}

std::uint64_t Metrics::LimitCount(const std::string& listener, const std::string& limit) const {
  std::lock_guard lock(mutex_);
  auto it = limits_.find(LimitLabels(listener, limit));
  return it == limits_.end() ? 0 : it->second;
}

void Metrics::SetGauge(const std::string& name, const std::string& help, std::int64_t value) {
  std::lock_guard lock(mutex_);
  Gauge& g = gauges_[name];
  g.help = help;
  g.value = value;
}

void Metrics::AddToGauge(const std::string& name, const std::string& help, std::int64_t delta) {
  std::lock_guard lock(mutex_);
  Gauge& g = gauges_[name];
  g.help = help;
  g.value += delta;
}

std::string Metrics::Render() const {
  std::string out;
  out += "# HELP voxelgate_http_requests_total HTTP requests by route, method and status.\n";
  out += "# TYPE voxelgate_http_requests_total counter\n";
  std::lock_guard lock(mutex_);
  for (const auto& [labels, count] : requests_) out += fmt::format("voxelgate_http_requests_total{{{}}} {}\n", labels, count);
  out += "# HELP voxelgate_http_request_duration_seconds HTTP request latency by route and method.\n";
  out += "# TYPE voxelgate_http_request_duration_seconds histogram\n";
  for (const auto& [labels, h] : latency_) {
    for (size_t i = 0; i < std::size(kBounds); ++i)
      out += fmt::format("voxelgate_http_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", labels, kBounds[i],
                         h.buckets[i]);
    out += fmt::format("voxelgate_http_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels, h.count);
    out += fmt::format("voxelgate_http_request_duration_seconds_sum{{{}}} {}\n", labels, h.sum);
    out += fmt::format("voxelgate_http_request_duration_seconds_count{{{}}} {}\n", labels, h.count);
  }
  if (!storage_.empty()) {
    out += "# HELP voxelgate_storage_operation_seconds Catalog commits and object writes by operation.\n";
    out += "# TYPE voxelgate_storage_operation_seconds histogram\n";
  }
  for (const auto& [operation, h] : storage_) {
    const std::string labels = fmt::format(R"(operation="{}")", operation);
    for (size_t i = 0; i < std::size(kStorageBounds); ++i)
      out += fmt::format("voxelgate_storage_operation_seconds_bucket{{{},le=\"{}\"}} {}\n", labels, kStorageBounds[i],
                         h.buckets[i]);
    out += fmt::format("voxelgate_storage_operation_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels, h.count);
    out += fmt::format("voxelgate_storage_operation_seconds_sum{{{}}} {}\n", labels, h.sum);
    out += fmt::format("voxelgate_storage_operation_seconds_count{{{}}} {}\n", labels, h.count);
  }
  out += "# HELP voxelgate_instances_stored_total DICOM instances stored since start.\n";
  out += "# TYPE voxelgate_instances_stored_total counter\n";
  out += fmt::format("voxelgate_instances_stored_total {}\n", instances_stored_.load());
  out += "# HELP voxelgate_bytes_stored_total Bytes of DICOM stored since start.\n";
  out += "# TYPE voxelgate_bytes_stored_total counter\n";
  out += fmt::format("voxelgate_bytes_stored_total {}\n", bytes_stored_.load());
  out += "# HELP voxelgate_ingest_failures_total Instances refused at ingest since start.\n";
  out += "# TYPE voxelgate_ingest_failures_total counter\n";
  out += fmt::format("voxelgate_ingest_failures_total {}\n", ingest_failures_.load());
  out += "# HELP voxelgate_limit_refusals_total Requests, connections or inputs refused by a configured limit.\n";
  out += "# TYPE voxelgate_limit_refusals_total counter\n";
  for (const auto& [labels, count] : limits_) out += fmt::format("voxelgate_limit_refusals_total{{{}}} {}\n", labels, count);
  for (const auto& [name, gauge] : gauges_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, gauge.help, name);
    out += fmt::format("{} {}\n", name, gauge.value);
  }
  return out;
}

}  // namespace vg
