// One contract suite, run against every BlobStore backend.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "crypto/crypto.h"
#include "storage/encrypting_blob_store.h"
#include "storage/folder_blob_store.h"
#include "storage/memory_blob_store.h"
#include "storage/s3_blob_store.h"

namespace vg::storage {
namespace {

namespace fs = std::filesystem;

// `make` returns null when the backend's engine is absent (the case then skips).
struct Backend {
  std::string name;
  std::function<std::unique_ptr<BlobStore>(const std::string& root)> make;
  // Whether ListStaged names blobs staged and not settled. An object store's does not: a
  // node must never take another node's in-flight objects for orphans, so those are left
  // to the garbage collector, which judges by the catalog and their age.
  bool lists_staged = true;
};

void PrintTo(const Backend& backend, std::ostream* os) { *os << backend.name; }

std::unique_ptr<BlobStore> MakeFolder(const std::string& root) { return std::move(*FolderBlobStore::Open(root, true)); }

std::unique_ptr<BlobStore> MakeMemory(const std::string& root) {
  fs::create_directories(root);  // the suite looks for files left behind there
  return std::make_unique<MemoryBlobStore>();
}

// A fresh prefix in the bucket of the S3 named by S3_ENDPOINT (make test starts one).
std::unique_ptr<BlobStore> MakeS3(const std::string& root) {
  const char* endpoint = std::getenv("S3_ENDPOINT");
  if (!endpoint || !*endpoint) return nullptr;
  fs::create_directories(root);
  S3Options options;
  options.endpoint = endpoint;
  options.access_key = std::getenv("AWS_ACCESS_KEY_ID") ? std::getenv("AWS_ACCESS_KEY_ID") : "";
  options.secret_key = std::getenv("AWS_SECRET_ACCESS_KEY") ? std::getenv("AWS_SECRET_ACCESS_KEY") : "";
  auto client = S3Client::Create(options);
  if (!client) return nullptr;
  auto store = S3BlobStore::Open(std::shared_ptr<S3Client>(std::move(*client)),
                                 {.bucket = "vg-contract", .prefix = "c-" + crypto::RandomHexId(6), .create_bucket = true});
  if (!store) return nullptr;
  return std::move(*store);
}

std::unique_ptr<BlobStore> Encrypting(std::unique_ptr<BlobStore> inner) {
  if (!inner) return nullptr;
  static std::map<std::int64_t, crypto::SecretKey> keys = {{1, crypto::SecretKey::Generate()},
                                                           {2, crypto::SecretKey::Generate()}};
  return std::make_unique<EncryptingBlobStore>(std::move(inner), [](std::int64_t id) -> Result<crypto::SecretKey> {
    auto it = keys.find(id);
    if (it == keys.end()) return Fail(ErrorCode::kNotFound, "no key");
    return it->second;
  });
}

std::unique_ptr<BlobStore> MakeEncryptingFolder(const std::string& root) { return Encrypting(MakeFolder(root)); }
std::unique_ptr<BlobStore> MakeEncryptingS3(const std::string& root) { return Encrypting(MakeS3(root)); }

class BlobStoreContract : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    crypto::Initialize();
    root_ = (fs::temp_directory_path() / ("vg-blobs-" + crypto::RandomHexId(6))).string();
    store_ = GetParam().make(root_);
    if (!store_) GTEST_SKIP() << GetParam().name << ": S3_ENDPOINT is not set or not reachable (make test starts one)";
  }
  void TearDown() override {
    if (store_) {  // an object store keeps nothing under root_
      (void)store_->RemoveTenant(1);
      (void)store_->RemoveTenant(2);
    }
    fs::remove_all(root_);
  }
  BlobStore& store() { return *store_; }
  std::string Read(const BlobKey& key) {
    auto source = store().Get(key);
    EXPECT_TRUE(source);
    if (!source) return {};
    auto all = ReadAll(**source);
    EXPECT_TRUE(all) << (all ? "" : all.error().detail);
    return all ? *all : std::string();
  }
  std::string root_;
  std::unique_ptr<BlobStore> store_;
};

