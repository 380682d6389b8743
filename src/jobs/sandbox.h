// Sandbox: runs an algorithm's program under bubblewrap (Debian `bubblewrap`):
//   * no network (its own network namespace, with nothing in it but a down loopback);
//   * its own PID, IPC and UTS namespaces; it dies with its parent;
//   * the system (/usr) and the algorithm's folder read-only, the job's input read-only,
//     a private /tmp, and only the job's output folder writable;
//   * rlimits on address space (memory), CPU time, file size and core dumps per process,
//     and a watchdog on the whole tree: the number of processes and their memory together
//     (the machine's cgroup v2 is not relied on; RLIMIT_NPROC counts every process of the
//     user, the server's threads included, and does not bind root at all);
//   * a wall-clock limit and cancellation that kill the whole process tree;
//   * no descriptor of the server's but stdin (/dev/null), stdout and stderr (the log).
// stdout and stderr are captured together, capped in size.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "core/result.h"

namespace vg::jobs {

struct SandboxSpec {
  std::vector<std::string> command;  // argv; the program is looked up inside the sandbox
  std::string algorithm_dir;         // mounted read-only at /algorithm, the working directory
  std::string input_dir;             // mounted read-only at /job/input
  std::string output_dir;            // mounted read-write at /job/output
  std::int64_t memory_mb = 4096;
  std::int64_t wall_seconds = 600;
  std::int64_t threads = 1;          // CPU-time limit = wall * threads
  std::int64_t max_processes = 64;   // processes alive at once in the sandbox
  std::size_t log_limit_bytes = 1 << 20;
};

struct SandboxOutcome {
  int exit_code = -1;        // when it exited
  int signal = 0;            // when it was killed by a signal
  bool timed_out = false;
  bool cancelled = false;
  bool too_many_processes = false;  // the watchdog stopped it: more than max_processes
  bool over_memory = false;         // ... or its processes together over memory_mb
  std::string log;           // stdout + stderr, capped (the head and the tail kept)
  std::chrono::milliseconds elapsed{0};
  bool Succeeded() const {
    return exit_code == 0 && signal == 0 && !timed_out && !cancelled && !too_many_processes && !over_memory;
  }
  // The message a user sees when it did not succeed: the reason, and the log's last lines.
  std::string FailureMessage(std::int64_t memory_mb, std::int64_t wall_seconds, std::int64_t max_processes = 0) const;
};

// True when bubblewrap can create the sandbox on this machine.
Result<void> CheckSandbox();

// Runs the program; `cancelled` is polled about every 100 ms.
Result<SandboxOutcome> RunSandboxed(const SandboxSpec& spec, const std::function<bool()>& cancelled);

// The processes descending from `root` (not counting it) and their resident memory
// together, read from /proc.
struct TreeUsage {
  std::int64_t processes = 0;
  std::int64_t rss_bytes = 0;
};
TreeUsage UsageOfTree(pid_t root);

// The last non-empty lines of `log`, at most `max_chars` (the failure message).
std::string LastLines(const std::string& log, int lines, std::size_t max_chars);

}  // namespace vg::jobs
