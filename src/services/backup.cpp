#include "services/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "auth/tenants.h"
#include "core/strings.h"
#include "storage/encrypting_blob_store.h"
#include "storage/folder_blob_store.h"
#include "storage/sql_catalog.h"
#include "storage/sql_db.h"
#include "storage/sql_schema.h"

namespace vg::services {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr int kAttempts = 3;
constexpr std::uintmax_t kMaxManifestBytes = std::uintmax_t{4} << 30;  // ~20 million blobs

struct Digest {
  std::uint64_t size = 0;
  std::string sha256;  // hex
};

std::string BlobPath(const storage::BlobKey& key) {
  return "blobs/t" + std::to_string(key.tenant_id) + "/" + key.name.substr(0, 8) + "/" + key.name;
}

std::string SnapshotId(std::int64_t now) {
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Result<void> SyncPath(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Fail(ErrorCode::kInternal, "cannot open " + path.string() + " to flush it");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Fail(ErrorCode::kInternal, "cannot flush " + path.string());
  return {};
}

Result<void> MakeFolder(const fs::path& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Fail(ErrorCode::kInternal, "cannot create " + path.string() + ": " + ec.message());
  ::chmod(path.c_str(), 0700);
  return {};
}

// Reads `from` to its end, hashing it; with `to`, writes it to `to` through a temporary
// file flushed and renamed into place, so a file under its final name is always whole.
Result<Digest> CopyHashing(const fs::path& from, const std::optional<fs::path>& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, "cannot read " + from.string());
  std::ofstream out;
  fs::path part;
  if (to) {
    if (auto made = MakeFolder(to->parent_path()); !made) return std::unexpected(made.error());
    part = to->string() + ".part";
    out.open(part, std::ios::binary | std::ios::trunc);
    if (!out) return Fail(ErrorCode::kInternal, "cannot write " + part.string());
  }
  crypto::Sha256 sha;
  Digest d;
  std::array<char, 1 << 16> buf{};
  while (in) {
    in.read(buf.data(), buf.size());
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    sha.Update(std::string_view(buf.data(), n));
    d.size += n;
    if (to && !out.write(buf.data(), static_cast<std::streamsize>(n)))
      return Fail(ErrorCode::kInternal, "cannot write " + part.string() + " (is the disk full?)");
  }
  if (in.bad()) return Fail(ErrorCode::kInternal, "cannot read " + from.string());
  d.sha256 = HexEncode(sha.Finish());
  if (to) {
    out.close();
    if (!out) return Fail(ErrorCode::kInternal, "cannot write " + part.string() + " (is the disk full?)");
    if (auto s = SyncPath(part, false); !s) return std::unexpected(s.error());
    std::error_code ec;
    fs::rename(part, *to, ec);
    if (ec) return Fail(ErrorCode::kInternal, "cannot rename " + part.string() + ": " + ec.message());
  }
  return d;
}

Result<json> ReadManifest(const fs::path& dest, const std::string& snapshot) {
  const fs::path path = dest / "snapshots" / snapshot / "manifest.json";
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return Fail(ErrorCode::kNotFound, "no snapshot " + snapshot + " in " + dest.string() + " (" + path.string() + ")");
  if (size > kMaxManifestBytes) return Fail(ErrorCode::kInvalidArgument, path.string() + " is too large for a manifest");
  std::ifstream in(path, std::ios::binary);
  json manifest = json::parse(in, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object() || manifest.value("format", "") != "voxelgate-backup" ||
      !manifest.contains("catalog") || !manifest.contains("blobs") || !manifest["blobs"].is_array())
    return Fail(ErrorCode::kInvalidArgument, path.string() + " is not a voxelgate backup manifest");
  if (manifest.value("format_version", 0) > kFormatVersion)
    return Fail(ErrorCode::kUnsupported, path.string() + " was written by a newer voxelgate (format " +
                                             std::to_string(manifest.value("format_version", 0)) + ")");
  return manifest;
}

Result<std::string> ResolveSnapshot(const std::string& dest, const std::string& snapshot) {
  if (!snapshot.empty()) {
    if (snapshot.find('/') != std::string::npos || snapshot.starts_with("."))
      return Fail(ErrorCode::kInvalidArgument, "a snapshot is named by its id, as `backup list` shows");
    return snapshot;
  }
  auto all = ListSnapshots(dest);
  if (!all) return std::unexpected(all.error());
  if (all->empty()) return Fail(ErrorCode::kNotFound, dest + " holds no snapshot");
  return all->back();
}

// One entry of a manifest's blob list, checked: a manifest is data read from a disk
// someone else may have written.
Result<std::pair<storage::BlobKey, Digest>> BlobEntry(const json& b) {
  if (!b.is_object() || !b.contains("tenant") || !b["tenant"].is_number_integer() || !b.contains("name") ||
      !b["name"].is_string() || !b.contains("size") || !b["size"].is_number_unsigned() || !b.contains("sha256") ||
      !b["sha256"].is_string())
    return Fail(ErrorCode::kInvalidArgument, "a blob entry of the manifest is malformed");
  storage::BlobKey key{b["tenant"].get<std::int64_t>(), b["name"].get<std::string>()};
  if (!storage::IsValidBlobName(key.name) || key.tenant_id < 0)
    return Fail(ErrorCode::kInvalidArgument, "the manifest names a blob that cannot be one");
  return std::pair{key, Digest{b["size"].get<std::uint64_t>(), b["sha256"].get<std::string>()}};
}

Result<Digest> FileEntry(const json& f, std::string* name) {
  if (!f.is_object() || !f.contains("file") || !f["file"].is_string() || !f.contains("size") ||
      !f["size"].is_number_unsigned() || !f.contains("sha256") || !f["sha256"].is_string())
    return Fail(ErrorCode::kInvalidArgument, "a file entry of the manifest is malformed");
  *name = f["file"].get<std::string>();
  if (*name != "catalog.db" && *name != "audit-checkpoint.json")
    return Fail(ErrorCode::kInvalidArgument, "the manifest names a file a backup never holds: " + *name);
  return Digest{f["size"].get<std::uint64_t>(), f["sha256"].get<std::string>()};
}

// The catalog copy as one file again after a catalog opened it (which turns WAL on).
Result<void> AsOneFile(const fs::path& catalog) {
  auto db = storage::sql::Db::OpenSqlite(catalog.string(), false);
  if (!db) return std::unexpected(db.error());
  return db->Exec("PRAGMA journal_mode=DELETE");
}

}  // namespace

