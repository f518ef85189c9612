#include "dicom/query.h"

#include <locale.h>
#include <wctype.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>

#include "util/text.h"

namespace bastion::dicom {
namespace {

using A = Attribute;
using K = ValueKind;
using L = QueryLevel;

constexpr std::array<AttributeInfo, kAttributeCount> kAttributes = {{
    {A::kPatientName, 0x00100010, "PatientName", "PN", K::kPersonName, L::kPatient, false},
    {A::kPatientID, 0x00100020, "PatientID", "LO", K::kText, L::kPatient, false},
    {A::kIssuerOfPatientID, 0x00100021, "IssuerOfPatientID", "LO", K::kText, L::kPatient, false},
    {A::kPatientBirthDate, 0x00100030, "PatientBirthDate", "DA", K::kDate, L::kPatient, false},
    {A::kPatientSex, 0x00100040, "PatientSex", "CS", K::kCodeString, L::kPatient, false},
    {A::kNumberOfPatientRelatedStudies, 0x00201200, "NumberOfPatientRelatedStudies", "IS", K::kInteger, L::kPatient, true},
    {A::kNumberOfPatientRelatedSeries, 0x00201202, "NumberOfPatientRelatedSeries", "IS", K::kInteger, L::kPatient, true},
    {A::kNumberOfPatientRelatedInstances, 0x00201204, "NumberOfPatientRelatedInstances", "IS", K::kInteger, L::kPatient, true},
    {A::kStudyInstanceUID, 0x0020000D, "StudyInstanceUID", "UI", K::kUid, L::kStudy, false},
    {A::kStudyDate, 0x00080020, "StudyDate", "DA", K::kDate, L::kStudy, false},
    {A::kStudyTime, 0x00080030, "StudyTime", "TM", K::kTime, L::kStudy, false},
    {A::kAccessionNumber, 0x00080050, "AccessionNumber", "SH", K::kText, L::kStudy, false},
    {A::kStudyID, 0x00200010, "StudyID", "SH", K::kText, L::kStudy, false},
    {A::kStudyDescription, 0x00081030, "StudyDescription", "LO", K::kText, L::kStudy, false},
    {A::kReferringPhysicianName, 0x00080090, "ReferringPhysicianName", "PN", K::kPersonName, L::kStudy, false},
    {A::kModalitiesInStudy, 0x00080061, "ModalitiesInStudy", "CS", K::kCodeString, L::kStudy, true},
    {A::kNumberOfStudyRelatedSeries, 0x00201206, "NumberOfStudyRelatedSeries", "IS", K::kInteger, L::kStudy, true},
    {A::kNumberOfStudyRelatedInstances, 0x00201208, "NumberOfStudyRelatedInstances", "IS", K::kInteger, L::kStudy, true},
    {A::kSeriesInstanceUID, 0x0020000E, "SeriesInstanceUID", "UI", K::kUid, L::kSeries, false},
    {A::kModality, 0x00080060, "Modality", "CS", K::kCodeString, L::kSeries, false},
    {A::kSeriesNumber, 0x00200011, "SeriesNumber", "IS", K::kInteger, L::kSeries, false},
    {A::kSeriesDescription, 0x0008103E, "SeriesDescription", "LO", K::kText, L::kSeries, false},
    {A::kBodyPartExamined, 0x00180015, "BodyPartExamined", "CS", K::kCodeString, L::kSeries, false},
    {A::kSeriesDate, 0x00080021, "SeriesDate", "DA", K::kDate, L::kSeries, false},
    {A::kSeriesTime, 0x00080031, "SeriesTime", "TM", K::kTime, L::kSeries, false},
    {A::kNumberOfSeriesRelatedInstances, 0x00201209, "NumberOfSeriesRelatedInstances", "IS", K::kInteger, L::kSeries, true},
    {A::kSOPInstanceUID, 0x00080018, "SOPInstanceUID", "UI", K::kUid, L::kImage, false},
    {A::kSOPClassUID, 0x00080016, "SOPClassUID", "UI", K::kUid, L::kImage, false},
    {A::kInstanceNumber, 0x00200013, "InstanceNumber", "IS", K::kInteger, L::kImage, false},
    {A::kRows, 0x00280010, "Rows", "US", K::kInteger, L::kImage, false},
    {A::kColumns, 0x00280011, "Columns", "US", K::kInteger, L::kImage, false},
    {A::kNumberOfFrames, 0x00280008, "NumberOfFrames", "IS", K::kInteger, L::kImage, false},
}};

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int ToInt(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Decodes one UTF-8 code point at `i`; an invalid byte is returned as itself
// (negative) so it still compares equal to itself.
std::int32_t NextCodePoint(std::string_view s, std::size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  int extra = b < 0x80 ? 0 : (b & 0xE0) == 0xC0 ? 1 : (b & 0xF0) == 0xE0 ? 2 : (b & 0xF8) == 0xF0 ? 3 : -1;
  if (extra < 0 || i + extra >= s.size()) {
    ++i;
    return -static_cast<std::int32_t>(b) - 1;
  }
  std::int32_t cp = extra == 0 ? b : b & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) {
      ++i;
      return -static_cast<std::int32_t>(b) - 1;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  static constexpr std::int32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {  // overlong, out of range, surrogate
    ++i;
    return -static_cast<std::int32_t>(b) - 1;
  }
  i += extra + 1;
  return cp;
}

void AppendUtf8(std::string& out, std::int32_t cp) {
  if (cp < 0) {
    out += static_cast<char>(-cp - 1);
  } else if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::vector<std::int32_t> CodePoints(std::string_view s) {
  std::vector<std::int32_t> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) out.push_back(NextCodePoint(s, i));
  return out;
}

// Splits on backslash, keeping empty pieces (a list "A\\B" has an empty middle).
std::vector<std::string_view> SplitValues(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t bs = s.find('\\', start);
    out.push_back(Trim(s.substr(start, bs == std::string_view::npos ? std::string_view::npos : bs - start)));
    if (bs == std::string_view::npos) return out;
    start = bs + 1;
  }
}

// Offset "+HHMM"/"-HHMM" in minutes; nullopt if malformed.
std::optional<int> OffsetMinutes(std::string_view off) {
  if (off.size() != 5 || (off[0] != '+' && off[0] != '-') || !AllDigits(off.substr(1))) return std::nullopt;
  int hours = ToInt(off.substr(1, 2)), minutes = ToInt(off.substr(3, 2));
  if (minutes > 59) return std::nullopt;
  int m = hours * 60 + minutes;
  if (off[0] == '-' ? m > 12 * 60 : m > 14 * 60) return std::nullopt;  // UTC-12:00 .. UTC+14:00
  return off[0] == '-' ? -m : m;
}

// Shifts a normalized DT by -offset (to UTC).
std::string ToUtc(const std::string& dt, int offset_minutes) {
  using namespace std::chrono;
  year_month_day ymd{year{ToInt(std::string_view(dt).substr(0, 4))},
                     month{static_cast<unsigned>(ToInt(std::string_view(dt).substr(4, 2)))},
                     day{static_cast<unsigned>(ToInt(std::string_view(dt).substr(6, 2)))}};
  if (!ymd.ok()) ymd = ymd.year() / ymd.month() / last;
  sys_seconds t = sys_days{ymd} + hours{ToInt(std::string_view(dt).substr(8, 2))} +
                  minutes{ToInt(std::string_view(dt).substr(10, 2))} + seconds{ToInt(std::string_view(dt).substr(12, 2))};
  t -= minutes{offset_minutes};
  auto days = floor<std::chrono::days>(t);
  year_month_day d{days};
  hh_mm_ss hms{t - days};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u%02d%02d%02d", static_cast<int>(d.year()),
                static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  return std::string(buf) + dt.substr(14);
}

}  // namespace

std::optional<QueryLevel> ParseQueryLevel(std::string_view text) {
  text = Trim(text);
  if (text == "PATIENT") return QueryLevel::kPatient;
  if (text == "STUDY") return QueryLevel::kStudy;
  if (text == "SERIES") return QueryLevel::kSeries;
  if (text == "IMAGE") return QueryLevel::kImage;
  return std::nullopt;
}

std::string_view QueryLevelName(QueryLevel level) {
  switch (level) {
    case QueryLevel::kPatient: return "PATIENT";
    case QueryLevel::kStudy: return "STUDY";
    case QueryLevel::kSeries: return "SERIES";
    case QueryLevel::kImage: return "IMAGE";
  }
  return "?";
}

const AttributeInfo& InfoOf(Attribute a) { return kAttributes[static_cast<int>(a)]; }

const AttributeInfo* FindAttribute(std::uint32_t tag) {
  for (const auto& info : kAttributes)
    if (info.tag == tag) return &info;
  return nullptr;
}

const AttributeInfo* FindAttributeByKeyword(std::string_view keyword) {
  for (const auto& info : kAttributes)
    if (info.keyword == keyword) return &info;
  return nullptr;
}

Attribute UniqueKeyOf(QueryLevel level) {
  switch (level) {
    case QueryLevel::kPatient: return Attribute::kPatientID;
    case QueryLevel::kStudy: return Attribute::kStudyInstanceUID;
    case QueryLevel::kSeries: return Attribute::kSeriesInstanceUID;
    case QueryLevel::kImage: return Attribute::kSOPInstanceUID;
  }
  return Attribute::kSOPInstanceUID;
}

std::string NormalizeDate(std::string_view da) {
  da = Trim(da);
  std::string d;
  if (da.size() == 10 && da[4] == '.' && da[7] == '.') {
    d = std::string(da.substr(0, 4)) + std::string(da.substr(5, 2)) + std::string(da.substr(8, 2));
  } else {
    d = std::string(da);
  }
  if (d.size() != 8 || !AllDigits(d)) return {};
  std::chrono::year_month_day ymd{std::chrono::year{ToInt(std::string_view(d).substr(0, 4))},
                                 std::chrono::month{static_cast<unsigned>(ToInt(std::string_view(d).substr(4, 2)))},
                                 std::chrono::day{static_cast<unsigned>(ToInt(std::string_view(d).substr(6, 2)))}};
  if (!ymd.ok()) return {};
  return d;
}

std::string NormalizeTime(std::string_view tm, bool high) {
  tm = Trim(tm);
  std::string t;
  for (char c : tm)
    if (c != ':') t += c;
  std::string_view main = t, frac;
  if (auto dot = t.find('.'); dot != std::string::npos) {
    main = std::string_view(t).substr(0, dot);
    frac = std::string_view(t).substr(dot + 1);
    if (main.size() != 6 || frac.empty() || frac.size() > 6 || !AllDigits(frac)) return {};
  }
  if (main.empty() || main.size() % 2 != 0 || main.size() > 6 || !AllDigits(main)) return {};
  if (ToInt(main.substr(0, 2)) > 23) return {};
  if (main.size() >= 4 && ToInt(main.substr(2, 2)) > 59) return {};
  if (main.size() >= 6 && ToInt(main.substr(4, 2)) > 60) return {};
  std::string out(main);
  while (out.size() < 6) out += high ? "59" : "00";
  out += '.';
  out += frac;
  while (out.size() < 13) out += high ? '9' : '0';
  return out;
}

std::string NormalizeDateTime(std::string_view dt, bool high, std::string* offset) {
  dt = Trim(dt);
  std::string_view off;
  if (auto sign = dt.find_first_of("+-"); sign != std::string_view::npos) {
    off = dt.substr(sign);
    dt = dt.substr(0, sign);
    if (!OffsetMinutes(off)) return {};
  }
  std::string_view main = dt, frac;
  if (auto dot = dt.find('.'); dot != std::string_view::npos) {
    main = dt.substr(0, dot);
    frac = dt.substr(dot + 1);
    if (main.size() != 14 || frac.empty() || frac.size() > 6 || !AllDigits(frac)) return {};
  }
  if (main.size() < 4 || main.size() > 14 || main.size() % 2 != 0 || !AllDigits(main)) return {};
  static constexpr std::string_view kLow = "00000101000000", kHigh = "00001231235959";
  std::string out(main);
  out += (high ? kHigh : kLow).substr(out.size());
  if (NormalizeDate(std::string_view(out).substr(0, 8)).empty()) return {};
  if (NormalizeTime(std::string_view(out).substr(8, 6)).empty()) return {};
  out += '.';
  out += frac;
  while (out.size() < 21) out += high ? '9' : '0';
  if (offset) *offset = std::string(off);
  return out;
}

bool WildcardMatch(std::string_view pattern, std::string_view text) {
  std::vector<std::int32_t> p = CodePoints(pattern), t = CodePoints(text);
  std::size_t pi = 0, ti = 0, star = std::string::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || (p[pi] == t[ti] && p[pi] != '*'))) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::string UpperCaseUtf8(std::string_view s) {
  static const locale_t kUtf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::int32_t cp = NextCodePoint(s, i);
    if (cp >= 'a' && cp <= 'z') cp -= 32;
    else if (cp >= 0x80 && kUtf8) cp = static_cast<std::int32_t>(towupper_l(static_cast<wint_t>(cp), kUtf8));
    AppendUtf8(out, cp);
  }
  return out;
}

