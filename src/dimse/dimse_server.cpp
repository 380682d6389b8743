#include "dimse/dimse_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

#include "core/logging.h"
#include "core/strings.h"
#include "dimse/association.h"
#include "dimse/quickack_layer.h"

namespace vg::dimse {
namespace {

std::string PeerAddress(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return {};
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
  else if (addr.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, text, sizeof text);
  return text;
}

void Reject(T_ASC_Association* assoc, T_ASC_RejectParametersResult result, T_ASC_RejectParametersSource source,
            T_ASC_RejectParametersReason reason) {
  T_ASC_RejectParameters rejection{result, source, reason};
  ASC_rejectAssociation(assoc, &rejection);
}

}  // namespace

struct DimseServer::Impl {
  DimseOptions options;
  services::Archive& archive;
  auth::DicomAccess& access;
  auth::AuditTrail& audit;
  int listen_fd = -1;
  T_ASC_Network* network = nullptr;
  std::thread acceptor;
  std::atomic<bool> stopping{false};
  std::mutex mutex;  // guards active_fds
  std::condition_variable idle;
  std::set<int> active_fds;
  // DCMTK reads an accepted socket handed to it through one process-wide variable
  // (dcmExternalSocketHandle): hand-offs are serialised, associations are not.
  std::mutex handoff;

  Impl(DimseOptions o, services::Archive& a, auth::DicomAccess& d, auth::AuditTrail& t)
      : options(std::move(o)), archive(a), access(d), audit(t) {}

  void AcceptLoop();
  void Serve(int fd);
};

void DimseServer::Impl::AcceptLoop() {
  while (!stopping) {
    pollfd pfd{listen_fd, POLLIN, 0};
    if (::poll(&pfd, 1, 250) <= 0) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    {
      std::lock_guard lock(mutex);
      active_fds.insert(fd);
    }
    std::thread([this, fd] { Serve(fd); }).detach();
  }
}

void DimseServer::Impl::Serve(int fd) {
  const std::string peer = PeerAddress(fd);
  size_t active = 0;
  {
    std::lock_guard lock(mutex);
    active = active_fds.size();
  }
  T_ASC_Association* assoc = nullptr;
  OFCondition cond;
  {
    // Wait for the A-ASSOCIATE-RQ before taking the hand-off lock, so a silent client
    // cannot hold up others.
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, options.acse_timeout_s * 1000) <= 0) {
      cond = DUL_NETWORKCLOSED;
    } else {
      std::lock_guard lock(handoff);
      dcmExternalSocketHandle.set(fd);
      cond = ASC_receiveAssociation(network, &assoc, static_cast<long>(options.max_pdu), nullptr, nullptr, OFFalse,
                                    DUL_BLOCK, options.acse_timeout_s);
      dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
    }
  }
  auto finish = [&] {
    if (assoc) {
      ASC_dropAssociation(assoc);  // closes the socket
      ASC_destroyAssociation(&assoc);
    } else {
      ::close(fd);
    }
    std::lock_guard lock(mutex);
    active_fds.erase(fd);
    idle.notify_all();
  };
  if (cond.bad() || !assoc) {
    LogWarn("dimse_association_failed", "\"peer\":\"" + peer + "\",\"detail\":\"" + JsonEscape(cond.text()) + "\"");
    return finish();
  }
  char calling[17] = {}, called[17] = {};
  ASC_getAPTitles(assoc->params, calling, sizeof calling, called, sizeof called, nullptr, 0);
  std::string calling_ae(Trim(calling)), called_ae(Trim(called));
  std::string fields = "\"calling_ae\":\"" + JsonEscape(calling_ae) + "\",\"called_ae\":\"" + JsonEscape(called_ae) +
                       "\",\"peer\":\"" + peer + "\"";

  if (active > static_cast<size_t>(options.max_associations) || stopping) {
    Reject(assoc, ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
           ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED);
    LogWarn("dimse_association_rejected", fields + ",\"reason\":\"too many associations\"");
    return finish();
  }
  char context_name[65] = {};
  ASC_getApplicationContextName(assoc->params, context_name, sizeof context_name);
  if (std::string(context_name) != UID_StandardApplicationContext) {
    Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_APPCONTEXTNAMENOTSUPPORTED);
    return finish();
  }
  auth::AssociationDecision decision = access.Decide(called_ae, calling_ae, peer);
  switch (decision.refusal) {
    case auth::AssociationRefusal::kNone: break;
    case auth::AssociationRefusal::kUnknownCalledAe:
      Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED);
      break;
    case auth::AssociationRefusal::kCallingAeNotAllowed:
      Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED);
      break;
    case auth::AssociationRefusal::kUnavailable:
      Reject(assoc, ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_NOREASON);
      break;
  }
  storage::AuditEvent event;
  event.actor = "dimse:" + calling_ae;
  event.actor_kind = "dimse";
  event.action = "dimse.associate";
  event.object = "called_ae=" + called_ae;
  event.remote = peer;
  if (decision.refusal != auth::AssociationRefusal::kNone) {
    LogWarn("dimse_association_rejected", fields + ",\"reason\":\"" + JsonEscape(decision.reason) + "\"");
    event.outcome = "denied";
    event.detail = decision.reason;
    audit.Record(std::move(event));
    return finish();
  }
  event.tenant_id = decision.principal.tenant_id;
  event.outcome = "ok";
  audit.Record(std::move(event));
  cond = NegotiatePresentationContexts(assoc->params);
  if (cond.good()) {
    ASC_setAPTitles(assoc->params, nullptr, nullptr, called_ae.c_str());
    cond = ASC_acknowledgeAssociation(assoc);
  }
  if (cond.bad()) {
    LogWarn("dimse_association_failed", fields + ",\"detail\":\"" + JsonEscape(cond.text()) + "\"");
    return finish();
  }
  LogInfo("dimse_association", fields + ",\"tenant\":\"" + decision.principal.tenant_slug + "\"");
  AssociationContext ctx{assoc, decision.principal, calling_ae, called_ae, peer, archive, access, audit, options};
  ServeAssociation(ctx);
  finish();
}

