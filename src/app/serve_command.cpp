#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "api/routes.h"
#include "app/args.h"
#include "app/storage_options.h"
#include "app/clinical.h"
#include "core/clock.h"
#include "app/periodic.h"
#include "app/commands.h"
#include "app/context.h"
#include "auth/audit_checkpoint.h"
#include "auth/dicom_access.h"
#include "dimse/dimse_server.h"
#include "app/demo.h"
#include "core/logging.h"
#include "core/strings.h"
#include "http/client.h"
#include "http/server.h"
#include "services/alert_notifier.h"

namespace vg::app {
namespace {

constexpr const char* kServeHelp = R"(Usage: voxelgate serve [options]

Runs the server: DICOMweb at /dicomweb, /healthz, /readyz, /metrics.

  --data-dir DIR            data folder (default ./var; in a cluster only this node's own files)
  --algorithms-root DIR     the only folder vendor algorithm folders may be in
                            (default: algorithms, beside the data folder)
  --listen HOST:PORT        HTTP address (default 127.0.0.1:8080; port 0 picks a free one)
  --config FILE             TOML configuration; flags override it
  --threads N               HTTP handler threads (default 8 per core, at least 16)
  --max-header-bytes N      request line + headers limit (default 16384)
  --max-body-bytes N        request body limit (default 4 GiB)
  --max-instance-bytes N    one DICOM instance limit (default 512 MiB)
  --request-timeout-s N     time from a request's first byte to its body's last (default 300)
  --header-timeout-s N      time for the request line and headers, TLS handshake included (default 5)
  --idle-timeout-s N        keep-alive idle limit (default 60)
  --min-body-rate N         bytes/s a client must keep up while sending a body, after 10 s (default 4096; 0 off)
  --max-connections N       open HTTP connections (default 4096)
  --max-connections-per-address N  open HTTP connections from one client address (default 256)
  --fsync on|off            durable acknowledgements (default on)
  --on-conflict reject|replace   a different object under a stored SOPInstanceUID
  --cors-origin ORIGIN      allow a browser origin (repeatable; * for any)
  --trusted-proxy ADDRESS   a TLS-terminating proxy whose X-Forwarded-For and
                            X-Forwarded-Proto are believed (repeatable; http.trusted_proxies)
  --tls-cert FILE           HTTPS: certificate chain (PEM, server certificate first);
                            needs --tls-key
  --tls-key FILE            HTTPS: the certificate's private key (PEM, no passphrase)
  --dicom-listen HOST:PORT  DICOM (DIMSE) listener (default 127.0.0.1:11112; "off" to disable)
  --dicom-max-associations N  concurrent DICOM associations (default 32)
  --dicom-max-associations-per-address N  ... from one calling address (default 8)
  --dicom-artim-timeout-s N time from a DICOM connection to its complete association request (default 10)
  --web-root DIR            the built browser app served at / (default: web/dist beside
                            the binary's folder, e.g. build/../web/dist)
  --workers N               background job threads: exports, algorithm runs (default 1;
                            0 leaves them to `voxelgate worker`)
  --licence FILE            an offline licence (signed by the vendor) for this installation;
                            needs --licence-public-key
  --licence-public-key FILE the vendor's Ed25519 public key (base64, from `voxelgate licence keygen`)
  --metrics-token-file FILE /metrics asks for the bearer token this file holds
  --alert-webhook URL       POST alerts (failure rate, queue age, drift) to this http(s) URL
  --alert-interval-s N      how often alert thresholds are checked (default 60)
  --monailabel-prefix PATH  the MONAI Label-compatible API for 3D Slicer and OHIF (default /monailabel; off)
  --monailabel-link-seconds N  how long a signed sample download link lasts (default 600)
  --log-level LEVEL         trace, debug, info, warn, error (default info)
  --require-external-master-key
                            refuse to start when the master key is inside the data folder
                            (the default place, which only demos should use)
  --demo                    on a data folder without people, create the vendor's admin and a
                            demo clinic with one user per role; print the logins

The master key is read from master_key_file (config), else $VOXELGATE_MASTER_KEY_FILE,
else DIR/keys/master.key, created at first start (mode 0600) on one machine; a node of a
cluster is given it and the audit signing key beside it (voxelgate admin keys init).
)";

Result<void> ApplyFlags(const Args& args, ServerConfig& config) {
  auto number = [&](const char* flag, auto& out) -> Result<void> {
    if (auto v = args.Get(flag)) {
      auto n = ParseUint(*v);
      if (!n) return Fail(ErrorCode::kInvalidArgument, std::string("--") + flag + " must be a non-negative integer");
      out = static_cast<std::remove_reference_t<decltype(out)>>(*n);
    }
    return {};
  };
  if (auto v = args.Get("data-dir")) config.data_dir = *v;
  if (auto r = ApplyStorageFlags(args, config); !r) return r;
  if (auto v = args.Get("algorithms-root")) config.algorithms_root = *v;
  if (auto v = args.Get("listen")) config.listen = *v;
  if (auto v = args.Get("log-level")) config.log_level = *v;
  if (auto v = args.Get("dicom-listen")) config.dicom_listen = *v;
  if (auto v = args.Get("web-root")) config.web_root = *v;
  if (auto v = args.Get("licence")) config.licence_file = *v;
  if (auto v = args.Get("licence-public-key")) config.licence_public_key_file = *v;
  if (auto v = args.Get("metrics-token-file")) config.metrics_token_file = *v;
  if (auto v = args.Get("alert-webhook")) config.alert_webhook = *v;
  if (auto v = args.Get("monailabel-prefix")) config.monailabel_prefix = *v;
  if (auto v = args.Get("monailabel-link-seconds")) {
    auto n = ParseUint(*v);
    if (!n || *n < 1 || *n > 86400) return Fail(ErrorCode::kInvalidArgument, "--monailabel-link-seconds is 1 to 86400");
    config.monailabel_link_seconds = static_cast<int>(*n);
  }
  if (auto v = args.Get("workers")) {
    auto n = ParseUint(*v);
    if (!n || *n > 64) return Fail(ErrorCode::kInvalidArgument, "--workers is 0 to 64");
    config.job_workers = static_cast<int>(*n);
  }
  for (auto r : {number("threads", config.http_threads), number("max-header-bytes", config.max_header_bytes),
                 number("max-body-bytes", config.max_body_bytes), number("max-instance-bytes", config.max_instance_bytes),
                 number("request-timeout-s", config.request_timeout_s), number("idle-timeout-s", config.idle_timeout_s),
                 number("header-timeout-s", config.header_timeout_s), number("min-body-rate", config.min_body_rate),
                 number("max-connections", config.max_connections),
                 number("max-connections-per-address", config.max_connections_per_address),
                 number("dicom-max-associations", config.dicom_max_associations),
                 number("dicom-max-associations-per-address", config.dicom_max_associations_per_address),
                 number("dicom-artim-timeout-s", config.dicom_artim_timeout_s),
                 number("alert-interval-s", config.alert_interval_s)})
    if (!r) return r;
  if (auto v = args.Get("fsync")) {
    if (*v != "on" && *v != "off") return Fail(ErrorCode::kInvalidArgument, "--fsync is on or off");
    config.fsync = *v == "on";
  }
  if (auto v = args.Get("on-conflict")) {
    if (*v == "reject") config.on_conflict = ConflictPolicy::kReject;
    else if (*v == "replace") config.on_conflict = ConflictPolicy::kReplace;
    else return Fail(ErrorCode::kInvalidArgument, "--on-conflict is reject or replace");
  }
  if (auto proxies = args.GetAll("trusted-proxy"); !proxies.empty()) config.trusted_proxies = proxies;
  auto origins = args.GetAll("cors-origin");
  if (!origins.empty()) config.cors_origins = origins;
  return {};
}

// The browser app's files: the configured folder, else web/dist next to the folder that
// holds the binary (build/voxelgate -> web/dist), else ./web/dist.
std::string DefaultWebRoot(const std::string& configured) {
  if (!configured.empty()) return configured;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = exe.parent_path().parent_path() / "web" / "dist";
    if (std::filesystem::exists(beside / "index.html", ec)) return beside.string();
  }
  return "web/dist";
}

services::AlertThresholds AlertThresholdsOf(const ServerConfig& config) {
  services::AlertThresholds t;
  t.failure_rate = config.alert_failure_rate;
  t.failure_min_runs = std::max(1, config.alert_failure_min_runs);
  t.queue_age_seconds = config.alert_queue_age_s;
  t.drift = config.alert_drift;
  return t;
}

// A secret kept in a file (mode 0600 advised): its first line, trimmed.
Result<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return Fail(ErrorCode::kInvalidArgument, "cannot read " + path);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  if (line.size() < 16) return Fail(ErrorCode::kInvalidArgument, path + " holds a token of at least 16 characters");
  return line;
}

struct TlsFiles {
  std::string cert_chain;
  std::string key;
};

// Both or neither: half a TLS configuration is a mistake, not a wish for plain HTTP.
Result<std::optional<TlsFiles>> TlsFlags(const Args& args) {
  auto cert = args.Get("tls-cert");
  auto key = args.Get("tls-key");
  if (cert.has_value() != key.has_value())
    return Fail(ErrorCode::kInvalidArgument, "--tls-cert and --tls-key go together");
  if (!cert) return std::nullopt;
  return TlsFiles{*cert, *key};
}

}  // namespace

