// Local directory blob store. Layout (docs/storage.md):
//   <root>/objects/<k0k1>/<key>.dcm   one file per object, key = SHA-256 of its bytes
// One level of 256 directories, all made when the store is opened, so that a
// store costs no mkdir and no parent fsync, not even on a new server (a
// million objects is ~4,000 files per directory, which ext4/xfs index).
// Objects are placed with link(2), which fails if the name exists: two
// processes storing the same content at once both succeed, one file results.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "blobs/blob_store.h"

namespace bastion::blobs {
namespace {

class FileReader final : public BlobReader {
 public:
  FileReader(UniqueFd fd, std::uint64_t size) : fd_(std::move(fd)), size_(size) {}
  Result<std::size_t> Read(std::span<char> out) override {
    for (;;) {
      ssize_t n = ::read(fd_.get(), out.data(), out.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return ErrnoStatus("read object");
    }
  }
  std::uint64_t size() const override { return size_; }

 private:
  UniqueFd fd_;
  std::uint64_t size_;
};

class LocalBlobStore final : public BlobStore {
 public:
  explicit LocalBlobStore(std::filesystem::path root) : objects_(std::move(root) / "objects") {}

  // Makes the 256 directories, with one fsync of their parent. Best effort:
  // a process that may not write here (or a full disk) finds out in Put,
  // which makes a missing directory itself.
  void MakeFanOutDirectories() {
    if (::mkdir(objects_.c_str(), 0750) == 0) (void)FsyncDirectory(objects_.parent_path());
    else if (errno != EEXIST) return;
    std::vector<std::string> dirs;
    bool made = false;
    for (int i = 0; i < 256; ++i) {
      static constexpr char kHex[] = "0123456789abcdef";
      dirs.push_back((objects_ / std::string{kHex[i >> 4], kHex[i & 15]}).string());
      if (::mkdir(dirs.back().c_str(), 0750) == 0) made = true;
      else if (errno != EEXIST) return;
    }
    if (made && !FsyncDirectory(objects_).ok()) return;
    std::lock_guard lock(mu_);
    for (auto& d : dirs) known_dirs_.emplace(std::move(d), true);
  }

  // The object's data is flushed here, on the caller's thread: receiving
  // threads flush their own objects at the same time, and the kernel merges
  // their device cache flushes (one leader flushing a batch file after file
  // paid one device flush per file). Its directory entry is made durable by
  // the next Flush, once for a whole batch.
  Result<BlobKey> Put(StagedObject& staged) override {
    BASTION_RETURN_IF_ERROR(staged.Seal());
    BlobKey key = BlobKey::FromDigest(staged.digest());
    std::filesystem::path target = PathFor(key);
    BASTION_RETURN_IF_ERROR(EnsureDirs(target.parent_path()));
    if (::link(staged.path().c_str(), target.c_str()) != 0) {
      if (errno != EEXIST) return ErrnoStatus("store object");
      // Same content is already stored (content addressing): nothing to add.
      // Another process may have linked it an instant ago and not flushed it
      // yet, so it is flushed again here (fdatasync works on a read-only fd).
      UniqueFd existing(::open(target.c_str(), O_RDONLY | O_CLOEXEC));
      if (!existing.valid()) return ErrnoStatus("open stored object");
      if (::fdatasync(existing.get()) != 0) return ErrnoStatus("fdatasync stored object");
    } else if (::fdatasync(staged.fd()) != 0) {
      // Refused, and no catalog row will point at it. The link stays: another
      // store of the same bytes may already rely on it (and a later Put of
      // them flushes it again).
      return ErrnoStatus("fdatasync object");
    }
    std::lock_guard lock(mu_);
    unsynced_dirs_.insert(target.parent_path().string());
    return key;
  }

  // One fsync per directory that got an entry since the last Flush.
  Status Flush() override {
    std::set<std::string> dirs;
    {
      std::lock_guard lock(mu_);
      dirs.swap(unsynced_dirs_);
    }
    Status result = Status::Ok();
    for (const auto& d : dirs) {
      result = FsyncDirectory(d);
      if (!result.ok()) break;
    }
    if (!result.ok()) {  // keep everything pending so a later Flush retries it
      std::lock_guard lock(mu_);
      unsynced_dirs_.insert(dirs.begin(), dirs.end());
    }
    return result;
  }

  // Of the file system the objects go to: that of the nearest directory that
  // exists, before the first Put has made the store's own.
  Result<std::uint64_t> AvailableBytes() override {
    struct statvfs st {};
    std::filesystem::path at = objects_;
    while (::statvfs(at.c_str(), &st) != 0) {
      if (errno != ENOENT || !at.has_relative_path()) return ErrnoStatus("statvfs " + at.string());
      at = at.parent_path();
    }
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  }

