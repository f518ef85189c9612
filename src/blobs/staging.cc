#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "blobs/blob_store.h"

namespace bastion::blobs {

std::optional<BlobKey> BlobKey::FromHex(std::string_view hex) {
  if (!IsLowerHex(hex, 64)) return std::nullopt;
  return BlobKey(std::string(hex));
}

BlobKey BlobKey::FromDigest(const Sha256Digest& digest) { return BlobKey(HexEncode(digest)); }

StagedObject::~StagedObject() {
  if (!consumed_) ::unlink(path_.c_str());
}

Status StagedObject::Append(const void* data, std::size_t size) {
  if (discarded_) return Status(Code::kInternal, "append to a discarded staged object");
  if (sealed_) return Status(Code::kInternal, "append to a sealed staged object");
  BASTION_RETURN_IF_ERROR(WriteAll(fd_.get(), data, size));
  hash_.Update(data, size);
  size_ += size;
  // Start writing back to disk while the rest arrives, so that the store's
  // Flush() finds little left to do. A hint only: errors surface there.
  constexpr std::uint64_t kWritebackChunk = 256 * 1024;
  if (size_ - writeback_from_ >= kWritebackChunk) {
    ::sync_file_range(fd_.get(), static_cast<off64_t>(writeback_from_),
                      static_cast<off64_t>(size_ - writeback_from_), SYNC_FILE_RANGE_WRITE);
    writeback_from_ = size_;
  }
  return Status::Ok();
}

void StagedObject::Discard() {
  discarded_ = true;
  (void)::ftruncate(fd_.get(), 0);  // best effort: the unlink on destruction frees it anyway
}

Status StagedObject::Seal() {
  if (discarded_) return Status(Code::kInternal, "seal of a discarded staged object");
  if (sealed_) return Status::Ok();
  digest_ = hash_.Finish();
  sealed_ = true;
  // The tail too (a small object is all tail): its writeback starts now and
  // runs while the header is parsed, so that BlobStore::Put's fdatasync finds
  // less left to do.
  if (size_ > writeback_from_)
    ::sync_file_range(fd_.get(), static_cast<off64_t>(writeback_from_), static_cast<off64_t>(size_ - writeback_from_),
                      SYNC_FILE_RANGE_WRITE);
  writeback_from_ = size_;
  return Status::Ok();
}

Status StagingArea::Prepare() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status(Code::kIo, "create " + dir_.string() + ": " + ec.message());
  return Status::Ok();
}

Result<std::unique_ptr<StagedObject>> StagingArea::Create() {
  std::filesystem::path path = dir_ / (RandomHex(12) + ".part");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus("create staging file");
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    ::unlink(path.c_str());
    return ErrnoStatus("lock staging file");
  }
  return std::unique_ptr<StagedObject>(new StagedObject(std::move(path), std::move(fd)));
}

Result<int> StagingArea::RemoveLeftovers() {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (!entry.is_regular_file()) continue;
    UniqueFd fd(::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // a live writer holds it
    if (::unlink(entry.path().c_str()) == 0) ++removed;
  }
  if (ec) return Status(Code::kIo, "list " + dir_.string() + ": " + ec.message());
  return removed;
}

}  // namespace bastion::blobs
