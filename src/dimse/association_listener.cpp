#include "dimse/association_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <list>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "core/connection_limits.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/strings.h"
#include "dimse/quickack_layer.h"

namespace vg::dimse {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kPduHeaderBytes = 6;
constexpr unsigned char kAssociateRqType = 0x01;
// A-ASSOCIATE-RJ (PS3.8 9.3.4): rejected-transient (2), DICOM UL service-provider,
// presentation related function (3), local-limit-exceeded (2).
constexpr unsigned char kRejectLocalLimit[] = {0x03, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x02, 0x03, 0x02};

constexpr const char* kLimitNames[] = {"artim_timeout_s",        "max_associations", "max_associations_per_address",
                                       "max_pending",            "max_pending_per_address",
                                       "max_associate_rq_bytes", "not_an_association_request", "accept_backoff",
                                       "max_pdu",                "max_other_pdu_bytes", "max_command_bytes",
                                       "max_identifier_bytes",   "max_dicom_depth", "malformed_pdu",
                                       "max_instance_bytes",     "thread_create"};

// DCMTK reads an accepted socket handed to it through one process-wide variable
// (dcmExternalSocketHandle): every listener of the process serialises on this.
std::mutex& Handoff() {
  static std::mutex handoff;
  return handoff;
}

std::string AddressOf(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
  else if (addr.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, text, sizeof text);
  return text;
}

bool SetBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL, 0);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0;
}

}  // namespace

// Named, not anonymous: AssociationListener::Impl (external linkage) holds these.
namespace listener_detail {

// A connection still sending its association request; the acceptor thread's alone.
struct Pending {
  int fd = -1;
  std::string address;
  Clock::time_point deadline;
  std::string bytes;
  std::size_t needed = kPduHeaderBytes;
  ConnectionLimits::Slot slot;
};

// One association's thread. `control_fd` is a duplicate of its socket, so Stop can shut
// the socket down without racing the thread's close (a reused descriptor number).
struct Running {
  std::thread thread;
  std::atomic<bool> done{false};
  int control_fd = -1;
};

}  // namespace listener_detail
using listener_detail::Pending;
using listener_detail::Running;

AssociationHandle::~AssociationHandle() {
  if (!assoc_) return;
  ASC_dropAssociation(assoc_);  // closes the socket
  ASC_destroyAssociation(&assoc_);
}

struct AssociationListener::Impl {
  ListenerOptions options;
  AssociationHandler handler;
  int listen_fd = -1;
  T_ASC_Network* network = nullptr;
  std::thread acceptor;
  std::atomic<bool> stopping{false};
  ConnectionLimits pending_limits;
  ConnectionLimits association_limits;
  std::vector<Pending> pending;
  Clock::time_point accept_paused_until{};
  std::chrono::milliseconds backoff{0};
  std::mutex mutex;  // guards running
  std::condition_variable finished;
  std::list<std::unique_ptr<Running>> running;
  Clock::time_point last_refusal_log{};
  std::uint64_t refusals_unlogged = 0;

  explicit Impl(ListenerOptions o)
      : options(std::move(o)),
        pending_limits(static_cast<std::size_t>(std::max(1, options.max_pending)),
                       static_cast<std::size_t>(std::max(0, options.max_pending_per_address))),
        association_limits(static_cast<std::size_t>(std::max(1, options.max_associations)),
                           static_cast<std::size_t>(std::max(0, options.max_associations_per_address))) {}

  void Count(const char* limit) { Metrics::Global().CountLimit(options.name, limit); }
  void NoteRefusal(const char* limit, const std::string& address);
  void AcceptLoop();
  void AcceptAll();
  // Reads what has arrived; true when the request is complete, false to wait; a failure
  // (the connection is to be dropped) as an error naming the limit or reason.
  Result<bool> ReadPending(Pending& p);
  void Admit(Pending& p);
  void Serve(int fd, const std::string& peer, std::string request, ConnectionLimits::Slot slot, Running* self);
  void Reap();
};

void AssociationListener::Impl::NoteRefusal(const char* limit, const std::string& address) {
  Count(limit);
  // At most one line a second: a flood of refusals must not become a flood of log lines.
  const auto now = Clock::now();
  ++refusals_unlogged;
  if (now - last_refusal_log < std::chrono::seconds(1)) return;
  LogWarn(options.name + "_connection_refused", std::string("\"limit\":\"") + limit + "\",\"peer\":\"" +
                                                    JsonEscape(address) + "\",\"count\":" +
                                                    std::to_string(refusals_unlogged));
  refusals_unlogged = 0;
  last_refusal_log = now;
}