  Result<std::unique_ptr<BlobReader>> Open(const BlobKey& key) override {
    UniqueFd fd(::open(PathFor(key).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoStatus("open object " + key.hex());
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat object");
    return std::unique_ptr<BlobReader>(new FileReader(std::move(fd), static_cast<std::uint64_t>(st.st_size)));
  }

  Result<bool> Exists(const BlobKey& key) override {
    struct stat st {};
    if (::stat(PathFor(key).c_str(), &st) == 0) return true;
    if (errno == ENOENT) return false;
    return ErrnoStatus("stat object");
  }

  Status Remove(const BlobKey& key) override {
    std::filesystem::path p = PathFor(key);
    if (::unlink(p.c_str()) != 0) {
      if (errno == ENOENT) return Status::Ok();  // not stored: nothing to remove
      return ErrnoStatus("remove object");
    }
    return FsyncDirectory(p.parent_path());
  }

  Status ForEach(const std::function<Status(const BlobKey&)>& visit) override {
    std::error_code ec;
    if (!std::filesystem::exists(objects_, ec)) return Status::Ok();
    for (auto it = std::filesystem::recursive_directory_iterator(objects_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      const auto& p = it->path();
      if (p.extension() != ".dcm") continue;
      auto key = BlobKey::FromHex(p.stem().string());
      if (!key || PathFor(*key) != p) continue;  // not ours: never touch it
      BASTION_RETURN_IF_ERROR(visit(*key));
    }
    if (ec) return Status(Code::kIo, "list objects: " + ec.message());
    return Status::Ok();
  }

  std::optional<std::filesystem::path> LocalPath(const BlobKey& key) const override { return PathFor(key); }

 private:
  // Built only from a validated 64-hex-digit key: nothing from the wire.
  std::filesystem::path PathFor(const BlobKey& key) const {
    const std::string& h = key.hex();
    return objects_ / h.substr(0, 2) / (h + ".dcm");
  }

  Status EnsureDirs(const std::filesystem::path& dir) {
    {
      std::lock_guard lock(mu_);
      if (known_dirs_.contains(dir.string())) return Status::Ok();
    }
    // Create each level and make its entry durable in its parent.
    for (const auto& d : {dir.parent_path(), dir}) {
      if (::mkdir(d.c_str(), 0750) == 0) {
        BASTION_RETURN_IF_ERROR(FsyncDirectory(d.parent_path()));
      } else if (errno != EEXIST) {
        return ErrnoStatus("create " + d.string());
      }
    }
    std::lock_guard lock(mu_);
    known_dirs_.emplace(dir.string(), true);
    return Status::Ok();
  }

  std::filesystem::path objects_;
  std::mutex mu_;
  std::map<std::string, bool> known_dirs_;  // guarded by mu_
  std::set<std::string> unsynced_dirs_;     // directories with links not yet fsync'd; guarded by mu_
};

class MemoryReader final : public BlobReader {
 public:
  explicit MemoryReader(std::shared_ptr<const std::string> data) : data_(std::move(data)) {}
  Result<std::size_t> Read(std::span<char> out) override {
    std::size_t n = std::min(out.size(), data_->size() - pos_);
    std::copy_n(data_->data() + pos_, n, out.data());
    pos_ += n;
    return n;
  }
  std::uint64_t size() const override { return data_->size(); }

 private:
  std::shared_ptr<const std::string> data_;
  std::size_t pos_ = 0;
};

class MemoryBlobStore final : public BlobStore {
 public:
  Result<BlobKey> Put(StagedObject& staged) override {
    BASTION_RETURN_IF_ERROR(staged.Seal());
    BASTION_ASSIGN_OR_RETURN(std::string bytes, ReadFile(staged.path(), staged.size()));
    BlobKey key = BlobKey::FromDigest(staged.digest());
    std::lock_guard lock(mu_);
    objects_.try_emplace(key, std::make_shared<const std::string>(std::move(bytes)));
    return key;
  }
  Status Flush() override { return Status::Ok(); }
  Result<std::unique_ptr<BlobReader>> Open(const BlobKey& key) override {
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return Status(Code::kNotFound, "no object " + key.hex());
    return std::unique_ptr<BlobReader>(new MemoryReader(it->second));
  }
  Result<bool> Exists(const BlobKey& key) override {
    std::lock_guard lock(mu_);
    return objects_.contains(key);
  }
  Status Remove(const BlobKey& key) override {
    std::lock_guard lock(mu_);
    objects_.erase(key);
    return Status::Ok();
  }
  Status ForEach(const std::function<Status(const BlobKey&)>& visit) override {
    std::vector<BlobKey> keys;
    {
      std::lock_guard lock(mu_);
      for (const auto& [k, v] : objects_) keys.push_back(k);
    }
    for (const auto& k : keys) BASTION_RETURN_IF_ERROR(visit(k));
    return Status::Ok();
  }
  std::optional<std::filesystem::path> LocalPath(const BlobKey&) const override { return std::nullopt; }
  Result<std::uint64_t> AvailableBytes() override { return std::numeric_limits<std::uint64_t>::max(); }

 private:
  std::mutex mu_;
  std::map<BlobKey, std::shared_ptr<const std::string>> objects_;  // guarded by mu_
};

}  // namespace

std::unique_ptr<BlobStore> OpenLocalBlobStore(const std::filesystem::path& root) {
  auto store = std::make_unique<LocalBlobStore>(root);
  store->MakeFanOutDirectories();
  return store;
}

std::unique_ptr<BlobStore> NewMemoryBlobStore() { return std::make_unique<MemoryBlobStore>(); }

}  // namespace bastion::blobs