const std::string kName = "0001a2b3c4d5e6f708090a0b";

TEST_P(BlobStoreContract, PutThenGetReturnsTheSameBytes) {
  MemorySource data("hello blob");
  ASSERT_TRUE(store().Put({1, kName}, data));
  EXPECT_EQ(Read({1, kName}), "hello blob");
}

TEST_P(BlobStoreContract, LargeBlobRoundTripsAcrossChunks) {
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
  MemorySource data(big);
  ASSERT_TRUE(store().Put({1, kName}, data));
  EXPECT_EQ(Read({1, kName}), big);
}

// A source that hands out its bytes a few at a time and never in one piece (a network).
class TrickleSource final : public ByteSource {
 public:
  TrickleSource(const std::string& data, size_t step) : data_(data), step_(step) {}
  Result<size_t> Read(std::span<std::uint8_t> out) override {
    size_t n = std::min({out.size(), step_, data_.size() - offset_});
    std::memcpy(out.data(), data_.data() + offset_, n);
    offset_ += n;
    return n;
  }
 private:
  const std::string& data_;
  size_t step_;
  size_t offset_ = 0;
};

std::string Pattern(size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>(i * 131 + (i >> 9));
  return out;
}

TEST_P(BlobStoreContract, BlobStreamedInPiecesOfAnySizeReadsBackWhole) {
  const size_t chunk = crypto::kStreamChunk;
  for (size_t size : {size_t{0}, size_t{1}, chunk - 1, chunk, chunk + 1, 2 * chunk, 2 * chunk + 300}) {
    for (size_t piece : {size_t{1} << 0, size_t{7}, size_t{16384}, chunk, chunk + 5, size_t{3} << 20}) {
      if (piece == 1 && size > chunk + 1) continue;  // a byte at a time is slow, and proven on small sizes
      SCOPED_TRACE("size " + std::to_string(size) + ", pieces of " + std::to_string(piece));
      const std::string payload = Pattern(size);
      const BlobKey key{1, storage::NewBlobName()};
      // Both ways of syncing: right after closing (DIMSE) and with a batch (STOW).
      auto writer = store().StageStream(key, piece % 2 ? SyncWhen::kSoon : SyncWhen::kBatched);
      ASSERT_TRUE(writer);
      for (size_t at = 0; at < size; at += piece) {
        const size_t n = std::min(piece, size - at);
        ASSERT_TRUE((*writer)->Append(std::span(reinterpret_cast<const std::uint8_t*>(payload.data()) + at, n)));
      }
      auto staged = (*writer)->Close();
      ASSERT_TRUE(staged);
      ASSERT_TRUE(store().Sync(std::span(&*staged, 1)));
      EXPECT_EQ(Read(key), payload);
    }
  }
}

TEST_P(BlobStoreContract, StageFromASourceThatTricklesMatchesStageFromMemory) {
  const std::string payload = Pattern(crypto::kStreamChunk * 2 + 4099);
  TrickleSource trickle(payload, 1000);
  MemorySource memory(payload);
  const BlobKey a{1, storage::NewBlobName()}, b{1, storage::NewBlobName()};
  ASSERT_TRUE(store().Put(a, trickle));
  ASSERT_TRUE(store().Put(b, memory));
  EXPECT_EQ(Read(a), payload);
  EXPECT_EQ(Read(b), payload);
}

TEST_P(BlobStoreContract, StreamAbandonedBeforeCloseLeavesNoFileBehind) {
  {
    auto writer = store().StageStream({1, kName}, SyncWhen::kSoon);
    ASSERT_TRUE(writer);
    const std::string part = Pattern(crypto::kStreamChunk + 10);
    ASSERT_TRUE((*writer)->Append(std::span(reinterpret_cast<const std::uint8_t*>(part.data()), part.size())));
  }  // the sender went away mid-instance
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(root_))
    if (e.is_regular_file()) ++files;
  EXPECT_EQ(files, 0u);
  EXPECT_TRUE(store().ListStaged()->empty());
  EXPECT_FALSE(store().Get({1, kName}));
}

