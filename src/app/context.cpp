#include "app/context.h"
#include "core/strings.h"
#include "core/clock.h"
#include <fstream>

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "dicom/structure_check.h"
#include "app/storage_options.h"
#include "core/logging.h"

namespace vg::app {

std::string MasterKeyFile(const ServerConfig& config) {
  if (!config.master_key_file.empty()) return config.master_key_file;
  const char* env = std::getenv("VOXELGATE_MASTER_KEY_FILE");
  return env && *env ? env : config.data_dir + "/keys/master.key";
}

std::string BuiltInLicencePublicKey() { return VG_LICENCE_PUBLIC_KEY; }
bool BuiltWithTestLicenceKey() {
#ifdef VG_LICENCE_KEY_IS_TEST
  return true;
#else
  return false;
#endif
}
bool DevelopmentLicenceKeys() {
#ifdef VG_DEV_LICENCE_KEYS
  return true;
#else
  return false;
#endif
}

Result<std::pair<std::string, bool>> InstallationId(AppContext& ctx) {
  const crypto::SecretKey key = ctx.tenants->InstallationKey(1, "installa");
  const storage::SealedBytes candidate = crypto::Seal(key, crypto::RandomHexId(16), "installation id");
  auto stored = ctx.catalog->InstallationSealed(candidate);
  if (!stored) return std::unexpected(stored.error());
  auto id = crypto::Open(key, stored->first, "installation id");
  if (!id)
    return Fail(ErrorCode::kForbidden, "the installation id in the catalog was not sealed with this master key (edited, "
                                       "or copied from another installation)");
  return std::make_pair(*id, stored->second);
}

bool MasterKeyInsideDataFolder(const ServerConfig& config) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path data = fs::weakly_canonical(fs::absolute(config.data_dir), ec);
  const fs::path key = fs::weakly_canonical(fs::absolute(MasterKeyFile(config)), ec);
  return services::PathWithin(key, data);
}

services::AlgorithmConfinement AlgorithmConfinementFor(const ServerConfig& config) {
  namespace fs = std::filesystem;
  services::AlgorithmConfinement c;
  fs::path data = fs::absolute(config.data_dir).lexically_normal();
  if (data.filename().empty()) data = data.parent_path();  // "var/"
  c.root = config.algorithms_root.empty() ? (data.parent_path() / "algorithms").string()
                                          : fs::absolute(config.algorithms_root).lexically_normal().string();
  c.protected_folders = {data.string(), fs::absolute(MasterKeyFile(config)).lexically_normal().parent_path().string()};
  return c;
}

Result<std::unique_ptr<AppContext>> OpenContext(const ServerConfig& config) {
  auto ctx = std::make_unique<AppContext>();
  ctx->config = config;
  // Every DICOM read of this process (ingest, SEG, de-identification, DIMSE) checks these.
  dicom::SetDefaultStructureLimits(
      dicom::StructureLimits{std::clamp(config.max_dicom_depth, 8, 512), std::max<std::uint64_t>(config.max_decompressed_bytes, 1 << 20)});
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) return Fail(ErrorCode::kInternal, "cannot create the data folder " + config.data_dir + ": " + ec.message());
  ::chmod(config.data_dir.c_str(), 0700);

  const std::string key_file = MasterKeyFile(config);
  // Every node of a cluster must hold the same key: one made here would be this node's
  // alone and would make the others' data unreadable to it (or its data to them).
  const bool shared = IsSharedCatalog(config);
  auto master = crypto::LoadOrCreateKeyFile(key_file, /*create_if_missing=*/!shared);
  if (!master) {
    if (shared)
      return Fail(ErrorCode::kInvalidArgument,
                  "a node of a cluster (a postgresql:// catalog) never makes a master key: supply the cluster's "
                  "(VOXELGATE_MASTER_KEY_FILE or master_key_file); " + master.error().public_message);
    return std::unexpected(master.error());
  }

  auto catalog = OpenCatalog(config);
  if (!catalog) return std::unexpected(catalog.error());
  ctx->catalog = std::move(*catalog);
  ctx->tenants = std::make_unique<auth::TenantDirectory>(*ctx->catalog, *master);
  // A wrong master key must stop us here, not surface later as unreadable data.
  auto all = ctx->tenants->List();
  if (!all) return std::unexpected(all.error());
  for (const auto& tenant : *all) {
    if (tenant.wrapped_key.empty()) continue;  // purged: its key was shredded on purpose
    if (!ctx->tenants->DataKey(tenant.id))
      return Fail(ErrorCode::kForbidden, "the master key " + key_file + " does not unwrap the key of tenant '" +
                                             tenant.slug + "': it is not the key of this data folder");
  }
  auto backend = OpenBlobBackend(config, *ctx->catalog);
  if (!backend) return std::unexpected(backend.error());
  ctx->blob_collector = std::move(backend->collector);
  if (shared && config.blobs == "folder:")
    LogWarn("blobs_in_node_folder", "\"detail\":\"the catalog is shared but the blobs are in this node's data "
                                    "folder: other nodes cannot read them (use --blob-store s3://...)\"");
  auth::TenantDirectory* tenants = ctx->tenants.get();
  ctx->blobs = std::make_unique<storage::EncryptingBlobStore>(
      std::move(backend->store), [tenants](std::int64_t id) { return tenants->DataKey(id); });
  ctx->tokens = std::make_unique<auth::TokenService>(*ctx->catalog);
  ctx->users = std::make_unique<auth::UserService>(*ctx->catalog);
  if (auto provider = ctx->catalog->FindTenant(auth::kProviderTenant); !provider) {
    if (provider.error().code != ErrorCode::kNotFound) return std::unexpected(provider.error());
    auto created = ctx->tenants->Create(auth::kProviderTenant, "Vendor");
    if (!created && created.error().code != ErrorCode::kConflict) return std::unexpected(created.error());
  }
  ctx->archive = std::make_unique<services::Archive>(
      services::Archive{*ctx->catalog, *ctx->blobs, *ctx->tenants, config.on_conflict, config.max_instance_bytes});
  return ctx;
}