DimseServer::DimseServer(DimseOptions options, services::Archive& archive, auth::DicomAccess& access,
                         auth::AuditTrail& audit)
    : impl_(std::make_unique<Impl>(std::move(options), archive, access, audit)) {}

DimseServer::~DimseServer() { Stop(); }

Result<std::uint16_t> DimseServer::Start() {
  // Outgoing (C-MOVE) sockets are opened by DCMTK, which disables Nagle only when asked
  // through the environment; without it every response waits on delayed ACKs.
  ::setenv("TCP_NODELAY", "1", 1);
  dcmDisableGethostbyaddr.set(OFTrue);
  Impl& s = *impl_;
  sockaddr_in6 addr6{};
  sockaddr_in addr4{};
  bool v6 = s.options.host.find(':') != std::string::npos;
  int family = v6 ? AF_INET6 : AF_INET;
  if (v6 ? ::inet_pton(AF_INET6, s.options.host.c_str(), &addr6.sin6_addr) != 1
         : ::inet_pton(AF_INET, s.options.host.c_str(), &addr4.sin_addr) != 1)
    return Fail(ErrorCode::kInvalidArgument, "cannot listen for DICOM on '" + s.options.host + "': not an IP address");
  s.listen_fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(s.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (v6) {
    addr6.sin6_family = AF_INET6;
    addr6.sin6_port = htons(s.options.port);
    rc = ::bind(s.listen_fd, reinterpret_cast<sockaddr*>(&addr6), sizeof addr6);
  } else {
    addr4.sin_family = AF_INET;
    addr4.sin_port = htons(s.options.port);
    rc = ::bind(s.listen_fd, reinterpret_cast<sockaddr*>(&addr4), sizeof addr4);
  }
  if (rc != 0 || ::listen(s.listen_fd, 64) != 0) {
    std::string why = std::strerror(errno);
    ::close(s.listen_fd);
    s.listen_fd = -1;
    return Fail(ErrorCode::kUnavailable, "cannot listen for DICOM on " + s.options.host + ":" +
                                             std::to_string(s.options.port) + ": " + why);
  }
  // The acceptor network only parses handed-over sockets; it must not listen itself.
  OFCondition cond;
  {
    std::lock_guard lock(s.handoff);
    dcmExternalSocketHandle.set(s.listen_fd);
    cond = ASC_initializeNetwork(NET_ACCEPTOR, 0, s.options.acse_timeout_s, &s.network);
    dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
  }
  if (cond.bad()) return Fail(ErrorCode::kUnavailable, std::string("cannot start the DICOM network: ") + cond.text());
  ASC_setTransportLayer(s.network, new QuickAckTransportLayer, 1);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(s.listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  std::uint16_t port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  s.acceptor = std::thread([&s] { s.AcceptLoop(); });
  return port;
}

void DimseServer::Stop() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  if (s.acceptor.joinable()) s.acceptor.join();
  if (s.listen_fd >= 0) ::close(s.listen_fd);
  std::unique_lock lock(s.mutex);
  // Running associations get a few seconds to finish, then their sockets are shut.
  if (!s.idle.wait_for(lock, std::chrono::seconds(5), [&] { return s.active_fds.empty(); })) {
    for (int fd : s.active_fds) ::shutdown(fd, SHUT_RDWR);
    s.idle.wait_for(lock, std::chrono::seconds(5), [&] { return s.active_fds.empty(); });
  }
  lock.unlock();
  if (s.network) ASC_dropNetwork(&s.network);
}

}  // namespace vg::dimse
