#include "storage/staging_syncer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vg::storage {

class SyncTicket {
 public:
  explicit SyncTicket(int fd, int error = 0) : fd_(fd), error_(error), done_(fd < 0) {}
  ~SyncTicket() {
    if (fd_ >= 0) ::close(fd_);
  }
  // True for the one caller that gets to run the fdatasync.
  bool Claim() {
    std::lock_guard lock(mutex_);
    if (claimed_ || done_) return false;
    claimed_ = true;
    return true;
  }
  void Run() {
    int error = ::fdatasync(fd_) == 0 ? 0 : errno;
    ::close(fd_);
    std::lock_guard lock(mutex_);
    fd_ = -1;
    error_ = error;
    done_ = true;
    finished_.notify_all();
  }
  int AwaitError() {
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [&] { return done_; });
    return error_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable finished_;
  int fd_;
  int error_;
  bool claimed_ = false;
  bool done_;
};

StagingSyncer::StagingSyncer(std::string folder, int threads) : folder_(std::move(folder)) {
  for (int i = 0; i < threads; ++i) file_threads_.emplace_back([this] { FileLoop(); });
  folder_thread_ = std::thread([this] { FolderLoop(); });
}

StagingSyncer::~StagingSyncer() {
  {
    std::lock_guard files(files_mutex_);
    std::lock_guard folder(folder_mutex_);
    stopping_ = true;
  }
  files_wake_.notify_all();
  folder_changed_.notify_all();
  for (auto& t : file_threads_) t.join();
  folder_thread_.join();
}

std::shared_ptr<SyncTicket> StagingSyncer::SyncFileSoon(int fd) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return std::make_shared<SyncTicket>(-1, errno);
  auto ticket = std::make_shared<SyncTicket>(copy);
  {
    std::lock_guard lock(files_mutex_);
    queued_.push_back(ticket);
  }
  files_wake_.notify_one();
  return ticket;
}

Result<void> StagingSyncer::Wait(SyncTicket& ticket) {
  if (ticket.Claim()) ticket.Run();
  if (int error = ticket.AwaitError(); error != 0)
    return Fail(error == ENOSPC || error == EIO || error == EDQUOT ? ErrorCode::kResourceExhausted : ErrorCode::kInternal,
                "storage sync failed", std::strerror(error));
  return {};
}

void StagingSyncer::FileLoop() {
  while (true) {
    std::shared_ptr<SyncTicket> ticket;
    {
      std::unique_lock lock(files_mutex_);
      files_wake_.wait(lock, [&] { return stopping_ || !queued_.empty(); });
      if (queued_.empty()) return;  // stopping, and nothing left
      ticket = std::move(queued_.front());
      queued_.pop_front();
    }
    if (ticket->Claim()) ticket->Run();
  }
}

std::uint64_t StagingSyncer::NoteCreated(bool sync_folder_soon) {
  std::uint64_t number;
  {
    std::lock_guard lock(folder_mutex_);
    number = ++created_;
    if (sync_folder_soon) wanted_ = number;
  }
  if (sync_folder_soon) folder_changed_.notify_all();
  return number;
}

Result<void> StagingSyncer::SyncFolderOnce(std::unique_lock<std::mutex>& lock) {
  folder_sync_running_ = true;
  const std::uint64_t target = created_;  // every creation so far is complete: the fsync covers it
  started_ = target;
  lock.unlock();
  int error = 0;
  int fd = ::open(folder_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) error = errno;
  else {
    if (::fsync(fd) != 0) error = errno;
    ::close(fd);
  }
  lock.lock();
  folder_sync_running_ = false;
  if (error == 0 && target > covered_) covered_ = target;
  folder_changed_.notify_all();
  if (error != 0)
    return Fail(error == ENOSPC || error == EIO || error == EDQUOT ? ErrorCode::kResourceExhausted : ErrorCode::kInternal,
                "storage sync failed", std::strerror(error));
  return {};
}

void StagingSyncer::FolderLoop() {
  std::unique_lock lock(folder_mutex_);
  while (true) {
    folder_changed_.wait(lock, [&] { return stopping_ || (wanted_ > started_ && !folder_sync_running_); });
    if (stopping_) return;
    // A failure here is left for the waiter, which runs the fsync itself and reports it.
    (void)SyncFolderOnce(lock);
  }
}

Result<void> StagingSyncer::FolderCovers(std::uint64_t created) {
  std::unique_lock lock(folder_mutex_);
  while (covered_ < created) {
    if (folder_sync_running_) {  // it may cover `created`; if not, the loop runs another
      folder_changed_.wait(lock, [&] { return !folder_sync_running_; });
      continue;
    }
    if (auto r = SyncFolderOnce(lock); !r) return r;
  }
  return {};
}

}  // namespace vg::storage
