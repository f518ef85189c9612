#include "util/fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "../temp_dir.h"

namespace bastion {
namespace {

using test::TempDir;

int ModeOf(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return static_cast<int>(st.st_mode & 07777);
}

TEST(FsTest, WriteFileAtomicThenReadFile) {
  TempDir dir;
  auto path = dir / "nodes.json";
  std::string contents = "{\"version\": 1}\n";
  contents.push_back('\0');
  contents += "tail";
  ASSERT_TRUE(WriteFileAtomic(path, contents).ok());
  auto read = ReadFile(path, 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, contents);
}

TEST(FsTest, WriteFileAtomicReplacesAndLeavesNoTemporaries) {
  TempDir dir;
  auto path = dir / "f";
  ASSERT_TRUE(WriteFileAtomic(path, "first version, longer").ok());
  ASSERT_TRUE(WriteFileAtomic(path, "second").ok());
  EXPECT_EQ(*ReadFile(path, 100), "second");
  auto files = test::FilesIn(dir.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename(), "f");
}

TEST(FsTest, WriteFileAtomicHonoursMode) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "secret", "k", 0600).ok());
  EXPECT_EQ(ModeOf(dir / "secret"), 0600);
  ASSERT_TRUE(WriteFileAtomic(dir / "shared", "k", 0640).ok());
  EXPECT_EQ(ModeOf(dir / "shared"), 0640);
  ASSERT_TRUE(WriteFileAtomic(dir / "default", "k").ok());
  EXPECT_EQ(ModeOf(dir / "default"), 0644);
  // Replacing a file gives the new file the new mode.
  ASSERT_TRUE(WriteFileAtomic(dir / "shared", "k2", 0600).ok());
  EXPECT_EQ(ModeOf(dir / "shared"), 0600);
}

TEST(FsTest, WriteFileAtomicIntoMissingDirectoryFails) {
  TempDir dir;
  Status s = WriteFileAtomic(dir / "no" / "such" / "dir" / "f", "x");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
}

TEST(FsTest, ReadFileMaxBytes) {
  TempDir dir;
  auto path = dir / "hundred";
  ASSERT_TRUE(WriteFileAtomic(path, std::string(100, 'x')).ok());
  auto exact = ReadFile(path, 100);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->size(), 100u);
  auto over = ReadFile(path, 99);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), Code::kTooLarge);
  auto zero = ReadFile(path, 0);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), Code::kTooLarge);
}

TEST(FsTest, ReadFileLargerThanOneBuffer) {
  TempDir dir;
  auto path = dir / "big";
  std::string data;
  for (int i = 0; i < 200000; ++i) data.push_back(static_cast<char>(i % 251));
  ASSERT_TRUE(WriteFileAtomic(path, data).ok());
  auto read = ReadFile(path, data.size());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, data);
  auto over = ReadFile(path, data.size() - 1);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), Code::kTooLarge);
}

TEST(FsTest, ReadFileEmptyAndMissing) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "empty", "").ok());
  auto empty = ReadFile(dir / "empty", 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
  auto missing = ReadFile(dir / "missing", 10);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

TEST(FsTest, ErrnoStatusMapsCodes) {
  errno = ENOENT;
  Status s = ErrnoStatus("open x");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message().rfind("open x: ", 0), 0u) << s.message();
  errno = EEXIST;
  EXPECT_EQ(ErrnoStatus("a").code(), Code::kAlreadyExists);
  errno = EACCES;
  EXPECT_EQ(ErrnoStatus("a").code(), Code::kPermissionDenied);
  errno = EPERM;
  EXPECT_EQ(ErrnoStatus("a").code(), Code::kPermissionDenied);
  errno = EIO;
  EXPECT_EQ(ErrnoStatus("a").code(), Code::kIo);
  errno = ENOSPC;
  EXPECT_EQ(ErrnoStatus("a").code(), Code::kNoSpace);
  errno = EDQUOT;
  EXPECT_EQ(ErrnoStatus("a").code(), Code::kNoSpace);
}

TEST(FsTest, FsyncDirectory) {
  TempDir dir;
  EXPECT_TRUE(FsyncDirectory(dir.path()).ok());
  EXPECT_EQ(FsyncDirectory(dir / "missing").code(), Code::kNotFound);
}

TEST(FsTest, WriteAllWritesEverything) {
  TempDir dir;
  auto path = dir / "w";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd.valid());
  std::string data(300000, 'q');
  ASSERT_TRUE(WriteAll(fd.get(), data.data(), data.size()).ok());
  fd.Reset();
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(*ReadFile(path, 1 << 20), data);
  EXPECT_FALSE(WriteAll(-1, "x", 1).ok());
}

TEST(UniqueFdTest, MoveTransfersOwnership) {
  TempDir dir;
  int raw = ::open((dir / "f").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(raw, 0);
  UniqueFd a(raw);
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): testing the moved-from state
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  int released = c.Release();
  EXPECT_EQ(released, raw);
  EXPECT_FALSE(c.valid());
  EXPECT_EQ(::close(released), 0);  // still open: Release did not close it
}

TEST(FileLockTest, TryAcquireFailsWhileHeld) {
  TempDir dir;
  auto path = dir / ".lock";
  auto first = FileLock::TryAcquire(path);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  // flock locks belong to the open file description: a second open in this
  // process conflicts just as another process would.
  auto second = FileLock::TryAcquire(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kUnavailable);
  EXPECT_FALSE(FileLock::TryAcquire(path).ok());
}

TEST(FileLockTest, ReleasedOnDestruction) {
  TempDir dir;
  auto path = dir / ".lock";
  {
    auto held = FileLock::TryAcquire(path);
    ASSERT_TRUE(held.ok());
  }
  auto again = FileLock::TryAcquire(path);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
}

TEST(FileLockTest, MovedLockStaysHeld) {
  TempDir dir;
  auto path = dir / ".lock";
  auto result = FileLock::Acquire(path);
  ASSERT_TRUE(result.ok());
  FileLock moved = std::move(result).value();
  EXPECT_EQ(FileLock::TryAcquire(path).status().code(), Code::kUnavailable);
}

TEST(FileLockTest, AcquireWhenFreeAndTryAcquireAfterwards) {
  TempDir dir;
  auto path = dir / ".lock";
  {
    auto held = FileLock::Acquire(path);
    ASSERT_TRUE(held.ok()) << held.status().ToString();
    EXPECT_EQ(FileLock::TryAcquire(path).status().code(), Code::kUnavailable);
  }
  EXPECT_TRUE(FileLock::TryAcquire(path).ok());
}

TEST(FileLockTest, MissingDirectoryIsAnError) {
  TempDir dir;
  auto r = FileLock::TryAcquire(dir / "missing" / ".lock");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace bastion
