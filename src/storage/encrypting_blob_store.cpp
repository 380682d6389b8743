#include "storage/encrypting_blob_store.h"

#include <cstring>
#include <vector>

namespace vg::storage {
namespace {

constexpr char kMagic[4] = {'V', 'G', 'B', '1'};

std::string ContextOf(const BlobKey& key) { return "blob:" + std::to_string(key.tenant_id) + ":" + key.name; }

// Pulls plaintext from `plain`, yields magic + header + ciphertext chunks.
class EncryptingSource final : public ByteSource {
 public:
  EncryptingSource(ByteSource& plain, const crypto::SecretKey& key, const std::string& context)
      : plain_(plain), encryptor_(key, header_, context) {
    pending_.assign(kMagic, kMagic + 4);
    pending_.insert(pending_.end(), header_.begin(), header_.end());
    chunk_.resize(crypto::kStreamChunk);
  }

  Result<size_t> Read(std::span<std::uint8_t> out) override {
    while (offset_ == pending_.size()) {
      if (done_) return 0;
      if (auto r = FillNextChunk(); !r) return std::unexpected(r.error());
    }
    size_t n = std::min(out.size(), pending_.size() - offset_);
    std::memcpy(out.data(), pending_.data() + offset_, n);
    offset_ += n;
    return n;
  }

 private:
  // Reads one full chunk of plaintext (or up to the end) and encrypts it. Knowing that a
  // chunk is the last requires a look-ahead byte, kept in `lookahead_`.
  Result<void> FillNextChunk() {
    // In-memory plaintext is encrypted where it lies, without copying it into chunk_.
    if (auto unread = plain_.Unread(); unread && !has_lookahead_) {
      size_t n = std::min(unread->size(), crypto::kStreamChunk);
      bool final = n == unread->size();
      encryptor_.Push(unread->subspan(0, n), final, pending_);
      plain_.Skip(n);
      offset_ = 0;
      done_ = final;
      return {};
    }
    size_t filled = 0;
    if (has_lookahead_) {
      chunk_[0] = lookahead_;
      filled = 1;
      has_lookahead_ = false;
    }
    while (filled < chunk_.size()) {
      auto n = plain_.Read(std::span(chunk_.data() + filled, chunk_.size() - filled));
      if (!n) return std::unexpected(n.error());
      if (*n == 0) { eof_ = true; break; }
      filled += *n;
    }
    bool final = eof_;
    if (!eof_) {
      auto n = plain_.Read(std::span(&lookahead_, 1));
      if (!n) return std::unexpected(n.error());
      if (*n == 0) { eof_ = true; final = true; }
      else has_lookahead_ = true;
    }
    encryptor_.Push(std::span(chunk_.data(), filled), final, pending_);
    offset_ = 0;
    if (final) done_ = true;
    return {};
  }

  ByteSource& plain_;
  std::array<std::uint8_t, crypto::kStreamHeaderBytes> header_{};
  crypto::StreamEncryptor encryptor_;
  std::vector<std::uint8_t> chunk_;
  std::vector<std::uint8_t> pending_;
  size_t offset_ = 0;
  std::uint8_t lookahead_ = 0;
  bool has_lookahead_ = false;
  bool eof_ = false;
  bool done_ = false;
};

class DecryptingSource final : public ByteSource {
 public:
  DecryptingSource(std::unique_ptr<ByteSource> cipher, crypto::StreamDecryptor decryptor)
      : cipher_(std::move(cipher)), decryptor_(std::move(decryptor)) {
    in_.resize(crypto::kStreamChunk + crypto::kStreamOverhead);
    plain_.resize(crypto::kStreamChunk);
  }

  Result<size_t> Read(std::span<std::uint8_t> out) override {
    if (offset_ == available_) {
      if (final_) return 0;
      // Decrypt straight into the caller's buffer when it holds a whole chunk.
      std::uint8_t* target = out.size() >= crypto::kStreamChunk ? out.data() : plain_.data();
      auto n = NextChunk(target);
      if (!n) return std::unexpected(n.error());
      if (target == out.data()) return *n;
      available_ = *n;
      offset_ = 0;
      if (available_ == 0) return 0;
    }
    size_t n = std::min(out.size(), available_ - offset_);
    std::memcpy(out.data(), plain_.data() + offset_, n);
    offset_ += n;
    return n;
  }

 private:
  Result<size_t> NextChunk(std::uint8_t* target) {
    size_t filled = 0;
    while (filled < in_.size()) {
      auto n = cipher_->Read(std::span(in_.data() + filled, in_.size() - filled));
      if (!n) return std::unexpected(n.error());
      if (*n == 0) break;
      filled += *n;
    }
    if (filled == 0) return Fail(ErrorCode::kInternal, "stored object is damaged", "truncated blob");
    auto n = decryptor_.Pull(std::span(in_.data(), filled), target, &final_);
    if (!n) return n;
    if (!final_ && filled < in_.size())
      return Fail(ErrorCode::kInternal, "stored object is damaged", "truncated blob");
    return n;
  }

  std::unique_ptr<ByteSource> cipher_;
  crypto::StreamDecryptor decryptor_;
  std::vector<std::uint8_t> in_;
  std::vector<std::uint8_t> plain_;
  size_t offset_ = 0;
  size_t available_ = 0;
  bool final_ = false;
};

}  // namespace

Result<StagedBlob> EncryptingBlobStore::Stage(const BlobKey& key, ByteSource& data) {
  auto tenant_key = keys_(key.tenant_id);
  if (!tenant_key) return std::unexpected(tenant_key.error());
  EncryptingSource encrypting(data, *tenant_key, ContextOf(key));
  return inner_->Stage(key, encrypting);
}

Result<std::unique_ptr<ByteSource>> EncryptingBlobStore::Get(const BlobKey& key) const {
  auto tenant_key = keys_(key.tenant_id);
  if (!tenant_key) return Fail(ErrorCode::kNotFound, "not found");
  auto cipher = inner_->Get(key);
  if (!cipher) return std::unexpected(cipher.error());
  std::uint8_t head[4 + crypto::kStreamHeaderBytes];
  size_t filled = 0;
  while (filled < sizeof head) {
    auto n = (*cipher)->Read(std::span(head + filled, sizeof head - filled));
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    filled += *n;
  }
  if (filled != sizeof head || std::memcmp(head, kMagic, 4) != 0)
    return Fail(ErrorCode::kInternal, "stored object is damaged", "bad blob header");
  auto decryptor = crypto::StreamDecryptor::Create(
      *tenant_key, std::span<const std::uint8_t, crypto::kStreamHeaderBytes>(head + 4, crypto::kStreamHeaderBytes),
      ContextOf(key));
  if (!decryptor) return std::unexpected(decryptor.error());
  return std::unique_ptr<ByteSource>(new DecryptingSource(std::move(*cipher), std::move(*decryptor)));
}

}  // namespace vg::storage
