#include "core/config.h"

#include <toml++/toml.h>

#include "core/strings.h"

namespace vg {
namespace {

Result<void> Unknown(const std::string& key) {
  return Fail(ErrorCode::kInvalidArgument, "unknown configuration key: " + key);
}

template <typename T>
Result<T> Get(const toml::node& node, const std::string& key) {
  auto value = node.value<T>();
  if (!value) return Fail(ErrorCode::kInvalidArgument, "configuration key has the wrong type: " + key);
  return *value;
}

Result<void> ApplyKey(const std::string& key, const toml::node& node, ServerConfig& c) {
  auto set_u64 = [&](std::uint64_t& out) -> Result<void> {
    auto v = Get<int64_t>(node, key);
    if (!v) return std::unexpected(v.error());
    if (*v <= 0) return Fail(ErrorCode::kInvalidArgument, "configuration key must be positive: " + key);
    out = static_cast<std::uint64_t>(*v);
    return {};
  };
  auto set_int = [&](int& out) -> Result<void> {
    auto v = Get<int64_t>(node, key);
    if (!v) return std::unexpected(v.error());
    if (*v < 0) return Fail(ErrorCode::kInvalidArgument, "configuration key must not be negative: " + key);
    out = static_cast<int>(*v);
    return {};
  };
  auto set_str = [&](std::string& out) -> Result<void> {
    auto v = Get<std::string>(node, key);
    if (!v) return std::unexpected(v.error());
    out = *v;
    return {};
  };
  if (key == "data_dir") return set_str(c.data_dir);
  if (key == "listen") return set_str(c.listen);
  if (key == "master_key_file") return set_str(c.master_key_file);
  if (key == "storage.catalog") return set_str(c.catalog);
  if (key == "storage.blobs") return set_str(c.blobs);
  if (key == "storage.s3_endpoint") return set_str(c.s3_endpoint);
  if (key == "storage.s3_region") return set_str(c.s3_region);
  if (key == "storage.s3_access_key") return set_str(c.s3_access_key);
  if (key == "storage.s3_secret_key") return set_str(c.s3_secret_key);
  if (key == "storage.s3_ca_file") return set_str(c.s3_ca_file);
  if (key == "algorithms.root") return set_str(c.algorithms_root);
  if (key == "log_level") return set_str(c.log_level);
  if (key == "web.root") return set_str(c.web_root);
  if (key == "jobs.workers") return set_int(c.job_workers);
  if (key == "jobs.lease_seconds") return set_int(c.job_lease_seconds);
  if (key == "licence.file") return set_str(c.licence_file);
  if (key == "licence.public_key_file") return set_str(c.licence_public_key_file);
  if (key == "subscriptions.past_due_grace_days") return set_int(c.past_due_grace_days);
  if (key == "subscriptions.retention_days") return set_int(c.retention_days);
  if (key == "monitoring.metrics_token_file") return set_str(c.metrics_token_file);
  if (key == "monailabel.prefix") return set_str(c.monailabel_prefix);
  if (key == "monailabel.link_seconds") return set_int(c.monailabel_link_seconds);
  if (key == "monitoring.alert_webhook") return set_str(c.alert_webhook);
  if (key == "monitoring.alert_interval_s") return set_int(c.alert_interval_s);
  if (key == "monitoring.alert_failure_min_runs") return set_int(c.alert_failure_min_runs);
  if (key == "monitoring.alert_queue_age_s") return set_int(c.alert_queue_age_s);
  if (key == "monitoring.metrics_tenant_labels" || key == "monitoring.alert_drift") {
    auto v = Get<bool>(node, key);
    if (!v) return std::unexpected(v.error());
    (key == "monitoring.alert_drift" ? c.alert_drift : c.metrics_tenant_labels) = *v;
    return {};
  }
  if (key == "monitoring.alert_failure_rate") {
    auto v = node.value<double>();
    if (!v || *v < 0 || *v > 1)
      return Fail(ErrorCode::kInvalidArgument, "monitoring.alert_failure_rate is a number from 0 to 1");
    c.alert_failure_rate = *v;
    return {};
  }
  if (key == "http.threads") return set_int(c.http_threads);
  if (key == "dicom.listen") return set_str(c.dicom_listen);
  if (key == "dicom.max_associations") return set_int(c.dicom_max_associations);
  if (key == "limits.max_header_bytes") return set_u64(c.max_header_bytes);
  if (key == "limits.max_body_bytes") return set_u64(c.max_body_bytes);
  if (key == "limits.max_instance_bytes") return set_u64(c.max_instance_bytes);
  if (key == "limits.request_timeout_s") return set_int(c.request_timeout_s);
  if (key == "limits.header_timeout_s") return set_int(c.header_timeout_s);
  if (key == "limits.min_body_rate") {
    auto v = Get<int64_t>(node, key);
    if (!v || *v < 0) return Fail(ErrorCode::kInvalidArgument, "limits.min_body_rate is a number of bytes per second (0: off)");
    c.min_body_rate = static_cast<std::uint64_t>(*v);
    return {};
  }
  if (key == "limits.body_grace_s") return set_int(c.body_grace_s);
  if (key == "limits.write_timeout_s") return set_int(c.write_timeout_s);
  if (key == "limits.max_connections") return set_u64(c.max_connections);
  if (key == "limits.max_connections_per_address") return set_u64(c.max_connections_per_address);
  if (key == "limits.long_lived_requests") return set_int(c.long_lived_requests);
  if (key == "limits.max_dicom_depth") return set_int(c.max_dicom_depth);
  if (key == "limits.max_decompressed_bytes") return set_u64(c.max_decompressed_bytes);
  if (key == "dicom.max_associations_per_address") return set_int(c.dicom_max_associations_per_address);
  if (key == "dicom.artim_timeout_s") return set_int(c.dicom_artim_timeout_s);
  if (key == "dicom.max_pending") return set_int(c.dicom_max_pending);
  if (key == "dicom.max_pending_per_address") return set_int(c.dicom_max_pending_per_address);
  if (key == "limits.idle_timeout_s") return set_int(c.idle_timeout_s);
  if (key == "storage.fsync") {
    auto v = Get<bool>(node, key);
    if (!v) return std::unexpected(v.error());
    c.fsync = *v;
    return {};
  }
  if (key == "storage.on_conflict") {
    auto v = Get<std::string>(node, key);
    if (!v) return std::unexpected(v.error());
    if (*v == "reject") c.on_conflict = ConflictPolicy::kReject;
    else if (*v == "replace") c.on_conflict = ConflictPolicy::kReplace;
    else return Fail(ErrorCode::kInvalidArgument, "storage.on_conflict must be reject or replace");
    return {};
  }
  auto set_strings = [&](std::vector<std::string>& out) -> Result<void> {
    const toml::array* array = node.as_array();
    if (!array) return Fail(ErrorCode::kInvalidArgument, key + " must be an array of strings");
    out.clear();
    for (const auto& item : *array) {
      auto v = item.value<std::string>();
      if (!v) return Fail(ErrorCode::kInvalidArgument, key + " holds strings");
      out.push_back(*v);
    }
    return {};
  };
  if (key == "http.trusted_proxies") return set_strings(c.trusted_proxies);
  if (key == "cors.allowed_origins") return set_strings(c.cors_origins);
  return Unknown(key);
}

Result<void> ApplyTable(const toml::table& table, const std::string& prefix, ServerConfig& c) {
  for (const auto& [name, node] : table) {
    std::string key = prefix.empty() ? std::string(name.str()) : prefix + "." + std::string(name.str());
    if (const toml::table* sub = node.as_table()) {
      if (auto r = ApplyTable(*sub, key, c); !r) return r;
      continue;
    }
    if (auto r = ApplyKey(key, node, c); !r) return r;
  }
  return {};
}

}  // namespace

Result<void> ApplyTomlConfig(const std::string& path, ServerConfig& config) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Fail(ErrorCode::kInvalidArgument, "cannot read configuration " + path + ": " + std::string(e.description()));
  }
  return ApplyTable(table, "", config);
}

Result<void> ApplyTomlConfigText(std::string_view text, ServerConfig& config) {
  toml::table table;
  try {
    table = toml::parse(text);
  } catch (const toml::parse_error& e) {
    return Fail(ErrorCode::kInvalidArgument, "cannot read configuration: " + std::string(e.description()));
  }
  return ApplyTable(table, "", config);
}

Result<std::pair<std::string, std::uint16_t>> ParseHostPort(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return Fail(ErrorCode::kInvalidArgument, "expected HOST:PORT, got '" + text + "'");
  auto port = ParseUint(std::string_view(text).substr(colon + 1));
  if (!port || *port > 65535) return Fail(ErrorCode::kInvalidArgument, "bad port in '" + text + "'");
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::make_pair(host, static_cast<std::uint16_t>(*port));
}

}  // namespace vg