bool Matcher::SearchesComponentGroups(std::string_view pattern) {
  if (pattern.empty()) return false;
  if (pattern[0] == '*' || pattern[0] == '?') return true;
  return std::any_of(pattern.begin(), pattern.end(), [](char c) { return (c & 0x80) != 0; });
}

bool Matcher::HasWildcard(std::string_view value) { return value.find_first_of("*?") != std::string_view::npos; }

Result<Matcher> Matcher::Parse(ValueKind kind, std::string_view raw) {
  Matcher m;
  m.value_kind_ = kind;
  std::string_view value = Trim(raw);
  if (value.empty() || value == "*") return m;  // universal
  // The value itself is not repeated: it may be a name typed into the wrong
  // key, and this message reaches the ordinary log and the error comment.
  auto bad = [&](std::string_view why) { return Status(Code::kInvalidArgument, std::string(why)); };

  if (kind == ValueKind::kDate || kind == ValueKind::kTime || kind == ValueKind::kDateTime) {
    if (HasWildcard(value)) return bad("wildcards are not allowed in dates and times");
    if (value.find('\\') != std::string_view::npos) return bad("a list of dates or times is not supported");
    auto norm = [&](std::string_view v, bool high) {
      if (kind == ValueKind::kDate) return NormalizeDate(v);
      if (kind == ValueKind::kTime) return NormalizeTime(v, high);
      return NormalizeDateTime(v, high);
    };
    // A single value (a DT may itself contain '-' as its offset sign) ...
    auto offset_of = [&](std::string_view v) {
      std::string off;
      if (kind == ValueKind::kDateTime && !v.empty()) NormalizeDateTime(v, false, &off);
      return off;
    };
    std::string low = norm(value, false);
    if (!low.empty()) {
      m.kind_ = Kind::kSingle;
      m.low_ = low;
      m.high_ = kind == ValueKind::kDate ? low : norm(value, true);
      m.low_offset_ = m.high_offset_ = offset_of(value);
      return m;
    }
    // ... or a range around one '-'.
    for (std::size_t dash = value.find('-'); dash != std::string_view::npos; dash = value.find('-', dash + 1)) {
      std::string_view a = Trim(value.substr(0, dash)), b = Trim(value.substr(dash + 1));
      if (a.empty() && b.empty()) break;
      std::string lo = a.empty() ? std::string() : norm(a, false);
      std::string hi = b.empty() ? std::string() : norm(b, true);
      if ((!a.empty() && lo.empty()) || (!b.empty() && hi.empty())) continue;
      m.kind_ = Kind::kRange;
      m.low_ = lo;
      m.high_ = hi;
      m.low_offset_ = offset_of(a);
      m.high_offset_ = offset_of(b);
      // A time range that ends before it starts spans midnight ("2200-0600").
      if (!lo.empty() && !hi.empty() && lo > hi && kind == ValueKind::kDate)
        return bad("the range ends before it starts");
      return m;
    }
    return bad(kind == ValueKind::kDate   ? "not a date (YYYYMMDD) or date range"
               : kind == ValueKind::kTime ? "not a time (HHMMSS.FFFFFF) or time range"
                                          : "not a date-time or date-time range");
  }

  std::vector<std::string_view> parts = SplitValues(value);
  for (auto p : parts) {
    if (kind == ValueKind::kUid) {
      if (HasWildcard(p)) return bad("wildcards are not allowed in UIDs");
      if (p.find('-') != std::string_view::npos) return bad("ranges are not allowed on UIDs");
      if (p.empty()) return bad("empty UID in a list");
    }
    if (kind == ValueKind::kInteger) {
      std::string_view v = p;
      if (!v.empty() && (v[0] == '+' || v[0] == '-')) v.remove_prefix(1);
      if (v.empty() || !AllDigits(v)) return bad("not an integer");
    }
    std::string s(p);
    if (kind == ValueKind::kPersonName) s = UpperCaseUtf8(s);
    m.values_.push_back(std::move(s));
  }
  if (m.values_.size() > 1) {
    m.kind_ = Kind::kList;
  } else {
    m.kind_ = HasWildcard(m.values_[0]) && kind != ValueKind::kInteger ? Kind::kWildcard : Kind::kSingle;
  }
  return m;
}