int ServeCommand(const std::vector<std::string>& argv) {
  auto args = Args::Parse(argv, {"help", "demo", "require-external-master-key"});
  if (!args) {
    std::fprintf(stderr, "voxelgate serve: %s\n", args.error().public_message.c_str());
    return 2;
  }
  if (args->Has("help")) {
    std::fputs(kServeHelp, stdout);
    std::fputs("\nWhere the catalog and blobs are (a cluster shares them):\n", stdout);
    std::fputs(kStorageHelp, stdout);
    return 0;
  }
  if (auto r = args->OnlyKnown(WithStorageFlags({"data-dir", "algorithms-root", "listen", "config", "threads", "max-header-bytes", "max-body-bytes",
                                "max-instance-bytes", "request-timeout-s", "idle-timeout-s", "fsync", "on-conflict",
                                "header-timeout-s", "min-body-rate", "max-connections", "max-connections-per-address",
                                "dicom-max-associations-per-address", "dicom-artim-timeout-s",
                                "cors-origin", "trusted-proxy", "monailabel-link-seconds", "require-external-master-key", "log-level", "dicom-listen", "dicom-max-associations", "demo", "tls-cert",
                                "tls-key", "web-root", "workers", "licence", "licence-public-key",
                                "metrics-token-file", "alert-webhook", "alert-interval-s", "monailabel-prefix"}));
      !r) {
    std::fprintf(stderr, "voxelgate serve: %s (see --help)\n", r.error().public_message.c_str());
    return 2;
  }
  ServerConfig config;
  if (auto file = args->Get("config")) {
    if (auto r = ApplyTomlConfig(*file, config); !r) {
      std::fprintf(stderr, "voxelgate serve: %s\n", r.error().public_message.c_str());
      return 2;
    }
  }
  if (auto r = ApplyFlags(*args, config); !r) {
    std::fprintf(stderr, "voxelgate serve: %s\n", r.error().public_message.c_str());
    return 2;
  }
  auto tls_files = TlsFlags(*args);
  if (!tls_files) {
    std::fprintf(stderr, "voxelgate serve: %s\n", tls_files.error().public_message.c_str());
    return 2;
  }
  const bool tls = tls_files->has_value();
  auto address = ParseHostPort(config.listen);
  if (!address) {
    std::fprintf(stderr, "voxelgate serve: %s\n", address.error().public_message.c_str());
    return 2;
  }
  InitLogging(config.log_level);
  // The master key inside the data folder travels with every copy of it (a backup, a
  // stolen disk): fine for a demo, not for patient data.
  if (!args->Has("demo") && MasterKeyInsideDataFolder(config)) {
    if (args->Has("require-external-master-key")) {
      std::fprintf(stderr, "voxelgate serve: the master key %s is inside the data folder %s, and "
                           "--require-external-master-key is set: keep it elsewhere (VOXELGATE_MASTER_KEY_FILE or "
                           "master_key_file), see the README\n", MasterKeyFile(config).c_str(), config.data_dir.c_str());
      return 2;
    }
    LogWarn("master_key_inside_data_folder",
            "\"key_file\":\"" + JsonEscape(MasterKeyFile(config)) +
                "\",\"advice\":\"whoever gets a copy of the data folder (a backup, a disk) can read every clinic's data: "
                "keep the key elsewhere (VOXELGATE_MASTER_KEY_FILE or master_key_file) and back it up apart; "
                "--require-external-master-key makes this an error\"");
  }
  auto ctx = OpenContext(config);
  if (!ctx) {
    std::fprintf(stderr, "voxelgate serve: %s\n", ctx.error().public_message.c_str());
    LogError("startup_failed", "\"detail\":\"" + JsonEscape(ctx.error().detail) + "\"");
    return 1;
  }
  if (auto recovered = services::RecoverInterruptedIngest(*(*ctx)->archive); !recovered) {
    std::fprintf(stderr, "voxelgate serve: %s\n", recovered.error().public_message.c_str());
    return 1;
  } else if (recovered->settled + recovered->discarded > 0) {
    LogWarn("ingest_recovered", "\"settled\":" + std::to_string(recovered->settled) +
                                    ",\"discarded_unacknowledged\":" + std::to_string(recovered->discarded));
  }

  std::string demo_logins;
  if (args->Has("demo")) {
    auto logins = EnsureDemo(**ctx);
    if (!logins) {
      std::fprintf(stderr, "voxelgate serve: demo set-up failed: %s\n", logins.error().public_message.c_str());
      return 1;
    }
    demo_logins = *logins;
  }
  auth::AuditTrail audit(*(*ctx)->catalog, /*synchronous=*/false);
  // Checkpoints of the audit chain, signed with a key beside the master key (never in the
  // catalog): on request (a clinic admin's download), every 10 minutes and at shutdown,
  // the latest kept in DATA_DIR/audit-checkpoint.json.
  // A node of a cluster never makes it: the cluster's one key is supplied beside the
  // master key (voxelgate admin keys init), so that every node's checkpoints verify alike.
  auto audit_key = auth::LoadOrCreateAuditSigningKey(auth::AuditSigningKeyFile(MasterKeyFile(config)),
                                                     /*create_if_missing=*/!IsSharedCatalog(config));
  if (!audit_key) {
    std::fprintf(stderr, "voxelgate serve: %s%s\n", audit_key.error().public_message.c_str(),
                 IsSharedCatalog(config) ? " (a cluster's nodes are given it: voxelgate admin keys init)" : "");
    return 1;
  }
  std::mutex checkpoint_mutex;
  auto checkpoint_now = [&]() -> Result<std::string> {
    std::lock_guard lock(checkpoint_mutex);
    audit.Flush();
    auto checkpoint = auth::MakeAuditCheckpoint(*(*ctx)->catalog, *audit_key);
    if (!checkpoint) return std::unexpected(checkpoint.error());
    const std::string text = checkpoint->ToJson();
    const std::string path = config.data_dir + "/audit-checkpoint.json";
    if (auto ok = auth::WriteCheckpointFile(path, text); !ok) LogWarn("audit_checkpoint_not_saved");
    return text;
  };
  auth::SupportGrants grants(*(*ctx)->catalog);
  // A cluster counts failed sign-ins in the shared catalog, so every node sees them all.
  auth::LoginThrottle throttle({}, (*ctx)->catalog->Shared() ? (*ctx)->catalog.get() : nullptr);
  auto licensing_options = LicensingOptionsFor(**ctx);
  if (!licensing_options) {
    std::fprintf(stderr, "voxelgate serve: %s\n", licensing_options.error().public_message.c_str());
    return 1;
  }
  LogInfo("installation", "\"id\":\"" + licensing_options->installation_id + "\"");
  if (DevelopmentLicenceKeys())
    std::fprintf(stderr, "voxelgate serve: warning: a DEVELOPMENT build: --licence-public-key may name the trusted licence key\n");
  if (licensing_options->licence && BuiltWithTestLicenceKey())
    std::fprintf(stderr, "voxelgate serve: warning: this build trusts a TEST licence key made for its build "
                         "folder: build with -DVOXELGATE_LICENCE_PUBLIC_KEY=vendor.pub for a clinic\n");
  if (licensing_options->licence) {
    const auto& l = *licensing_options->licence;
    LogInfo("licence_loaded", "\"licence\":\"" + JsonEscape(l.licence_id) + "\",\"not_after\":\"" +
                                  licensing::FormatDate(l.not_after) + "\"");
    if (l.not_after - UnixSeconds() <= 14 * 86400)
      std::fprintf(stderr, "voxelgate serve: warning: the licence expires on %s\n", licensing::FormatDate(l.not_after).c_str());
  }
  ClinicalServices clinical(**ctx, std::move(*licensing_options));
  auto workers = clinical.MakeWorkers(**ctx, config.job_workers);
  api::ApiDeps deps{*(*ctx)->archive, *(*ctx)->catalog, *(*ctx)->tokens, *(*ctx)->users, grants, throttle, audit,
                    /*secure_cookies=*/tls, DefaultWebRoot(config.web_root)};
  deps.audit_checkpoint = checkpoint_now;
  deps.annotations = &clinical.annotations;
  deps.volumes = &clinical.volumes;
  deps.segmentations = &clinical.segmentations;
  deps.exports = &clinical.exports;
  deps.algorithms = &clinical.algorithms;
  deps.runs = &clinical.runs;
  deps.deployments = &clinical.deployments;
  deps.shadow_runs = &clinical.shadow_runs;
  deps.acceptance = &clinical.acceptance;
  deps.evidence = &clinical.evidence;
  deps.result_forms = &clinical.result_forms;
  deps.licensing = &clinical.licensing;
  deps.monitoring = &clinical.monitoring;
  deps.monailabel = &clinical.monailabel;
  deps.aliases = (*ctx)->catalog.get();
  if (config.monailabel_prefix != "off" &&
      (!config.monailabel_prefix.starts_with("/") || config.monailabel_prefix.size() < 2 ||
       config.monailabel_prefix.ends_with("/") || config.monailabel_prefix.starts_with("/api") ||
       config.monailabel_prefix.starts_with("/dicomweb"))) {
    std::fprintf(stderr, "voxelgate serve: monailabel prefix must be like /monailabel (or off)\n");
    return 2;
  }
  deps.monailabel_prefix = config.monailabel_prefix;
  clinical.monailabel.SetLinkSeconds(std::clamp(config.monailabel_link_seconds, 1, 24 * 3600));
  deps.alert_thresholds = AlertThresholdsOf(config);
  deps.metrics_tenant_labels = config.metrics_tenant_labels;
  if (!config.metrics_token_file.empty()) {
    auto token = ReadSecretFile(config.metrics_token_file);
    if (!token) {
      std::fprintf(stderr, "voxelgate serve: metrics token: %s\n", token.error().public_message.c_str());
      return 1;
    }
    deps.metrics_token = *token;
  }
  if (!config.alert_webhook.empty())
    if (auto url = http::ParseUrl(config.alert_webhook); !url) {
      std::fprintf(stderr, "voxelgate serve: alert webhook: %s\n", url.error().public_message.c_str());
      return 2;
    }
  if (auto ok = clinical.RegisterBuiltins(); !ok) {
    std::fprintf(stderr, "voxelgate serve: %s\n", ok.error().public_message.c_str());
    return 1;
  }
  if (args->Has("demo"))
    if (auto ok = EnsureDemoSubscription(**ctx, clinical.licensing); !ok) {
      std::fprintf(stderr, "voxelgate serve: demo subscription: %s\n", ok.error().public_message.c_str());
      return 1;
    }
  // Tasks that must run once at a time across a cluster run on its leader (one node; on
  // SQLite, this server). The auto-run scan needs none: a rule's firing is recorded
  // before its run is submitted, so every node may scan.
  auto leader = (*ctx)->catalog->NewLeaderLease();
  // Period ends are also noticed at every check; this catches subscriptions nobody uses.
  Periodic period_ends(std::chrono::seconds(30), [&clinical, &leader] {
    if (!leader->Held()) return;
    if (auto r = clinical.licensing.AdvanceAll(UnixSeconds()); !r)
      LogWarn("subscriptions_not_advanced", "\"detail\":\"" + JsonEscape(r.error().public_message) + "\"");
  });
  // SEG and RTSTRUCT objects that arrived become imported segmentation versions.
  Periodic segmentation_imports(std::chrono::seconds(1), [&clinical, &leader] {
    if (!leader->Held()) return;
    if (auto r = clinical.segmentation_importer.RunOnce(UnixSeconds()); !r)
      LogWarn("segmentation_imports_not_run", "\"detail\":\"" + JsonEscape(r.error().public_message) + "\"");
  });
  jobs::AutoRun auto_run(*(*ctx)->catalog, clinical.runs, clinical.licensing, [&workers] { workers->Notify(); });
  deps.jobs_queued = [&workers] { workers->Notify(); };
  // A job queued (or a slot freed) on another node of a cluster wakes this node's workers.
  auto job_wakeups = config.job_workers > 0 ? (*ctx)->catalog->ListenForJobs([&workers] { workers->Notify(); })
                                            : nullptr;
  clinical.monitoring.OnJobQueued([&workers] { workers->Notify(); });
  clinical.result_forms.OnJobQueued([&workers] { workers->Notify(); });
  clinical.shadow_runs.OnJobQueued([&workers] { workers->Notify(); });
  clinical.acceptance.OnJobQueued([&workers] { workers->Notify(); });
  // Alerts: a flag on the vendor's dashboard always; a POST to the webhook when one is set.
  services::AlertNotifier alert_notifier(
      [&clinical, thresholds = deps.alert_thresholds](std::int64_t now) { return clinical.monitoring.Alerts(thresholds, now); },
      [url = config.alert_webhook](const std::string& body) -> Result<void> {
        auto response = http::Post(url, "application/json", body, std::chrono::seconds(10));
        if (!response) return std::unexpected(response.error());
        if (response->status < 200 || response->status > 299)
          return Fail(ErrorCode::kUnavailable, "the alert webhook answered " + std::to_string(response->status));
        return {};
      });
  Periodic alerts(std::chrono::seconds(std::max(1, config.alert_interval_s)), [&alert_notifier, &leader] {
    if (!leader->Held()) return;
    if (auto sent = alert_notifier.Tick(UnixSeconds()); !sent)
      LogWarn("alert_not_delivered", "\"detail\":\"" + JsonEscape(sent.error().public_message) + "\"");
    else if (*sent > 0)
      LogInfo("alerts_delivered", "\"count\":" + std::to_string(*sent));
  });
  // Deployments: scheduled promotions take effect on time (every use also applies them),
  // and every change goes to the webhook, at least once, in order.
  Periodic deployments(std::chrono::seconds(5), [&clinical, &leader, url = config.alert_webhook] {
    if (!leader->Held()) return;
    if (auto advanced = clinical.deployments.AdvanceAll(UnixSeconds()); !advanced)
      LogWarn("deployments_not_advanced", "\"detail\":\"" + JsonEscape(advanced.error().public_message) + "\"");
    if (url.empty()) return;
    auto sent = clinical.deployments.Notify(
        [&url](const std::string& body) -> Result<void> {
          auto response = http::Post(url, "application/json", body, std::chrono::seconds(10));
          if (!response) return std::unexpected(response.error());
          if (response->status < 200 || response->status > 299)
            return Fail(ErrorCode::kUnavailable, "the webhook answered " + std::to_string(response->status));
          return {};
        },
        UnixSeconds());
    if (!sent) LogWarn("deployment_event_not_delivered", "\"detail\":\"" + JsonEscape(sent.error().public_message) + "\"");
  });
  auto built = api::BuildRouter(deps);
  if (!built) {
    std::fprintf(stderr, "voxelgate serve: %s\n", built.error().public_message.c_str());
    return 1;
  }
  const http::Router& router = *built;

  http::ServerOptions options;
  options.host = address->first;
  options.port = address->second;
  options.threads = config.http_threads;
  options.max_header_bytes = config.max_header_bytes;
  options.max_body_bytes = config.max_body_bytes;
  options.request_timeout_s = config.request_timeout_s;
  options.idle_timeout_s = config.idle_timeout_s;
  options.header_timeout_s = std::max(1, config.header_timeout_s);
  options.min_body_rate = config.min_body_rate;
  options.body_grace_s = config.body_grace_s;
  options.write_timeout_s = std::max(1, config.write_timeout_s);
  options.max_connections = config.max_connections;
  options.max_connections_per_address = config.max_connections_per_address;
  options.long_lived_requests = std::max(1, config.long_lived_requests);
  options.cors_origins = config.cors_origins;
  options.trusted_proxies = config.trusted_proxies;
  if (tls) {
    options.tls_cert_chain_file = (*tls_files)->cert_chain;
    options.tls_key_file = (*tls_files)->key;
  }
  http::Server server(options, router);
  auto port = server.Listen();
  if (!port) {
    std::fprintf(stderr, "voxelgate serve: %s\n", port.error().public_message.c_str());
    return 1;
  }
  auth::DicomAccess dicom_access(*(*ctx)->catalog);
  std::unique_ptr<dimse::DimseServer> dimse_server;
  if (config.dicom_listen != "off") {
    auto dicom_address = ParseHostPort(config.dicom_listen);
    if (!dicom_address) {
      std::fprintf(stderr, "voxelgate serve: --dicom-listen: %s\n", dicom_address.error().public_message.c_str());
      return 2;
    }
    dimse::DimseOptions dimse_options;
    dimse_options.host = dicom_address->first;
    dimse_options.port = dicom_address->second;
    dimse_options.max_associations = std::max(1, config.dicom_max_associations);
    dimse_options.max_associations_per_address = std::max(1, config.dicom_max_associations_per_address);
    dimse_options.artim_timeout_s = std::max(1, config.dicom_artim_timeout_s);
    dimse_options.max_pending = std::max(1, config.dicom_max_pending);
    dimse_options.max_pending_per_address = std::max(1, config.dicom_max_pending_per_address);
    dimse_server = std::make_unique<dimse::DimseServer>(dimse_options, *(*ctx)->archive, dicom_access, audit);
    auto dicom_port = dimse_server->Start();
    if (!dicom_port) {
      std::fprintf(stderr, "voxelgate serve: %s\n", dicom_port.error().public_message.c_str());
      return 1;
    }
    LogInfo("dicom_listening", "\"listen\":\"" + JsonEscape(dicom_address->first) + ":" + std::to_string(*dicom_port) + "\"");
  }
  LogInfo("server_started", "\"listen\":\"" + JsonEscape(address->first) + ":" + std::to_string(*port) +
                                "\",\"data_dir\":\"" + JsonEscape(config.data_dir) + "\",\"fsync\":" +
                                (config.fsync ? "true" : "false") + ",\"tls\":" + (tls ? "true" : "false"));
  std::printf("voxelgate listening on %s://%s:%u (DICOMweb at /dicomweb)\n", tls ? "https" : "http",
              address->first.c_str(), *port);
  if (!demo_logins.empty()) std::printf("\nLogins (also in %s/demo-logins.txt):\n%s\n", config.data_dir.c_str(), demo_logins.c_str());
  std::fflush(stdout);
  if (config.job_workers > 0) workers->Start();
  auto_run.Start();
  period_ends.Start();
  segmentation_imports.Start();
  if (!config.alert_webhook.empty()) alerts.Start();
  deployments.Start();
  // The shared object store's garbage: blobs of requests that never committed.
  Periodic blob_gc(std::chrono::minutes(10), [&ctx, &leader] {
    if (!leader->Held() || !(*ctx)->blob_collector) return;
    auto report = (*ctx)->blob_collector->Collect(UnixSeconds());
    if (!report) LogWarn("blob_gc_failed", "\"detail\":\"" + JsonEscape(report.error().public_message) + "\"");
    else if (report->removed + report->uploads_aborted > 0)
      LogInfo("blob_gc", "\"removed\":" + std::to_string(report->removed) + ",\"kept\":" + std::to_string(report->kept) +
                             ",\"uploads_aborted\":" + std::to_string(report->uploads_aborted));
  });
  if ((*ctx)->blob_collector) blob_gc.Start();
  Periodic checkpoints(std::chrono::minutes(10), [&] {
    if (auto made = checkpoint_now(); !made) LogWarn("audit_checkpoint_failed");
  });
  checkpoints.Start();
  server.Run();
  checkpoints.Stop();
  blob_gc.Stop();
  alerts.Stop();
  segmentation_imports.Stop();
  period_ends.Stop();
  auto_run.Stop();
  workers->Stop();
  if (dimse_server) dimse_server->Stop();
  audit.Flush();
  if (auto made = checkpoint_now(); !made) LogWarn("audit_checkpoint_failed");
  LogInfo("server_stopped");
  return 0;
}

}  // namespace vg::app