TEST_P(BlobStoreContract, EmptyBlobRoundTrips) {
  MemorySource data("");
  ASSERT_TRUE(store().Put({1, kName}, data));
  EXPECT_EQ(Read({1, kName}), "");
}

TEST_P(BlobStoreContract, OtherTenantCannotReadBlob) {
  MemorySource data("x");
  ASSERT_TRUE(store().Put({1, kName}, data));
  auto got = store().Get({2, kName});
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kNotFound);
}

TEST_P(BlobStoreContract, MissingBlobIsNotFound) {
  auto got = store().Get({1, kName});
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kNotFound);
}

TEST_P(BlobStoreContract, SyncedBlobIsReadableBeforeAndAfterSettling) {
  MemorySource data("staged");
  auto staged = store().Stage({1, kName}, data);
  ASSERT_TRUE(staged);
  ASSERT_TRUE(store().Sync(std::span(&*staged, 1)));
  EXPECT_EQ(Read({1, kName}), "staged");
  BlobKey key{1, kName};
  store().Settle(std::span(&key, 1));
  EXPECT_EQ(Read({1, kName}), "staged");
  EXPECT_TRUE(store().ListStaged()->empty());
}

TEST_P(BlobStoreContract, ListStagedNamesWhatWasNotSettled) {
  const std::string other = "0001bbbbbbbbbbbbbbbbbbbb";
  MemorySource a("a"), b("b");
  auto first = store().Stage({1, kName}, a);
  auto second = store().Stage({2, other}, b);
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(store().Sync(std::span(&*first, 1)));
  ASSERT_TRUE(store().Sync(std::span(&*second, 1)));
  BlobKey settled{1, kName};
  store().Settle(std::span(&settled, 1));
  auto staged = store().ListStaged();
  ASSERT_TRUE(staged);
  if (!GetParam().lists_staged) {
    EXPECT_TRUE(staged->empty());
    return;
  }
  ASSERT_EQ(staged->size(), 1u);
  EXPECT_EQ((*staged)[0].tenant_id, 2);
  EXPECT_EQ((*staged)[0].name, other);
  ASSERT_TRUE(store().Remove((*staged)[0]));
  EXPECT_TRUE(store().ListStaged()->empty());
}

TEST_P(BlobStoreContract, DiscardedStageLeavesNoFileBehind) {
  MemorySource data("discard me");
  auto staged = store().Stage({1, kName}, data);
  ASSERT_TRUE(staged);
  store().Discard(std::span(&*staged, 1));
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(root_))
    if (e.is_regular_file()) ++files;
  EXPECT_EQ(files, 0u);
  EXPECT_FALSE(store().Get({1, kName}));
}

TEST_P(BlobStoreContract, RemoveMakesBlobNotFound) {
  MemorySource data("x");
  ASSERT_TRUE(store().Put({1, kName}, data));
  ASSERT_TRUE(store().Remove({1, kName}));
  EXPECT_FALSE(store().Get({1, kName}));
  EXPECT_EQ(store().Remove({1, kName}).error().code, ErrorCode::kNotFound);
}

TEST_P(BlobStoreContract, InvalidNamesAreRefused) {
  MemorySource data("x");
  EXPECT_FALSE(store().Put({1, "../../etc/passwd"}, data));
  EXPECT_FALSE(store().Get({1, "../x"}));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, BlobStoreContract,
                         ::testing::Values(Backend{"Folder", MakeFolder}, Backend{"EncryptingFolder", MakeEncryptingFolder},
                                           Backend{"Memory", MakeMemory}, Backend{"S3", MakeS3, false},
                                           Backend{"EncryptingS3", MakeEncryptingS3, false}),
                         [](const auto& param_info) { return param_info.param.name; });

