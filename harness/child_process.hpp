// Running code that may crash - a third-party parser fed untrusted bytes - in a forked child process, so that
// a crash there becomes an error here. Used by H5Input (libhdf5 on files it did not write) and the checkpoint
// fuzz target's mutator.
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace vb {

struct ChildOutcome {
  enum class Kind {
    finished,   // fn returned (or threw: the child cannot report it; the caller meets the error itself)
    signal,     // killed by a signal (`signal` holds it), e.g. SIGSEGV inside the library
    sanitizer,  // a sanitizer (ASan, UBSan) found a memory error and ended the child
    timeout,    // still running after the timeout, then killed
    exit_code,  // exited with another status (`code`)
  };
  Kind kind = Kind::finished;
  int signal = 0, code = 0;
  bool ok() const { return kind == Kind::finished; }
  // "killed by signal 11 (Segmentation fault)", "a memory error found by the sanitizer", ...
  std::string describe() const;
};

// Runs `fn` in a forked child and waits at most `timeout`. The child writes nothing it shares with this
// process: it leaves with _exit (no atexit handlers, no stdio flush, no HDF5 library shutdown that would
// flush files this process has open), its stderr goes to /dev/null, it makes no core file, crash signals take
// their default action, and a sanitizer's death handler ends it with a status of its own (so that neither
// ASan's report nor libFuzzer's crash handler is taken for this process's). Memory `fn` writes stays in the
// child unless it was mapped MAP_SHARED. Throws std::runtime_error if fork fails.
ChildOutcome run_in_child(const std::function<void()>& fn, std::chrono::seconds timeout);

}  // namespace vb
