#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "crypto/crypto.h"

namespace vg::crypto {
namespace {

class CryptoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Initialize(); }
};

TEST_F(CryptoTest, SealedRecordOpensWithSameKeyAndContext) {
  SecretKey key = SecretKey::Generate();
  Bytes sealed = Seal(key, "hello", "ctx");
  auto opened = Open(key, sealed, "ctx");
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, "hello");
}

TEST_F(CryptoTest, SealedRecordRefusesOtherContextOrKeyOrTampering) {
  SecretKey key = SecretKey::Generate();
  Bytes sealed = Seal(key, "hello", "study:1");
  EXPECT_FALSE(Open(key, sealed, "study:2"));
  EXPECT_FALSE(Open(SecretKey::Generate(), sealed, "study:1"));
  sealed[sealed.size() / 2] ^= 1;
  EXPECT_FALSE(Open(key, sealed, "study:1"));
}

TEST_F(CryptoTest, KeyedHashIsDeterministicAndKeyDependent) {
  SecretKey a = SecretKey::Generate(), b = SecretKey::Generate();
  EXPECT_EQ(KeyedHash(a, "DOE^JOHN"), KeyedHash(a, "DOE^JOHN"));
  EXPECT_NE(KeyedHash(a, "DOE^JOHN"), KeyedHash(b, "DOE^JOHN"));
  EXPECT_NE(KeyedHash(a, "DOE^JOHN"), KeyedHash(a, "DOE^JANE"));
}

TEST_F(CryptoTest, TokensAreRandomAndUrlSafe) {
  std::string t1 = RandomToken(), t2 = RandomToken();
  EXPECT_NE(t1, t2);
  EXPECT_GE(t1.size(), 43u);
  EXPECT_EQ(t1.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
}

TEST_F(CryptoTest, StreamRoundTripDetectsTruncation) {
  SecretKey key = SecretKey::Generate();
  std::array<std::uint8_t, kStreamHeaderBytes> header;
  StreamEncryptor enc(key, header, "blob:1");
  Bytes c1, c2;
  std::vector<std::uint8_t> p1(kStreamChunk, 1), p2(100, 2);
  enc.Push(p1, false, c1);
  enc.Push(p2, true, c2);
  auto dec = StreamDecryptor::Create(key, header, "blob:1");
  ASSERT_TRUE(dec);
  std::vector<std::uint8_t> out(kStreamChunk);
  bool final = true;
  auto n = dec->Pull(c1, out.data(), &final);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, kStreamChunk);
  EXPECT_FALSE(final);  // a reader that stops here knows the stream was cut short
  n = dec->Pull(c2, out.data(), &final);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 100u);
  EXPECT_TRUE(final);
}

TEST_F(CryptoTest, StreamRefusesOtherContext) {
  SecretKey key = SecretKey::Generate();
  std::array<std::uint8_t, kStreamHeaderBytes> header;
  StreamEncryptor enc(key, header, "blob:1");
  Bytes c;
  std::vector<std::uint8_t> p(10, 1);
  enc.Push(p, true, c);
  auto dec = StreamDecryptor::Create(key, header, "blob:2");
  ASSERT_TRUE(dec);
  std::vector<std::uint8_t> out(10);
  bool final = false;
  EXPECT_FALSE(dec->Pull(c, out.data(), &final));
}

TEST_F(CryptoTest, MasterKeyFileIsCreatedPrivateAndReloaded) {
  auto dir = std::filesystem::temp_directory_path() / ("vg-key-" + RandomHexId(6));
  std::string path = (dir / "keys" / "master.key").string();
  auto created = LoadOrCreateKeyFile(path, true);
  ASSERT_TRUE(created);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = LoadOrCreateKeyFile(path, true);
  ASSERT_TRUE(again);
  SecretKey tenant = SecretKey::Generate();
  auto unwrapped = UnwrapKey(*again, WrapKey(*created, tenant, "t"), "t");
  ASSERT_TRUE(unwrapped);
  EXPECT_EQ(0, std::memcmp(unwrapped->data(), tenant.data(), kKeyBytes));
  std::filesystem::remove_all(dir);
}

TEST_F(CryptoTest, GroupReadableMasterKeyIsRefused) {
  auto dir = std::filesystem::temp_directory_path() / ("vg-key-" + RandomHexId(6));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "master.key").string();
  { std::ofstream(path) << std::string(32, 'k'); }
  ::chmod(path.c_str(), 0644);
  auto loaded = LoadOrCreateKeyFile(path, false);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().public_message.find("chmod 600"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vg::crypto