void AssociationListener::Impl::AcceptLoop() {
  std::vector<pollfd> fds;
  while (!stopping) {
    Reap();
    auto now = Clock::now();
    // ARTIM: a request not complete in time is dropped.
    for (size_t i = 0; i < pending.size();) {
      if (pending[i].deadline <= now) {
        NoteRefusal("artim_timeout_s", pending[i].address);
        ::close(pending[i].fd);
        pending[i] = std::move(pending.back());
        pending.pop_back();
      } else {
        ++i;
      }
    }
    fds.clear();
    const bool accepting = now >= accept_paused_until;
    fds.push_back(pollfd{accepting ? listen_fd : -1, POLLIN, 0});
    auto wake = now + std::chrono::milliseconds(250);
    if (!accepting) wake = std::min(wake, accept_paused_until);
    for (const auto& p : pending) {
      fds.push_back(pollfd{p.fd, POLLIN, 0});
      wake = std::min(wake, p.deadline);
    }
    const int timeout_ms = static_cast<int>(
        std::max<long long>(1, std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1));
    if (::poll(fds.data(), fds.size(), timeout_ms) <= 0) continue;
    // Pending connections first (their indices match fds[1..] until the list changes).
    std::vector<size_t> complete, dropped;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (!fds[i + 1].revents) continue;
      auto ready = ReadPending(pending[i]);
      if (!ready) dropped.push_back(i);
      else if (*ready) complete.push_back(i);
    }
    for (size_t i : complete) Admit(pending[i]);
    for (size_t i : dropped) {
      ::close(pending[i].fd);
      pending[i].fd = -1;
    }
    std::erase_if(pending, [](const Pending& p) { return p.fd < 0; });
    if (fds[0].revents & POLLIN) AcceptAll();
  }
  for (auto& p : pending) ::close(p.fd);
  pending.clear();
}

void AssociationListener::Impl::AcceptAll() {
  for (int round = 0; round < 64 && !stopping; ++round) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: accepting again at once would spin; the kernel's backlog
        // holds the connections meanwhile.
        backoff = std::min<std::chrono::milliseconds>(
            std::max<std::chrono::milliseconds>(backoff * 2, std::chrono::milliseconds(100)), std::chrono::seconds(1));
        accept_paused_until = Clock::now() + backoff;
        NoteRefusal("accept_backoff", "");
      }
      return;  // EAGAIN: all taken; anything else: try again next round
    }
    backoff = std::chrono::milliseconds(0);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::string address = AddressOf(addr);
    auto slot = pending_limits.TryOpen(address);
    if (!slot) {
      NoteRefusal(slot.error() == ConnectionLimits::Refusal::kTotal ? "max_pending" : "max_pending_per_address", address);
      ::close(fd);
      continue;
    }
    Pending p;
    p.fd = fd;
    p.address = std::move(address);
    p.deadline = Clock::now() + std::chrono::seconds(std::max(1, options.artim_timeout_s));
    p.slot = std::move(*slot);
    pending.push_back(std::move(p));
  }
}

Result<bool> AssociationListener::Impl::ReadPending(Pending& p) {
  while (p.bytes.size() < p.needed) {
    char buffer[16 * 1024];
    const std::size_t want = std::min(sizeof buffer, p.needed - p.bytes.size());
    ssize_t n = ::recv(p.fd, buffer, want, 0);
    if (n == 0) return Fail(ErrorCode::kUnavailable, "closed");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
      return Fail(ErrorCode::kUnavailable, "closed");
    }
    p.bytes.append(buffer, static_cast<std::size_t>(n));
    if (p.needed == kPduHeaderBytes && p.bytes.size() == kPduHeaderBytes) {
      const auto* head = reinterpret_cast<const unsigned char*>(p.bytes.data());
      if (head[0] != kAssociateRqType) {
        NoteRefusal("not_an_association_request", p.address);
        return Fail(ErrorCode::kInvalidArgument, "not an A-ASSOCIATE-RQ");
      }
      const std::uint32_t length = (std::uint32_t{head[2]} << 24) | (std::uint32_t{head[3]} << 16) |
                                   (std::uint32_t{head[4]} << 8) | std::uint32_t{head[5]};
      if (length > kMaxAssociateRqBytes - kPduHeaderBytes) {
        NoteRefusal("max_associate_rq_bytes", p.address);
        return Fail(ErrorCode::kTooLarge, "A-ASSOCIATE-RQ too large");
      }
      p.needed = kPduHeaderBytes + length;
    }
  }
  return true;
}

