// FileLock on flock(2); see file_lock.hpp.
#include "harness/file_lock.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace vb {

namespace {

std::string read_holder(int fd) {
  char buf[1024];
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string s(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "unknown (the holder has not written its name yet)" : s;
}

std::string host_name() {
  char h[256] = {};
  ::gethostname(h, sizeof h - 1);
  return h;
}

// The command line from /proc/self/cmdline, arguments joined by spaces.
std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && s.back() == '\0') s.pop_back();
  std::replace(s.begin(), s.end(), '\0', ' ');
  return s;
}

}  // namespace

FileLock::FileLock(std::filesystem::path lock_path, const std::string& what) : path_(std::move(lock_path)) {
  // The holder removes the lock file when it is done, so the file we locked may have been unlinked in
  // between: retry until the locked file is the one at path_ (the usual flock + unlink protocol).
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      throw std::runtime_error(fmt::format("{}: cannot create the lock file for {}: {}", path_.string(), what,
                                           std::strerror(errno)));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string holder = err == EWOULDBLOCK ? read_holder(fd) : "";
      ::close(fd);
      if (err == EWOULDBLOCK)
        throw std::runtime_error(
            fmt::format("{} is in use by another vitbench process: {} (lock file {}); wait "
                        "for it to finish or stop it, or choose another output",
                        what, holder, path_.string()));
      throw std::runtime_error(
          fmt::format("{}: cannot lock {}: {}", path_.string(), what, std::strerror(err)));
    }
    struct stat held {
    }, now{};
    if (::fstat(fd, &held) == 0 && ::stat(path_.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
        held.st_dev == now.st_dev) {
      fd_ = fd;
      const std::string me =
          fmt::format("pid {} on host {}, command: {}\n", ::getpid(), host_name(), command_line());
      if (::ftruncate(fd_, 0) != 0 ||
          ::pwrite(fd_, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
        // The lock is held all the same; only the holder's description is missing.
      }
      return;
    }
    ::close(fd);
  }
  throw std::runtime_error(
      fmt::format("{}: cannot lock {}: the lock file keeps being replaced", path_.string(), what));
}

FileLock::~FileLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());
  ::close(fd_);
}

bool lock_held(const std::filesystem::path& lock_path) {
  struct stat st {};
  if (::stat(lock_path.c_str(), &st) != 0) return false;
  // A line per lock: "1: FLOCK  ADVISORY  WRITE 27740 fe:00:5963818 0 EOF" (a waiter's: "1: -> FLOCK ..."),
  // the file named by device major:minor (hex) and inode.
  const std::string file = fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev), st.st_ino);
  std::ifstream locks("/proc/locks");
  for (std::string line; std::getline(locks, line);) {
    std::istringstream fields(line);
    bool flock = false;
    for (std::string f; fields >> f;) {
      if (f == "FLOCK") flock = true;
      if (flock && f == file) return true;
    }
  }
  return false;
}

}  // namespace vb
