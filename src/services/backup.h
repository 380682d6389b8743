// Backups of the embedded data folder (SQLite catalog + blob folder), taken while the
// server runs and ingests, restored into a new folder, verified on their own.
//
// A backup folder holds:
//   blobs/t<tenant>/<8 hex>/<name>   every blob any snapshot needs, as stored (encrypted
//                                    with the clinic's key): blobs never change, so each
//                                    is copied once, and later backups copy only new ones
//   snapshots/<id>/catalog.db        the catalog as of one moment (SQLite's online backup)
//   snapshots/<id>/manifest.json     what the snapshot needs: the catalog and each blob with
//                                    its size and SHA-256, the voxelgate and schema versions
//   snapshots/<id>/audit-checkpoint.json   when the data folder has one
// The master key is never in it: a restore needs the installation's key, kept apart.
//
// Consistency: the catalog is copied first, then the blobs its rows name. A blob is written
// before the row that names it is committed, so every one is there, unless a study was
// deleted between the copy and the blob's turn: then the snapshot is taken again (the blobs
// already copied stay), up to three times.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "crypto/crypto.h"

namespace vg::services {

struct BackupReport {
  std::string snapshot;             // its id: the UTC time, 20261208T041500Z
  std::int64_t blobs = 0;           // blobs the snapshot needs
  std::int64_t blobs_copied = 0;    // of those, new in this backup
  std::int64_t bytes_copied = 0;
  std::int64_t catalog_bytes = 0;
  int attempts = 1;                 // snapshots taken (more than one: studies were deleted meanwhile)
};

// Backs up the data folder `data_dir` (its catalog.db and blobs/) into `dest` (created when
// absent). `now` names the snapshot. Refuses a folder with no catalog.
Result<BackupReport> BackUpDataFolder(const std::string& data_dir, const std::string& dest, std::int64_t now);

struct RestoreReport {
  std::string snapshot;
  std::int64_t blobs = 0;
  std::int64_t bytes = 0;
};

// Rebuilds a data folder at `data_dir` (absent or empty) from the snapshot `snapshot` of the
// backup `dest` (empty: the newest), checking every checksum as it copies; on any mismatch
// it stops, names the file, and removes what it wrote. The master key is not restored.
Result<RestoreReport> RestoreDataFolder(const std::string& dest, const std::string& snapshot,
                                        const std::string& data_dir);

struct VerifyProblem {
  std::string file;  // relative to the backup folder
  std::string what;  // "missing", "size 10 instead of 12", "checksum differs", "does not decrypt ..."
};

struct VerifyReport {
  std::string snapshot;
  std::int64_t files_checked = 0;
  std::int64_t decrypted = 0;  // blobs of the sample read back with the master key
  std::vector<VerifyProblem> problems;
};

// Checks every file the snapshot needs against its manifest, then decrypts up to `sample`
// blobs (spread over the clinics) with `master`: a backup whose key is lost, or whose
// catalog does not match its blobs, fails here rather than at a restore.
Result<VerifyReport> VerifyBackup(const std::string& dest, const std::string& snapshot, const crypto::SecretKey& master,
                                  std::size_t sample);

// The snapshots of a backup folder, oldest first.
Result<std::vector<std::string>> ListSnapshots(const std::string& dest);

}  // namespace vg::services
