// Advisory locks (flock) that keep two vitbench processes off one run folder or one results file: the second
// is refused with the holder's pid, host and command, read from the lock file. The kernel drops the lock when
// its holder exits or is killed, so a stale lock file never blocks a later run.
#pragma once

#include <filesystem>
#include <string>

namespace vb {

class FileLock {
 public:
  // Takes an exclusive, non-blocking flock on `lock_path` (created if missing) and writes this process's pid,
  // host and command line into it; throws naming `what` and the holder if another process has it.
  FileLock(std::filesystem::path lock_path, const std::string& what);
  ~FileLock();  // removes the lock file, then releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// Whether some process on this machine holds `lock_path`'s flock now, read from /proc/locks (so that looking
// never takes the lock: a run starting at that moment is not refused). A missing file: false. Locks taken on
// other machines of a network file system are not listed there.
bool lock_held(const std::filesystem::path& lock_path);

// The lock file of a run folder (training output, sweep run folder) and of a results file.
inline std::filesystem::path folder_lock_path(const std::filesystem::path& folder) {
  return folder / ".vitbench.lock";
}
inline std::filesystem::path file_lock_path(const std::filesystem::path& file) {
  return file.string() + ".lock";
}

}  // namespace vb
