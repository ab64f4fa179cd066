// write_file_atomically and require_writable_folder on POSIX calls (open/write/fsync/rename); see
// atomic_write.hpp.
#include "harness/atomic_write.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace vb {

namespace {

// Names the final file (what the user asked for) and the reason; the previous file there is untouched.
std::runtime_error sys_error(const std::filesystem::path& p, const std::string& what, int err) {
  return std::runtime_error(
      fmt::format("{}: cannot {}: {} (nothing was replaced)", p.string(), what, std::strerror(err)));
}

// Closes the descriptor on every path out (a failed write must not leak it).
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The N of VITBENCH_KILL_AT_WRITE, 0 when unset: the kill points of tests/reliability/kill_points.sh.
int64_t kill_at_write() {
  const char* v = std::getenv("VITBENCH_KILL_AT_WRITE");
  return v ? std::strtoll(v, nullptr, 10) : 0;
}

void log_write(const std::filesystem::path& path, int64_t n) {
  const char* log = std::getenv("VITBENCH_KILL_AT_WRITE_LOG");
  if (log) std::ofstream(log, std::ios::app) << n << " " << path.string() << "\n";
}

void write_all(int fd, const std::filesystem::path& p, const std::byte* data, size_t n) {
  const size_t total = n;
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw sys_error(p, fmt::format("write its {} bytes", total), errno);
    data += w;
    n -= static_cast<size_t>(w);
  }
}

void fsync_folder(const std::filesystem::path& folder) {
  Fd dir{::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  // After the rename the new file is in place; only its durability across a power loss is in doubt.
  if (dir.fd < 0 || ::fsync(dir.fd) != 0)
    throw std::runtime_error(
        fmt::format("{}: cannot sync the folder after a write: {}", folder.string(), std::strerror(errno)));
}

// The partial-file-then-rename write; `kill_halfway` SIGKILLs the process halfway through (fault injection).
void write_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes,
                      bool kill_halfway) {
  const std::filesystem::path partial = path.string() + ".partial";
  const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : ".";
  try {
    Fd f{::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (f.fd < 0) throw sys_error(path, "create " + partial.filename().string(), errno);
    if (kill_halfway) {  // a crash halfway through a write: the partial file is left behind
      write_all(f.fd, path, bytes.data(), bytes.size() / 2);
      ::kill(::getpid(), SIGKILL);
    }
    write_all(f.fd, path, bytes.data(), bytes.size());
    // fsync before rename: otherwise a power loss can leave <path> renamed but empty.
    if (::fsync(f.fd) != 0) throw sys_error(path, "sync " + partial.filename().string(), errno);
    const int fd = f.fd;
    f.fd = -1;
    if (::close(fd) != 0) throw sys_error(path, "close " + partial.filename().string(), errno);
    if (::rename(partial.c_str(), path.c_str()) != 0)
      throw std::runtime_error(
          fmt::format("{}: cannot rename to {}: {}", partial.string(), path.string(), std::strerror(errno)));
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(partial, ec);
    throw;
  }
  fsync_folder(folder);
}

}  // namespace

void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  static std::atomic<int64_t> calls{0};
  const int64_t n = ++calls;
  log_write(path, n);
  write_atomically(path, bytes, n == kill_at_write());
}

void copy_file_atomically(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in)
    throw std::runtime_error(fmt::format("{}: cannot open it to copy it to {}: {}", from.string(),
                                         to.string(), std::strerror(errno)));
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    throw std::runtime_error(fmt::format("{}: cannot read it to copy it to {}", from.string(), to.string()));
  write_atomically(to, std::as_bytes(std::span(bytes)), false);
}

void require_writable_folder(const std::filesystem::path& folder_in) {
  const std::filesystem::path folder = folder_in.empty() ? "." : folder_in;
  std::filesystem::path existing = std::filesystem::absolute(folder);
  std::error_code ec;
  while (!std::filesystem::exists(existing, ec) && existing.has_relative_path())
    existing = existing.parent_path();
  const bool missing = !std::filesystem::equivalent(existing, std::filesystem::absolute(folder), ec);
  if (!std::filesystem::is_directory(existing))
    throw std::runtime_error(fmt::format("{}: cannot create the output folder: {} is not a directory",
                                         folder.string(), existing.string()));
  // access() reports a read-only file system (EROFS) and, for other users than root, missing permissions.
  if (::access(existing.c_str(), W_OK | X_OK) != 0) {
    if (missing)
      throw std::runtime_error(fmt::format("{}: cannot create the output folder: {}: {}", folder.string(),
                                           existing.string(), std::strerror(errno)));
    throw std::runtime_error(
        fmt::format("{}: the output folder is not writable: {}", folder.string(), std::strerror(errno)));
  }
}

void create_output_folder(const std::filesystem::path& folder) {
  std::error_code ec;
  if (!folder.empty()) std::filesystem::create_directories(folder, ec);
  if (ec)
    throw std::runtime_error(
        fmt::format("{}: cannot create the output folder: {}", folder.string(), ec.message()));
}

}  // namespace vb
