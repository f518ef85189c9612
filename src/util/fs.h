// File-system helpers with explicit durability. Paths passed here are built by
// the server from identifiers it generated; nothing here sanitises input.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "util/status.h"

namespace bastion {

// An open file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

// A Status for the current errno, with what was being done.
Status ErrnoStatus(std::string_view what);

// fsync the directory itself, so that entries created or renamed in it survive a crash.
Status FsyncDirectory(const std::filesystem::path& dir);

// Writes `contents` to `path` atomically and durably: a temporary file in the
// same directory, fsync, rename, fsync of the directory. `mode` applies to the new file.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view contents, int mode = 0644);

Result<std::string> ReadFile(const std::filesystem::path& path, std::size_t max_bytes);

// Writes all of `size` bytes, retrying on EINTR and short writes.
Status WriteAll(int fd, const void* data, std::size_t size);

// An exclusive advisory lock (flock) on a lock file, held until destruction.
// Used where several Bastion processes share a data directory (serve, import,
// node add): the lock serialises their read-modify-write of shared files.
class FileLock {
 public:
  // Blocks until the lock is held.
  static Result<FileLock> Acquire(const std::filesystem::path& path);
  // Fails with kUnavailable at once if another process holds it.
  static Result<FileLock> TryAcquire(const std::filesystem::path& path);

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  static Result<FileLock> Lock(const std::filesystem::path& path, int op);
  UniqueFd fd_;
};

}  // namespace bastion