void AssociationListener::Impl::Admit(Pending& p) {
  p.slot.Release();
  auto slot = association_limits.TryOpen(p.address);
  if (!slot) {
    NoteRefusal(slot.error() == ConnectionLimits::Refusal::kTotal ? "max_associations" : "max_associations_per_address",
                p.address);
    (void)!::send(p.fd, kRejectLocalLimit, sizeof kRejectLocalLimit, MSG_DONTWAIT | MSG_NOSIGNAL);
    ::close(p.fd);
    p.fd = -1;
    return;
  }
  const int fd = p.fd;
  p.fd = -1;  // handed over
  auto entry = std::make_unique<Running>();
  entry->control_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);  // not inherited by algorithm processes
  Running* raw = entry.get();
  if (!SetBlocking(fd)) {
    ::close(fd);
    if (raw->control_fd >= 0) ::close(raw->control_fd);
    return;
  }
  std::lock_guard lock(mutex);
  try {
    raw->thread = std::thread([this, fd, peer = p.address, request = std::move(p.bytes), place = std::move(*slot),
                               raw]() mutable { Serve(fd, peer, std::move(request), std::move(place), raw); });
  } catch (const std::system_error&) {
    // Out of threads (RLIMIT_NPROC, memory): refuse this one and keep serving the others.
    NoteRefusal("thread_create", p.address);
    ::close(fd);
    if (raw->control_fd >= 0) ::close(raw->control_fd);
    return;
  }
  running.push_back(std::move(entry));
}

void AssociationListener::Impl::Serve(int fd, const std::string& peer, std::string request,
                                      ConnectionLimits::Slot slot, Running* self) {
  const std::string gauge = "voxelgate_" + options.name + "_associations_open";
  Metrics::Global().AddToGauge(gauge, "DICOM associations being served.", 1);
  try {
    T_ASC_Association* received = nullptr;
    OFCondition cond;
    bool dcmtk_owns_socket = false;
    {
      std::lock_guard lock(Handoff());
      QuickAckTransportLayer::HandOver(std::move(request));
      dcmExternalSocketHandle.set(fd);
      cond = ASC_receiveAssociation(network, &received, static_cast<long>(options.max_pdu), nullptr, nullptr, OFFalse,
                                    DUL_BLOCK, options.acse_timeout_s);
      dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
      dcmtk_owns_socket = QuickAckTransportLayer::ConnectionCreated();
      QuickAckTransportLayer::HandOver({});
    }
    AssociationHandle assoc(received);
    if (!dcmtk_owns_socket) ::close(fd);  // DCMTK never wrapped it: nobody else will close it
    if (cond.bad() || !received) {
      LogWarn(options.name + "_association_failed",
              "\"peer\":\"" + JsonEscape(peer) + "\",\"detail\":\"" + JsonEscape(cond.text()) + "\"");
    } else {
      handler(assoc, peer);
    }
  } catch (const std::exception& e) {
    LogError(options.name + "_association_exception",
             "\"peer\":\"" + JsonEscape(peer) + "\",\"what\":\"" + JsonEscape(e.what()) + "\"");
  } catch (...) {
    LogError(options.name + "_association_exception", "\"peer\":\"" + JsonEscape(peer) + "\",\"what\":\"unknown\"");
  }
  slot.Release();
  Metrics::Global().AddToGauge(gauge, "DICOM associations being served.", -1);
  std::lock_guard lock(mutex);
  self->done = true;
  finished.notify_all();
}

