// Audit checkpoints: the head of the audit chain (its last record's id, hash and time)
// signed with an Ed25519 key kept outside the catalog, beside the master key. Whoever
// keeps a checkpoint (the operator, a clinic admin) can later prove that the chain still
// reaches that head: deleting the newest records, editing or reordering any record, or
// rebuilding the chain from some point leaves a chain that no longer does, which
// `voxelgate admin audit verify --against FILE` reports. Someone with the catalog alone
// cannot sign a new checkpoint.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"
#include "crypto/crypto.h"
#include "storage/catalog.h"

namespace vg::auth {

struct AuditCheckpoint {
  std::int64_t id = 0;         // the head record; 0 for an empty chain
  std::string hash_hex;        // its chain hash
  std::int64_t head_ts_ms = 0;  // its time
  std::int64_t made_at_ms = 0;
  std::string public_key_b64;  // the key that signed it
  std::string signature_b64;

  // What the signature covers.
  std::string SignedText() const;
  std::string ToJson() const;
  // kInvalidArgument for anything that is not a checkpoint (the signature is not checked).
  static Result<AuditCheckpoint> FromJson(std::string_view text);
};

// The signing key's file (AUDIT_KEY, mode 0600: the secret and public key, base64, one per
// line), beside the master key: `master_key_file`'s folder / "audit-signing.key".
std::string AuditSigningKeyFile(const std::string& master_key_file);
// Loads the key, or creates it when missing and `create_if_missing`.
Result<crypto::SigningKeyPair> LoadOrCreateAuditSigningKey(const std::string& path, bool create_if_missing);

// Writes `text` to `path` whole or not at all (a temporary file, fsync, rename).
Result<void> WriteCheckpointFile(const std::string& path, const std::string& text);

// A checkpoint of the chain's head now.
Result<AuditCheckpoint> MakeAuditCheckpoint(storage::Catalog& catalog, const crypto::SigningKeyPair& key);

// Checks `checkpoint` against the chain: signed by `trusted_public_key_b64`, the chain
// intact, and its record `checkpoint.id` still the one signed. An empty `problem` when all
// hold; else the first problem found, in words.
struct CheckpointVerdict {
  std::string problem;
  std::int64_t records = 0;
};
Result<CheckpointVerdict> VerifyAgainstCheckpoint(storage::Catalog& catalog, const AuditCheckpoint& checkpoint,
                                                  const std::string& trusted_public_key_b64);

}  // namespace vg::auth
