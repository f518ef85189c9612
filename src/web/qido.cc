#include "web/qido.h"

#include "web/http.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "dicom/dicom.h"

namespace bastion::web {
namespace {

using dicom::Attribute;
using dicom::AttributeInfo;
using dicom::QueryLevel;

Status BadRequest(std::string why) { return Status(Code::kInvalidArgument, std::move(why)); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Length of the valid UTF-8 sequence at s[i], or 0.
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return 1;
  std::size_t n = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  std::uint32_t cp = b & (0x7F >> n);
  for (std::size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// `s` with every invalid UTF-8 byte replaced by U+FFFD: nlohmann::json
// refuses to serialize invalid UTF-8, and a client must get valid JSON.
std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> SplitOn(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    std::size_t p = s.find(sep);
    out.push_back(s.substr(0, p));
    if (p == std::string_view::npos) return out;
    s.remove_prefix(p + 1);
  }
}

bool IsHexTag(std::string_view s) {
  return s.size() == 8 && std::all_of(s.begin(), s.end(), [](char c) { return HexValue(c) >= 0; });
}

// A PS3.6 keyword or an 8-hex-digit tag: safe to repeat in a warning or the audit.
bool LooksLikeAttribute(std::string_view s) {
  if (IsHexTag(s)) return true;
  if (s.empty() || s.size() > 64) return false;
  if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z'))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

const AttributeInfo* Resolve(std::string_view key) {
  if (IsHexTag(key)) {
    std::uint32_t tag = 0;
    for (char c : key) tag = (tag << 4) | static_cast<std::uint32_t>(HexValue(c));
    return dicom::FindAttribute(tag);
  }
  return dicom::FindAttributeByKeyword(key);
}

// Attributes a search accepts but never matches or reports as unsupported.
bool IsSilentlyIgnored(std::string_view key) {
  return key == "SpecificCharacterSet" || key == "00080005" || key == "QueryRetrieveLevel" || key == "00080052";
}

bool LevelHolds(QueryLevel query_level, const AttributeInfo& info) {
  if (info.level > query_level) return false;
  // Patient counts are computed only for PATIENT-level rows (index/query_sql.cc).
  if (info.level == QueryLevel::kPatient && info.computed && query_level != QueryLevel::kPatient) return false;
  return true;
}

std::string_view LevelWord(QueryLevel level) {
  switch (level) {
    case QueryLevel::kPatient: return "patient";
    case QueryLevel::kStudy: return "study";
    case QueryLevel::kSeries: return "series";
    case QueryLevel::kImage: return "instance";
  }
  return "?";
}

Result<int> ParseCount(std::string_view name, std::string_view value, int min, int max) {
  auto bad = [&] {
    return BadRequest(std::string(name) + " must be a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max));
  };
  value = TrimSpaces(value);
  if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return bad();
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || ptr != value.data() + value.size()) v = UINT64_MAX;  // overflow: too large
  if (v < static_cast<std::uint64_t>(min)) return bad();
  // Above max: returned (saturated) for the caller to clamp or refuse.
  return static_cast<int>(std::min<std::uint64_t>(v, INT32_MAX));
}

const std::vector<Attribute>& StudyDefaults() {
  static const std::vector<Attribute> k = {
      Attribute::kStudyDate,        Attribute::kStudyTime,         Attribute::kAccessionNumber,
      Attribute::kModalitiesInStudy, Attribute::kReferringPhysicianName, Attribute::kPatientName,
      Attribute::kPatientID,        Attribute::kPatientBirthDate,  Attribute::kPatientSex,
      Attribute::kStudyInstanceUID, Attribute::kStudyID,           Attribute::kNumberOfStudyRelatedSeries,
      Attribute::kNumberOfStudyRelatedInstances};
  return k;
}

const std::vector<Attribute>& SeriesDefaults() {
  // PS3.18's list plus Series Date/Time, which OHIF shows when present.
  static const std::vector<Attribute> k = {
      Attribute::kModality,     Attribute::kSeriesDescription, Attribute::kSeriesInstanceUID,
      Attribute::kSeriesNumber, Attribute::kNumberOfSeriesRelatedInstances, Attribute::kSeriesDate,
      Attribute::kSeriesTime};
  return k;
}

const std::vector<Attribute>& InstanceDefaults() {
  static const std::vector<Attribute> k = {Attribute::kSOPClassUID, Attribute::kSOPInstanceUID,
                                           Attribute::kInstanceNumber, Attribute::kRows, Attribute::kColumns,
                                           Attribute::kNumberOfFrames};
  return k;
}

std::string TagKey(std::uint32_t tag) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out(8, '0');
  for (int i = 7; i >= 0; --i, tag >>= 4) out[static_cast<std::size_t>(i)] = kHex[tag & 0xF];
  return out;
}

nlohmann::json PersonName(std::string_view name) {
  static constexpr const char* kGroups[] = {"Alphabetic", "Ideographic", "Phonetic"};
  nlohmann::json out = nlohmann::json::object();
  auto groups = SplitOn(name, '=');
  for (std::size_t g = 0; g < groups.size() && g < 3; ++g) {
    std::string_view v = TrimSpaces(groups[g]);
    if (!v.empty()) out[kGroups[g]] = ValidUtf8(v);
  }
  return out;
}

// One attribute as {"vr": ..., "Value": [...]}, Value only when not empty.
nlohmann::json Element(std::string_view vr, std::string_view stored) {
  nlohmann::json e = {{"vr", std::string(vr)}};
  std::string_view value = TrimSpaces(stored);
  if (value.empty()) return e;
  nlohmann::json values = nlohmann::json::array();
  bool any = false;
  // UR is single-valued and may hold a backslash; the others are lists.
  std::vector<std::string_view> pieces = vr == "UR" ? std::vector<std::string_view>{value} : SplitOn(value, '\\');
  for (std::string_view raw : pieces) {
    std::string_view p = TrimSpaces(raw);
    if (vr == "IS" || vr == "US") {
      std::string_view digits = p;
      if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
      std::int64_t n = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (p.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
        values.push_back(nullptr);  // empty or not a number: no value here, never a string
        continue;
      }
      values.push_back(n);
    } else if (p.empty()) {
      values.push_back(nullptr);
      continue;
    } else if (vr == "PN") {
      nlohmann::json pn = PersonName(p);
      if (pn.empty()) {
        values.push_back(nullptr);
        continue;
      }
      values.push_back(std::move(pn));
    } else {
      values.push_back(ValidUtf8(p));
    }
    any = true;
  }
  if (any) e["Value"] = std::move(values);
  return e;
}

void AddUnique(std::vector<Attribute>& list, Attribute a) {
  if (std::find(list.begin(), list.end(), a) == list.end()) list.push_back(a);
}

}  // namespace

std::optional<Result<QidoPath>> ParseQidoPath(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string_view> s = SplitOn(path.substr(1), '/');
  QidoPath out;
  auto uid = [](std::string_view u, std::string_view what) -> Status {
    if (!dicom::IsValidUid(u)) return BadRequest(std::string(what) + " in the path is not a valid UID");
    return Status::Ok();
  };
  if (s.size() == 1) {
    if (s[0] == "studies") out.level = QueryLevel::kStudy;
    else if (s[0] == "series") out.level = QueryLevel::kSeries;
    else if (s[0] == "instances") out.level = QueryLevel::kImage;
    else return std::nullopt;
    return Result<QidoPath>(out);
  }
  if (s[0] != "studies") return std::nullopt;
  if (s.size() == 3 && (s[2] == "series" || s[2] == "instances")) {
    if (Status st = uid(s[1], "the study"); !st.ok()) return Result<QidoPath>(st);
    out.study_uid = std::string(s[1]);
    out.level = s[2] == "series" ? QueryLevel::kSeries : QueryLevel::kImage;
    return Result<QidoPath>(out);
  }
  if (s.size() == 5 && s[2] == "series" && s[4] == "instances") {
    if (Status st = uid(s[1], "the study"); !st.ok()) return Result<QidoPath>(st);
    if (Status st = uid(s[3], "the series"); !st.ok()) return Result<QidoPath>(st);
    out.study_uid = std::string(s[1]);
    out.series_uid = std::string(s[3]);
    out.level = QueryLevel::kImage;
    return Result<QidoPath>(out);
  }
  return std::nullopt;
}

Result<std::string> DecodeQueryComponent(std::string_view raw) {
  auto decoded = PercentDecode(raw, /*plus_as_space=*/true);
  if (!decoded) return BadRequest("malformed percent-encoding in the query string");
  std::string out = std::move(*decoded);
  for (std::size_t i = 0; i < out.size();) {
    auto b = static_cast<unsigned char>(out[i]);
    if (b < 0x20 || b == 0x7F) return BadRequest("control character in the query string");
    std::size_t n = Utf8SequenceLength(out, i);
    if (n == 0) return BadRequest("the query string is not UTF-8");
    i += n;
  }
  return out;
}

std::vector<Attribute> DefaultReturnAttributes(const QidoPath& path) {
  std::vector<Attribute> out;
  auto add = [&](const std::vector<Attribute>& list) {
    for (Attribute a : list) AddUnique(out, a);
  };
  if (path.level == QueryLevel::kStudy || path.study_uid.empty()) add(StudyDefaults());
  if (path.level == QueryLevel::kSeries || (path.level == QueryLevel::kImage && path.series_uid.empty()))
    add(SeriesDefaults());
  if (path.level == QueryLevel::kImage) add(InstanceDefaults());
  return out;
}

Result<QidoRequest> ParseQido(const QidoPath& path, std::string_view raw_query, const QidoLimits& limits) {
  if (raw_query.size() > limits.max_query_bytes)
    return BadRequest("the query string is longer than " + std::to_string(limits.max_query_bytes) + " bytes");
  QidoRequest req;
  req.path = path;
  req.query.model = dicom::InformationModel::kStudyRoot;
  req.query.level = path.level;
  req.limit = limits.default_limit;
  const QueryLevel level = path.level;
  if (!path.study_uid.empty()) req.query.keys.emplace_back(Attribute::kStudyInstanceUID, path.study_uid);
  if (!path.series_uid.empty()) req.query.keys.emplace_back(Attribute::kSeriesInstanceUID, path.series_uid);

  std::vector<std::pair<const AttributeInfo*, std::vector<std::string>>> matching;  // in first-seen order
  auto warn_once = [&](std::string w) {
    if (std::find(req.warnings.begin(), req.warnings.end(), w) == req.warnings.end()) req.warnings.push_back(std::move(w));
  };
  std::size_t count = 0;
  for (std::string_view piece : SplitOn(raw_query, '&')) {
    if (piece.empty()) continue;
    if (++count > limits.max_parameters)
      return BadRequest("more than " + std::to_string(limits.max_parameters) + " query parameters");
    std::size_t eq = piece.find('=');
    auto key = DecodeQueryComponent(piece.substr(0, eq));
    if (!key.ok()) return key.status();
    auto value = DecodeQueryComponent(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1));
    if (!value.ok()) {
      if (LooksLikeAttribute(*key)) return value.status().Annotate("query parameter " + *key);
      return value.status();
    }
    const std::string& k = *key;
    if (k == "includefield") {
      for (std::string_view item : SplitOn(*value, ',')) {
        item = TrimSpaces(item);
        if (item.empty()) continue;
        if (item == "all") {
          req.include_all = true;
          continue;
        }
        const AttributeInfo* info = Resolve(item);
        if (info != nullptr) {
          if (LevelHolds(level, *info)) AddUnique(req.include, info->attribute);
          // else: a level below this query (OHIF asks for Modality in a study query): nothing to return.
        } else if (LooksLikeAttribute(item)) {
          warn_once("includefield " + std::string(item) + " is not supported: ignored");
        } else {
          warn_once("an includefield value that is not an attribute was ignored");
        }
      }
    } else if (k == "limit") {
      auto n = ParseCount("limit", *value, 1, limits.max_limit);
      if (!n.ok()) return n.status();
      if (*n > limits.max_limit) {
        req.limit = limits.max_limit;
        req.limit_clamped = true;
        warn_once("limit is larger than " + std::to_string(limits.max_limit) + ": at most " +
                  std::to_string(limits.max_limit) + " matches are returned");
      } else {
        req.limit = *n;
      }
    } else if (k == "offset") {
      auto n = ParseCount("offset", *value, 0, limits.max_offset);
      if (!n.ok()) return n.status();
      if (*n > limits.max_offset)
        return BadRequest("offset must be a whole number from 0 to " + std::to_string(limits.max_offset));
      req.offset = *n;
    } else if (k == "fuzzymatching") {
      std::string v(TrimSpaces(*value));
      std::transform(v.begin(), v.end(), v.begin(), [](char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; });
      if (v == "true") {
        req.fuzzy = true;
        warn_once("fuzzymatching is not supported beyond case-insensitive person name matching; "
                  "only literal matching has been performed");
      } else if (v == "false") {
        req.fuzzy = false;
      } else {
        return BadRequest("fuzzymatching must be true or false");
      }
    } else if (k == "accept") {
      req.accept.push_back(*value);
    } else if (k == "charset") {
      req.charset.push_back(*value);
    } else if (IsSilentlyIgnored(k)) {
      continue;
    } else if (k.find('.') != std::string::npos) {
      // A sequence path (PS3.18 8.3.4.1): Bastion indexes no sequences.
      std::vector<std::string_view> steps = SplitOn(k, '.');
      bool plausible = std::all_of(steps.begin(), steps.end(), LooksLikeAttribute);
      if (plausible) {
        req.query.other_keys.push_back(k);
        warn_once(k + " is a sequence matching key, which is not supported: ignored");
      } else {
        warn_once("a query parameter that is not an attribute was ignored");
      }
    } else if (const AttributeInfo* info = Resolve(k)) {
      auto it = std::find_if(matching.begin(), matching.end(), [&](const auto& m) { return m.first == info; });
      if (it == matching.end()) matching.push_back({info, {*value}});
      else it->second.push_back(*value);
    } else if (LooksLikeAttribute(k)) {
      req.query.other_keys.push_back(k);
      warn_once(k + " is not a supported matching key: ignored");
    } else {
      warn_once("a query parameter that is not an attribute was ignored");
    }
  }