bool Matcher::MatchesPattern(std::string_view pattern, std::string_view stored) const {
  if (value_kind_ == ValueKind::kInteger) {
    auto num = [](std::string_view v) {
      v = Trim(v);
      if (!v.empty() && v[0] == '+') v.remove_prefix(1);
      long long out = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
      return (ec == std::errc() && ptr == v.data() + v.size()) ? std::optional<long long>(out) : std::nullopt;
    };
    auto a = num(pattern), b = num(stored);
    return a && b && *a == *b;
  }
  bool wild = value_kind_ != ValueKind::kUid && HasWildcard(pattern);
  auto one = [&](std::string_view text) { return wild ? WildcardMatch(pattern, text) : pattern == text; };
  if (value_kind_ != ValueKind::kPersonName) return one(stored);
  // Names: the whole name, or (SearchesComponentGroups) any one component group.
  std::string upper = UpperCaseUtf8(stored);
  if (one(upper)) return true;
  if (upper.find('=') == std::string::npos) return false;
  if (!SearchesComponentGroups(pattern)) {
    // The alphabetic group alone, as a prefix of the whole value.
    return one(std::string_view(upper).substr(0, upper.find('=')));
  }
  for (auto group : SplitValues(std::string_view(upper)))  // (no backslash in a single name)
    for (std::size_t start = 0;;) {
      std::size_t eq = group.find('=', start);
      std::string_view g = group.substr(start, eq == std::string_view::npos ? std::string_view::npos : eq - start);
      if (!g.empty() && one(g)) return true;
      if (eq == std::string_view::npos) break;
      start = eq + 1;
    }
  return false;
}

