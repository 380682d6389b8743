// ServerConfig: every setting of `voxelgate serve`, with its embedded default.
// Sources, lowest to highest precedence: defaults, TOML file (--config), flags.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace vg {

enum class ConflictPolicy { kReject, kReplace };

struct ServerConfig {
  std::string data_dir = "./var";
  std::string listen = "127.0.0.1:8080";
  int http_threads = 0;                           // 0: sized to the machine
  std::uint64_t max_header_bytes = 16 * 1024;     // request line + headers
  std::uint64_t max_body_bytes = 4ull << 30;      // one request body
  std::uint64_t max_instance_bytes = 512ull << 20;  // one DICOM instance in a STOW part
  int header_timeout_s = 5;                       // request line + headers (and TLS handshake)
  int idle_timeout_s = 60;                        // keep-alive wait between requests
  std::uint64_t min_body_rate = 4096;             // bytes/s a client keeps up sending a body; 0 off
  int body_grace_s = 10;                          // waiting allowed before the rate counts
  int request_timeout_s = 300;                    // first byte to the body's last
  int write_timeout_s = 60;                       // a response write without progress
  std::uint64_t max_connections = 4096;           // open HTTP connections
  std::uint64_t max_connections_per_address = 256;  // ... from one client address
  int long_lived_requests = 64;                   // event streams and waits at once
  int max_dicom_depth = 64;                       // nested sequence levels in any DICOM data set
  std::uint64_t max_decompressed_bytes = 256ull << 20;  // a deflated DICOM data set, inflated
  bool fsync = true;                              // durable acknowledgements
  ConflictPolicy on_conflict = ConflictPolicy::kReject;
  std::vector<std::string> cors_origins;          // "*" or exact origins; empty: CORS off
  std::vector<std::string> trusted_proxies;       // addresses whose X-Forwarded-For/-Proto are believed
  std::string log_level = "info";
  std::string master_key_file;                    // default: DATA_DIR/keys/master.key
  // Where the catalog and the blobs live. Defaults: SQLite in DATA_DIR/catalog.db and a
  // folder, DATA_DIR/blobs. A cluster shares a PostgreSQL catalog and an S3 bucket, and
  // DATA_DIR then holds only what is the node's own (staging, job folders).
  std::string catalog = "sqlite:";                // sqlite: | postgresql://USER@HOST:PORT/DB
  std::string blobs = "folder:";                  // folder: | s3://BUCKET[/PREFIX]
  std::string s3_endpoint;                        // https://HOST[:PORT] (http only on loopback)
  std::string s3_region = "us-east-1";
  std::string s3_access_key, s3_secret_key;       // default: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
  std::string s3_ca_file;                         // a private CA's PEM bundle
  std::string algorithms_root;                    // vendor algorithm folders; default: DATA_DIR/../algorithms
  std::string dicom_listen = "127.0.0.1:11112";   // DIMSE listener; "off" disables it
  int dicom_max_associations = 32;               // associations being served at once
  int dicom_max_associations_per_address = 8;     // ... from one calling address
  int dicom_artim_timeout_s = 10;                 // connection to a complete A-ASSOCIATE-RQ
  int dicom_max_pending = 512;                    // connections still sending their A-ASSOCIATE-RQ
  int dicom_max_pending_per_address = 64;         // ... from one address
  std::string web_root;                           // built browser app; default: next to the binary
  int job_workers = 1;                            // background job threads in serve (exports, algorithms)
  int job_lease_seconds = 30;                     // a dead worker's job runs again after this
  std::string licence_file;                       // offline licence (on-premises installs)
  std::string licence_public_key_file;            // the vendor's Ed25519 public key for it
  int past_due_grace_days = 14;                   // runs continue this long after an unpaid period
  int retention_days = 30;                        // after the end: export still possible, then purge
  // Monitoring.
  std::string metrics_token_file;                 // when set, /metrics asks for the token it holds
  bool metrics_tenant_labels = false;             // clinic slugs in metric labels
  std::string alert_webhook;                      // http(s) URL the alerts are POSTed to; "" none
  int alert_interval_s = 60;                      // how often thresholds are checked
  double alert_failure_rate = 0.5;                // failed/finished in the last hour, per version
  int alert_failure_min_runs = 4;                 // ... counted once a version has this many
  int alert_queue_age_s = 600;                    // the oldest queued job waited this long
  bool alert_drift = true;                        // a version's outputs drift (KS, p < 0.01)
  std::string monailabel_prefix = "/monailabel";  // MONAI Label-compatible API for 3D Slicer and OHIF; "off"
  int monailabel_link_seconds = 600;              // how long a signed sample download link lasts

};

// Applies a TOML document over `config`. Unknown keys are an error, so typos surface.
Result<void> ApplyTomlConfig(const std::string& path, ServerConfig& config);
// The same for a document in memory (tests, fuzzing).
Result<void> ApplyTomlConfigText(std::string_view text, ServerConfig& config);

// Splits "host:port"; port must be 0..65535.
Result<std::pair<std::string, std::uint16_t>> ParseHostPort(const std::string& text);

}  // namespace vg
