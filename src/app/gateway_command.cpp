// `voxelgate gateway --config FILE`: the hospital-side gateway (src/gateway/gateway.h):
// a DICOM listener for the PACS, a forwarder and a result poller on threads of their own,
// and a status page. Runs until SIGTERM or SIGINT.
#include <cstdio>
#include <cstdlib>

#include "app/args.h"
#include "app/commands.h"
#include "app/periodic.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/logging.h"
#include "core/strings.h"
#include "gateway/gateway.h"
#include "http/router.h"
#include "http/server.h"

namespace vg::app {
namespace {

constexpr const char* kGatewayHelp = R"(Usage: voxelgate gateway --config FILE

Runs inside the hospital: the PACS sends studies to it over DICOM; it de-identifies them
with a secret that stays here, forwards them to the vendor's voxelgate over HTTPS, brings the
algorithm's results back under the real patient and stores them in the PACS.

Configuration (TOML):
  [gateway]
  data_dir = "/var/lib/voxelgate-gateway"   # gateway.db (pseudonym table, queue), gateway.key, outbox/
  ae_title = "VGGATEWAY"                    # the AE title the PACS sends to
  dicom_host = "127.0.0.1"                  # the address to listen on ("0.0.0.0": every interface)
  dicom_port = 11113
  callers = ["PACS"]                        # calling AE titles allowed (empty: none, everyone is refused)
  status_listen = "127.0.0.1:8091"          # GET /status: queue depth, last success, last error
  profile = "basic+retain-long-modified-dates"   # voxelgate deid --help for the options
  retry_max_seconds = 300                   # backoff cap while the server is unreachable
  batch_instances = 20                      # instances per STOW-RS request
  [server]
  url = "https://voxelgate.example.com"
  token_file = "/etc/voxelgate-gateway/token"   # a token of the clinic's service user (store + read)
  ca_file = ""                              # a private CA to trust besides the system's
  allow_insecure_http = false               # true accepts an http:// url (tests only: data in clear)
  poll_seconds = 30                         # how often results are looked for
  results_hours = 72                        # for how long after a study was forwarded
  [pacs]
  ae_title = "PACS"                         # where results are stored (C-STORE)
  host = "10.0.0.5"
  port = 104

The secret (DATA_DIR/gateway.key) and the pseudonym table never leave the gateway: losing
the key makes results impossible to give back their patients.
)";

int GatewayFails(const std::string& message) {
  std::fprintf(stderr, "voxelgate gateway: %s\n", message.c_str());
  return 1;
}

}  // namespace

int GatewayCommand(const std::vector<std::string>& argv) {
  auto args = Args::Parse(argv, {"help"});
  if (!args) return GatewayFails(args.error().public_message);
  if (args->Has("help")) {
    std::fputs(kGatewayHelp, stdout);
    return 0;
  }
  if (auto ok = args->OnlyKnown({"help", "config", "log-level"}); !ok) return GatewayFails(ok.error().public_message);
  auto path = args->Get("config");
  if (!path) {
    std::fputs(kGatewayHelp, stderr);
    return 2;
  }
  InitLogging(args->Get("log-level").value_or("info"));
  auto config = gateway::LoadGatewayConfig(*path);
  if (!config) return GatewayFails(config.error().public_message);
  auto status_address = ParseHostPort(config->status_listen);
  if (!status_address) return GatewayFails("status_listen: " + status_address.error().public_message);
  ::setenv("TCP_NODELAY", "1", 0);  // DCMTK reads it: no Nagle stalls on our DICOM sockets
  auto gw = gateway::Gateway::Open(*config);
  if (!gw) return GatewayFails(gw.error().public_message);
  gateway::Gateway& gateway = **gw;

  dimse::GatewayScpOptions scp_options;
  scp_options.ae_title = config->ae_title;
  scp_options.host = config->dicom_host;
  scp_options.port = config->dicom_port;
  scp_options.allowed_callers = config->callers;
  dimse::GatewayScp scp(scp_options, [&gateway](std::string part10, const std::string& caller) {
    return gateway.Receive(std::move(part10), caller);
  });
  if (auto ok = scp.Start(); !ok) return GatewayFails(ok.error().public_message);

  http::Router router;
  router.Add("GET", "/status", "status", "ops.health", [&gateway](http::Request&) {
    http::Response response = http::JsonResponse(200, gateway.Status().dump());
    response.Header("Cache-Control", "no-store");
    return response;
  });
  router.Add("GET", "/healthz", "healthz", "ops.health",
             [](http::Request&) { return http::JsonResponse(200, R"({"status":"ok"})"); });
  http::ServerOptions options;
  options.host = status_address->first;
  options.port = status_address->second;
  options.threads = 2;
  http::Server server(options, router);
  auto port = server.Listen();
  if (!port) return GatewayFails(port.error().public_message);

  // The forwarder wakes often (a queue is sent within a second); the poller as configured.
  Periodic forwarder(std::chrono::milliseconds(500), [&gateway] {
    for (int round = 0; round < 100; ++round) {
      auto sent = gateway.ForwardOnce(UnixSeconds());
      if (!sent) {
        LogWarn("gateway_forward_failed", "\"detail\":\"" + JsonEscape(sent.error().public_message) + "\"");
        return;
      }
      if (*sent == 0) return;
    }
  });
  Periodic poller(std::chrono::seconds(std::max(1, config->poll_seconds)), [&gateway] {
    if (auto got = gateway.PollOnce(UnixSeconds()); !got)
      LogWarn("gateway_poll_failed", "\"detail\":\"" + JsonEscape(got.error().public_message) + "\"");
  });
  forwarder.Start();
  poller.Start();
  LogInfo("gateway_started", "\"ae_title\":\"" + JsonEscape(config->ae_title) + "\",\"dicom_port\":" +
                                 std::to_string(config->dicom_port) + ",\"status_port\":" + std::to_string(*port));
  std::printf("voxelgate gateway %s listening for DICOM on %s:%u; status at http://%s:%u/status\n",
              config->ae_title.c_str(), config->dicom_host.c_str(), static_cast<unsigned>(config->dicom_port),
              status_address->first.c_str(),
              static_cast<unsigned>(*port));
  if (config->callers.empty())
    std::printf("warning: [gateway] callers is empty: every association is refused until it names the PACS's AE titles\n");
  std::fflush(stdout);
  server.Run();
  scp.Stop();
  forwarder.Stop();
  poller.Stop();
  LogInfo("gateway_stopped");
  return 0;
}

}  // namespace vg::app
