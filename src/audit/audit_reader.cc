#include "audit/audit_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"

namespace bastion::audit {
namespace {

bool Matches(const nlohmann::json& rec, const AuditQuery& q) {
  if (!rec.is_object()) return false;
  if (!q.type.empty()) {
    const std::string type = rec.value("type", "");
    bool prefix = q.type.back() == '.';
    if (prefix ? type.rfind(q.type, 0) != 0 : type != q.type) return false;
  }
  if (!q.actor.empty()) {
    auto actor = rec.find("actor");
    if (actor == rec.end() || !actor->is_object() || actor->value("id", "") != q.actor) return false;
  }
  const std::string time = rec.value("time", "");
  if (!q.since.empty() && time < q.since) return false;
  if (!q.until.empty() && time >= q.until) return false;
  if (q.failures_only && rec.value("outcome", "") != "failure") return false;
  return true;
}

bool IsTime(const std::string& s) {
  if (s.size() < 10 || s.size() > 30) return false;
  for (char c : s)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == ':' || c == 'T' || c == 'Z' || c == '.'))
      return false;
  return s[4] == '-' && s[7] == '-';
}

}  // namespace

Status ValidateAuditQuery(const AuditQuery& q) {
  if (q.limit < 1 || q.limit > 1000) return Status(Code::kInvalidArgument, "limit must be between 1 and 1000");
  if (q.before_seq < 0) return Status(Code::kInvalidArgument, "before must be a record number");
  if (!q.since.empty() && !IsTime(q.since))
    return Status(Code::kInvalidArgument, "since must be a date or time: 2026-11-01 or 2026-11-01T08:00:00Z");
  if (!q.until.empty() && !IsTime(q.until))
    return Status(Code::kInvalidArgument, "until must be a date or time: 2026-11-01 or 2026-11-01T08:00:00Z");
  if (q.type.size() > 64 || q.actor.size() > 128 || q.text.size() > 256)
    return Status(Code::kInvalidArgument, "a filter is too long");
  return Status::Ok();
}

Result<AuditPage> ReadAuditLog(const std::filesystem::path& path, const AuditQuery& q) {
  BASTION_RETURN_IF_ERROR(ValidateAuditQuery(q));
  AuditPage page;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return page;
    return ErrnoStatus("open the audit log");
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    Status s = ErrnoStatus("stat the audit log");
    ::close(fd);
    return s;
  }
  // Backwards in blocks; `carry` holds the (incomplete) start of the block
  // after the current one, i.e. the line that continues into it.
  constexpr off_t kBlock = 1 << 20;
  off_t end = st.st_size;
  std::string carry;
  std::uint64_t scanned = 0;
  std::int64_t last_seq = 0;  // the oldest seq looked at
  bool done = false;
  while (end > 0 && !done) {
    off_t start = std::max<off_t>(0, end - kBlock);
    std::string block(static_cast<std::size_t>(end - start), '\0');
    if (::pread(fd, block.data(), block.size(), start) != static_cast<ssize_t>(block.size())) {
      Status s = ErrnoStatus("read the audit log");
      ::close(fd);
      return s;
    }
    scanned += block.size();
    block += carry;
    // Lines that are complete in `block`: all but the first, unless at the file's start.
    std::size_t stop = block.size();
    for (;;) {
      std::size_t nl = stop == 0 ? std::string::npos : block.rfind('\n', stop - 1);
      std::size_t line_start = nl == std::string::npos ? 0 : nl + 1;
      if (nl == std::string::npos && start > 0) break;  // the first line continues in the previous block
      std::string_view line(block.data() + line_start, stop - line_start);
      if (!line.empty()) {
        bool candidate = q.text.empty() || line.find(q.text) != std::string_view::npos;
        nlohmann::json rec = candidate ? nlohmann::json::parse(line, nullptr, false) : nlohmann::json();
        std::int64_t seq = 0;
        if (candidate && rec.is_object()) {
          seq = rec.value("seq", std::int64_t{0});
        } else {
          // Cheap: the seq without a full parse, for the cursor.
          auto at = line.find("\"seq\":");
          if (at != std::string_view::npos) seq = std::atoll(std::string(line.substr(at + 6, 20)).c_str());
        }
        if (seq > 0) last_seq = seq;
        if (candidate && rec.is_object() && (q.before_seq == 0 || seq < q.before_seq) && Matches(rec, q)) {
          page.records.push_back(std::move(rec));
          if (static_cast<int>(page.records.size()) == q.limit) {
            done = true;
            break;
          }
        }
      }
      if (nl == std::string::npos) break;
      stop = nl;
    }
    if (done) break;
    carry = start > 0 ? block.substr(0, block.find('\n') == std::string::npos ? block.size() : block.find('\n'))
                      : std::string();
    end = start;
    if (end > 0 && scanned >= q.max_scan_bytes) {
      page.scan_limited = true;
      break;
    }
  }
  ::close(fd);
  if (done) page.next_before = page.records.back().value("seq", std::int64_t{0});
  else if (page.scan_limited) page.next_before = last_seq;
  else page.next_before = 0;
  if (page.next_before == 1) page.next_before = 0;
  return page;
}

}  // namespace bastion::audit