// Properties of the encrypting decorator itself.
class EncryptingBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Initialize();
    root_ = (fs::temp_directory_path() / ("vg-enc-" + crypto::RandomHexId(6))).string();
    store_ = MakeEncryptingFolder(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string FileOf(const BlobKey& key) {
    auto folder = FolderBlobStore::Open(root_, false);
    return (*folder)->PathOf(key);
  }
  std::string root_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(EncryptingBlobStoreTest, FileOnDiskHoldsNoPlaintext) {
  std::string secret = std::string(128, '\0') + "DICM" + "ZZSECRET^PATIENT";
  MemorySource data(secret);
  ASSERT_TRUE(store_->Put({1, kName}, data));
  std::ifstream in(FileOf({1, kName}), std::ios::binary);
  std::string disk((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(disk.find("DICM"), std::string::npos);
  EXPECT_EQ(disk.find("ZZSECRET"), std::string::npos);
}

// The layout blobs have always had (and that older data folders hold): magic, stream
// header, full chunks, and a last chunk carrying the FINAL tag, even when empty.
TEST_F(EncryptingBlobStoreTest, StreamedBlobHasTheChunkLayoutOfEveryStoredBlob) {
  const size_t chunk = crypto::kStreamChunk, overhead = crypto::kStreamOverhead, head = 4 + crypto::kStreamHeaderBytes;
  for (auto [size, chunks] : {std::pair{size_t{0}, size_t{1}}, {chunk, 1}, {chunk + 1, 2}, {2 * chunk, 2}}) {
    const std::string payload = Pattern(size);
    const BlobKey key{1, NewBlobName()};
    auto writer = store_->StageStream(key, SyncWhen::kBatched);
    ASSERT_TRUE(writer);
    if (size) {
      ASSERT_TRUE((*writer)->Append(std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), size)));
    }
    auto staged = (*writer)->Close();
    ASSERT_TRUE(staged);
    EXPECT_EQ(staged->stored_bytes, head + size + chunks * overhead) << size;
  }
}

TEST_F(EncryptingBlobStoreTest, TamperedFileFailsToRead) {
  const std::string payload(1000, 'a');
  MemorySource data(payload);
  ASSERT_TRUE(store_->Put({1, kName}, data));
  std::string path = FileOf({1, kName});
  // Flip one bit (writing a fixed byte would leave the file unchanged 1 time in 256).
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(100);
  char byte = 0;
  f.get(byte);
  f.seekp(100);
  f.put(static_cast<char>(byte ^ 0x01));
  f.close();
  auto source = store_->Get({1, kName});
  ASSERT_TRUE(source);
  EXPECT_FALSE(ReadAll(**source));
}

TEST_F(EncryptingBlobStoreTest, TruncatedFileFailsToRead) {
  const std::string payload(600 * 1024, 'a');
  MemorySource data(payload);
  ASSERT_TRUE(store_->Put({1, kName}, data));
  fs::resize_file(FileOf({1, kName}), 300 * 1024);
  auto source = store_->Get({1, kName});
  ASSERT_TRUE(source);
  EXPECT_FALSE(ReadAll(**source));
}

TEST_F(EncryptingBlobStoreTest, FileCopiedUnderAnotherNameFailsToRead) {
  MemorySource data("payload");
  ASSERT_TRUE(store_->Put({1, kName}, data));
  const std::string other = "0001ffffffffffffffffffff";
  fs::create_directories(fs::path(FileOf({1, other})).parent_path());
  fs::copy_file(FileOf({1, kName}), FileOf({1, other}));
  auto source = store_->Get({1, other});
  EXPECT_TRUE(!source || !ReadAll(**source));
}

TEST(FolderBlobStore, ForeignFilesInTheStagingFolderAreDropped) {
  crypto::Initialize();
  auto root = (fs::temp_directory_path() / ("vg-tmp-" + crypto::RandomHexId(6))).string();
  fs::create_directories(root + "/.staged");
  { std::ofstream(root + "/.staged/leftover") << "not a blob"; }
  auto store = FolderBlobStore::Open(root, false);
  ASSERT_TRUE(store);
  EXPECT_TRUE((*store)->ListStaged()->empty());
  EXPECT_TRUE(fs::is_empty(root + "/.staged"));
  fs::remove_all(root);
}

}  // namespace
}  // namespace vg::storage
