#include "jobs/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <filesystem>
#include <thread>

namespace vg::jobs {
namespace {

constexpr const char* kBwrap = "/usr/bin/bwrap";

std::vector<std::string> BwrapArgs(const SandboxSpec& spec) {
  std::vector<std::string> args = {
      kBwrap,
      "--unshare-all",  // user, ipc, pid, net, uts, cgroup
      "--die-with-parent",
      "--new-session",
      "--ro-bind", "/usr", "/usr",
      "--symlink", "usr/bin", "/bin",
      "--symlink", "usr/sbin", "/sbin",
      "--symlink", "usr/lib", "/lib",
      "--symlink", "usr/lib64", "/lib64",
      "--proc", "/proc",
      "--dev", "/dev",
      "--tmpfs", "/tmp",
      "--dir", "/job",
      "--ro-bind", spec.input_dir, "/job/input",
      "--bind", spec.output_dir, "/job/output",
      "--ro-bind", spec.algorithm_dir, "/algorithm",
      "--chdir", "/algorithm",
      "--clearenv",
      "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
      "--setenv", "HOME", "/tmp",
      "--setenv", "TMPDIR", "/tmp",
      "--setenv", "LANG", "C.UTF-8",
      "--setenv", "VOXELGATE_JOB_DIR", "/job",
      "--setenv", "OMP_NUM_THREADS", std::to_string(spec.threads),
      "--setenv", "OPENBLAS_NUM_THREADS", std::to_string(spec.threads),
      "--",
  };
  // Debian keeps /etc/alternatives links under /usr's programs (python3 -> ...), and the
  // dynamic loader wants its cache; nothing else of /etc is shown.
  for (const char* path : {"/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime"})
    if (std::filesystem::exists(path)) {
      args.insert(args.begin() + 1, {"--ro-bind", path, path});
    }
  for (const auto& a : spec.command) args.push_back(a);
  return args;
}

void SetLimit(int resource, rlim_t value) {
  rlimit limit{value, value};
  setrlimit(resource, &limit);
}

// Keeps the first and the last part of a long log.
class CappedLog {
 public:
  explicit CappedLog(std::size_t limit) : head_limit_(limit / 4), tail_limit_(limit - limit / 4) {}
  void Append(const char* data, std::size_t n) {
    const std::size_t to_head = std::min(n, head_limit_ - std::min(head_limit_, head_.size()));
    head_.append(data, to_head);
    data += to_head;
    n -= to_head;
    if (n == 0) return;
    tail_.append(data, n);
    if (tail_.size() > 2 * tail_limit_) {
      dropped_ += tail_.size() - tail_limit_;
      tail_.erase(0, tail_.size() - tail_limit_);
    }
  }
  std::string Text() const {
    std::string tail = tail_;
    std::size_t dropped = dropped_;
    if (tail.size() > tail_limit_) {
      dropped += tail.size() - tail_limit_;
      tail.erase(0, tail.size() - tail_limit_);
    }
    if (dropped == 0) return head_ + tail;
    return head_ + "\n[... " + std::to_string(dropped) + " bytes of output left out ...]\n" + tail;
  }

 private:
  std::size_t head_limit_, tail_limit_;
  std::string head_, tail_;
  std::size_t dropped_ = 0;
};

}  // namespace

std::string LastLines(const std::string& log, int lines, std::size_t max_chars) {
  std::vector<std::string> kept;
  std::size_t end = log.size();
  while (end > 0 && static_cast<int>(kept.size()) < lines) {
    std::size_t start = log.rfind('\n', end - 1);
    std::size_t from = start == std::string::npos ? 0 : start + 1;
    std::string line = log.substr(from, end - from);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) kept.insert(kept.begin(), line);
    if (start == std::string::npos) break;
    end = start;
  }
  std::string out;
  for (const auto& l : kept) out += (out.empty() ? "" : "\n") + l;
  if (out.size() > max_chars) out = "..." + out.substr(out.size() - max_chars);
  return out;
}

std::string SandboxOutcome::FailureMessage(std::int64_t memory_mb, std::int64_t wall_seconds,
                                           std::int64_t max_processes) const {
  std::string reason;
  if (cancelled) reason = "cancelled";
  else if (too_many_processes)
    reason = "stopped for starting more than " + std::to_string(max_processes) + " processes at once (its limit)";
  else if (over_memory)
    reason = "stopped for using more than its memory limit of " + std::to_string(memory_mb) +
             " MB with all its processes together";
  else if (timed_out) reason = "stopped after its time limit of " + std::to_string(wall_seconds) + " s";
  else if (signal == SIGKILL || signal == SIGSEGV || signal == SIGABRT)
    reason = "killed by signal " + std::to_string(signal) + " (over its memory limit of " + std::to_string(memory_mb) +
             " MB, or crashed)";
  else if (signal == SIGXCPU) reason = "over its CPU time limit";
  else if (signal != 0) reason = "killed by signal " + std::to_string(signal);
  else reason = "exited with status " + std::to_string(exit_code);
  const std::string tail = LastLines(log, 3, 600);
  if (log.find("MemoryError") != std::string::npos || log.find("std::bad_alloc") != std::string::npos)
    reason += " (out of memory: its limit is " + std::to_string(memory_mb) + " MB)";
  return tail.empty() ? "the algorithm " + reason : "the algorithm " + reason + ": " + tail;
}

