// StagingSyncer: starts the fsyncs an ingest will wait for before it asks, so that they
// overlap with what it does meanwhile.
//
// * A staged file's fdatasync is queued when its writer closes (FileSynced), and runs on a
//   background thread while the instance is parsed, checked and sealed. Waiting on the
//   ticket runs the fdatasync in the caller's thread if no background thread has begun it.
// * The staging folder is fsynced in the background after a creation noted as wanting it
//   soon (NoteCreated(true)), while the instance is still arriving. Batches (false) leave
//   it to FolderCovers, where one fsync covers the whole batch.
//   FolderCovers(n) returns once an fsync begun after creation n has finished, doing it
//   itself when none is under way; concurrent callers share one fsync.
//
// Durability never depends on the background threads: a wait either sees a finished sync
// that began after the write, or performs one. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"

namespace vg::storage {

// One queued fdatasync (see StagingSyncer::SyncFileSoon).
class SyncTicket;

class StagingSyncer {
 public:

  // `folder`: the staging folder. `threads`: background threads for file syncs.
  StagingSyncer(std::string folder, int threads);
  ~StagingSyncer();
  StagingSyncer(const StagingSyncer&) = delete;
  StagingSyncer& operator=(const StagingSyncer&) = delete;

  // Queues an fdatasync of `fd` (duplicated: the caller may close its own at any time).
  std::shared_ptr<SyncTicket> SyncFileSoon(int fd);
  // Waits until the ticket's fdatasync has finished (running it here if not begun).
  static Result<void> Wait(SyncTicket& ticket);

  // Call after a file was created in the folder; returns its creation number.
  // `sync_folder_soon`: start a folder fsync in the background now.
  std::uint64_t NoteCreated(bool sync_folder_soon);
  // Returns once the folder's entries up to creation `created` are durable.
  Result<void> FolderCovers(std::uint64_t created);

 private:
  void FileLoop();
  void FolderLoop();
  // One folder fsync; `lock` (on folder_mutex_) is released while it runs.
  Result<void> SyncFolderOnce(std::unique_lock<std::mutex>& lock);

  std::string folder_;

  std::mutex files_mutex_;
  std::condition_variable files_wake_;
  std::deque<std::shared_ptr<SyncTicket>> queued_;
  std::vector<std::thread> file_threads_;

  std::mutex folder_mutex_;
  std::condition_variable folder_changed_;
  std::uint64_t created_ = 0;         // files created so far
  std::uint64_t covered_ = 0;         // creations covered by a finished folder fsync
  std::uint64_t started_ = 0;         // creations covered by the fsync under way (or the last one)
  std::uint64_t wanted_ = 0;          // the newest creation that wants a background fsync
  bool folder_sync_running_ = false;
  std::thread folder_thread_;

  bool stopping_ = false;             // guarded by both mutexes
};

}  // namespace vg::storage
