// S3BlobStore and S3Client against a real S3 (Swift's s3api in CI:
// ../shared/recipes/start-s3.sh DIR, then `set -a; . DIR/s3.env; set +a`). The endpoint
// comes from S3_ENDPOINT, the credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY;
// without S3_ENDPOINT these tests skip. Each test works under its own key prefix and
// removes it afterwards. VG_S3_BENCH=N also measures N PUTs and GETs of 512 KiB.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <optional>
#include <thread>

#include "crypto/crypto.h"
#include "storage/s3_blob_store.h"
#include "storage/s3_client.h"

namespace vg::storage {
namespace s3_tests {

using Clock = std::chrono::system_clock;
constexpr const char* kBucket = "vg-unit-tests";

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

S3Options OptionsFromEnv() {
  S3Options options;
  options.endpoint = Env("S3_ENDPOINT");
  options.region = "us-east-1";
  options.access_key = Env("AWS_ACCESS_KEY_ID");
  options.secret_key = Env("AWS_SECRET_ACCESS_KEY");
  return options;
}

std::string Pattern(size_t size, unsigned seed = 1) {
  std::string out(size, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : out) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

std::span<const std::uint8_t> AsBytes(const std::string& s) {
  return std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

template <typename T>
std::optional<ErrorCode> CodeOf(const Result<T>& result) {
  if (result) return std::nullopt;
  return result.error().code;
}

// Polls instead of sleeping a fixed time: the condition is met as soon as it is.
bool Eventually(const std::function<bool()>& condition, std::chrono::seconds limit = std::chrono::seconds(15)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return condition();
}

class S3BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("S3_ENDPOINT").empty())
      GTEST_SKIP() << "S3_ENDPOINT is not set: start an S3 (../shared/recipes/start-s3.sh) and export its s3.env";
    crypto::Initialize();
    auto client = S3Client::Create(OptionsFromEnv());
    ASSERT_TRUE(client) << client.error().public_message;
    client_ = std::move(*client);
    prefix_ = "test-" + crypto::RandomHexId(6);
    store_ = OpenStore();
  }

  void TearDown() override {
    if (!client_) return;
    store_.reset();  // waits for its uploads
    std::string token;
    do {  // everything this test left under its prefix
      auto page = client_->ListObjectsV2(kBucket, prefix_ + "/", token);
      if (!page) break;
      for (const auto& object : page->objects) (void)client_->DeleteObject(kBucket, object.key);
      token = page->next_token;
    } while (!token.empty());
    if (auto uploads = client_->ListMultipartUploads(kBucket, prefix_ + "/"))
      for (const auto& upload : uploads->uploads) (void)client_->AbortMultipartUpload(kBucket, upload.key, upload.upload_id);
  }

  std::unique_ptr<S3BlobStore> OpenStore(size_t read_bytes = 4 << 20) {
    S3BlobStoreOptions options;
    options.bucket = kBucket;
    options.prefix = prefix_;
    options.create_bucket = true;
    options.read_bytes = read_bytes;
    auto store = S3BlobStore::Open(client_, options);
    EXPECT_TRUE(store) << (store ? "" : store.error().detail);
    return store ? std::move(*store) : nullptr;
  }

  S3BlobStore& store() { return *store_; }

  std::string Read(const BlobKey& key, size_t piece = 64 * 1024) {
    auto source = store().Get(key);
    EXPECT_TRUE(source) << (source ? "" : source.error().detail);
    if (!source) return {};
    std::string out;
    std::vector<std::uint8_t> buffer(piece);
    while (true) {
      auto n = (*source)->Read(buffer);
      EXPECT_TRUE(n) << (n ? "" : n.error().detail);
      if (!n || *n == 0) return out;
      out.append(reinterpret_cast<const char*>(buffer.data()), *n);
    }
  }