TreeUsage UsageOfTree(pid_t root) {
  std::unordered_map<pid_t, std::vector<pid_t>> children;
  std::unordered_map<pid_t, std::int64_t> rss_pages;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    const pid_t pid = static_cast<pid_t>(std::strtol(name.c_str(), nullptr, 10));
    char buffer[512];
    const int fd = ::open(("/proc/" + name + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // gone meanwhile
    const ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
    ::close(fd);
    if (n <= 0) continue;
    buffer[n] = '\0';
    // "pid (comm) state ppid ... rss": comm may hold spaces and parentheses.
    const char* close = std::strrchr(buffer, ')');
    if (!close) continue;
    // After comm: state (field 3), ppid (4), ..., rss in pages (24).
    char state = 0;
    long long ppid = 0, rss = 0;
    int field = 3;
    char* rest = nullptr;
    for (char* token = strtok_r(const_cast<char*>(close + 1), " ", &rest); token;
         token = strtok_r(nullptr, " ", &rest), ++field) {
      if (field == 3) state = token[0];
      else if (field == 4) ppid = std::strtoll(token, nullptr, 10);
      else if (field == 24) {
        rss = std::strtoll(token, nullptr, 10);
        break;
      }
    }
    if (state == 'Z' || field < 5) continue;  // exited, waiting to be reaped: holds no memory
    children[static_cast<pid_t>(ppid)].push_back(pid);
    rss_pages[pid] = rss;
  }
  TreeUsage usage;
  static const std::int64_t page = ::sysconf(_SC_PAGESIZE);
  std::vector<pid_t> pending = {root};
  while (!pending.empty() && usage.processes < 1 << 20) {
    const pid_t at = pending.back();
    pending.pop_back();
    auto it = children.find(at);
    if (it == children.end()) continue;
    for (pid_t child : it->second) {
      ++usage.processes;
      usage.rss_bytes += rss_pages[child] * page;
      pending.push_back(child);
    }
  }
  return usage;
}

Result<void> CheckSandbox() {
  if (access(kBwrap, X_OK) != 0)
    return Fail(ErrorCode::kUnavailable, "bubblewrap (/usr/bin/bwrap) is not installed: process algorithms cannot run");
  return {};
}

Result<SandboxOutcome> RunSandboxed(const SandboxSpec& spec, const std::function<bool()>& cancelled) {
  if (auto ok = CheckSandbox(); !ok) return std::unexpected(ok.error());
  const auto args = BwrapArgs(spec);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Fail(ErrorCode::kInternal, "cannot create a pipe", std::strerror(errno));
  const auto started = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) {
    close(out[0]);
    close(out[1]);
    return Fail(ErrorCode::kResourceExhausted, "cannot start the algorithm", std::strerror(errno));
  }
  if (pid == 0) {
    // The child: its own process group (so the whole tree can be killed), limits, then bwrap.
    setpgid(0, 0);
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    // Nothing else of the server's crosses into the algorithm: a descriptor opened without
    // O_CLOEXEC by a library (or between an accept and its fcntl) would otherwise reach it.
    close_range(3, ~0U, 0);
    SetLimit(RLIMIT_AS, static_cast<rlim_t>(spec.memory_mb) << 20);
    SetLimit(RLIMIT_CPU, static_cast<rlim_t>(spec.wall_seconds * std::max<std::int64_t>(1, spec.threads) + 5));
    SetLimit(RLIMIT_FSIZE, static_cast<rlim_t>(8) << 30);
    SetLimit(RLIMIT_CORE, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(kBwrap, argv.data());
    _exit(127);
  }
  close(out[1]);
  setpgid(pid, pid);
  CappedLog log(spec.log_limit_bytes);
  SandboxOutcome outcome;
  const auto deadline = started + std::chrono::seconds(spec.wall_seconds);
  bool killed = false;
  bool open_pipe = true;
  char buffer[64 * 1024];
  int status = 0;
  while (true) {
    if (open_pipe) {
      pollfd pfd{out[0], POLLIN, 0};
      if (poll(&pfd, 1, 25) > 0) {
        const ssize_t n = read(out[0], buffer, sizeof buffer);
        if (n > 0) log.Append(buffer, static_cast<std::size_t>(n));
        else open_pipe = false;  // every writer has exited
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      // Drain what is left of the output.
      ssize_t n;
      while (open_pipe && (n = read(out[0], buffer, sizeof buffer)) > 0) log.Append(buffer, static_cast<std::size_t>(n));
      break;
    }
    if (!killed) {
      if (std::chrono::steady_clock::now() > deadline) {
        outcome.timed_out = true;
      } else if (cancelled()) {
        outcome.cancelled = true;
      } else {
        // bwrap's init inside the namespace is one of the tree; the algorithm's are the rest.
        const TreeUsage usage = UsageOfTree(pid);
        if (usage.processes > spec.max_processes + 1) outcome.too_many_processes = true;
        else if (usage.rss_bytes > (spec.memory_mb << 20)) outcome.over_memory = true;
      }
      if (outcome.timed_out || outcome.cancelled || outcome.too_many_processes || outcome.over_memory) {
        kill(-pid, SIGKILL);  // the group; bwrap's death takes the sandbox's PID namespace with it
        killed = true;
      }
    }
  }
  close(out[0]);
  outcome.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  if (WIFEXITED(status)) {
    outcome.exit_code = WEXITSTATUS(status);
    // bwrap reports its child's death by a signal as 128 + signal.
    if (outcome.exit_code > 128 && outcome.exit_code < 128 + 65) {
      outcome.signal = outcome.exit_code - 128;
    }
  } else if (WIFSIGNALED(status)) {
    outcome.signal = WTERMSIG(status);
  }
  outcome.log = log.Text();
  if (outcome.exit_code == 127 && outcome.log.empty())
    return Fail(ErrorCode::kUnavailable, "the sandbox (bubblewrap) could not be started");
  return outcome;
}

}  // namespace vg::jobs