  for (auto& [info, values] : matching) {
    const std::string keyword(info->keyword);
    // Repeats are a list; empty repeats add nothing (an empty value alone is
    // universal matching: "return this attribute").
    std::string joined;
    for (const auto& v : values) {
      if (TrimSpaces(v).empty()) continue;
      if (!joined.empty()) joined += '\\';
      joined += v;
    }
    if (info->kind == dicom::ValueKind::kUid) std::replace(joined.begin(), joined.end(), ',', '\\');
    auto matcher = dicom::Matcher::Parse(info->kind, joined);
    if (!matcher.ok()) return matcher.status().Annotate("query parameter " + keyword);
    const std::string* fixed = info->attribute == Attribute::kStudyInstanceUID    ? &path.study_uid
                               : info->attribute == Attribute::kSeriesInstanceUID ? &path.series_uid
                                                                                  : nullptr;
    if (fixed != nullptr && !fixed->empty()) {
      if (!matcher->Matches(*fixed))
        return BadRequest("query parameter " + keyword + " does not match the " + keyword + " in the path");
      continue;  // the path already says it
    }
    if (info->level > level)
      warn_once(keyword + " is a " + std::string(LevelWord(info->level)) + " attribute: not matched in a " +
                std::string(LevelWord(level)) + " query");
    req.query.keys.emplace_back(info->attribute, std::move(joined));
  }
  // QIDO-RS searches are relational (PS3.18 10.6: /series and /instances
  // name no parent), and page through the archive's answer.
  req.query.relational = true;
  req.query.offset = static_cast<std::size_t>(req.offset);
  req.query.limit = static_cast<std::size_t>(req.limit);
  return req;
}

nlohmann::json QidoResultJson(const index::CatalogRow& row, const QidoRequest& request, std::string_view base_url) {
  const QueryLevel level = request.query.level;
  std::vector<Attribute> attributes = DefaultReturnAttributes(request.path);
  if (request.include_all) {
    for (int i = 0; i < dicom::kAttributeCount; ++i) {
      const AttributeInfo& info = dicom::InfoOf(static_cast<Attribute>(i));
      if (LevelHolds(level, info)) AddUnique(attributes, info.attribute);
    }
  }
  for (Attribute a : request.include) AddUnique(attributes, a);
  for (const auto& [a, value] : request.query.keys) AddUnique(attributes, a);
  for (int l = static_cast<int>(QueryLevel::kStudy); l <= static_cast<int>(level); ++l)
    AddUnique(attributes, dicom::UniqueKeyOf(static_cast<QueryLevel>(l)));

  nlohmann::json out = nlohmann::json::object();
  for (Attribute a : attributes) {
    const AttributeInfo& info = dicom::InfoOf(a);
    if (!LevelHolds(level, info)) continue;
    out[TagKey(info.tag)] = Element(info.vr, row.Get(a));
  }
  out[TagKey(0x00080005)] = Element("CS", "ISO_IR 192");
  out[TagKey(0x00080056)] = Element("CS", "ONLINE");
  if (!base_url.empty()) {
    std::string url(base_url);
    while (!url.empty() && url.back() == '/') url.pop_back();
    url += "/studies/" + row.Get(Attribute::kStudyInstanceUID);
    if (level >= QueryLevel::kSeries) url += "/series/" + row.Get(Attribute::kSeriesInstanceUID);
    if (level >= QueryLevel::kImage) url += "/instances/" + row.Get(Attribute::kSOPInstanceUID);
    out[TagKey(0x00081190)] = Element("UR", url);
  }
  return out;
}

}  // namespace bastion::web
