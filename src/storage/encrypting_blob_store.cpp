#include "storage/encrypting_blob_store.h"

#include <cstring>
#include <vector>

namespace vg::storage {
namespace {

constexpr char kMagic[4] = {'V', 'G', 'B', '1'};

std::string ContextOf(const BlobKey& key) { return "blob:" + std::to_string(key.tenant_id) + ":" + key.name; }

// Encrypts what is appended, chunk by chunk, into the inner store's writer: magic +
// stream header, then full chunks; the last chunk (which may be short or empty) goes out
// with the FINAL tag at Close, so a full chunk is held back until more data shows it is
// not the last. Chunks that lie whole in the appended span are encrypted where they lie.
class EncryptingWriter final : public BlobWriter {
 public:
  EncryptingWriter(std::unique_ptr<BlobWriter> inner, const crypto::SecretKey& key, const std::string& context)
      : inner_(std::move(inner)), encryptor_(key, header_, context) {
    std::memcpy(head_.data(), kMagic, sizeof kMagic);
    std::memcpy(head_.data() + sizeof kMagic, header_.data(), header_.size());
  }

  Result<void> Append(std::span<const std::uint8_t> data) override {
    while (!data.empty()) {
      if (held_.size() == crypto::kStreamChunk) {  // more data follows: not the last chunk
        if (auto r = Emit(held_, false); !r) return r;
        held_.clear();
      }
      if (held_.empty() && data.size() > crypto::kStreamChunk) {
        if (auto r = Emit(data.first(crypto::kStreamChunk), false); !r) return r;
        data = data.subspan(crypto::kStreamChunk);
        continue;
      }
      size_t take = std::min(data.size(), crypto::kStreamChunk - held_.size());
      held_.insert(held_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
      data = data.subspan(take);
    }
    return {};
  }

  Result<StagedBlob> Close() override {
    if (auto r = Emit(held_, true); !r) return std::unexpected(r.error());
    return inner_->Close();
  }

 private:
  Result<void> Emit(std::span<const std::uint8_t> chunk, bool final) {
    if (header_pending_) {
      header_pending_ = false;
      if (auto r = inner_->Append(head_); !r) return r;
    }
    encryptor_.Push(chunk, final, sealed_);
    return inner_->Append(sealed_);
  }

  std::unique_ptr<BlobWriter> inner_;
  std::array<std::uint8_t, crypto::kStreamHeaderBytes> header_{};
  crypto::StreamEncryptor encryptor_;
  std::vector<std::uint8_t> held_;    // plaintext not yet encrypted (at most one chunk)
  std::vector<std::uint8_t> sealed_;  // the chunk just encrypted
  std::array<std::uint8_t, sizeof kMagic + crypto::kStreamHeaderBytes> head_{};  // written before the first chunk
  bool header_pending_ = true;  // magic + header not written yet
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

Result<std::unique_ptr<BlobWriter>> EncryptingBlobStore::StageStream(const BlobKey& key, SyncWhen when) {
  auto tenant_key = keys_(key.tenant_id);
  if (!tenant_key) return std::unexpected(tenant_key.error());
  auto inner = inner_->StageStream(key, when);
  if (!inner) return std::unexpected(inner.error());
  return std::unique_ptr<BlobWriter>(new EncryptingWriter(std::move(*inner), *tenant_key, ContextOf(key)));
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
