// Crash-safe file replacement: the bytes go to "<path>.partial" in the same folder (checked write, fsync),
// which is then renamed over <path>, and the folder is fsynced; <path> is always the old file or the whole
// new one. Every HDF5 result, checkpoint and run record reaches the disk through write_file_atomically
// (results.cpp).
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

namespace vb {

// Throws std::runtime_error naming the file and the system's reason ("No space left on device"); on failure
// the partial file is removed and <path> is untouched.
// Fault injection for tests: with VITBENCH_KILL_AT_WRITE=N the process SIGKILLs itself halfway through the
// N-th call (tests/reliability/kill_points.sh); VITBENCH_KILL_AT_WRITE_LOG=<file> appends one line per call.
void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes);
// Copies `from` to `to` the same way (readers of `to` see the old file or the whole copy; a sweep's collected
// records are watched by scripts/commit_records.sh). Not a kill point of VITBENCH_KILL_AT_WRITE.
void copy_file_atomically(const std::filesystem::path& from, const std::filesystem::path& to);

// Checks, before any work starts and without creating anything, that `folder` is (or can be created as) a
// writable directory: throws naming the folder and the reason (read-only file system, permission denied, not
// a directory). A refused command leaves no trace.
void require_writable_folder(const std::filesystem::path& folder);
// Creates `folder` (and its parents) if need be; throws naming it and the reason.
void create_output_folder(const std::filesystem::path& folder);

}  // namespace vb