bool Matcher::MatchesOne(std::string_view stored) const {
  stored = Trim(stored);
  if (value_kind_ == ValueKind::kDate || value_kind_ == ValueKind::kTime || value_kind_ == ValueKind::kDateTime) {
    std::string stored_offset;
    std::string v = value_kind_ == ValueKind::kDate   ? NormalizeDate(stored)
                    : value_kind_ == ValueKind::kTime ? NormalizeTime(stored)
                                                      : NormalizeDateTime(stored, false, &stored_offset);
    if (v.empty()) return false;
    // DT: a bound and a stored value that both carry an offset are compared
    // in UTC; otherwise as local times (time-zone-free matching).
    std::string v_utc = stored_offset.empty() ? std::string() : ToUtc(v, *OffsetMinutes(stored_offset));
    auto side = [&](const std::string& bound, const std::string& offset) {
      if (v_utc.empty() || offset.empty()) return std::pair<std::string, std::string>(v, bound);
      return std::pair<std::string, std::string>(v_utc, ToUtc(bound, *OffsetMinutes(offset)));
    };
    if (value_kind_ == ValueKind::kTime && !low_.empty() && !high_.empty() && low_ > high_)
      return v >= low_ || v <= high_;  // spans midnight
    if (!low_.empty()) {
      auto [value, bound] = side(low_, low_offset_);
      if (value < bound) return false;
    }
    if (!high_.empty()) {
      auto [value, bound] = side(high_, high_offset_);
      if (value > bound) return false;
    }
    return true;
  }
  if (kind_ == Kind::kList) {
    for (const auto& alt : values_)
      if (MatchesPattern(alt, stored)) return true;
    return false;
  }
  return MatchesPattern(values_[0], stored);
}

bool Matcher::Matches(std::string_view stored) const {
  if (kind_ == Kind::kUniversal) return true;
  if (value_kind_ == ValueKind::kUid || stored.find('\\') == std::string_view::npos)
    return MatchesOne(stored);
  for (auto v : SplitValues(stored))
    if (MatchesOne(v)) return true;
  return false;
}

}  // namespace bastion::dicom
