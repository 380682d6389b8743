// crypto: the only user of libsodium. Random tokens, hashes, per-tenant keys and
// authenticated encryption (one-shot for small records, streaming for blobs).
// All functions are thread-safe once Initialize() has returned.
#pragma once

#include <array>
#include <optional>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace vg::crypto {

using Bytes = std::vector<std::uint8_t>;
constexpr size_t kKeyBytes = 32;

// Must be called once before anything else here; aborts if libsodium cannot start.
void Initialize();

// A 256-bit symmetric key, wiped from memory on destruction.
class SecretKey {
 public:
  SecretKey() { bytes_.fill(0); }
  explicit SecretKey(std::span<const std::uint8_t> bytes);
  ~SecretKey();
  SecretKey(const SecretKey& other) : bytes_(other.bytes_) {}
  SecretKey& operator=(const SecretKey& other) { bytes_ = other.bytes_; return *this; }
  static SecretKey Generate();
  const std::uint8_t* data() const { return bytes_.data(); }
 private:
  std::array<std::uint8_t, kKeyBytes> bytes_;
};

Bytes RandomBytes(size_t count);
// 32 random bytes as URL-safe base64 without padding: the form of every bearer token.
std::string RandomToken();
// Random lowercase hex id of `bytes` bytes (blob names, request ids).
std::string RandomHexId(size_t bytes);

// SHA-256, incremental.
class Sha256 {
 public:
  Sha256();
  void Update(std::span<const std::uint8_t> data);
  void Update(std::string_view data);
  std::array<std::uint8_t, 32> Finish();
 private:
  alignas(64) std::uint8_t state_[128];
};
std::array<std::uint8_t, 32> Sha256Of(std::string_view data);

// Keyed BLAKE2b-256: the same input under the same key always gives the same digest;
// without the key the input cannot be confirmed. Used for searchable identifiers.
std::array<std::uint8_t, 32> KeyedHash(const SecretKey& key, std::string_view data);

// Compares two byte strings in time independent of where they differ.
bool ConstantTimeEquals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// Passwords: argon2id (libsodium's interactive limits: ~64 MiB, a few tens of ms).
// The result is a self-describing string ($argon2id$v=19$m=...).
Result<std::string> HashPassword(std::string_view password);
// Constant-time comparison inside libsodium; false for a malformed hash.
bool VerifyPassword(const std::string& hash, std::string_view password);

// One-shot XChaCha20-Poly1305: nonce || ciphertext. `context` is bound as associated
// data, so a record moved to another row or tenant fails to open.
Bytes Seal(const SecretKey& key, std::string_view plaintext, std::string_view context);
Result<std::string> Open(const SecretKey& key, std::span<const std::uint8_t> sealed,
                         std::string_view context);

// Derives a sub-key for a purpose (e.g. "search-hash") from a tenant key.
SecretKey DeriveSubKey(const SecretKey& key, std::uint64_t id, std::string_view context8);

// Streaming encryption (libsodium secretstream, XChaCha20-Poly1305). The plaintext is cut
// into chunks of kStreamChunk bytes; each ciphertext chunk is kStreamChunk + kStreamOverhead
// bytes except the last, which carries the FINAL tag so truncation is detected.
constexpr size_t kStreamChunk = 256 * 1024;
constexpr size_t kStreamOverhead = 17;
constexpr size_t kStreamHeaderBytes = 24;

class StreamEncryptor {
 public:
  // Writes the stream header into `header`. `context` is bound to the first chunk.
  StreamEncryptor(const SecretKey& key, std::array<std::uint8_t, kStreamHeaderBytes>& header,
                  std::string_view context);
  ~StreamEncryptor();
  // Encrypts one chunk (<= kStreamChunk bytes) into `out` (resized).
  void Push(std::span<const std::uint8_t> chunk, bool final, Bytes& out);
 private:
  alignas(16) std::uint8_t state_[64];
  std::string context_;
  bool first_ = true;
};

class StreamDecryptor {
 public:
  static Result<StreamDecryptor> Create(const SecretKey& key,
                                        std::span<const std::uint8_t, kStreamHeaderBytes> header,
                                        std::string_view context);
  ~StreamDecryptor();
  StreamDecryptor(StreamDecryptor&&) noexcept;
  StreamDecryptor& operator=(StreamDecryptor&&) = delete;
  // Decrypts one ciphertext chunk into `out` (must hold chunk.size() - kStreamOverhead).
  // Returns the plaintext length; *final tells whether this was the last chunk.
  Result<size_t> Pull(std::span<const std::uint8_t> chunk, std::uint8_t* out, bool* final);
 private:
  StreamDecryptor() = default;
  alignas(16) std::uint8_t state_[64];
  std::string context_;
  bool first_ = true;
};

// Ed25519 signatures (offline licence files). Keys travel as standard base64 text.
struct SigningKeyPair {
  std::string public_key_b64;  // 32 bytes
  std::string secret_key_b64;  // 64 bytes (libsodium's seed + public key)
};
SigningKeyPair GenerateSigningKeyPair();
// kInvalidArgument for a malformed key.
Result<std::string> Sign(const std::string& secret_key_b64, std::string_view message);  // base64 signature
// False for a bad signature or a malformed key or signature.
bool VerifySignature(const std::string& public_key_b64, std::string_view message, const std::string& signature_b64);
std::string Base64Encode(std::span<const std::uint8_t> bytes);
std::optional<Bytes> Base64Decode(std::string_view text);

// The master key wraps every tenant key. It lives outside the catalog, in a file of
// mode 0600 (created on first start when missing).
Result<SecretKey> LoadOrCreateKeyFile(const std::string& path, bool create_if_missing);
Bytes WrapKey(const SecretKey& master, const SecretKey& key, std::string_view context);
Result<SecretKey> UnwrapKey(const SecretKey& master, std::span<const std::uint8_t> wrapped,
                            std::string_view context);

}  // namespace vg::crypto
