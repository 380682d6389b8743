// The composition root: configuration in, wired objects out. Used by `serve` and by
// the admin commands (which open the same data folder, also while a server runs).
#pragma once

#include <memory>

#include "auth/tenants.h"
#include "auth/tokens.h"
#include "auth/users.h"
#include "core/config.h"
#include "licensing/licensing.h"
#include "services/algorithms.h"
#include "services/archive.h"
#include "storage/blob_collector.h"
#include "storage/encrypting_blob_store.h"
#include "storage/sql_catalog.h"

namespace vg::app {

struct AppContext {
  ServerConfig config;
  std::unique_ptr<storage::SqlCatalog> catalog;
  std::unique_ptr<auth::TenantDirectory> tenants;
  std::unique_ptr<storage::EncryptingBlobStore> blobs;
  std::unique_ptr<auth::TokenService> tokens;
  std::unique_ptr<auth::UserService> users;
  std::unique_ptr<services::Archive> archive;
  // The shared object store's garbage collector (run by the leader); null with a folder.
  std::unique_ptr<storage::BlobCollector> blob_collector;
};

// Creates DATA_DIR (0700) when missing, loads or creates the master key, opens (and
// migrates) the catalog and the blob store, and creates the vendor's tenant ("provider")
// on first start.
Result<std::unique_ptr<AppContext>> OpenContext(const ServerConfig& config);

// Licensing settings from the configuration: the vendor's tenant, the grace and retention
// times, and the offline licence when one is configured. A licence that does not verify
// (malformed, tampered, signed by another key, expired) is an error that says which.
Result<licensing::LicensingOptions> LicensingOptionsFor(AppContext& ctx);

// This installation's id (made and stored sealed at first start; a licence names it), and
// whether this call made it.
Result<std::pair<std::string, bool>> InstallationId(AppContext& ctx);
// The vendor's licence public key this binary was built with; whether it is a test key
// made for the build folder; whether this is a development build (--licence-public-key).
std::string BuiltInLicencePublicKey();
bool BuiltWithTestLicenceKey();
bool DevelopmentLicenceKeys();

// The master key's file: master_key_file, else $VOXELGATE_MASTER_KEY_FILE, else
// DATA_DIR/keys/master.key.
std::string MasterKeyFile(const ServerConfig& config);

// True when the master key's file is inside the data folder (the default).
bool MasterKeyInsideDataFolder(const ServerConfig& config);

// Where the vendor's algorithm folders may be (config algorithms.root, by default
// `algorithms` beside the data folder) and what they must never hold: the data folder
// and the folder of the master key.
services::AlgorithmConfinement AlgorithmConfinementFor(const ServerConfig& config);

}  // namespace vg::app
