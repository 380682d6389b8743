#include "crypto/crypto.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "core/strings.h"

namespace vg::crypto {

static_assert(sizeof(crypto_hash_sha256_state) <= 128);
static_assert(sizeof(crypto_secretstream_xchacha20poly1305_state) <= 64);
static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == kStreamHeaderBytes);
static_assert(crypto_secretstream_xchacha20poly1305_ABYTES == kStreamOverhead);

void Initialize() {
  if (sodium_init() < 0) std::abort();
}

SecretKey::SecretKey(std::span<const std::uint8_t> bytes) {
  if (bytes.size() != kKeyBytes) throw std::invalid_argument("key must be 32 bytes");
  std::memcpy(bytes_.data(), bytes.data(), kKeyBytes);
}
SecretKey::~SecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

SecretKey SecretKey::Generate() {
  std::array<std::uint8_t, kKeyBytes> raw;
  randombytes_buf(raw.data(), raw.size());
  SecretKey key(raw);
  sodium_memzero(raw.data(), raw.size());
  return key;
}

Bytes RandomBytes(size_t count) {
  Bytes out(count);
  randombytes_buf(out.data(), count);
  return out;
}

std::string RandomToken() {
  Bytes raw = RandomBytes(32);
  std::string out(sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), raw.data(), raw.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::string RandomHexId(size_t bytes) { return HexEncode(RandomBytes(bytes)); }

Sha256::Sha256() { crypto_hash_sha256_init(reinterpret_cast<crypto_hash_sha256_state*>(state_)); }
void Sha256::Update(std::span<const std::uint8_t> data) {
  crypto_hash_sha256_update(reinterpret_cast<crypto_hash_sha256_state*>(state_), data.data(), data.size());
}
void Sha256::Update(std::string_view data) {
  Update(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}
std::array<std::uint8_t, 32> Sha256::Finish() {
  std::array<std::uint8_t, 32> out;
  crypto_hash_sha256_final(reinterpret_cast<crypto_hash_sha256_state*>(state_), out.data());
  return out;
}
std::array<std::uint8_t, 32> Sha256Of(std::string_view data) {
  Sha256 hash;
  hash.Update(data);
  return hash.Finish();
}

std::array<std::uint8_t, 32> KeyedHash(const SecretKey& key, std::string_view data) {
  std::array<std::uint8_t, 32> out;
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const std::uint8_t*>(data.data()), data.size(),
                     key.data(), kKeyBytes);
  return out;
}

bool ConstantTimeEquals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> HashPassword(std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Fail(ErrorCode::kResourceExhausted, "cannot hash the password (out of memory)");
  return std::string(out);
}

bool VerifyPassword(const std::string& hash, std::string_view password) {
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

Bytes Seal(const SecretKey& key, std::string_view plaintext, std::string_view context) {
  constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  Bytes out(kNonce + plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  randombytes_buf(out.data(), kNonce);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.data() + kNonce, &written, reinterpret_cast<const std::uint8_t*>(plaintext.data()), plaintext.size(),
      reinterpret_cast<const std::uint8_t*>(context.data()), context.size(), nullptr, out.data(), key.data());
  out.resize(kNonce + written);
  return out;
}

Result<std::string> Open(const SecretKey& key, std::span<const std::uint8_t> sealed, std::string_view context) {
  constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  if (sealed.size() < kNonce + crypto_aead_xchacha20poly1305_ietf_ABYTES)
    return Fail(ErrorCode::kInternal, "stored record is damaged", "sealed record too short");
  std::string out(sealed.size() - kNonce - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<std::uint8_t*>(out.data()), &written, nullptr, sealed.data() + kNonce,
          sealed.size() - kNonce, reinterpret_cast<const std::uint8_t*>(context.data()), context.size(),
          sealed.data(), key.data()) != 0) {
    return Fail(ErrorCode::kInternal, "stored record is damaged", "record failed authentication");
  }
  out.resize(written);
  return out;
}

SecretKey DeriveSubKey(const SecretKey& key, std::uint64_t id, std::string_view context8) {
  char ctx[crypto_kdf_CONTEXTBYTES] = {};
  std::memcpy(ctx, context8.data(), std::min(context8.size(), sizeof ctx));
  std::array<std::uint8_t, kKeyBytes> raw;
  crypto_kdf_derive_from_key(raw.data(), raw.size(), id, ctx, key.data());
  SecretKey sub(raw);
  sodium_memzero(raw.data(), raw.size());
  return sub;
}

// ---- streams ----

static auto* AsState(std::uint8_t* raw) {
  return reinterpret_cast<crypto_secretstream_xchacha20poly1305_state*>(raw);
}

StreamEncryptor::StreamEncryptor(const SecretKey& key, std::array<std::uint8_t, kStreamHeaderBytes>& header,
                                 std::string_view context)
    : context_(context) {
  crypto_secretstream_xchacha20poly1305_init_push(AsState(state_), header.data(), key.data());
}
StreamEncryptor::~StreamEncryptor() { sodium_memzero(state_, sizeof state_); }

void StreamEncryptor::Push(std::span<const std::uint8_t> chunk, bool final, Bytes& out) {
  out.resize(chunk.size() + kStreamOverhead);
  const auto* ad = first_ ? reinterpret_cast<const std::uint8_t*>(context_.data()) : nullptr;
  size_t ad_len = first_ ? context_.size() : 0;
  first_ = false;
  crypto_secretstream_xchacha20poly1305_push(
      AsState(state_), out.data(), nullptr, chunk.data(), chunk.size(), ad, ad_len,
      final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
}

Result<StreamDecryptor> StreamDecryptor::Create(const SecretKey& key,
                                                std::span<const std::uint8_t, kStreamHeaderBytes> header,
                                                std::string_view context) {
  StreamDecryptor d;
  d.context_ = std::string(context);
  if (crypto_secretstream_xchacha20poly1305_init_pull(AsState(d.state_), header.data(), key.data()) != 0)
    return Fail(ErrorCode::kInternal, "stored object is damaged", "bad stream header");
  return d;
}
StreamDecryptor::StreamDecryptor(StreamDecryptor&& other) noexcept
    : context_(std::move(other.context_)), first_(other.first_) {
  std::memcpy(state_, other.state_, sizeof state_);
  sodium_memzero(other.state_, sizeof other.state_);
}
StreamDecryptor::~StreamDecryptor() { sodium_memzero(state_, sizeof state_); }

Result<size_t> StreamDecryptor::Pull(std::span<const std::uint8_t> chunk, std::uint8_t* out, bool* final) {
  if (chunk.size() < kStreamOverhead) return Fail(ErrorCode::kInternal, "stored object is damaged", "short chunk");
  unsigned long long written = 0;
  unsigned char tag = 0;
  const auto* ad = first_ ? reinterpret_cast<const std::uint8_t*>(context_.data()) : nullptr;
  size_t ad_len = first_ ? context_.size() : 0;
  first_ = false;
  if (crypto_secretstream_xchacha20poly1305_pull(AsState(state_), out, &written, &tag, chunk.data(), chunk.size(),
                                                 ad, ad_len) != 0) {
    return Fail(ErrorCode::kInternal, "stored object is damaged", "chunk failed authentication");
  }
  *final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  return static_cast<size_t>(written);
}

// ---- key files and wrapping ----

Result<SecretKey> LoadOrCreateKeyFile(const std::string& path, bool create_if_missing) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && create_if_missing) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    ::chmod(std::filesystem::path(path).parent_path().c_str(), 0700);
    SecretKey key = SecretKey::Generate();
    std::string tmp = path + ".tmp";
    int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) return Fail(ErrorCode::kInternal, "cannot create the master key file", path);
    bool ok = ::write(out, key.data(), kKeyBytes) == static_cast<ssize_t>(kKeyBytes) && ::fsync(out) == 0;
    ::close(out);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
      return Fail(ErrorCode::kInternal, "cannot write the master key file", path);
    return key;
  }
  if (fd < 0) return Fail(ErrorCode::kInternal, "cannot read the master key file " + path, std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return Fail(ErrorCode::kForbidden, "master key file " + path + " must not be readable by group or others (chmod 600)");
  }
  std::array<std::uint8_t, kKeyBytes> raw;
  ssize_t n = ::read(fd, raw.data(), raw.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(kKeyBytes))
    return Fail(ErrorCode::kInvalidArgument, "master key file " + path + " must hold exactly 32 bytes");
  SecretKey key(raw);
  sodium_memzero(raw.data(), raw.size());
  return key;
}

