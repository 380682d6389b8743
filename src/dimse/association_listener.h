// AssociationListener: the TCP side of a DICOM listener, shared by the archive's
// DimseServer and the gateway's SCP.
//
// An accepted connection first waits on the listener's own thread, holding no other
// thread, until its A-ASSOCIATE-RQ PDU has arrived whole: at most artim_timeout_s (the
// ARTIM timer of PS3.8 9.1.5) and at most kMaxAssociateRqBytes. Only then is it checked
// against the association caps, in total and per calling address, and given a thread of
// its own, where DCMTK parses the request from the bytes already read. Past a cap the
// peer gets an A-ASSOCIATE-RJ (rejected-transient, service-provider presentation,
// local-limit-exceeded). A connection that does not start with an association request,
// or is too slow, is closed. Connections still sending their request are capped too
// (max_pending, in total and per address), so a flood of silent connections costs a
// descriptor each and no thread. When the process is out of descriptors the listener
// backs off instead of spinning.
//
// Every association thread is owned (joined by Stop) and runs inside an exception
// barrier: an exception ends that association (the peer sees an abort), never the
// process. DCMTK takes accepted sockets through one process-wide variable, so hand-offs
// are serialised; since the request is already read, a hand-off never waits on the peer.
//
// Each refusal is counted in /metrics: voxelgate_limit_refusals_total{listener=NAME,...}.
#pragma once

#include <dcmtk/dcmnet/assoc.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/result.h"

namespace vg::dimse {

struct ListenerOptions {
  std::string name = "dicom";  // the listener label of its metrics and log lines
  std::string host = "127.0.0.1";  // "" or "0.0.0.0": every IPv4 interface
  std::uint16_t port = 11112;
  unsigned max_pdu = 128 * 1024;
  int acse_timeout_s = 30;
  int artim_timeout_s = 10;
  int max_associations = 32;
  int max_associations_per_address = 8;
  int max_pending = 512;
  int max_pending_per_address = 64;
  std::uint32_t max_identifier_bytes = 1u << 20;  // a C-FIND/C-MOVE/C-GET identifier (see pdu_watcher.h)
};

// An A-ASSOCIATE-RQ larger than this is not a real one (a few hundred presentation
// contexts need less than a third of it).
inline constexpr std::size_t kMaxAssociateRqBytes = 64 * 1024;

// Owns a received association: drops and destroys it (closing its socket) unless
// released to an owner of its own (DCMTK's DcmThreadSCP::run takes ownership).
class AssociationHandle {
 public:
  explicit AssociationHandle(T_ASC_Association* assoc) : assoc_(assoc) {}
  AssociationHandle(const AssociationHandle&) = delete;
  AssociationHandle& operator=(const AssociationHandle&) = delete;
  ~AssociationHandle();
  T_ASC_Association* get() const { return assoc_; }
  T_ASC_Association* release() {
    T_ASC_Association* out = assoc_;
    assoc_ = nullptr;
    return out;
  }

 private:
  T_ASC_Association* assoc_;
};

// Runs on the association's own thread, for a received (not yet acknowledged) request:
// decides, negotiates, acknowledges or rejects, serves. May throw (the barrier catches).
using AssociationHandler = std::function<void(AssociationHandle& assoc, const std::string& peer)>;

class AssociationListener {
 public:
  explicit AssociationListener(ListenerOptions options);
  ~AssociationListener();
  AssociationListener(const AssociationListener&) = delete;
  AssociationListener& operator=(const AssociationListener&) = delete;

  // Binds, then accepts on a thread of its own; returns the bound port.
  Result<std::uint16_t> Start(AssociationHandler handler);
  // Stops accepting and closes waiting connections; running associations get `grace` to
  // finish, then their sockets are shut down; every thread is joined.
  void Stop(std::chrono::seconds grace = std::chrono::seconds(5));
  bool stopping() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vg::dimse
