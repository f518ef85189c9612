#include "audit/audit_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "util/fs.h"

namespace bastion::audit {
namespace {

constexpr off_t kBlock = 1 << 20;

// A string member; absent or of another type (a damaged record) reads as empty.
std::string StringMember(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t SeqOf(const nlohmann::json& rec) {
  auto it = rec.find("seq");
  return it != rec.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

// A record's own seq without parsing it. AuditLog writes the members sorted,
// so the record's "seq" comes after "details" (whose members, named by
// callers, may include a "seq" too) and only the strings "time" and "type",
// in which every quote is escaped, follow it: the last "seq": is the one.
std::int64_t QuickSeq(std::string_view line) {
  auto at = line.rfind("\"seq\":");
  if (at == std::string_view::npos) return 0;
  std::int64_t seq = 0;
  std::from_chars(line.data() + at + 6, line.data() + line.size(), seq);
  return seq;
}

// "2026-11-01T08:00:00Z" as the log's times compare with it: without the
// 'Z', so that "…08:00:00.5Z" in the log sorts after "…08:00:00".
std::string TimeBound(const std::string& t) {
  return !t.empty() && t.back() == 'Z' ? t.substr(0, t.size() - 1) : t;
}

struct Filters {
  const AuditQuery& q;
  std::string since, until;
};

bool Matches(const nlohmann::json& rec, const Filters& f) {
  const AuditQuery& q = f.q;
  if (!rec.is_object()) return false;
  if (!q.type.empty()) {
    const std::string type = StringMember(rec, "type");
    bool prefix = q.type.back() == '.';
    if (prefix ? type.rfind(q.type, 0) != 0 : type != q.type) return false;
  }
  if (!q.actor.empty()) {
    auto actor = rec.find("actor");
    if (actor == rec.end() || !actor->is_object() || StringMember(*actor, "id") != q.actor) return false;
  }
  const std::string time = StringMember(rec, "time");
  if (!f.since.empty() && time < f.since) return false;
  if (!f.until.empty() && time >= f.until) return false;
  if (q.failures_only && StringMember(rec, "outcome") != "failure") return false;
  return true;
}

bool IsTime(const std::string& s) {
  if (s.size() < 10 || s.size() > 30) return false;
  for (char c : s)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == ':' || c == 'T' || c == 'Z' || c == '.'))
      return false;
  return s[4] == '-' && s[7] == '-';
}

Status ReadAt(int fd, std::string& buf, off_t at) {
  std::size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::pread(fd, buf.data() + done, buf.size() - done, at + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read the audit log");
    if (n == 0) return Status(Code::kIo, "the audit log shrank while being read");
    done += static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

// The first '\n' in [from, limit), or -1.
Result<off_t> NextNewline(int fd, off_t from, off_t limit) {
  off_t chunk = 4096;
  std::string buf;
  while (from < limit) {
    buf.resize(static_cast<std::size_t>(std::min(chunk, limit - from)));
    BASTION_RETURN_IF_ERROR(ReadAt(fd, buf, from));
    auto nl = buf.find('\n');
    if (nl != std::string::npos) return from + static_cast<off_t>(nl);
    from += static_cast<off_t>(buf.size());
    chunk = std::min<off_t>(chunk * 2, kBlock);
  }
  return off_t{-1};
}

// The seq of the line that ends at `newline`, from its tail (0: not found there).
Result<std::int64_t> SeqOfLineEndingAt(int fd, off_t newline) {
  off_t start = std::max<off_t>(0, newline - 4096);
  std::string buf(static_cast<std::size_t>(newline - start), '\0');
  BASTION_RETURN_IF_ERROR(ReadAt(fd, buf, start));
  std::string_view line(buf);
  if (auto nl = line.rfind('\n'); nl != std::string_view::npos) line.remove_prefix(nl + 1);
  return QuickSeq(line);
}

// Where to start reading backwards for records older than `before`: an
// offset after which every line has seq >= before, found by bisecting the
// file (its lines are in seq order), so that a page deep in a long log
// neither rescans the newer part nor spends its scan bound on it.
Result<off_t> EndBefore(int fd, off_t size, std::int64_t before) {
  off_t bound = size, lo = 0, hi = size;
  while (hi - lo > (64 << 10)) {
    off_t mid = lo + (hi - lo) / 2;
    BASTION_ASSIGN_OR_RETURN(off_t nl, NextNewline(fd, mid, hi));
    if (nl < 0) {
      hi = mid;
      continue;
    }
    BASTION_ASSIGN_OR_RETURN(std::int64_t seq, SeqOfLineEndingAt(fd, nl));
    if (seq > 0 && seq < before) {
      lo = nl + 1;
    } else {
      hi = mid;
      if (seq >= before) bound = nl + 1;
    }
  }
  return bound;
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
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return page;
    return ErrnoStatus("open the audit log");
  }
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat the audit log");
  const Filters filters{q, TimeBound(q.since), TimeBound(q.until)};
  // The text as the log spells it (quotes and backslashes escaped), so the
  // cheap search of the raw line finds what the record says.
  std::string needle;
  if (!q.text.empty()) {
    needle = nlohmann::json(q.text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    needle = needle.substr(1, needle.size() - 2);
  }
  // Backwards in blocks; `carry` holds the (incomplete) start of the block
  // after the current one, i.e. the line that continues into it.
  off_t end = st.st_size;
  if (q.before_seq > 0) {
    BASTION_ASSIGN_OR_RETURN(end, EndBefore(fd.get(), st.st_size, q.before_seq));
  }
  std::string carry;
  std::uint64_t scanned = 0;
  std::int64_t last_seq = 0;  // the oldest seq looked at below before_seq
  bool done = false;
  while (end > 0 && !done) {
    off_t start = std::max<off_t>(0, end - kBlock);
    std::string block(static_cast<std::size_t>(end - start), '\0');
    BASTION_RETURN_IF_ERROR(ReadAt(fd.get(), block, start));
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
        bool candidate = needle.empty() || line.find(needle) != std::string_view::npos;
        nlohmann::json rec = candidate ? nlohmann::json::parse(line, nullptr, false) : nlohmann::json();
        std::int64_t seq = candidate && rec.is_object() ? SeqOf(rec) : QuickSeq(line);
        bool in_range = q.before_seq == 0 || seq < q.before_seq;
        if (in_range && seq > 0) last_seq = seq;
        if (candidate && in_range && Matches(rec, filters)) {
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
    // Stop at the bound only once a record has been looked at: the cursor
    // must move, even past a record longer than the bound.
    if (end > 0 && scanned >= q.max_scan_bytes && last_seq > 0) {
      page.scan_limited = true;
      break;
    }
  }
  if (done) {
    std::int64_t seq = SeqOf(page.records.back());
    page.next_before = seq > 0 ? seq : last_seq;
  } else if (page.scan_limited) {
    page.next_before = last_seq;
  }
  if (page.next_before == 1) page.next_before = 0;
  return page;
}

}  // namespace bastion::audit
