// run_in_child: fork, a quiet child, a polled wait with a timeout.
#include "harness/child_process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

// Set in a sanitizer build: lets the child leave quietly instead of running the sanitizer's (or libFuzzer's)
// death handling. Weak, so a plain build links without a sanitizer runtime (the pointer is then null).
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace vb {

namespace {

constexpr int kSanitizerExit = 86;  // the child's status when a sanitizer ended it

extern "C" void child_dies() {
  _exit(kSanitizerExit);
}

}  // namespace

std::string ChildOutcome::describe() const {
  switch (kind) {
    case Kind::finished:
      return "finished";
    case Kind::signal:
      return fmt::format("killed by signal {} ({})", signal, strsignal(signal));
    case Kind::sanitizer:
      return "ended by the sanitizer (a memory error)";
    case Kind::timeout:
      return "still running at the time limit";
    case Kind::exit_code:
      return fmt::format("exited with status {}", code);
  }
  return "?";
}

ChildOutcome run_in_child(const std::function<void()>& fn, std::chrono::seconds timeout) {
  std::fflush(nullptr);  // nothing buffered here gets written twice
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(fmt::format("cannot fork a child process: {}", std::strerror(errno)));
  if (pid == 0) {
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, SIG_DFL);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(child_dies);
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, STDERR_FILENO);
    try {
      fn();
    } catch (...) {
    }
    _exit(0);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR)
      throw std::runtime_error(fmt::format("lost the child process: {}", std::strerror(errno)));
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return {ChildOutcome::Kind::timeout};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFSIGNALED(status)) return {ChildOutcome::Kind::signal, WTERMSIG(status)};
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == kSanitizerExit) return {ChildOutcome::Kind::sanitizer, 0, code};
  if (code != 0) return {ChildOutcome::Kind::exit_code, 0, code};
  return {};
}

}  // namespace vb
