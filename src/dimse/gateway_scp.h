// GatewayScp: a small C-STORE (and C-ECHO) SCP for the hospital-side gateway. Each
// received instance goes, as a Part 10 file in the transfer syntax it came in, to the
// sink; the sink's answer becomes the C-STORE status (so an instance is acknowledged only
// once the sink has made it durable). Connections, caps and threads are
// AssociationListener's (max_associations in total and per address); callers can be
// limited to a list of AE titles. Listens on every interface of the given port: restrict
// who may call with the list and the firewall.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace vg::dimse {

struct ScpReply {
  std::uint16_t status = 0;  // 0 success; 0xA700 out of resources; 0xC000 cannot understand; 0x0110 failure
  std::string comment;       // ErrorComment for a failure (no patient data)
};
using StoreSink = std::function<ScpReply(std::string part10, const std::string& calling_ae)>;

struct GatewayScpOptions {
  std::string ae_title = "VGGATEWAY";
  std::string host = "127.0.0.1";             // "0.0.0.0": every interface
  std::uint16_t port = 11113;
  std::vector<std::string> allowed_callers;  // empty: none (every association is refused)
  int max_associations = 8;
  std::uint64_t max_instance_bytes = 512ull << 20;  // larger instances get 0xA700
};

class GatewayScp {
 public:
  GatewayScp(GatewayScpOptions options, StoreSink sink);
  ~GatewayScp();
  // Starts listening on a thread of its own; fails when the port cannot be bound.
  Result<void> Start();
  // Stops accepting and waits for running associations (DCMTK checks every second).
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vg::dimse
