// Where the catalog and the blobs are, from flags and configuration (app/storage_options).
#include <gtest/gtest.h>

#include "app/args.h"
#include "app/storage_options.h"

namespace vg::app::storage_options_tests {
namespace {

Result<ServerConfig> Apply(std::vector<std::string> argv) {
  auto args = Args::Parse(argv, {});
  if (!args) return std::unexpected(args.error());
  ServerConfig config;
  if (auto r = ApplyStorageFlags(*args, config); !r) return std::unexpected(r.error());
  return config;
}

TEST(StorageOptions, TheDefaultsAreTheEmbeddedCatalogAndAFolder) {
  auto config = Apply({});
  ASSERT_TRUE(config);
  EXPECT_FALSE(IsSharedCatalog(*config));
  EXPECT_EQ(config->blobs, "folder:");
}

TEST(StorageOptions, APostgresqlCatalogIsShared) {
  auto config = Apply({"--catalog", "postgresql://vg@db.internal:5432/voxelgate"});
  ASSERT_TRUE(config);
  EXPECT_TRUE(IsSharedCatalog(*config));
  EXPECT_FALSE(Apply({"--catalog", "mysql://db/voxelgate"}));
  EXPECT_FALSE(Apply({"--catalog", "/var/lib/catalog.db"}));
}

TEST(StorageOptions, AnS3BlobStoreNeedsItsEndpoint) {
  EXPECT_FALSE(Apply({"--blob-store", "s3://clinic-images"}));
  auto config = Apply({"--blob-store", "s3://clinic-images/prod", "--s3-endpoint", "https://s3.example.org"});
  ASSERT_TRUE(config) << config.error().public_message;
  EXPECT_EQ(config->s3_endpoint, "https://s3.example.org");
}

TEST(StorageOptions, S3UrisNameABucketAndAPrefixOfSafeParts) {
  auto plain = ParseS3Uri("s3://clinic-images");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->bucket, "clinic-images");
  EXPECT_EQ(plain->prefix, "");
  auto nested = ParseS3Uri("s3://clinic-images/voxelgate/prod/");
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->prefix, "voxelgate/prod");
  for (const char* bad : {"s3://", "s3://ab", "s3://Upper", "s3://-dash", "s3://b.", "s3://bucket/../up",
                          "s3://bucket/a//b", "s3://bucket/a b", "s3://bucket/%2e%2e", "http://bucket", "s3://bucket/./x"})
    EXPECT_FALSE(ParseS3Uri(bad)) << bad;
}

}  // namespace
}  // namespace vg::app::storage_options_tests
