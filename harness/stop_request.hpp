// Stop requests. SIGTERM (a Slurm time limit given --signal, a machine or session shutting down, `kill`) or
// SIGINT (Ctrl-C) while a StopScope is alive only sets a flag; the training loop reads it between optimizer
// steps, saves a checkpoint where it stands and ends with Stopped, so the run resumes from that step rather
// than from its last evaluation (which may be an hour back). A second Ctrl-C ends the process at once;
// SIGKILL always does. `sweep run` passes a request on to its runs (forward_stop_to) and starts no new one.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <stdexcept>
#include <string>

namespace vb {

// Installs the SIGTERM and SIGINT handlers for its lifetime; the previous ones come back when it ends.
class StopScope {
 public:
  StopScope();
  ~StopScope();
  StopScope(const StopScope&) = delete;
  StopScope& operator=(const StopScope&) = delete;

 private:
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
};

bool stop_requested();  // a SIGTERM or SIGINT arrived under a StopScope (and stays requested)
int stop_signal();      // that signal (0: none)
const char* stop_signal_name();

// Child processes a stop request is passed on to as SIGTERM, at once if one came already (at most 1024 at a
// time).
void forward_stop_to(pid_t pid);
void stop_forwarding(pid_t pid);

// The end of a run that stopped on request, its state saved: not a failure. main() prints the message and
// exits with 128 + the signal, as a shell reports a process ended by it.
struct Stopped : std::runtime_error {
  explicit Stopped(const std::string& what) : std::runtime_error(what) {}
  int exit_status() const { return 128 + (stop_signal() > 0 ? stop_signal() : SIGTERM); }
};

// Whether a child's waitpid status says it stopped on request (Stopped::exit_status) or was ended by SIGTERM
// or SIGINT before it could: not a failure, its run resumes.
bool ended_by_stop(int wait_status);

}  // namespace vb
