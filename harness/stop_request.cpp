// Stop requests: see stop_request.hpp. The handler does only async-signal-safe work: it stores the signal,
// sends SIGTERM to the registered children (kill) and, on a second SIGINT, restores the default action.
#include "harness/stop_request.hpp"

#include <sys/wait.h>

#include <csignal>

namespace vb {

namespace {

volatile sig_atomic_t g_signal = 0;
constexpr int kMaxChildren = 1024;
volatile pid_t g_children[kMaxChildren] = {};  // 0: a free slot

void on_stop(int sig) {
  if (sig == SIGINT && g_signal == SIGINT) {  // Ctrl-C twice: do not wait for the step
    std::signal(SIGINT, SIG_DFL);
    raise(SIGINT);
    return;
  }
  g_signal = sig;
  for (int i = 0; i < kMaxChildren; ++i)
    if (g_children[i] > 0) kill(g_children[i], SIGTERM);
}

}  // namespace

StopScope::StopScope() {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // file reads and writes in progress go on; the loop checks the flag
  sigaction(SIGTERM, &sa, &old_term_);
  sigaction(SIGINT, nullptr, &old_int_);
  if (old_int_.sa_handler != SIG_IGN)  // a background job's SIGINT stays ignored (Ctrl-C is not for it)
    sigaction(SIGINT, &sa, nullptr);
}

StopScope::~StopScope() {
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGINT, &old_int_, nullptr);
}

bool stop_requested() {
  return g_signal != 0;
}

int stop_signal() {
  return g_signal;
}

const char* stop_signal_name() {
  // 0: another MPI rank was asked (the ranks stop together).
  return g_signal == SIGINT    ? "SIGINT (Ctrl-C)"
         : g_signal == SIGTERM ? "SIGTERM"
                               : "a stop request on another rank";
}

void forward_stop_to(pid_t pid) {
  for (int i = 0; i < kMaxChildren; ++i)
    if (g_children[i] == 0) {
      g_children[i] = pid;
      if (g_signal != 0) kill(pid, SIGTERM);  // the request came before the child was registered
      return;
    }
}

void stop_forwarding(pid_t pid) {
  for (int i = 0; i < kMaxChildren; ++i)
    if (g_children[i] == pid) g_children[i] = 0;
}

bool ended_by_stop(int wait_status) {
  const auto stop_sig = [](int sig) { return sig == SIGTERM || sig == SIGINT; };
  return (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) > 128 &&
          stop_sig(WEXITSTATUS(wait_status) - 128)) ||
         (WIFSIGNALED(wait_status) && stop_sig(WTERMSIG(wait_status)));
}

}  // namespace vb
