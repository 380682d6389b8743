// Metrics: process-wide counters and histograms, rendered in the Prometheus text format.
// Thread-safe and cheap on the hot path (a mutex per observation is fine at HTTP rates).
// Label values must never hold patient data: route names, methods, status codes only.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace vg {

class Metrics {
 public:
  static Metrics& Global();

  void ObserveRequest(const std::string& route, const std::string& method, int status, double seconds);
  void AddInstancesStored(std::int64_t count, std::int64_t bytes);
  void AddIngestFailures(std::int64_t count);
  // How long a storage operation took: "catalog_commit" (one ingest batch's transaction),
  // "blob_put" (one object written to a shared object store).
  void ObserveStorage(const std::string& operation, double seconds);
  // A limit refused something: `listener` is "http", "dicom" or "parser", `limit` the
  // configuration key's last part ("header_timeout_s"). Declared limits are rendered
  // from 0, so a dashboard sees every limit before it is first hit.
  void DeclareLimit(const std::string& listener, const std::string& limit);
  void CountLimit(const std::string& listener, const std::string& limit);
  std::uint64_t LimitCount(const std::string& listener, const std::string& limit) const;
  // A value that goes up and down (open connections); rendered as a gauge.
  void SetGauge(const std::string& name, const std::string& help, std::int64_t value);
  void AddToGauge(const std::string& name, const std::string& help, std::int64_t delta);
  std::string Render() const;

  struct Histogram {
    std::vector<std::uint64_t> buckets;  // cumulative counts per bound
    std::uint64_t count = 0;
    double sum = 0;
  };

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> requests_;  // label set -> count
  std::map<std::string, Histogram> latency_;       // label set -> histogram
  std::map<std::string, Histogram> storage_;       // operation -> histogram
  std::map<std::string, std::uint64_t> limits_;    // label set -> count
  struct Gauge {
    std::string help;
    std::int64_t value = 0;
  };
  std::map<std::string, Gauge> gauges_;
  std::atomic<std::int64_t> instances_stored_{0}, bytes_stored_{0}, ingest_failures_{0};
};

}  // namespace vg
