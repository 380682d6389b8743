#include <cstdio>
#include <memory>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <ctime>

#include "api/routes.h"
#include "app/args.h"
#include "app/storage_options.h"
#include "storage/sql_schema.h"
#include "app/commands.h"
#include "services/algorithms.h"
#include "services/backup.h"
#include "services/deployments.h"
#include "app/context.h"
#include "licensing/licensing.h"
#include "core/clock.h"
#include "app/demo.h"
#include "auth/audit_checkpoint.h"
#include "crypto/crypto.h"
#include "auth/audit_trail.h"
#include "auth/dicom_access.h"
#include "core/strings.h"
#include "dicom/deid.h"

namespace vg::app {
namespace {

constexpr const char* kAdminHelp = R"(Usage: voxelgate admin --data-dir DIR COMMAND ...

Options: --data-dir DIR, --config FILE and the storage options below (as serve takes them).

Commands (safe to run while the server runs):
  migrate           apply the catalog's schema migrations (nodes also do at start-up)
  keys init --dir DIR   make a cluster's master key and audit signing key (DIR/master.key,
                    DIR/audit-signing.key, mode 0600) to give to every node
                    (VOXELGATE_MASTER_KEY_FILE=DIR/master.key); never replaces a key
  gc [--grace-s N]  remove blobs of the shared object store whose request never committed,
                    written more than N seconds ago (default 3600; the leader does this every
                    ten minutes). A grace shorter than the longest request is safe only while
                    no node is taking writes
  tenant create SLUG [--name NAME] [--ae-title AE]
  tenant set SLUG --accept-any-caller on|off
  tenant set SLUG --deid off|basic[+OPTION...] [--deid-reject-modalities SC,OT] [--deid-reject-descriptions TEXT,...]
                  [--deid-trusted-senders USER,...]
        de-identify every instance at ingest (PS3.15 Basic Profile; options: voxelgate deid --help);
        instances from a trusted sender (the clinic's gateway user) that say they were
        de-identified by the profile are checked instead, and refused if anything identifying is left
  tenant list
  installation      print this installation's id (a licence names it: voxelgate licence issue --installation)
  dicom-node add --tenant SLUG --ae AE --host HOST --port PORT [--role service|uploader]
  dicom-node list --tenant SLUG
  dicom-node remove --tenant SLUG --ae AE
  token create --tenant SLUG --name NAME --scope dicomweb:read,dicomweb:write[,admin]
               [--user USERNAME] [--expires-in SECONDS]
                 prints the bearer token, alone on one line, once; without --user the token
                 belongs to the tenant's service user; a token never does more than its user
  token revoke --tenant SLUG --name NAME
  token list --tenant SLUG
  bootstrap         create the vendor's first provider_admin ("admin"); prints a one-time password
  user create --tenant SLUG --username NAME --role ROLE --password-stdin
                 (token-only roles uploader and service take no password)
  user list --tenant SLUG
  user disable|enable --username NAME     (disabling ends the user's sessions and tokens)
  audit verify [--against CHECKPOINT]
                    exit 0 when the audit chain is intact (and still reaches the signed
                    checkpoint's head); else exit 1 naming the first problem
  audit checkpoint --out FILE
                    the chain's head signed with the audit key (beside the master key)
  audit list [--tenant SLUG] [--after ID] [--limit N]
  routes            the HTTP routes with the policy of each, as JSON
  plan create|edit NAME --runs N [--algorithms all|ID,...] [--features annotation,export,auto_run,api_tokens]
               [--overage block|allow] [--max-users N] [--price-note TEXT]
                                     a plan's new version (create: the first; edit: the next)
  plan list
  subscription activate|renew|suspend|resume|cancel|change-plan --tenant SLUG [--plan NAME]
               [--reason TEXT] [--immediately] [--trial]
  subscription show --tenant SLUG
  usage [--tenant SLUG] [--period YYYY-MM] [--csv]
  algorithm add FILE                 register an algorithm version from its manifest (TOML); a process
                                     runner's folder must be inside the algorithms root
                                     (--algorithms-root DIR, default: algorithms beside the data folder)
  algorithm list                     every registered version (id, version, default, enabled, runner)
  algorithm default ID VERSION       make VERSION the one that runs when none is named
  algorithm withdraw|restore ID VERSION   stop or allow new runs of a version
  backup --to DEST                   a consistent snapshot of this data folder (catalog and the
                                     blobs it names) into DEST, while the server runs; later
                                     backups to DEST copy only new blobs. Never the master key:
                                     keep it apart. (A cluster: docs/deploy-cluster.md)
  backup list DEST                   the snapshots in DEST
  backup verify DEST [--snapshot ID] [--sample N] [--master-key FILE]
                                     exit 0 when every file of the snapshot (default: the newest)
                                     matches its checksum and N blobs (default 16) decrypt with the
                                     master key (default: the data folder's); else 1, naming each
  restore --from DEST [--snapshot ID] --data-dir NEW
                                     a new data folder from a snapshot, every checksum checked;
                                     then put the installation's master.key and audit-signing.key in
                                     NEW/keys/ (or VOXELGATE_MASTER_KEY_FILE) and start the server on NEW
)";

// Admin actions are audited synchronously: the command returns once its record is written.
void AuditAdmin(AppContext& ctx, std::optional<std::int64_t> tenant_id, const std::string& action,
                const std::string& object) {
  storage::AuditEvent event;
  event.tenant_id = tenant_id;
  event.actor = "admin";
  event.actor_kind = "admin";
  event.action = action;
  event.object = object;
  event.outcome = "ok";
  event.remote = "cli";
  auth::AuditTrail(*ctx.catalog, /*synchronous=*/true).Record(std::move(event));
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "voxelgate admin: %s\n\n%s", message.c_str(), kAdminHelp);
  return 2;
}

int Failed(const Error& error) {
  std::fprintf(stderr, "voxelgate admin: %s\n", error.public_message.c_str());
  return error.code == ErrorCode::kInvalidArgument ? 2 : 1;
}

std::string FormatTime(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
  return buf;
}

int Tenant(AppContext& ctx, const Args& args) {
  const auto& words = args.positional();
  if (words.size() >= 2 && words[1] == "create") {
    if (words.size() != 3) return Usage("tenant create takes one SLUG");
    auto tenant = ctx.tenants->Create(words[2], args.Get("name").value_or(""), args.Get("ae-title").value_or(""));
    if (!tenant) return Failed(tenant.error());
    AuditAdmin(ctx, tenant->id, "admin.tenant.create", "tenant=" + tenant->slug + " ae_title=" + tenant->ae_title);
    std::printf("created tenant %s (AE title %s)\n", tenant->slug.c_str(), tenant->ae_title.c_str());
    return 0;
  }
  if (words.size() >= 2 && words[1] == "set") {
    if (words.size() != 3) return Usage("tenant set takes one SLUG");
    auto tenant = ctx.tenants->Find(words[2]);
    if (!tenant) return Failed(tenant.error());
    auto any = args.Get("accept-any-caller");
    auto deid = args.Get("deid");
    auto reject_modalities = args.Get("deid-reject-modalities");
    auto reject_descriptions = args.Get("deid-reject-descriptions");
    auto trusted = args.Get("deid-trusted-senders");
    if (!any && !deid && !reject_modalities && !reject_descriptions && !trusted)
      return Usage("tenant set needs --accept-any-caller on|off, or --deid off|PROFILE with "
                   "[--deid-reject-modalities LIST] [--deid-reject-descriptions LIST] [--deid-trusted-senders USERS]");
    if (any) {
      if (*any != "on" && *any != "off") return Usage("--accept-any-caller is on or off");
      if (auto r = ctx.catalog->SetAcceptAnyCaller(tenant->id, *any == "on"); !r) return Failed(r.error());
      AuditAdmin(ctx, tenant->id, "admin.tenant.set", "accept_any_caller=" + *any);
      std::printf("tenant %s accepts %s\n", tenant->slug.c_str(), *any == "on" ? "any calling AE" : "registered nodes only");
    }
    if (deid || reject_modalities || reject_descriptions || trusted) {
      std::string profile = deid.value_or(tenant->deid_profile);
      if (profile != "off") {
        auto parsed = dicom::ParseDeidProfile(profile);
        if (!parsed) return Failed(parsed.error());
        profile = parsed->Name();
      }
      const std::string modalities = reject_modalities.value_or(tenant->deid_reject_modalities);
      const std::string descriptions = reject_descriptions.value_or(tenant->deid_reject_descriptions);
      const std::string senders = trusted.value_or(tenant->deid_trusted_senders);
      if (auto r = ctx.catalog->SetTenantPrivacy(tenant->id, profile, modalities, descriptions, senders); !r)
        return Failed(r.error());
      AuditAdmin(ctx, tenant->id, "admin.tenant.set",
                 "deid=" + profile + " reject_modalities=" + modalities + " reject_descriptions=" + descriptions +
                     " trusted_senders=" + senders);
      std::printf("tenant %s de-identifies at ingest: %s; refuses modalities [%s] and descriptions [%s]; "
                  "trusts [%s] to send de-identified instances\n",
                  tenant->slug.c_str(), profile.c_str(), modalities.c_str(), descriptions.c_str(), senders.c_str());
    }
    return 0;
  }
  if (words.size() == 2 && words[1] == "list") {
    auto tenants = ctx.tenants->List();
    if (!tenants) return Failed(tenants.error());
    for (const auto& t : *tenants)
      std::printf("%s\t%s\t%s\t%s\n", t.slug.c_str(), t.name.c_str(), t.ae_title.c_str(), FormatTime(t.created_at).c_str());
    return 0;
  }
  return Usage("unknown tenant command");
}

int Token(AppContext& ctx, const Args& args) {
  const auto& words = args.positional();
  if (words.size() != 2) return Usage("token takes create, revoke or list");
  auto slug = args.Get("tenant");
  if (!slug) return Usage("--tenant is required");
  auto tenant = ctx.tenants->Find(*slug);
  if (!tenant) return Failed(tenant.error());
  if (words[1] == "create") {
    auto name = args.Get("name");
    auto scope = args.Get("scope");
    if (!name || !scope) return Usage("token create needs --name and --scope");
    std::vector<std::string> scopes;
    for (auto s : Split(*scope, ',')) scopes.emplace_back(Trim(s));
    std::optional<std::int64_t> expires;
    if (auto e = args.Get("expires-in")) {
      auto n = ParseUint(*e);
      if (!n || *n == 0) return Usage("--expires-in is a positive number of seconds");
      expires = static_cast<std::int64_t>(*n);
    }
    // Without --user the token belongs to the tenant's service user (a PACS bridge, a script).
    auto owner = args.Get("user") ? ctx.catalog->FindUser(*args.Get("user")) : ctx.users->EnsureServiceUser(*tenant);
    if (!owner) return Failed(owner.error());
    if (owner->tenant_id != tenant->id) return Usage("the user belongs to another tenant");
    auto token = ctx.tokens->Create(*owner, *name, scopes, expires);
    if (!token) return Failed(token.error());
    AuditAdmin(ctx, tenant->id, "admin.token.create",
               "token=" + *name + " user=" + owner->username + " scope=" + *scope);
    std::printf("%s\n", token->c_str());
    return 0;
  }
  if (words[1] == "revoke") {
    auto name = args.Get("name");
    if (!name) return Usage("token revoke needs --name");
    if (auto r = ctx.tokens->Revoke(*tenant, *name); !r) return Failed(r.error());
    AuditAdmin(ctx, tenant->id, "admin.token.revoke", "token=" + *name);
    std::printf("revoked token %s\n", name->c_str());
    return 0;
  }
  if (words[1] == "list") {
    auto tokens = ctx.catalog->ListTokens(tenant->id);
    if (!tokens) return Failed(tokens.error());
    for (const auto& t : *tokens) {
      std::string scopes;
      for (const auto& s : t.scopes) scopes += (scopes.empty() ? "" : ",") + s;
      std::string state = t.revoked_at ? "revoked" : "active";
      auto owner = ctx.catalog->FindUserById(t.user_id);
      std::printf("%s\t%s\t%s\t%s\texpires=%s\n", t.name.c_str(), owner ? owner->username.c_str() : "-",
                  scopes.c_str(), state.c_str(), t.expires_at ? FormatTime(*t.expires_at).c_str() : "never");
    }
    return 0;
  }
  return Usage("unknown token command");
}

int DicomNode(AppContext& ctx, const Args& args) {
  const auto& words = args.positional();
  if (words.size() != 2) return Usage("dicom-node takes add, list or remove");
  auto slug = args.Get("tenant");
  if (!slug) return Usage("--tenant is required");
  auto tenant = ctx.tenants->Find(*slug);
  if (!tenant) return Failed(tenant.error());
  auth::DicomAccess access(*ctx.catalog);
  if (words[1] == "add") {
    auto ae = args.Get("ae");
    auto host = args.Get("host");
    auto port = args.Get("port");
    if (!ae || !host || !port) return Usage("dicom-node add needs --ae, --host and --port");
    auto number = ParseUint(*port);
    if (!number || *number > 65535) return Usage("--port is 1-65535");
    const std::string role = args.Get("role").value_or("service");
    if (auto r = access.AddNode(tenant->id, *ae, *host, static_cast<int>(*number), role); !r) return Failed(r.error());
    AuditAdmin(ctx, tenant->id, "admin.dicom_node.add",
               "ae=" + *ae + " host=" + *host + " port=" + *port + " role=" + role);
    std::printf("added node %s (%s:%s) to tenant %s\n", ae->c_str(), host->c_str(), port->c_str(), slug->c_str());
    return 0;
  }
  if (words[1] == "list") {
    auto nodes = ctx.catalog->ListDicomNodes(tenant->id);
    if (!nodes) return Failed(nodes.error());
    for (const auto& n : *nodes)
      std::printf("%s\t%s\t%d\t%s\n", n.ae_title.c_str(), n.host.c_str(), n.port, n.role.c_str());
    return 0;
  }
  if (words[1] == "remove") {
    auto ae = args.Get("ae");
    if (!ae) return Usage("dicom-node remove needs --ae");
    if (auto r = ctx.catalog->RemoveDicomNode(tenant->id, *ae); !r) return Failed(r.error());
    AuditAdmin(ctx, tenant->id, "admin.dicom_node.remove", "ae=" + *ae);
    std::printf("removed node %s from tenant %s\n", ae->c_str(), slug->c_str());
    return 0;
  }
  return Usage("unknown dicom-node command");
}

int User(AppContext& ctx, const Args& args) {
  const auto& words = args.positional();
  if (words.size() != 2) return Usage("user takes create, list, disable or enable");
  if (words[1] == "create") {
    auto slug = args.Get("tenant");
    auto username = args.Get("username");
    auto role = args.Get("role");
    const bool token_only = role && auth::IsTokenOnlyRole(*role);
    if (!slug || !username || !role || (!token_only && !args.Has("password-stdin")))
      return Usage("user create needs --tenant, --username, --role and (for people) --password-stdin");
    auto tenant = ctx.tenants->Find(*slug);
    if (!tenant) return Failed(tenant.error());
    std::string password;
    if (!token_only) std::getline(std::cin, password);
    auto user = ctx.users->Create(*tenant, *username, *role, password);
    if (!user) return Failed(user.error());
    AuditAdmin(ctx, tenant->id, "admin.user.create", "user=" + *username + " role=" + *role);
    std::printf("created user %s (%s) in tenant %s\n", username->c_str(), role->c_str(), slug->c_str());
    return 0;
  }
  if (words[1] == "list") {
    auto slug = args.Get("tenant");
    if (!slug) return Usage("user list needs --tenant");
    auto tenant = ctx.tenants->Find(*slug);
    if (!tenant) return Failed(tenant.error());
    auto users = ctx.catalog->ListUsers(tenant->id);
    if (!users) return Failed(users.error());
    for (const auto& u : *users)
      std::printf("%s\t%s\t%s\n", u.username.c_str(), u.role.c_str(), u.disabled_at ? "disabled" : "active");
    return 0;
  }
  if (words[1] == "disable" || words[1] == "enable") {
    auto username = args.Get("username");
    if (!username) return Usage("user " + words[1] + " needs --username");
    auto user = ctx.catalog->FindUser(*username);
    if (!user) return Failed(user.error());
    if (auto r = ctx.catalog->SetUserDisabled(user->id, words[1] == "disable"); !r) return Failed(r.error());
    AuditAdmin(ctx, user->tenant_id, "admin.user." + words[1], "user=" + *username);
    std::printf("%sd user %s\n", words[1].c_str(), username->c_str());
    return 0;
  }
  return Usage("unknown user command");
}

int Audit(AppContext& ctx, const Args& args) {
  const auto& words = args.positional();
  if (words.size() == 2 && words[1] == "checkpoint") {
    auto out = args.Get("out");
    if (!out) return Usage("audit checkpoint needs --out FILE");
    auto key = auth::LoadOrCreateAuditSigningKey(auth::AuditSigningKeyFile(MasterKeyFile(ctx.config)), !IsSharedCatalog(ctx.config));
    if (!key) return Failed(key.error());
    auto checkpoint = auth::MakeAuditCheckpoint(*ctx.catalog, *key);
    if (!checkpoint) return Failed(checkpoint.error());
    if (auto ok = auth::WriteCheckpointFile(*out, checkpoint->ToJson()); !ok) return Failed(ok.error());
    std::printf("audit checkpoint: record %lld, written to %s\n", static_cast<long long>(checkpoint->id), out->c_str());
    return 0;
  }
  if (words.size() == 2 && words[1] == "verify" && args.Get("against")) {
    std::ifstream in(*args.Get("against"), std::ios::binary);
    if (!in) return Usage("cannot read " + *args.Get("against"));
    std::string text((std::istreambuf_iterator<char>(in)), {});
    auto checkpoint = auth::AuditCheckpoint::FromJson(text);
    if (!checkpoint) return Failed(checkpoint.error());
    auto key = auth::LoadOrCreateAuditSigningKey(auth::AuditSigningKeyFile(MasterKeyFile(ctx.config)), false);
    if (!key) return Failed(key.error());
    auto verdict = auth::VerifyAgainstCheckpoint(*ctx.catalog, *checkpoint, key->public_key_b64);
    if (!verdict) return Failed(verdict.error());
    if (!verdict->problem.empty()) {
      std::printf("audit chain does NOT reach the checkpoint (record %lld): %s\n", static_cast<long long>(checkpoint->id),
                  verdict->problem.c_str());
      return 1;
    }
    std::printf("audit chain intact and reaches the checkpoint (record %lld): %lld records\n",
                static_cast<long long>(checkpoint->id), static_cast<long long>(verdict->records));
    return 0;
  }
  if (words.size() == 2 && words[1] == "verify") {
    auto result = ctx.catalog->VerifyAudit();
    if (!result) return Failed(result.error());
    if (result->first_bad_id) {
      std::printf("audit chain BROKEN at record %lld: %s (%lld records read)\n",
                  static_cast<long long>(*result->first_bad_id), result->problem.c_str(),
                  static_cast<long long>(result->records));
      return 1;
    }
    std::printf("audit chain intact: %lld records\n", static_cast<long long>(result->records));
    return 0;
  }
  if (words.size() == 2 && words[1] == "list") {
    storage::AuditFilter filter;
    if (auto slug = args.Get("tenant")) {
      auto tenant = ctx.tenants->Find(*slug);
      if (!tenant) return Failed(tenant.error());
      filter.tenant_id = tenant->id;
    }
    if (auto after = args.Get("after")) filter.after_id = static_cast<std::int64_t>(ParseUint(*after).value_or(0));
    if (auto limit = args.Get("limit")) filter.limit = static_cast<std::int64_t>(ParseUint(*limit).value_or(100));
    auto records = ctx.catalog->ListAudit(filter);
    if (!records) return Failed(records.error());
    for (const auto& r : *records) {
      std::printf("%lld\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", static_cast<long long>(r.id),
                  FormatTime(r.ts_ms / 1000).c_str(),
                  r.event.tenant_id ? std::to_string(*r.event.tenant_id).c_str() : "-", r.event.actor.c_str(),
                  r.event.action.c_str(), r.event.object.c_str(), r.event.outcome.c_str(), r.event.remote.c_str());
    }
    return 0;
  }
  return Usage("audit takes verify [--against FILE], checkpoint --out FILE or list");
}

}  // namespace

Result<licensing::Licensing*> AdminLicensing(AppContext& ctx) {
  static std::unique_ptr<licensing::Licensing> instance;
  if (!instance) {
    auto options = LicensingOptionsFor(ctx);
    if (!options) return std::unexpected(options.error());
    instance = std::make_unique<licensing::Licensing>(*ctx.catalog, *ctx.catalog, std::move(*options));
  }
  return instance.get();
}

int PlanCommand(AppContext& ctx, const Args& args) {
  const auto& words = args.positional();
  auto lic = AdminLicensing(ctx);
  if (!lic) return Failed(lic.error());
  if (words.size() == 2 && words[1] == "list") {
    auto plans = (*lic)->ListPlans();
    if (!plans) return Failed(plans.error());
    for (const auto& p : *plans) std::printf("%s\n", licensing::PlanToJson(p).c_str());
    return 0;
  }
  if (words.size() == 3 && (words[1] == "create" || words[1] == "edit")) {
    const bool exists = (*lic)->FindPlan(words[2]).has_value();
    if (words[1] == "create" && exists) return Usage("plan " + words[2] + " exists: `plan edit` makes its next version");
    if (words[1] == "edit" && !exists) return Usage("no plan " + words[2] + ": `plan create` makes it");
    licensing::Plan plan;
    if (exists) plan = *(*lic)->FindPlan(words[2]);  // an edit starts from the latest version
    plan.name = words[2];
    if (auto v = args.Get("runs")) {
      auto n = ParseUint(*v);
      if (!n) return Usage("--runs is a whole number");
      plan.included_runs = static_cast<std::int64_t>(*n);
    } else if (!exists) {
      return Usage("a new plan needs --runs N (runs included per month)");
    }
    if (auto v = args.Get("algorithms")) licensing::SetAlgorithms(plan, *v);
    if (auto v = args.Get("features"))
      if (auto ok = licensing::SetFeatures(plan, *v); !ok) return Failed(ok.error());
    if (auto v = args.Get("overage")) plan.overage = *v;
    if (auto v = args.Get("max-users")) plan.max_users = static_cast<std::int64_t>(ParseUint(*v).value_or(0));
    if (auto v = args.Get("price-note")) plan.price_note = *v;
    auto saved = (*lic)->SavePlan(plan, "admin");
    if (!saved) return Failed(saved.error());
    AuditAdmin(ctx, std::nullopt, "admin.plan.save", "plan=" + saved->name + " version=" + std::to_string(saved->version));
    std::printf("%s\n", licensing::PlanToJson(*saved).c_str());
    return 0;
  }
  return Usage("plan takes create NAME, edit NAME or list");
}

int SubscriptionCommand(AppContext& ctx, const Args& args) {
  const auto& words = args.positional();
  auto lic = AdminLicensing(ctx);
  if (!lic) return Failed(lic.error());
  auto slug = args.Get("tenant");
  if (words.size() != 2 || !slug) return Usage("subscription takes an action and --tenant SLUG");
  auto tenant = ctx.tenants->Find(*slug);
  if (!tenant) return Failed(tenant.error());
  const std::int64_t now = UnixSeconds();
  if (words[1] != "show") {
    auto kind = licensing::ActionFromName(words[1]);
    if (!kind) return Usage("subscription actions: activate, renew, suspend, resume, cancel, change-plan, show");
    licensing::Action action;
    action.kind = *kind;
    action.plan_name = args.Get("plan").value_or("");
    action.reason = args.Get("reason").value_or("");
    action.immediately = args.Has("immediately");
    action.trial = args.Has("trial");
    auto next = (*lic)->Act(tenant->id, action, now);
    if (!next) return Failed(next.error());
    AuditAdmin(ctx, tenant->id, "admin.subscription." + words[1],
               "tenant=" + *slug + " state=" + licensing::StateName(next->state) +
                   (action.plan_name.empty() ? "" : " plan=" + action.plan_name) +
                   (action.reason.empty() ? "" : " reason=" + action.reason));
  }
  auto view = (*lic)->View(tenant->id, now);
  if (!view) return Failed(view.error());
  std::printf("%s\n", view->dump(2).c_str());
  return 0;
}

int UsageCommand(AppContext& ctx, const Args& args) {
  auto lic = AdminLicensing(ctx);
  if (!lic) return Failed(lic.error());
  std::int64_t tenant_id = 0;
  if (auto slug = args.Get("tenant")) {
    auto tenant = ctx.tenants->Find(*slug);
    if (!tenant) return Failed(tenant.error());
    tenant_id = tenant->id;
  }
  const std::string period = args.Get("period").value_or(licensing::FormatDate(UnixSeconds()).substr(0, 7));
  auto report = (*lic)->UsageReport(tenant_id, period);
  if (!report) return Failed(report.error());
  if (args.Has("csv")) std::fputs(licensing::Licensing::UsageCsv(*report).c_str(), stdout);
  else std::printf("%s\n", report->dump(2).c_str());
  return 0;
}

int Algorithm(AppContext& ctx, const Args& args) {
  const auto& words = args.positional();
  services::Algorithms algorithms(*ctx.catalog, AlgorithmConfinementFor(ctx.config));
  if (words.size() == 3 && words[1] == "add") {
    std::ifstream in(words[2], std::ios::binary);
    if (!in) return Usage("cannot read " + words[2]);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    auto registered = algorithms.Register(text, std::filesystem::absolute(words[2]).parent_path().string());
    if (!registered) return Failed(registered.error());
    AuditAdmin(ctx, std::nullopt, "admin.algorithm.add",
               "algorithm=" + registered->first.id + " version=" + registered->first.version);
    std::printf("registered %s %s%s\n", registered->first.id.c_str(), registered->first.version.c_str(),
                registered->first.is_default ? " (default)" : "");
    return 0;
  }
  if (words.size() == 2 && words[1] == "list") {
    auto list = algorithms.List();
    if (!list) return Failed(list.error());
    for (const auto& [record, manifest] : *list)
      std::printf("%s\t%s\t%s\t%s\t%s\n", record.id.c_str(), record.version.c_str(),
                  record.is_default ? "default" : "-", record.enabled ? "enabled" : "withdrawn",
                  manifest.runner.kind.c_str());
    return 0;
  }
  if (words.size() == 4 && (words[1] == "default" || words[1] == "withdraw" || words[1] == "restore")) {
    // A new default reaches only clinics not yet pinned (services/deployments.h).
    services::Deployments deployments(*ctx.catalog, *ctx.catalog, *ctx.catalog);
    auto ok = words[1] == "default" ? deployments.SetDefault(words[2], words[3], "admin", UnixSeconds())
                                    : ctx.catalog->SetAlgorithmEnabled(words[2], words[3], words[1] == "restore");
    if (!ok) return Failed(ok.error());
    AuditAdmin(ctx, std::nullopt, "admin.algorithm." + words[1], "algorithm=" + words[2] + " version=" + words[3]);
    std::printf("%s %s %s\n", words[1].c_str(), words[2].c_str(), words[3].c_str());
    return 0;
  }
  return Usage("algorithm takes add FILE, list, default ID VERSION, withdraw ID VERSION or restore ID VERSION");
}

// backup --to DEST | backup list DEST | backup verify DEST | restore --from DEST.
int Backup(const ServerConfig& config, const Args& args) {
  const auto& words = args.positional();
  const std::string sub = words.size() > 1 ? words[1] : "";
  if (words[0] == "backup" && (sub == "list" || sub == "verify")) {
    if (words.size() != 3) return Usage("backup " + sub + " DEST");
    const std::string dest = words[2];
    if (sub == "list") {
      auto snapshots = services::ListSnapshots(dest);
      if (!snapshots) return Failed(snapshots.error());
      for (const auto& s : *snapshots) std::printf("%s\n", s.c_str());
      return 0;
    }
    std::size_t sample = 16;
    if (auto v = args.Get("sample")) {
      auto n = ParseUint(*v);
      if (!n || *n > 100000) return Usage("--sample is a number of blobs, at most 100000");
      sample = static_cast<std::size_t>(*n);
    }
    const std::string key_file = args.Get("master-key").value_or(MasterKeyFile(config));
    auto master = crypto::LoadOrCreateKeyFile(key_file, /*create_if_missing=*/false);
    if (!master) return Failed(master.error());
    auto report = services::VerifyBackup(dest, args.Get("snapshot").value_or(""), *master, sample);
    if (!report) return Failed(report.error());
    for (const auto& p : report->problems) std::printf("PROBLEM %s: %s\n", p.file.c_str(), p.what.c_str());
    std::printf("snapshot %s: %lld files checked, %lld blobs decrypted with the master key, %zu problems\n",
                report->snapshot.c_str(), static_cast<long long>(report->files_checked),
                static_cast<long long>(report->decrypted), report->problems.size());
    return report->problems.empty() ? 0 : 1;
  }
  if (words.size() != 1) return Usage(words[0] == "backup" ? "backup --to DEST, backup list DEST or backup verify DEST"
                                                           : "restore --from DEST --data-dir NEW");
  if (IsSharedCatalog(config) || config.blobs != "folder:")
    return Usage("backup and restore cover the embedded data folder (SQLite and blob folder); a cluster's "
                 "PostgreSQL and object store are backed up with their own tools (docs/deploy-cluster.md)");
  if (words[0] == "restore") {
    auto from = args.Get("from");
    if (!from || !args.Get("data-dir")) return Usage("restore --from DEST --data-dir NEW");
    auto report = services::RestoreDataFolder(*from, args.Get("snapshot").value_or(""), config.data_dir);
    if (!report) return Failed(report.error());
    std::printf("restored snapshot %s into %s: the catalog and %lld blobs (%lld bytes), every checksum checked\n"
                "the keys are not in a backup: put the installation's master.key and audit-signing.key in %s/keys/\n"
                "(mode 0600), or name the master key with VOXELGATE_MASTER_KEY_FILE and keep the signing key beside it;\n"
                "then start the server on this folder (an older schema is migrated at start)\n",
                report->snapshot.c_str(), config.data_dir.c_str(), static_cast<long long>(report->blobs),
                static_cast<long long>(report->bytes), config.data_dir.c_str());
    return 0;
  }
  auto to = args.Get("to");
  if (!to) return Usage("backup --to DEST");
  auto report = services::BackUpDataFolder(config.data_dir, *to, UnixSeconds());
  if (!report) return Failed(report.error());
  // Recorded in the live catalog's audit trail: a backup is a copy of every clinic's data.
  if (auto ctx = OpenContext(config))
    AuditAdmin(**ctx, std::nullopt, "admin.backup", "snapshot=" + report->snapshot + " blobs=" + std::to_string(report->blobs));
  std::printf("snapshot %s in %s: the catalog (%lld bytes) and %lld blobs, %lld of them new (%lld bytes copied)%s\n",
              report->snapshot.c_str(), to->c_str(), static_cast<long long>(report->catalog_bytes),
              static_cast<long long>(report->blobs), static_cast<long long>(report->blobs_copied),
              static_cast<long long>(report->bytes_copied),
              report->attempts > 1 ? " (taken again: studies were deleted while it ran)" : "");
  return 0;
}

int AdminCommand(const std::vector<std::string>& argv) {
  auto args = Args::Parse(argv, {"help", "password-stdin", "immediately", "trial", "csv"});
  if (!args) return Usage(args.error().public_message);
  if (args->Has("help") || args->positional().empty()) {
    std::fputs(kAdminHelp, stdout);
    std::fputs("\nWhere the catalog and blobs are (a cluster shares them):\n", stdout);
    std::fputs(kStorageHelp, stdout);
    return args->Has("help") ? 0 : 2;
  }
  if (auto r = args->OnlyKnown(WithStorageFlags({"data-dir", "config", "algorithms-root", "deid-trusted-senders", "name", "tenant", "scope", "expires-in", "ae-title", "accept-any-caller",
                                "ae", "host", "port", "after", "limit", "username", "role",
                                "password-stdin", "user", "runs", "algorithms", "features", "overage", "max-users",
                                "price-note", "plan", "reason", "immediately", "trial", "period", "csv", "deid",
                                "deid-reject-modalities", "deid-reject-descriptions", "out", "against", "grace-s", "dir",
                                "to", "from", "snapshot", "sample", "master-key"}));
      !r)
    return Usage(r.error().public_message);
  ServerConfig config;
  if (auto file = args->Get("config"))
    if (auto r = ApplyTomlConfig(*file, config); !r) return Failed(r.error());
  if (auto v = args->Get("data-dir")) config.data_dir = *v;
  if (auto r = ApplyStorageFlags(*args, config); !r) return Usage(r.error().public_message);
  if (auto v = args->Get("algorithms-root")) config.algorithms_root = *v;
  const std::string& command = args->positional()[0];
  if (command == "keys") {
    // A cluster's keys, made once by the operator and given to every node: nodes of a
    // shared catalog never make their own.
    if (args->positional().size() != 2 || args->positional()[1] != "init") return Usage("keys takes init --dir DIR");
    auto dir = args->Get("dir");
    if (!dir) return Usage("keys init needs --dir DIR");
    const std::string master = *dir + "/master.key";
    const std::string audit = auth::AuditSigningKeyFile(master);
    for (const auto& path : {master, audit})
      if (std::filesystem::exists(path)) return Usage(path + " exists already: keys init never replaces a key");
    std::error_code ec;
    std::filesystem::create_directories(*dir, ec);
    ::chmod(dir->c_str(), 0700);
    if (auto made = crypto::LoadOrCreateKeyFile(master, true); !made) return Failed(made.error());
    if (auto made = auth::LoadOrCreateAuditSigningKey(audit, true); !made) return Failed(made.error());
    std::printf("%s\n%s\nkeep both apart from the data and the backups of the catalog and the bucket\n", master.c_str(),
                audit.c_str());
    return 0;
  }
  if (command == "gc") {
    // One garbage collection of the shared object store now (the leader runs one every
    // ten minutes with an hour's grace).
    auto ctx = OpenContext(config);
    if (!ctx) return Failed(ctx.error());
    if (!(*ctx)->blob_collector) return Usage("gc collects a shared object store's garbage: this blob store is a folder");
    std::int64_t grace = 3600;
    if (auto v = args->Get("grace-s")) {
      auto n = ParseUint(*v);
      if (!n || *n < 1) return Usage("--grace-s is a number of seconds, at least 1");
      grace = static_cast<std::int64_t>(*n);
    }
    auto report = (*ctx)->blob_collector->WithGrace(std::chrono::seconds(grace)).Collect(UnixSeconds());
    if (!report) return Failed(report.error());
    std::printf("removed %lld, kept %lld, uploads aborted %lld\n", static_cast<long long>(report->removed),
                static_cast<long long>(report->kept), static_cast<long long>(report->uploads_aborted));
    return 0;
  }
  if (command == "backup" || command == "restore") return Backup(config, *args);
  if (command == "migrate") {
    // Brings the catalog's schema to this version's (every node also does at start-up,
    // one at a time); refuses a schema newer than this voxelgate knows.
    auto catalog = OpenCatalog(config);
    if (!catalog) return Failed(catalog.error());
    std::printf("catalog schema at version %d\n", storage::LatestSchemaVersion());
    return 0;
  }
  auto ctx = OpenContext(config);
  if (!ctx) return Failed(ctx.error());
  const std::string& group = args->positional()[0];
  if (group == "installation") {
    auto id = InstallationId(**ctx);
    if (!id) return Failed(id.error());
    std::printf("%s\n", id->first.c_str());
    return 0;
  }
  if (group == "tenant") return Tenant(**ctx, *args);
  if (group == "token") return Token(**ctx, *args);
  if (group == "dicom-node") return DicomNode(**ctx, *args);
  if (group == "audit") return Audit(**ctx, *args);
  if (group == "user") return User(**ctx, *args);
  if (group == "algorithm") return Algorithm(**ctx, *args);
  if (group == "plan") return PlanCommand(**ctx, *args);
  if (group == "subscription") return SubscriptionCommand(**ctx, *args);
  if (group == "usage") return UsageCommand(**ctx, *args);
  if (group == "routes") {
    // The HTTP route table with each route's policy, as JSON (docs, the authorization matrix test).
    auth::AuditTrail audit(*(*ctx)->catalog, /*synchronous=*/true);
    auth::SupportGrants grants(*(*ctx)->catalog);
    auth::LoginThrottle throttle;
    api::ApiDeps deps{*(*ctx)->archive, *(*ctx)->catalog, *(*ctx)->tokens, *(*ctx)->users, grants, throttle, audit};
    auto router = api::BuildRouter(deps);
    if (!router) return Failed(router.error());
    std::printf("%s\n", api::DescribeRoutes(*router).dump(2).c_str());
    return 0;
  }
  if (group == "bootstrap") {
    auto password = BootstrapProviderAdmin(**ctx);
    if (!password) return Failed(password.error());
    AuditAdmin(**ctx, std::nullopt, "admin.bootstrap", "user=admin role=provider_admin");
    std::printf("created provider_admin 'admin'; one-time password (change it at first sign-in):\n%s\n",
                password->c_str());
    return 0;
  }
  return Usage("unknown command '" + group + "'");
}

}  // namespace vg::app
