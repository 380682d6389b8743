#include "app/storage_options.h"

#include <cstdlib>

#include "storage/folder_blob_store.h"
#include "storage/intent_blob_store.h"
#include "storage/s3_blob_store.h"

namespace vg::app {
namespace {

bool StartsWith(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

std::string EnvOr(const std::string& value, const char* name) {
  if (!value.empty()) return value;
  const char* env = std::getenv(name);
  return env ? env : "";
}

}  // namespace

Result<void> ApplyStorageFlags(const Args& args, ServerConfig& config) {
  if (auto v = args.Get("catalog")) config.catalog = *v;
  if (auto v = args.Get("blob-store")) config.blobs = *v;
  if (auto v = args.Get("s3-endpoint")) config.s3_endpoint = *v;
  if (auto v = args.Get("s3-region")) config.s3_region = *v;
  if (config.catalog != "sqlite:" && !IsSharedCatalog(config))
    return Fail(ErrorCode::kInvalidArgument, "--catalog is sqlite: or a postgresql:// URI");
  if (config.blobs != "folder:") {
    auto s3 = ParseS3Uri(config.blobs);
    if (!s3) return std::unexpected(s3.error());
    if (config.s3_endpoint.empty())
      return Fail(ErrorCode::kInvalidArgument, "an s3:// blob store needs --s3-endpoint (storage.s3_endpoint)");
  }
  return {};
}

bool IsSharedCatalog(const ServerConfig& config) {
  return StartsWith(config.catalog, "postgresql://") || StartsWith(config.catalog, "postgres://");
}

Result<S3Location> ParseS3Uri(const std::string& uri) {
  if (!StartsWith(uri, "s3://")) return Fail(ErrorCode::kInvalidArgument, "--blob-store is folder: or s3://BUCKET[/PREFIX]");
  std::string rest = uri.substr(5);
  S3Location out;
  auto slash = rest.find('/');
  out.bucket = rest.substr(0, slash);
  if (slash != std::string::npos) out.prefix = rest.substr(slash + 1);
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  const auto bad_bucket = [&] {
    if (out.bucket.size() < 3 || out.bucket.size() > 63) return true;
    for (char c : out.bucket)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return true;
    return out.bucket.front() == '-' || out.bucket.front() == '.' || out.bucket.back() == '-' || out.bucket.back() == '.';
  };
  if (bad_bucket())
    return Fail(ErrorCode::kInvalidArgument, "the bucket of " + uri +
                                                 " must be 3 to 63 lower-case letters, digits, dots and hyphens");
  std::string part;
  for (size_t i = 0; i <= out.prefix.size(); ++i) {
    const char c = i < out.prefix.size() ? out.prefix[i] : '/';
    if (c == '/') {
      if (out.prefix.size() && (part.empty() || part == "." || part == ".."))
        return Fail(ErrorCode::kInvalidArgument, "the prefix of " + uri + " has an empty or dot-only part");
      part.clear();
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return Fail(ErrorCode::kInvalidArgument, "the prefix of " + uri + " may hold letters, digits and . _ - / only");
    part += c;
  }
  return out;
}

Result<std::unique_ptr<storage::SqlCatalog>> OpenCatalog(const ServerConfig& config) {
  if (IsSharedCatalog(config)) return storage::SqlCatalog::OpenPostgres(config.catalog);
  return storage::SqlCatalog::Open(config.data_dir + "/catalog.db", config.fsync);
}

Result<BlobBackend> OpenBlobBackend(const ServerConfig& config, storage::BlobIntentStore& intents) {
  if (config.blobs == "folder:") {
    auto folder = storage::FolderBlobStore::Open(config.data_dir + "/blobs", config.fsync);
    if (!folder) return std::unexpected(folder.error());
    return BlobBackend{std::move(*folder), nullptr};
  }
  auto where = ParseS3Uri(config.blobs);
  if (!where) return std::unexpected(where.error());
  storage::S3Options options;
  options.endpoint = config.s3_endpoint;
  options.region = config.s3_region;
  options.access_key = EnvOr(config.s3_access_key, "AWS_ACCESS_KEY_ID");
  options.secret_key = EnvOr(config.s3_secret_key, "AWS_SECRET_ACCESS_KEY");
  options.ca_file = config.s3_ca_file;
  auto client = storage::S3Client::Create(options);
  if (!client) return std::unexpected(client.error());
  storage::S3BlobStoreOptions store;
  store.bucket = where->bucket;
  store.prefix = where->prefix;
  // The bucket is the operator's to make (its policy, versioning and lifecycle are
  // theirs); a loopback endpoint is a test or a single box, where making it helps.
  store.create_bucket = (*client)->OnLoopback();
  auto opened = storage::S3BlobStore::Open(std::shared_ptr<storage::S3Client>(std::move(*client)), store);
  if (!opened) return std::unexpected(opened.error());
  storage::S3BlobStore* s3 = opened->get();
  BlobBackend backend;
  backend.store = std::make_unique<storage::IntentRecordingBlobStore>(std::move(*opened), intents);
  backend.collector = std::make_unique<storage::BlobCollector>(
      intents, *backend.store, [s3](std::chrono::system_clock::time_point before) { return s3->AbortStaleUploads(before); });
  return backend;
}

}  // namespace vg::app