  std::shared_ptr<S3Client> client_;
  std::string prefix_;
  std::unique_ptr<S3BlobStore> store_;
};

const std::string kName = "0001a2b3c4d5e6f708090a0b";
const std::string kOther = "0001bbbbbbbbbbbbbbbbbbbb";

TEST_F(S3BlobStoreTest, PutThenGetReturnsTheSameBytes) {
  const std::string payload = Pattern(512 * 1024);
  MemorySource data(payload);
  ASSERT_TRUE(store().Put({1, kName}, data));
  EXPECT_EQ(Read({1, kName}), payload);
}

TEST_F(S3BlobStoreTest, EmptyBlobRoundTrips) {
  MemorySource data("");
  ASSERT_TRUE(store().Put({1, kName}, data));
  EXPECT_EQ(Read({1, kName}), "");
}

TEST_F(S3BlobStoreTest, LargeStreamedBlobGoesMultipartAndRoundTrips) {
  const std::string payload = Pattern(20 * 1024 * 1024 + 123, 7);
  auto writer = store().StageStream({1, kName}, SyncWhen::kBatched);
  ASSERT_TRUE(writer);
  for (size_t at = 0; at < payload.size(); at += 1000003)  // odd pieces, as a network delivers them
    ASSERT_TRUE((*writer)->Append(AsBytes(payload).subspan(at, std::min<size_t>(1000003, payload.size() - at))));
  auto staged = (*writer)->Close();
  ASSERT_TRUE(staged);
  EXPECT_EQ(staged->stored_bytes, payload.size());
  auto synced = store().Sync(std::span(&*staged, 1));
  ASSERT_TRUE(synced) << synced.error().detail;

  auto head = client_->HeadObject(kBucket, store().ObjectKey({1, kName}));
  ASSERT_TRUE(head);
  EXPECT_EQ(head->size, payload.size());
  EXPECT_TRUE(head->etag.ends_with("-3\"")) << head->etag;  // 8 + 8 + 4 MiB parts
  EXPECT_EQ(Read({1, kName}, 1 << 20), payload);            // six ranged GETs of 4 MiB
  auto left = store().ListStaleUploads(Clock::now() + std::chrono::hours(1));
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty());
}

TEST_F(S3BlobStoreTest, RangedReadsReassembleTheObject) {
  store_ = OpenStore(/*read_bytes=*/64 * 1024);
  const std::string payload = Pattern(1000 * 1000, 3);
  MemorySource data(payload);
  ASSERT_TRUE(store().Put({1, kName}, data));
  EXPECT_EQ(Read({1, kName}, 10007), payload);  // reads straddle the 64 KiB ranges

  auto range = client_->GetObjectRange(kBucket, store().ObjectKey({1, kName}), 123456, 1000);
  ASSERT_TRUE(range);
  EXPECT_EQ(range->data, payload.substr(123456, 1000));
  EXPECT_EQ(range->object_size, payload.size());
  auto tail = client_->GetObjectRange(kBucket, store().ObjectKey({1, kName}), payload.size() - 10, 1000);
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->data, payload.substr(payload.size() - 10));
}

TEST_F(S3BlobStoreTest, MissingBlobIsNotFound) {
  auto got = store().Get({1, kName});
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kNotFound);
  auto removed = store().Remove({1, kName});
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf(store().Get({1, "../x"})), ErrorCode::kNotFound);
}

TEST_F(S3BlobStoreTest, OtherTenantCannotReadBlob) {
  MemorySource data("x");
  ASSERT_TRUE(store().Put({1, kName}, data));
  EXPECT_EQ(store().ObjectKey({1, kName}), prefix_ + "/t1/" + kName);
  auto got = store().Get({2, kName});
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kNotFound);
  auto listed = client_->ListObjectsV2(kBucket, prefix_ + "/t2/", "");
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->objects.empty());
}

TEST_F(S3BlobStoreTest, StagedBlobIsReadableBeforeSync) {
  const std::string payload = Pattern(300 * 1000);
  MemorySource data(payload);
  auto staged = store().Stage({1, kName}, data);
  ASSERT_TRUE(staged);
  EXPECT_EQ(Read({1, kName}), payload);  // waits for the upload still running
  ASSERT_TRUE(store().Sync(std::span(&*staged, 1)));
}

TEST_F(S3BlobStoreTest, ABatchIsUploadedTogetherAndSyncedOnce) {
  std::vector<StagedBlob> batch;
  std::vector<std::string> payloads;
  for (int i = 0; i < 8; ++i) {
    payloads.push_back(Pattern(200 * 1000 + i, i));
    MemorySource data(payloads.back());
    auto staged = store().Stage({1, "00aa" + std::string(19, '0') + std::to_string(i)}, data);
    ASSERT_TRUE(staged);
    batch.push_back(std::move(*staged));
  }
  auto synced = store().Sync(batch);
  ASSERT_TRUE(synced) << synced.error().detail;
  for (int i = 0; i < 8; ++i) EXPECT_EQ(Read(batch[i].key), payloads[i]);
  EXPECT_TRUE(store().ListStaged()->empty());  // never another node's in-flight objects
}

TEST_F(S3BlobStoreTest, DiscardRemovesTheObject) {
  MemorySource a("synced"), b("not synced");
  auto synced = store().Stage({1, kName}, a);
  auto unsynced = store().Stage({1, kOther}, b);
  ASSERT_TRUE(synced && unsynced);
  ASSERT_TRUE(store().Sync(std::span(&*synced, 1)));
  store().Discard(std::span(&*synced, 1));
  store().Discard(std::span(&*unsynced, 1));
  EXPECT_EQ(CodeOf(store().Get({1, kName})), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf(store().Get({1, kOther})), ErrorCode::kNotFound);
}