Result<std::vector<std::string>> ListSnapshots(const std::string& dest) {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path root = fs::path(dest) / "snapshots";
  if (!fs::exists(root, ec)) return out;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(".") && entry.is_directory() && fs::exists(entry.path() / "manifest.json")) out.push_back(name);
  }
  if (ec) return Fail(ErrorCode::kInternal, "cannot list " + root.string() + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

Result<BackupReport> BackUpDataFolder(const std::string& data_dir, const std::string& dest_text, std::int64_t now) {
  const fs::path data(data_dir), dest(dest_text);
  std::error_code ec;
  if (!fs::is_regular_file(data / "catalog.db", ec))
    return Fail(ErrorCode::kNotFound, data_dir + " holds no catalog.db: not a voxelgate data folder");
  const fs::path dest_abs = fs::weakly_canonical(fs::absolute(dest), ec);
  const fs::path data_abs = fs::weakly_canonical(fs::absolute(data), ec);
  if (dest_abs == data_abs || dest_abs.string().starts_with(data_abs.string() + "/"))
    return Fail(ErrorCode::kInvalidArgument, "the backup cannot be inside the data folder it backs up");
  for (const auto& folder : {dest, dest / "blobs", dest / "snapshots"})
    if (auto made = MakeFolder(folder); !made) return std::unexpected(made.error());
  auto source_blobs = storage::FolderBlobStore::Open((data / "blobs").string(), false);
  if (!source_blobs) return std::unexpected(source_blobs.error());

  // What earlier snapshots already hold, with checksums, so blobs are neither copied nor
  // read again.
  std::map<std::pair<std::int64_t, std::string>, Digest> known;
  if (auto earlier = ListSnapshots(dest_text); earlier && !earlier->empty()) {
    auto manifest = ReadManifest(dest, earlier->back());
    if (!manifest) return std::unexpected(manifest.error());
    for (const auto& b : (*manifest)["blobs"]) {
      auto entry = BlobEntry(b);
      if (!entry) return std::unexpected(entry.error());
      known[{entry->first.tenant_id, entry->first.name}] = entry->second;
    }
  }

  std::string id = SnapshotId(now);
  for (int n = 2; fs::exists(dest / "snapshots" / id, ec); ++n) id = SnapshotId(now) + "-" + std::to_string(n);
  const fs::path partial = dest / "snapshots" / ("." + id + ".partial");
  BackupReport report;
  report.snapshot = id;
  json blobs = json::array();
  std::int64_t instances = 0;
  int schema = 0;
  for (int attempt = 1;; ++attempt) {
    report.attempts = attempt;
    fs::remove_all(partial, ec);
    if (auto made = MakeFolder(partial); !made) return std::unexpected(made.error());
    if (auto copied = storage::sql::CopySqliteOnline((data / "catalog.db").string(), (partial / "catalog.db").string());
        !copied)
      return std::unexpected(copied.error());
    std::vector<storage::BlobKey> keys;
    {
      auto snapshot = storage::SqlCatalog::Open((partial / "catalog.db").string(), false, 1);
      if (!snapshot) return std::unexpected(snapshot.error());
      auto referenced = (*snapshot)->ReferencedBlobs();
      if (!referenced) return std::unexpected(referenced.error());
      keys = std::move(*referenced);
      if (auto stats = (*snapshot)->Stats()) instances = stats->instances;
      schema = storage::LatestSchemaVersion();
    }
    if (auto one = AsOneFile(partial / "catalog.db"); !one) return std::unexpected(one.error());
    blobs = json::array();
    std::int64_t missing = 0;
    for (const auto& key : keys) {
      const fs::path target = dest / BlobPath(key);
      Digest digest;
      if (auto it = known.find({key.tenant_id, key.name}); it != known.end() && fs::exists(target, ec)) {
        digest = it->second;
      } else if (fs::exists(target, ec)) {  // copied by a backup that did not finish
        auto hashed = CopyHashing(target, std::nullopt);
        if (!hashed) return std::unexpected(hashed.error());
        digest = *hashed;
      } else {
        auto copied = CopyHashing((*source_blobs)->PathOf(key), target);
        if (!copied && copied.error().code == ErrorCode::kNotFound)
          copied = CopyHashing((*source_blobs)->StagedPathOf(key), target);  // committed, not yet settled
        if (!copied) {
          if (copied.error().code != ErrorCode::kNotFound) return std::unexpected(copied.error());
          ++missing;  // deleted since the catalog was copied
          continue;
        }
        digest = *copied;
        ++report.blobs_copied;
        report.bytes_copied += static_cast<std::int64_t>(digest.size);
      }
      known[{key.tenant_id, key.name}] = digest;
      blobs.push_back({{"tenant", key.tenant_id}, {"name", key.name}, {"size", digest.size}, {"sha256", digest.sha256}});
    }
    if (missing == 0) break;
    if (attempt == kAttempts)
      return Fail(ErrorCode::kUnavailable, std::to_string(missing) + " blobs the catalog names were removed while the backup "
                                               "ran, " + std::to_string(kAttempts) + " times: try again when fewer "
                                               "studies are being deleted");
  }
  report.blobs = static_cast<std::int64_t>(blobs.size());
  auto catalog = CopyHashing(partial / "catalog.db", std::nullopt);
  if (!catalog) return std::unexpected(catalog.error());
  report.catalog_bytes = static_cast<std::int64_t>(catalog->size);
  json files = json::array({{{"file", "catalog.db"}, {"size", catalog->size}, {"sha256", catalog->sha256}}});
  if (fs::exists(data / "audit-checkpoint.json", ec)) {
    auto checkpoint = CopyHashing(data / "audit-checkpoint.json", partial / "audit-checkpoint.json");
    if (!checkpoint) return std::unexpected(checkpoint.error());
    files.push_back({{"file", "audit-checkpoint.json"}, {"size", checkpoint->size}, {"sha256", checkpoint->sha256}});
  }
  json manifest = {{"format", "voxelgate-backup"}, {"format_version", kFormatVersion}, {"snapshot", id},
                   {"created_at", now}, {"schema_version", schema}, {"instances", instances},
                   {"catalog", files[0]}, {"files", files}, {"blobs", std::move(blobs)}};
  {
    std::ofstream out(partial / "manifest.json", std::ios::binary | std::ios::trunc);
    out << manifest.dump();
    out.close();
    if (!out) return Fail(ErrorCode::kInternal, "cannot write the manifest in " + partial.string());
  }
  if (auto s = SyncPath(partial / "manifest.json", false); !s) return std::unexpected(s.error());
  if (auto s = SyncPath(partial, true); !s) return std::unexpected(s.error());
  // Blob folders were flushed file by file; their entries, and the snapshot's, now.
  for (const auto& entry : fs::recursive_directory_iterator(dest / "blobs", ec))
    if (entry.is_directory()) (void)SyncPath(entry.path(), true);
  (void)SyncPath(dest / "blobs", true);
  fs::rename(partial, dest / "snapshots" / id, ec);
  if (ec) return Fail(ErrorCode::kInternal, "cannot publish the snapshot " + id + ": " + ec.message());
  if (auto s = SyncPath(dest / "snapshots", true); !s) return std::unexpected(s.error());
  return report;
}

Result<RestoreReport> RestoreDataFolder(const std::string& dest_text, const std::string& snapshot_text,
                                        const std::string& data_dir) {
  const fs::path dest(dest_text), data(data_dir);
  auto snapshot = ResolveSnapshot(dest_text, snapshot_text);
  if (!snapshot) return std::unexpected(snapshot.error());
  auto manifest = ReadManifest(dest, *snapshot);
  if (!manifest) return std::unexpected(manifest.error());
  std::error_code ec;
  if (fs::exists(data, ec) && !fs::is_empty(data, ec))
    return Fail(ErrorCode::kConflict, data_dir + " is not empty: a restore makes a new data folder");
  RestoreReport report;
  report.snapshot = *snapshot;
  auto restore = [&]() -> Result<void> {
    if (auto made = MakeFolder(data / "blobs" / ".staged"); !made) return made;
    ::chmod(data.c_str(), 0700);
    auto check = [](const Digest& got, const Digest& want, const std::string& file) -> Result<void> {
      if (got.size != want.size || got.sha256 != want.sha256)
        return Fail(ErrorCode::kUnprocessable, file + " in the backup does not match its checksum: the backup is damaged");
      return {};
    };
    if (!(*manifest).contains("files") || !(*manifest)["files"].is_array())
      return Fail(ErrorCode::kInvalidArgument, "the manifest lists no files");
    for (const auto& f : (*manifest)["files"]) {
      std::string name;
      auto want = FileEntry(f, &name);
      if (!want) return std::unexpected(want.error());
      auto got = CopyHashing(dest / "snapshots" / *snapshot / name, data / name);
      if (!got) return std::unexpected(got.error());
      if (auto ok = check(*got, *want, "snapshots/" + *snapshot + "/" + name); !ok) return ok;
    }
    for (const auto& b : (*manifest)["blobs"]) {
      auto entry = BlobEntry(b);
      if (!entry) return std::unexpected(entry.error());
      const std::string rel = BlobPath(entry->first);
      auto got = CopyHashing(dest / rel, data / rel);
      if (!got) return std::unexpected(got.error());
      if (auto ok = check(*got, entry->second, rel); !ok) return ok;
      ++report.blobs;
      report.bytes += static_cast<std::int64_t>(got->size);
    }
    for (const auto& entry : fs::recursive_directory_iterator(data / "blobs", ec))
      if (entry.is_directory()) (void)SyncPath(entry.path(), true);
    return SyncPath(data, true);
  };
  if (auto done = restore(); !done) {
    fs::remove_all(data, ec);
    return std::unexpected(done.error());
  }
  return report;
}

Result<VerifyReport> VerifyBackup(const std::string& dest_text, const std::string& snapshot_text,
                                  const crypto::SecretKey& master, std::size_t sample) {
  const fs::path dest(dest_text);
  auto snapshot = ResolveSnapshot(dest_text, snapshot_text);
  if (!snapshot) return std::unexpected(snapshot.error());
  auto manifest = ReadManifest(dest, *snapshot);
  if (!manifest) return std::unexpected(manifest.error());
  VerifyReport report;
  report.snapshot = *snapshot;
  auto check = [&](const std::string& rel, const Digest& want) {
    ++report.files_checked;
    auto got = CopyHashing(dest / rel, std::nullopt);
    if (!got) report.problems.push_back({rel, "missing or unreadable"});
    else if (got->size != want.size)
      report.problems.push_back({rel, "size " + std::to_string(got->size) + " instead of " + std::to_string(want.size)});
    else if (got->sha256 != want.sha256) report.problems.push_back({rel, "checksum differs: the file is damaged"});
    return got && got->size == want.size && got->sha256 == want.sha256;
  };
  bool catalog_ok = false;
  if ((*manifest).contains("files") && (*manifest)["files"].is_array()) {
    for (const auto& f : (*manifest)["files"]) {
      std::string name;
      auto want = FileEntry(f, &name);
      if (!want) return std::unexpected(want.error());
      const bool ok = check("snapshots/" + *snapshot + "/" + name, *want);
      if (name == "catalog.db") catalog_ok = ok;
    }
  }
  std::vector<storage::BlobKey> intact;
  for (const auto& b : (*manifest)["blobs"]) {
    auto entry = BlobEntry(b);
    if (!entry) return std::unexpected(entry.error());
    if (check(BlobPath(entry->first), entry->second)) intact.push_back(entry->first);
  }
  if (!catalog_ok || sample == 0 || intact.empty()) return report;

  // Decrypt a sample with the master key, through a copy of the catalog (opening one
  // writes to it; the backup stays as it is).
  const fs::path scratch = fs::temp_directory_path() / ("voxelgate-verify-" + crypto::RandomHexId(6));
  if (auto made = MakeFolder(scratch); !made) return std::unexpected(made.error());
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{scratch};
  if (auto copied = CopyHashing(dest / "snapshots" / *snapshot / "catalog.db", scratch / "catalog.db"); !copied)
    return std::unexpected(copied.error());
  auto catalog = storage::SqlCatalog::Open((scratch / "catalog.db").string(), false, 1);
  if (!catalog) return std::unexpected(catalog.error());
  auth::TenantDirectory tenants(**catalog, master);
  // The sample read in place: a folder store over the backup's blobs.
  auto backup_blobs = storage::FolderBlobStore::Open((dest / "blobs").string(), false);
  if (!backup_blobs) return std::unexpected(backup_blobs.error());
  storage::EncryptingBlobStore store(std::move(*backup_blobs),
                                     [&tenants](std::int64_t id) { return tenants.DataKey(id); });
  const std::size_t n = std::min(sample, intact.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto& key = intact[i * intact.size() / n];  // spread over the (tenant, name) order
    auto source = store.Get(key);
    bool ok = static_cast<bool>(source);
    std::string why = ok ? "" : source.error().public_message;
    if (ok) {
      std::array<std::uint8_t, 1 << 16> buf{};
      for (;;) {
        auto got = (*source)->Read(buf);
        if (!got) {
          ok = false;
          why = got.error().public_message;
          break;
        }
        if (*got == 0) break;
      }
    }
    if (ok) ++report.decrypted;
    else report.problems.push_back({BlobPath(key), "does not decrypt with this master key: " + why});
  }
  return report;
}

}  // namespace vg::services
