// Where a process keeps the catalog and the blobs, from ServerConfig: the embedded
// defaults (SQLite and a folder in the data folder) or a cluster's shared PostgreSQL and
// S3 bucket. Every command that opens the catalog (serve, worker, admin) takes the same
// flags (kStorageFlags) and config keys (storage.*).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "app/args.h"
#include "core/config.h"
#include "core/result.h"
#include "storage/blob_collector.h"
#include "storage/blob_store.h"
#include "storage/sql_catalog.h"

namespace vg::app {

inline const std::vector<std::string> kStorageFlags = {"catalog", "blob-store", "s3-endpoint", "s3-region"};
inline constexpr const char* kStorageHelp =
    R"(  --catalog URI             sqlite: (default, DATA_DIR/catalog.db) or postgresql://USER@HOST:PORT/DB
                            (the password from PGPASSWORD or ~/.pgpass, not the command line)
  --blob-store URI          folder: (default, DATA_DIR/blobs) or s3://BUCKET[/PREFIX]
  --s3-endpoint URL         the S3 server (https; http only on loopback); credentials from
                            AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the config
  --s3-region REGION        (default us-east-1)
)";

// `known` and the storage flags, for Args::OnlyKnown.
inline std::vector<std::string> WithStorageFlags(std::vector<std::string> known) {
  known.insert(known.end(), kStorageFlags.begin(), kStorageFlags.end());
  return known;
}

Result<void> ApplyStorageFlags(const Args& args, ServerConfig& config);

// A catalog other processes on other machines share: the master key must be supplied,
// never made, and tasks that must run once run on an elected leader.
bool IsSharedCatalog(const ServerConfig& config);

struct S3Location {
  std::string bucket, prefix;
};
// s3://BUCKET[/PREFIX]: a DNS-style bucket name; a prefix of letters, digits and . _ - /
// without empty or dot-only parts.
Result<S3Location> ParseS3Uri(const std::string& uri);

// Opens (and migrates) the catalog the configuration names.
Result<std::unique_ptr<storage::SqlCatalog>> OpenCatalog(const ServerConfig& config);
// The blob backend the configuration names, without encryption (the caller wraps it).
// An object store records each blob's intent in `intents` before writing it, and comes
// with its garbage collector.
struct BlobBackend {
  std::unique_ptr<storage::BlobStore> store;
  std::unique_ptr<storage::BlobCollector> collector;  // null for a folder
};
Result<BlobBackend> OpenBlobBackend(const ServerConfig& config, storage::BlobIntentStore& intents);

}  // namespace vg::app