TEST_F(S3BlobStoreTest, DiscardOfAMultipartBlobLeavesNoUpload) {
  const std::string payload = Pattern(9 * 1024 * 1024);
  MemorySource data(payload);
  auto staged = store().Stage({1, kName}, data);
  ASSERT_TRUE(staged);
  store().Discard(std::span(&*staged, 1));
  EXPECT_EQ(CodeOf(store().Get({1, kName})), ErrorCode::kNotFound);
  auto left = store().ListStaleUploads(Clock::now() + std::chrono::hours(1));
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty());
}

TEST_F(S3BlobStoreTest, StreamAbandonedBeforeCloseLeavesNoUpload) {
  {
    auto writer = store().StageStream({1, kName}, SyncWhen::kSoon);
    ASSERT_TRUE(writer);
    const std::string part = Pattern(9 * 1024 * 1024);  // past one part: a multipart upload began
    ASSERT_TRUE((*writer)->Append(AsBytes(part)));
  }  // the sender went away
  EXPECT_TRUE(Eventually([&] {
    auto left = store().ListStaleUploads(Clock::now() + std::chrono::hours(1));
    return left && left->empty();
  }));
  EXPECT_FALSE(store().Get({1, kName}));
}

TEST_F(S3BlobStoreTest, RemoveTenantRemovesOnlyThatTenant) {
  for (std::int64_t tenant : {1, 2, 10}) {
    for (const auto& name : {kName, kOther}) {
      MemorySource data("x");
      ASSERT_TRUE(store().Put({tenant, name}, data));
    }
  }
  ASSERT_TRUE(store().RemoveTenant(1));
  EXPECT_FALSE(store().Get({1, kName}));
  EXPECT_FALSE(store().Get({1, kOther}));
  EXPECT_EQ(Read({2, kName}), "x");
  EXPECT_EQ(Read({10, kOther}), "x");  // "t1/" is not a prefix of "t10/"
}

TEST_F(S3BlobStoreTest, ListOlderThanNamesBlobObjectsOnly) {
  MemorySource data("12345");
  ASSERT_TRUE(store().Put({3, kName}, data));
  ASSERT_TRUE(client_->PutObject(kBucket, prefix_ + "/not-a-blob", AsBytes(std::string("y"))));
  auto old = store().ListOlderThan(Clock::now() + std::chrono::minutes(5));
  ASSERT_TRUE(old);
  ASSERT_EQ(old->size(), 1u);
  EXPECT_EQ((*old)[0].key.tenant_id, 3);
  EXPECT_EQ((*old)[0].key.name, kName);
  EXPECT_EQ((*old)[0].size, 5u);
  auto none = store().ListOlderThan(Clock::now() - std::chrono::hours(1));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(S3BlobStoreTest, StaleMultipartUploadsAreListedAndAborted) {
  const std::string key = store().ObjectKey({1, kName});
  auto id = client_->CreateMultipartUpload(kBucket, key);
  ASSERT_TRUE(id);
  ASSERT_TRUE(client_->UploadPart(kBucket, key, *id, 1, AsBytes(std::string("part"))));

  auto recent = store().ListStaleUploads(Clock::now() - std::chrono::hours(1));
  ASSERT_TRUE(recent);
  EXPECT_TRUE(recent->empty());  // younger than the threshold: maybe another node's
  auto stale = store().ListStaleUploads(Clock::now() + std::chrono::minutes(5));
  ASSERT_TRUE(stale);
  ASSERT_EQ(stale->size(), 1u);
  EXPECT_EQ((*stale)[0].object_key, key);
  EXPECT_EQ((*stale)[0].upload_id, *id);

  auto aborted = store().AbortStaleUploads(Clock::now() + std::chrono::minutes(5));
  ASSERT_TRUE(aborted) << aborted.error().detail;
  EXPECT_EQ(*aborted, 1u);
  EXPECT_TRUE(store().ListStaleUploads(Clock::now() + std::chrono::minutes(5))->empty());
  EXPECT_EQ(CodeOf(client_->AbortMultipartUpload(kBucket, key, *id)), ErrorCode::kNotFound);
}

TEST_F(S3BlobStoreTest, ListingsFollowContinuationTokens) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client_->PutObject(kBucket, prefix_ + "/page/k" + std::to_string(i), {}));
  std::vector<std::string> keys;
  std::string token;
  int pages = 0;
  do {
    auto page = client_->ListObjectsV2(kBucket, prefix_ + "/page/", token, 2);
    ASSERT_TRUE(page) << page.error().detail;
    for (const auto& object : page->objects) keys.push_back(object.key);
    token = page->next_token;
  } while (!token.empty() && ++pages < 10);
  ASSERT_EQ(keys.size(), 5u);
  EXPECT_EQ(keys[4], prefix_ + "/page/k4");
}

