// InstancePrefetcher: hands out a list of stored instances in order while helper
// threads decrypt the next ones, so decryption overlaps with sending and uses every core
// (decryption, not the socket, is the slower half of a retrieval). At most kWindowBytes of
// plaintext wait in memory; an instance larger than kMaxWholeBytes is not prefetched
// but streamed chunk by chunk when its turn comes.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "services/retrieve.h"

namespace vg::services {

class InstancePrefetcher {
 public:
  static constexpr std::size_t kWindowBytes = 32u << 20;
  static constexpr std::int64_t kMaxWholeBytes = 8 << 20;

  struct Item {
    const storage::InstanceRow* row = nullptr;
    std::string bytes;                    // the whole instance, when prefetched
    std::unique_ptr<ByteSource> stream;   // otherwise, a decrypting stream
  };

  InstancePrefetcher(Retrieval& retrieval, std::int64_t tenant_id, std::vector<storage::InstanceRow> rows,
                     int workers = 2);
  ~InstancePrefetcher();
  InstancePrefetcher(const InstancePrefetcher&) = delete;
  InstancePrefetcher& operator=(const InstancePrefetcher&) = delete;

  // The next instance in order; nullopt after the last.
  Result<std::optional<Item>> Next();

 private:
  struct Slot {
    bool ready = false;
    Result<std::string> bytes = std::string();
  };
  void Run();

  Retrieval& retrieval_;
  std::int64_t tenant_id_;
  std::vector<storage::InstanceRow> rows_;
  std::vector<Slot> slots_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t buffered_bytes_ = 0;
  std::size_t next_ = 0;        // consumer position
  std::size_t next_fetch_ = 0;  // next instance a worker takes
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace vg::services
