// Gateway: voxelgate inside the hospital. The PACS sends studies to it over DICOM; it
// de-identifies each instance with a secret that never leaves the hospital, keeps the
// pseudonym table (sealed with that secret) and forwards the de-identified instance to the
// vendor's voxelgate by STOW-RS with a token; it brings the results (SEG series) of those
// studies back, puts the real patient, study and referenced UIDs back in, and C-STOREs
// them to the PACS.
//
// Delivery is at least once and the server's store is idempotent (the same de-identified
// bytes are "already stored"), so nothing is lost across restarts or network loss and
// nothing is stored twice. Logs and the status page carry no patient data.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/result.h"
#include "crypto/crypto.h"
#include "dicom/deid.h"
#include "dimse/gateway_scp.h"
#include "dimse/store_scu.h"
#include "storage/gateway_store.h"

namespace vg::gateway {

struct GatewayConfig {
  std::string data_dir = "./gateway";
  std::string ae_title = "VGGATEWAY";
  std::string dicom_host = "127.0.0.1";     // the address the DICOM listener binds ("0.0.0.0": every one)
  std::uint16_t dicom_port = 11113;
  std::vector<std::string> callers;        // calling AEs allowed to send; empty: none
  std::string status_listen = "127.0.0.1:8091";
  std::string profile = "basic+retain-long-modified-dates";
  // The vendor's server.
  std::string server_url;                  // https://voxelgate.example.com
  std::string token_file;                  // a service token of the clinic (store + read)
  std::string ca_file;                     // extra CA/certificate to trust (a private CA)
  bool allow_insecure_http = false;        // an http:// url (tests, a loopback tunnel): patient data in clear
  int poll_seconds = 30;                   // how often results are looked for
  int results_hours = 72;                  // for how long after forwarding a study
  int retry_max_seconds = 300;             // backoff cap between forwarding attempts
  int batch_instances = 20;                // per STOW request
  // The hospital's PACS, where results go.
  std::string pacs_ae, pacs_host = "127.0.0.1";
  std::uint16_t pacs_port = 104;
};

// Reads the TOML file; unknown keys are errors (typos surface).
Result<GatewayConfig> LoadGatewayConfig(const std::string& path);

class Gateway {
 public:
  // Opens (or creates) DATA_DIR: gateway.db, gateway.key (mode 0600), outbox/.
  static Result<std::unique_ptr<Gateway>> Open(GatewayConfig config);

  // One instance from the PACS: de-identified, mapped and queued durably before the
  // answer (a failure is the C-STORE status, with its reason).
  dimse::ScpReply Receive(std::string part10, const std::string& calling_ae);
  // Sends what is due; returns how many instances the server took.
  Result<int> ForwardOnce(std::int64_t now);
  // Looks for new results of forwarded studies; returns how many reached the PACS.
  Result<int> PollOnce(std::int64_t now);
  // Queue depth, last success, last error, counters (no patient data).
  nlohmann::json Status();

  const GatewayConfig& config() const { return config_; }

 private:
  Gateway(GatewayConfig config, std::unique_ptr<storage::GatewayStore> store, crypto::SecretKey key,
          dicom::DeidOptions profile, std::string token)
      : config_(std::move(config)), store_(std::move(store)), key_(key), profile_(profile), token_(std::move(token)) {}
  // Named from the gateway's own random id, never from a UID the sender chose.
  Result<std::string> WriteOutboxFile(const std::string& bytes);
  Result<std::string> Reidentify(const std::string& part10, const storage::GatewayStudy& study);
  void NoteError(const std::string& what);
  void NoteSuccess(const char* key);

  GatewayConfig config_;
  std::unique_ptr<storage::GatewayStore> store_;
  crypto::SecretKey key_;
  dicom::DeidOptions profile_;
  std::string token_;
  std::mutex forward_mutex_, poll_mutex_;
  std::atomic<std::int64_t> received_{0}, refused_{0};
};

}  // namespace vg::gateway
