#include "audit/audit_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <mutex>

#include "util/crypto.h"
#include "util/fs.h"
#include "util/group_commit.h"
#include "util/text.h"

namespace bastion::audit {
namespace {

struct Tail {
  std::int64_t seq = 0;
  std::string hash = kGenesisHash;
};

// Reads the last record of the file to continue the chain.
Result<Tail> ReadTail(int fd, off_t size) {
  Tail tail;
  if (size == 0) return tail;
  // Read backwards until the start of the last record (records have no size limit).
  std::string buf;
  off_t start = size;
  std::size_t line_start = std::string::npos;
  while (start > 0) {
    off_t chunk = std::min<off_t>(start, 65536);
    start -= chunk;
    std::string part(static_cast<std::size_t>(chunk), '\0');
    if (::pread(fd, part.data(), part.size(), start) != static_cast<ssize_t>(part.size()))
      return ErrnoStatus("read audit log tail");
    buf.insert(0, part);
    if (buf.back() != '\n') return Status(Code::kCorrupt, "audit log does not end with a complete record");
    if (buf.size() >= 2) line_start = buf.rfind('\n', buf.size() - 2);
    if (line_start != std::string::npos) break;
  }
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  try {
    auto rec = nlohmann::json::parse(buf.substr(line_start, buf.size() - 1 - line_start));
    tail.seq = rec.at("seq").get<std::int64_t>();
    tail.hash = rec.at("hash").get<std::string>();
  } catch (const std::exception&) {
    return Status(Code::kCorrupt, "audit log's last record is not valid JSON");
  }
  return tail;
}

class FileAuditLog final : public AuditLog {
 public:
  FileAuditLog(UniqueFd fd, std::filesystem::path path)
      : fd_(std::move(fd)),
        path_(std::move(path)),
        commit_([this](std::vector<Records>& batch) { return Write(batch); }, 512) {}

  Status Append(AuditEvent event) override {
    Records one;
    one.events.push_back(std::move(event));
    return commit_.Submit(std::move(one));
  }
  Status AppendAll(std::vector<AuditEvent> events) override {
    if (events.empty()) return Status::Ok();
    return commit_.Submit(Records{std::move(events)});
  }
  Result<AuditPage> Read(const AuditQuery& query) override { return ReadAuditLog(path_, query); }

 private:
  // One caller's records; they stay together in the chain.
  struct Records {
    std::vector<AuditEvent> events;
  };

  std::vector<Status> Write(std::vector<Records>& batch) {
    Status s = WriteLocked(batch);
    return std::vector<Status>(batch.size(), s);
  }

  Status WriteLocked(std::vector<Records>& batch) {
    while (::flock(fd_.get(), LOCK_EX) != 0)
      if (errno != EINTR) return ErrnoStatus("lock audit log");
    struct Unlock {
      int fd;
      ~Unlock() { ::flock(fd, LOCK_UN); }
    } unlock{fd_.get()};

    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) return ErrnoStatus("stat audit log");
    if (st.st_size != known_size_) {  // another process appended (or first use)
      BASTION_ASSIGN_OR_RETURN(tail_, ReadTail(fd_.get(), st.st_size));
      known_size_ = st.st_size;
    }
    std::string out;
    Tail tail = tail_;
    for (auto& e : Flatten(batch)) {
      nlohmann::json rec = {
          {"seq", tail.seq + 1},
          {"time", UtcTimestampNow()},
          {"type", e.type},
          {"outcome", e.success ? "success" : "failure"},
          {"actor", e.actor.via.empty()
                        ? nlohmann::json{{"kind", e.actor.kind}, {"id", e.actor.id}, {"address", e.actor.address}}
                        : nlohmann::json{{"kind", e.actor.kind}, {"id", e.actor.id}, {"address", e.actor.address},
                                         {"via", e.actor.via}}},
          {"details", std::move(e.details)},
          {"prev", tail.hash},
      };
      std::string hash = RecordHash(rec);
      rec["hash"] = hash;
      out += rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      out += '\n';
      tail.seq += 1;
      tail.hash = hash;
    }
    // O_APPEND: the write lands at the end even if the size changed since fstat
    // (it cannot: we hold the flock, and every writer takes it).
    Status written = WriteAll(fd_.get(), out.data(), out.size());
    if (written.ok() && ::fdatasync(fd_.get()) != 0) written = ErrnoStatus("fdatasync audit log");
    if (!written.ok()) {
      // A full disk can take part of the batch: cut the log back to its last
      // whole record, so that the chain stays whole and later records (once
      // there is room) follow it. Nothing of this batch is acknowledged.
      if (::ftruncate(fd_.get(), st.st_size) != 0) known_size_ = -1;  // re-read the tail next time
      return written;
    }
    tail_ = tail;
    known_size_ = st.st_size + static_cast<off_t>(out.size());
    return Status::Ok();
  }

  // Each caller's records, in order, caller after caller.
  static std::vector<AuditEvent> Flatten(std::vector<Records>& batch) {
    std::vector<AuditEvent> all;
    for (auto& r : batch)
      for (auto& e : r.events) all.push_back(std::move(e));
    return all;
  }

  UniqueFd fd_;
  const std::filesystem::path path_;
  Tail tail_;              // only touched by the group-commit leader
  off_t known_size_ = -1;  // likewise
  GroupCommit<Records, Status> commit_;
};

}  // namespace

std::string RecordHash(const nlohmann::json& record) {
  Sha256 h;
  h.Update(record.at("prev").get<std::string>());
  h.Update("\n");
  h.Update(record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return HexEncode(h.Finish());
}

Result<std::unique_ptr<AuditLog>> OpenAuditLog(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus("open audit log " + path.string());
  return std::unique_ptr<AuditLog>(new FileAuditLog(std::move(fd), path));
}

Result<VerifyReport> VerifyAuditLog(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status(Code::kNotFound, "cannot open " + path.string());
  VerifyReport report;
  std::string prev = kGenesisHash;
  std::int64_t expected_seq = 1;
  std::string line;
  std::int64_t line_no = 0;
  auto broken = [&](std::string reason) {
    report.intact = false;
    report.broken_line = line_no;
    report.reason = std::move(reason);
    return report;
  };
  while (std::getline(in, line)) {
    ++line_no;
    nlohmann::json rec;
    try {
      rec = nlohmann::json::parse(line);
    } catch (const std::exception&) {
      return broken("not a JSON record");
    }
    if (!rec.is_object() || !rec.contains("hash") || !rec.contains("prev") || !rec.contains("seq") ||
        !rec["hash"].is_string() || !rec["prev"].is_string() || !rec["seq"].is_number_integer())
      return broken("record lacks seq/prev/hash");
    std::string stored = rec["hash"].get<std::string>();
    if (rec["seq"].get<std::int64_t>() != expected_seq)
      return broken("sequence number " + std::to_string(rec["seq"].get<std::int64_t>()) + " where " +
                    std::to_string(expected_seq) + " was expected (a record was removed or inserted)");
    if (rec["prev"].get<std::string>() != prev)
      return broken("record does not chain to the one before it (a record was removed, inserted or edited)");
    rec.erase("hash");
    if (RecordHash(rec) != stored) return broken("record content does not match its hash (it was edited)");
    prev = stored;
    ++expected_seq;
    ++report.records;
  }
  if (!in.eof()) return Status(Code::kIo, "read error in " + path.string());
  return report;
}

}  // namespace bastion::audit