Result<licensing::LicensingOptions> LicensingOptionsFor(AppContext& ctx) {
  licensing::LicensingOptions options;
  const ServerConfig& config = ctx.config;
  options.past_due_grace_seconds = std::int64_t{config.past_due_grace_days} * 86400;
  options.retention_seconds = std::int64_t{config.retention_days} * 86400;
  auto provider = ctx.catalog->FindTenant(auth::kProviderTenant);
  if (!provider) return std::unexpected(provider.error());
  options.provider_tenant_id = provider->id;
  auto installation = InstallationId(ctx);
  if (!installation) return std::unexpected(installation.error());
  options.installation_id = installation->first;
  options.clock_key = ctx.tenants->InstallationKey(2, "licclock");
  if (installation->second) {
    // The upgrade that made the installation id: a clock mark from before seals is sealed now.
    auto sealed = licensing::AdvanceSealedLicenceClock(*ctx.catalog, *options.clock_key, UnixSeconds(), true);
    if (!sealed) return std::unexpected(sealed.error());
  }
  if (!config.licence_public_key_file.empty() && !DevelopmentLicenceKeys())
    return Fail(ErrorCode::kInvalidArgument,
                "this build trusts only the licence key it was built with: --licence-public-key "
                "(licence.public_key_file) exists only in development builds (VOXELGATE_DEV_LICENCE_KEYS)");
  if (config.licence_file.empty()) return options;
  auto read = [](const std::string& path) -> Result<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Fail(ErrorCode::kInvalidArgument, "cannot read " + path);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  auto text = read(config.licence_file);
  if (!text) return std::unexpected(text.error());
  std::string public_key = BuiltInLicencePublicKey();
  if (!config.licence_public_key_file.empty()) {  // a development build only (checked above)
    auto key = read(config.licence_public_key_file);
    if (!key) return std::unexpected(key.error());
    public_key = std::string(Trim(*key));
  }
  auto licence = licensing::ReadLicence(*text, public_key);
  if (!licence) {
    Error e = licence.error();
    e.public_message = "licence " + config.licence_file + ": " + e.public_message;
    return std::unexpected(e);
  }
  auto tenant = ctx.catalog->FindTenant(licence->tenant);
  if (!tenant)
    return Fail(ErrorCode::kInvalidArgument, "licence " + config.licence_file + ": it is for tenant '" + licence->tenant +
                                                 "', which does not exist here (voxelgate admin tenant create)");
  if (licence->installation != installation->first)
    return Fail(ErrorCode::kForbidden, "licence " + config.licence_file + ": it is for installation " +
                                           licence->installation + ", not this one (" + installation->first + ")");
  auto now = licensing::AdvanceSealedLicenceClock(*ctx.catalog, *options.clock_key, UnixSeconds());
  if (!now) {
    Error e = now.error();
    e.public_message = "licence " + config.licence_file + ": " + e.public_message;
    return std::unexpected(e);
  }
  if (*now >= licence->not_after)
    return Fail(ErrorCode::kPaymentRequired, "licence " + config.licence_file + ": it expired on " +
                                                 licensing::FormatDate(licence->not_after));
  if (*now < licence->not_before)
    return Fail(ErrorCode::kPaymentRequired, "licence " + config.licence_file + ": it is valid only from " +
                                                 licensing::FormatDate(licence->not_before));
  options.licence = std::move(*licence);
  return options;
}

}  // namespace vg::app