void AssociationListener::Impl::Reap() {
  std::list<std::unique_ptr<Running>> ended;
  {
    std::lock_guard lock(mutex);
    for (auto it = running.begin(); it != running.end();) {
      if ((*it)->done) {
        ended.push_back(std::move(*it));
        it = running.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& r : ended) {
    if (r->thread.joinable()) r->thread.join();
    if (r->control_fd >= 0) ::close(r->control_fd);
  }
}

AssociationListener::AssociationListener(ListenerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

AssociationListener::~AssociationListener() { Stop(); }

bool AssociationListener::stopping() const { return impl_->stopping; }

Result<std::uint16_t> AssociationListener::Start(AssociationHandler handler) {
  Impl& s = *impl_;
  s.handler = std::move(handler);
  for (const char* limit : kLimitNames) Metrics::Global().DeclareLimit(s.options.name, limit);
  Metrics::Global().AddToGauge("voxelgate_" + s.options.name + "_associations_open", "DICOM associations being served.", 0);
  const std::string& host = s.options.host;
  sockaddr_in6 addr6{};
  sockaddr_in addr4{};
  const bool v6 = host.find(':') != std::string::npos;
  if (v6 ? ::inet_pton(AF_INET6, host.c_str(), &addr6.sin6_addr) != 1
         : !host.empty() && ::inet_pton(AF_INET, host.c_str(), &addr4.sin_addr) != 1)
    return Fail(ErrorCode::kInvalidArgument, "cannot listen for DICOM on '" + host + "': not an IP address");
  s.listen_fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.listen_fd < 0) return Fail(ErrorCode::kUnavailable, std::string("cannot open a socket: ") + std::strerror(errno));
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
    if (host.empty()) addr4.sin_addr.s_addr = htonl(INADDR_ANY);
    rc = ::bind(s.listen_fd, reinterpret_cast<sockaddr*>(&addr4), sizeof addr4);
  }
  if (rc != 0 || ::listen(s.listen_fd, 256) != 0) {
    std::string why = std::strerror(errno);
    ::close(s.listen_fd);
    s.listen_fd = -1;
    return Fail(ErrorCode::kUnavailable,
                "cannot listen for DICOM on " + host + ":" + std::to_string(s.options.port) + ": " + why);
  }
  // The acceptor network only parses handed-over sockets; it must not listen itself.
  OFCondition cond;
  {
    std::lock_guard lock(Handoff());
    dcmExternalSocketHandle.set(s.listen_fd);
    cond = ASC_initializeNetwork(NET_ACCEPTOR, 0, s.options.acse_timeout_s, &s.network);
    dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
  }
  if (cond.bad()) return Fail(ErrorCode::kUnavailable, std::string("cannot start the DICOM network: ") + cond.text());
  PduLimits pdu_limits;
  pdu_limits.max_pdu = s.options.max_pdu;
  pdu_limits.max_identifier_bytes = s.options.max_identifier_bytes;
  pdu_limits.structure = dicom::DefaultStructureLimits();
  ASC_setTransportLayer(s.network, new QuickAckTransportLayer(s.options.name, pdu_limits), 1);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(s.listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  const std::uint16_t port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                      : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  s.acceptor = std::thread([&s] {
    try {
      s.AcceptLoop();
    } catch (const std::exception& e) {
      // Only allocation can throw here; the listener then stops taking connections.
      LogError(s.options.name + "_listener_failed", "\"what\":\"" + JsonEscape(e.what()) + "\"");
    }
  });
  return port;
}

void AssociationListener::Stop(std::chrono::seconds grace) {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  if (s.acceptor.joinable()) s.acceptor.join();
  if (s.listen_fd >= 0) ::close(s.listen_fd);
  s.listen_fd = -1;
  auto all_done = [&] {
    for (const auto& r : s.running)
      if (!r->done) return false;
    return true;
  };
  {
    std::unique_lock lock(s.mutex);
    // Running associations get `grace` to finish, then their sockets are shut.
    if (!s.finished.wait_for(lock, grace, all_done)) {
      for (const auto& r : s.running)
        if (!r->done && r->control_fd >= 0) ::shutdown(r->control_fd, SHUT_RDWR);
      s.finished.wait_for(lock, grace, all_done);
    }
  }
  std::list<std::unique_ptr<Running>> all;
  {
    std::lock_guard lock(s.mutex);
    all.swap(s.running);
  }
  for (auto& r : all) {
    if (r->thread.joinable()) r->thread.join();
    if (r->control_fd >= 0) ::close(r->control_fd);
  }
  if (s.network) ASC_dropNetwork(&s.network);
}

}  // namespace vg::dimse
