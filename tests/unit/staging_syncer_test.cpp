// StagingSyncer: background fsyncs that a waiter can always complete on its own.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "storage/staging_syncer.h"

namespace vg::storage {
namespace {

namespace fs = std::filesystem;

class StagingSyncerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Initialize();
    dir_ = fs::temp_directory_path() / ("vg-syncer-" + crypto::RandomHexId(6));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  int NewFile(const std::string& name) {
    int fd = ::open((dir_ / name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, "payload", 7), 7);
    return fd;
  }
  fs::path dir_;
};

TEST_F(StagingSyncerTest, FileSyncCompletesAfterTheCallerClosedItsDescriptor) {
  StagingSyncer syncer(dir_.string(), 2);
  int fd = NewFile("a");
  auto ticket = syncer.SyncFileSoon(fd);
  ::close(fd);  // the ticket holds its own copy
  EXPECT_TRUE(StagingSyncer::Wait(*ticket));
  EXPECT_TRUE(StagingSyncer::Wait(*ticket)) << "waiting again returns the same result";
}

TEST_F(StagingSyncerTest, WaiterRunsTheFileSyncItselfWhenNoBackgroundThreadTookIt) {
  StagingSyncer syncer(dir_.string(), /*threads=*/0);
  int fd = NewFile("a");
  auto ticket = syncer.SyncFileSoon(fd);
  ::close(fd);
  EXPECT_TRUE(StagingSyncer::Wait(*ticket));
}

TEST_F(StagingSyncerTest, FailedFileSyncIsReportedToTheWaiter) {
  StagingSyncer syncer(dir_.string(), 1);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);  // fdatasync of a pipe fails (EINVAL)
  auto on_pipe = syncer.SyncFileSoon(pipe_fds[1]);
  auto on_nothing = syncer.SyncFileSoon(-1);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  auto failed = StagingSyncer::Wait(*on_pipe);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().public_message, "storage sync failed");
  EXPECT_FALSE(StagingSyncer::Wait(*on_nothing));
}

TEST_F(StagingSyncerTest, EveryCreationIsCoveredWhateverThreadsAskAtOnce) {
  StagingSyncer syncer(dir_.string(), 2);
  std::vector<std::thread> threads;
  std::atomic<int> failures = 0;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        ::close(NewFile(std::to_string(t) + "-" + std::to_string(i)));
        if (!syncer.FolderCovers(syncer.NoteCreated(/*sync_folder_soon=*/i % 2 == 0))) ++failures;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
}

TEST_F(StagingSyncerTest, FolderThatCannotBeSyncedIsAnErrorNotAHang) {
  StagingSyncer syncer((dir_ / "missing").string(), 1);
  auto covered = syncer.FolderCovers(syncer.NoteCreated(true));
  ASSERT_FALSE(covered);
  EXPECT_EQ(covered.error().public_message, "storage sync failed");
}

}  // namespace
}  // namespace vg::storage