TEST_F(S3BlobStoreTest, WrongSecretKeyIsAPermissionError) {
  auto options = OptionsFromEnv();
  options.secret_key = "not-the-secret";
  options.max_attempts = 1;
  auto client = S3Client::Create(options);
  ASSERT_TRUE(client);
  auto got = (*client)->GetObject(kBucket, prefix_ + "/t1/" + kName, 1024);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kForbidden);
  EXPECT_NE(got.error().detail.find("403"), std::string::npos) << got.error().detail;
  auto put = (*client)->PutObject(kBucket, prefix_ + "/t1/" + kName, AsBytes(std::string("x")));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, ErrorCode::kForbidden);
  auto opened = S3BlobStore::Open(std::shared_ptr<S3Client>(std::move(*client)), {.bucket = kBucket});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kForbidden);
}

TEST_F(S3BlobStoreTest, UnreachableEndpointIsUnavailable) {
  auto options = OptionsFromEnv();
  options.endpoint = "http://127.0.0.1:9";  // discard port: nothing listens
  options.max_attempts = 2;
  options.first_backoff = std::chrono::milliseconds(10);
  auto client = S3Client::Create(options);
  ASSERT_TRUE(client);
  auto got = (*client)->GetObject(kBucket, "k", 10);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable);
}

// Measures; asserts nothing but success. VG_S3_BENCH=100 for the figures in the report.
TEST_F(S3BlobStoreTest, ThroughputOf512KiBObjects) {
  int count = std::atoi(Env("VG_S3_BENCH").c_str());
  if (count <= 0) GTEST_SKIP() << "set VG_S3_BENCH=N to measure N PUTs and GETs of 512 KiB";
  const std::string payload = Pattern(512 * 1024);
  auto run = [&](int threads, bool put, int round) {
    std::atomic<int> next{0}, failed{0};
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&] {
        for (int i = next++; i < count; i = next++) {
          std::string key = store().ObjectKey({1, "00ff" + std::to_string(round) + std::string(14, '0') + std::to_string(100000 + i)});
          bool ok = put ? bool(client_->PutObject(kBucket, key, AsBytes(payload)))
                        : bool(client_->GetObject(kBucket, key, 1 << 20));
          if (!ok) ++failed;
        }
      });
    for (auto& w : workers) w.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(failed.load(), 0);
    std::printf("%s x%d, %d thread(s): %.2f s, %.1f ops/s, %.1f MiB/s\n", put ? "PUT" : "GET", count, threads,
                seconds, count / seconds, count * 0.5 / seconds);
  };
  run(1, true, 1);
  run(1, false, 1);
  run(4, true, 2);
  run(4, false, 2);

  // Through the store as a STOW batch uses it: stage every blob (uploads start at once on
  // the store's threads), then one Sync.
  auto start = std::chrono::steady_clock::now();
  std::vector<StagedBlob> batch;
  for (int i = 0; i < count; ++i) {
    MemorySource data(payload);
    auto staged = store().Stage({1, "00ee" + std::string(14, '0') + std::to_string(100000 + i)}, data);
    ASSERT_TRUE(staged);
    batch.push_back(std::move(*staged));
  }
  ASSERT_TRUE(store().Sync(batch));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("Stage x%d + one Sync (8 upload threads): %.2f s, %.1f blobs/s\n", count, seconds, count / seconds);
}

// No server needed: the refusal happens before any request.
TEST(S3Client, PlainHttpIsRefusedUnlessTheEndpointIsLoopback) {
  auto make = [](const std::string& endpoint) {
    S3Options options;
    options.endpoint = endpoint;
    options.access_key = "key";
    options.secret_key = "secret";
    return S3Client::Create(options);
  };
  for (const char* refused : {"http://192.0.2.10:9000", "http://s3.example.com", "http://[2001:db8::1]:80",
                              "http://128.0.0.1", "ftp://127.0.0.1", "https://host/with/path", "not a url"}) {
    auto client = make(refused);
    ASSERT_FALSE(client) << refused;
    EXPECT_EQ(client.error().code, ErrorCode::kInvalidArgument) << refused;
  }
  for (const char* accepted : {"http://127.0.0.1:9000", "http://127.3.4.5", "http://localhost:8080", "http://[::1]:9000",
                               "https://s3.example.com", "https://192.0.2.10:9443/"})
    EXPECT_TRUE(make(accepted)) << accepted;
}

}  // namespace s3_tests
}  // namespace vg::storage
