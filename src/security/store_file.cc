#include "security/store_file.h"

#include <sys/stat.h>

#include <cstdio>
#include <ctime>

#include "util/fs.h"

namespace bastion::security {

FileIdentity FileIdentity::Of(const std::filesystem::path& file) {
  struct stat st {};
  FileIdentity id;
  if (::stat(file.c_str(), &st) != 0) return id;
  id.device = st.st_dev;
  id.inode = st.st_ino;
  id.size = static_cast<std::uint64_t>(st.st_size);
  id.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  id.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return id;
}

Result<std::optional<std::string>> ReadPrivateFile(const std::filesystem::path& file, std::size_t max_bytes) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return ErrnoStatus("stat " + file.string());
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status(Code::kInsecureConfig, file.string() + " is accessible to group or others (mode " + mode +
                                             "); it holds password hashes. Fix with: chmod 600 " + file.string());
  }
  BASTION_ASSIGN_OR_RETURN(std::string text, ReadFile(file, max_bytes));
  return std::optional<std::string>(std::move(text));
}

std::string FormatUtc(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string FormatUtc(std::int64_t seconds) {
  return FormatUtc(std::chrono::system_clock::from_time_t(static_cast<std::time_t>(seconds)));
}

std::string FormatUtcMillis(std::chrono::system_clock::time_point t) {
  std::string whole = FormatUtc(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  if (ms < 0) ms += 1000;
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms));
  whole.insert(whole.size() - 1, frac);
  return whole;
}

std::optional<std::chrono::system_clock::time_point> ParseUtc(std::string_view text) {
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
  int millis = 0;
  if (text.size() == kShape.size() + 4 && text[19] == '.') {
    for (std::size_t i = 20; i < 23; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      millis = millis * 10 + (text[i] - '0');
    }
    std::string whole(text.substr(0, 19));
    whole += text.substr(23);
    auto t = ParseUtc(whole);
    if (!t) return std::nullopt;
    return *t + std::chrono::milliseconds(millis);
  }
  if (text.size() != kShape.size()) return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (kShape[i] == 'd' ? (text[i] < '0' || text[i] > '9') : text[i] != kShape[i]) return std::nullopt;
  }
  auto num = [&](std::size_t pos, std::size_t len) {
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  std::time_t secs = ::timegm(&tm);
  if (secs == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(secs);
}

}  // namespace bastion::security