Bytes WrapKey(const SecretKey& master, const SecretKey& key, std::string_view context) {
  return Seal(master, std::string_view(reinterpret_cast<const char*>(key.data()), kKeyBytes), context);
}

Result<SecretKey> UnwrapKey(const SecretKey& master, std::span<const std::uint8_t> wrapped, std::string_view context) {
  auto raw = Open(master, wrapped, context);
  if (!raw) return Fail(ErrorCode::kInternal, "a tenant key cannot be unwrapped: wrong master key?", raw.error().detail);
  if (raw->size() != kKeyBytes) return Fail(ErrorCode::kInternal, "a tenant key is damaged");
  SecretKey key(std::span(reinterpret_cast<const std::uint8_t*>(raw->data()), raw->size()));
  sodium_memzero(raw->data(), raw->size());
  return key;
}

std::string Base64Encode(std::span<const std::uint8_t> bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<Bytes> Base64Decode(std::string_view text) {
  Bytes out(text.size() * 3 / 4 + 3);
  size_t length = 0;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), " \n\r\t", &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0)
    return std::nullopt;
  out.resize(length);
  return out;
}

SigningKeyPair GenerateSigningKeyPair() {
  std::uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  SigningKeyPair pair{Base64Encode(pk), Base64Encode(sk)};
  sodium_memzero(sk, sizeof sk);
  return pair;
}

Result<std::string> Sign(const std::string& secret_key_b64, std::string_view message) {
  auto sk = Base64Decode(secret_key_b64);
  if (!sk || sk->size() != crypto_sign_SECRETKEYBYTES)
    return Fail(ErrorCode::kInvalidArgument, "not an Ed25519 secret key (base64 of 64 bytes)");
  std::uint8_t signature[crypto_sign_BYTES];
  crypto_sign_detached(signature, nullptr, reinterpret_cast<const std::uint8_t*>(message.data()), message.size(),
                       sk->data());
  sodium_memzero(sk->data(), sk->size());
  return Base64Encode(signature);
}

bool VerifySignature(const std::string& public_key_b64, std::string_view message, const std::string& signature_b64) {
  auto pk = Base64Decode(public_key_b64);
  auto signature = Base64Decode(signature_b64);
  if (!pk || pk->size() != crypto_sign_PUBLICKEYBYTES || !signature || signature->size() != crypto_sign_BYTES)
    return false;
  return crypto_sign_verify_detached(signature->data(), reinterpret_cast<const std::uint8_t*>(message.data()),
                                     message.size(), pk->data()) == 0;
}

}  // namespace vg::crypto
