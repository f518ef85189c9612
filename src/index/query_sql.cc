#include "index/query_sql.h"

#include <sqlite3.h>

#include <algorithm>
#include <map>

namespace bastion::index::internal {
namespace {

using dicom::Attribute;
using dicom::Matcher;
using dicom::QueryLevel;
using dicom::ValueKind;

// Where each attribute lives. Tables: p patients, s studies, se series, i instances.
struct Column {
  Attribute attribute;
  const char* expression;  // what is returned
  const char* match;       // what conditions compare (upper-case copy for names), or nullptr: post-filter only
};

constexpr Column kColumns[] = {
    {Attribute::kPatientName, "p.patient_name", "p.patient_name_upper"},
    {Attribute::kPatientID, "p.patient_id", "p.patient_id"},
    {Attribute::kIssuerOfPatientID, "p.issuer", "p.issuer"},
    {Attribute::kPatientBirthDate, "p.birth_date", "p.birth_date"},
    {Attribute::kPatientSex, "p.sex", "p.sex"},
    {Attribute::kNumberOfPatientRelatedStudies, "(SELECT count(*) FROM studies x WHERE x.patient_pk = p.pk)", nullptr},
    {Attribute::kNumberOfPatientRelatedSeries,
     "(SELECT coalesce(sum(x.num_series), 0) FROM studies x WHERE x.patient_pk = p.pk)", nullptr},
    {Attribute::kNumberOfPatientRelatedInstances,
     "(SELECT coalesce(sum(x.num_instances), 0) FROM studies x WHERE x.patient_pk = p.pk)", nullptr},
    {Attribute::kStudyInstanceUID, "s.study_uid", "s.study_uid"},
    {Attribute::kStudyDate, "s.study_date", "s.study_date"},
    {Attribute::kStudyTime, "s.study_time", "bastion_tm(s.study_time)"},
    {Attribute::kAccessionNumber, "s.accession_number", "s.accession_number"},
    {Attribute::kStudyID, "s.study_id", "s.study_id"},
    {Attribute::kStudyDescription, "s.description", "s.description"},
    {Attribute::kReferringPhysicianName, "s.referring_physician", "bastion_upper(s.referring_physician)"},
    {Attribute::kModalitiesInStudy, "s.modalities", nullptr},
    {Attribute::kNumberOfStudyRelatedSeries, "s.num_series", "s.num_series"},
    {Attribute::kNumberOfStudyRelatedInstances, "s.num_instances", "s.num_instances"},
    {Attribute::kSeriesInstanceUID, "se.series_uid", "se.series_uid"},
    {Attribute::kModality, "se.modality", "se.modality"},
    {Attribute::kSeriesNumber, "se.series_number", "se.series_number"},
    {Attribute::kSeriesDescription, "se.description", "se.description"},
    {Attribute::kBodyPartExamined, "se.body_part", "se.body_part"},
    {Attribute::kSeriesDate, "se.series_date", "se.series_date"},
    {Attribute::kSeriesTime, "se.series_time", "bastion_tm(se.series_time)"},
    {Attribute::kNumberOfSeriesRelatedInstances, "se.num_instances", "se.num_instances"},
    {Attribute::kSOPInstanceUID, "i.sop_uid", "i.sop_uid"},
    {Attribute::kSOPClassUID, "i.sop_class_uid", "i.sop_class_uid"},
    {Attribute::kInstanceNumber, "i.instance_number", "i.instance_number"},
    {Attribute::kRows, "i.rows", "i.rows"},
    {Attribute::kColumns, "i.columns", "i.columns"},
    {Attribute::kNumberOfFrames, "i.number_of_frames", "i.number_of_frames"},
};
static_assert(sizeof(kColumns) / sizeof(kColumns[0]) == dicom::kAttributeCount);

const Column& ColumnOf(Attribute a) { return kColumns[static_cast<int>(a)]; }

// A '*'/'?' pattern for SQLite's GLOB, where '[' would start a class.
std::string GlobPattern(std::string_view pattern) {
  std::string out;
  for (char c : pattern) {
    if (c == '[') out += "[[]";
    else out += c;
  }
  return out;
}

// Decodes one UTF-8 sequence at s[i] strictly (RFC 3629: no overlong form,
// surrogate or value past U+10FFFF) and advances i; -1 for an invalid byte,
// which is skipped alone. dicom::UpperCaseUtf8 and dicom::WildcardMatch cut
// text into the same sequences, which is what makes the trigram index exact
// (TrigramText).
std::int32_t NextUtf8(std::string_view s, std::size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  int extra = b < 0x80 ? 0 : (b & 0xE0) == 0xC0 ? 1 : (b & 0xF0) == 0xE0 ? 2 : (b & 0xF8) == 0xF0 ? 3 : -1;
  if (extra < 0 || i + extra >= s.size()) {
    ++i;
    return -1;
  }
  std::int32_t cp = extra == 0 ? b : b & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) {
      ++i;
      return -1;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  static constexpr std::int32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return -1;
  }
  i += 1 + extra;
  return cp;
}

// A pattern's literal runs (between '*' and '?') that the trigram index can
// look for: valid UTF-8, no NUL, at least three code points.
std::vector<std::string> TrigramRuns(std::string_view pattern) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = pattern.find_first_of("*?", start);
    std::string_view run = pattern.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    std::size_t points = 0;
    bool valid = run.find('\0') == std::string_view::npos;
    for (std::size_t i = 0; valid && i < run.size(); ++points) valid = NextUtf8(run, i) >= 0;
    if (valid && points >= 3) out.emplace_back(run);
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

// Indexes that can find rows by these columns' values (kSchema).
bool IndexedColumn(std::string_view col) {
  return col == "p.patient_id" || col == "p.patient_name_upper" || col == "s.study_uid" || col == "s.study_date" ||
         col == "s.accession_number" || col == "se.series_uid" || col == "i.sop_uid";
}

// Whether SQLite can use an index for `col GLOB pattern` / `col = value`:
// only with a literal prefix.
bool IndexablePattern(std::string_view value) {
  return !value.empty() && value[0] != '*' && value[0] != '?' && value[0] != '[';
}

class Builder {
 public:
  std::string Bind(std::string v) {
    binds.emplace_back(std::move(v));
    return "?" + std::to_string(binds.size());
  }
  std::string Bind(std::int64_t v) {
    binds.emplace_back(v);
    return "?" + std::to_string(binds.size());
  }

  // SQL for one alternative of a text-like matcher; empty string if none.
  std::string TextTerm(const char* col, ValueKind kind, const std::string& value) {
    bool wild = kind != ValueKind::kUid && Matcher::HasWildcard(value);
    if (kind == ValueKind::kInteger) {
      std::int64_t n = 0;
      std::string_view v = value;
      if (!v.empty() && v[0] == '+') v.remove_prefix(1);
      try {
        n = std::stoll(std::string(v));
      } catch (...) {
        return {};
      }
      return std::string(col) + " = " + Bind(n);
    }
    if (kind != ValueKind::kPersonName) {
      return wild ? std::string(col) + " GLOB " + Bind(GlobPattern(value)) : std::string(col) + " = " + Bind(value);
    }
    // Names: the whole name, or its first component group (before '=')
    // through the index; a non-ASCII pattern may be for the ideographic or
    // phonetic group, which only a scan can find.
    std::string g = GlobPattern(value);
    std::string whole = wild ? std::string(col) + " GLOB " + Bind(g) : std::string(col) + " = " + Bind(value);
    std::string term = "(" + whole + " OR " + col + " GLOB " + Bind(g + "=*");
    if (Matcher::SearchesComponentGroups(value)) term += " OR " + std::string(col) + " GLOB " + Bind("*=" + g + "*");
    return term + ")";
  }

  std::vector<std::variant<std::string, std::int64_t>> binds;
};

}  // namespace

namespace {

// One WHERE term.
struct Term {
  std::string sql;
  bool indexed = false;  // an index finds the rows it allows (see IndexedColumn)
  bool patient = false;  // refers to p
};

struct Conditions {
  std::vector<Term> terms;
  std::string modalities;  // "?3, ?4": the ModalitiesInStudy values, when they constrain
};

Conditions ConditionsOf(const CatalogQuery& query, Builder& b) {
  Conditions out;
  const QueryLevel level = query.level;
  for (const auto& c : query.conditions) {
    const auto& info = dicom::InfoOf(c.attribute);
    const Matcher& m = c.matcher;
    if (info.level > level || m.kind() == Matcher::Kind::kUniversal) continue;
    if (c.attribute == Attribute::kModalitiesInStudy) {
      // Any series of the study with one of these modalities.
      bool wild = std::any_of(m.values().begin(), m.values().end(), [](auto& v) { return Matcher::HasWildcard(v); });
      if (wild || m.values().empty()) continue;
      for (const auto& v : m.values()) out.modalities += (out.modalities.empty() ? "" : ", ") + b.Bind(v);
      continue;
    }
    const char* col = ColumnOf(c.attribute).match;
    if (col == nullptr) continue;
    const bool patient = col[0] == 'p' && col[1] == '.';
    switch (info.kind) {
      case ValueKind::kDate:
      case ValueKind::kTime: {
        std::string t;
        bool spans_midnight = info.kind == ValueKind::kTime && !m.low().empty() && !m.high().empty() && m.low() > m.high();
        if (!m.low().empty()) t = std::string(col) + " >= " + b.Bind(m.low());
        if (!m.high().empty())
          t += (t.empty() ? "" : spans_midnight ? " OR " : " AND ") + std::string(col) + " <= " + b.Bind(m.high());
        // A single date/time value or range on the study also bounds nothing
        // else; the combined DA+TM rule is applied after (RowMatches).
        if (!t.empty() && !(info.kind == ValueKind::kTime && c.attribute == Attribute::kStudyTime &&
                            std::any_of(query.conditions.begin(), query.conditions.end(), [](auto& o) {
                              return o.attribute == Attribute::kStudyDate &&
                                     o.matcher.kind() != Matcher::Kind::kUniversal;
                            })))
          out.terms.push_back({"(" + t + ")", IndexedColumn(col) && !spans_midnight, patient});
        break;
      }
      case ValueKind::kDateTime: break;  // not indexed
      case ValueKind::kUid: {
        // One IN list: SQLite probes the unique index once per UID.
        std::string in;
        for (const auto& v : m.values()) in += (in.empty() ? "" : ", ") + b.Bind(v);
        out.terms.push_back({std::string(col) + " IN (" + in + ")", IndexedColumn(col), patient});
        break;
      }
      default: {
        std::string t;
        bool indexed = IndexedColumn(col) && info.kind != ValueKind::kInteger;
        for (const auto& v : m.values()) {
          std::string alt = b.TextTerm(col, info.kind, v);
          if (alt.empty()) {
            t.clear();
            break;
          }
          t += (t.empty() ? "" : " OR ") + alt;
          indexed = indexed && IndexablePattern(v) &&
                    (info.kind != ValueKind::kPersonName || !Matcher::SearchesComponentGroups(v));
        }
        if (t.empty()) break;
        out.terms.push_back({"(" + t + ")", indexed, patient});
        // A name pattern the name index cannot serve ("*SMITH*", an
        // ideographic group): the patients whose names hold its pieces.
        if (c.attribute == Attribute::kPatientName) {
          std::string match = NameTrigramMatch(m);
          if (!match.empty())
            out.terms.push_back({"p.pk IN (SELECT rowid FROM patient_name_trigrams WHERE patient_name_trigrams MATCH " +
                                     b.Bind(match) + ")",
                                 true, true});
        }
      }
    }
  }
  return out;
}

std::string ModalitySubquery(const std::string& in) {
  return "SELECT x.study_pk FROM series x WHERE x.modality IN (" + in + ")";
}

}  // namespace

std::string NameTrigramMatch(const Matcher& m) {
  if (m.value_kind() != ValueKind::kPersonName || m.values().empty()) return {};
  if (std::none_of(m.values().begin(), m.values().end(),
                   [](const std::string& v) { return Matcher::SearchesComponentGroups(v); }))
    return {};
  // A name that matches a pattern holds each of its literal runs (Matcher
  // compares code points of the upper-case name or of its component groups,
  // all substrings of patient_name_upper), so every trigram of a run is in
  // the name's index entry, in order: the phrase query finds it.
  std::string out;
  for (const auto& v : m.values()) {
    std::vector<std::string> runs = TrigramRuns(v);
    if (runs.empty()) return {};
    std::string alt;
    for (const auto& run : runs) {
      std::string phrase = "\"";
      for (char c : run) phrase += c == '"' ? std::string("\"\"") : std::string(1, c);
      alt += (alt.empty() ? "" : " AND ") + phrase + "\"";
    }
    out += (out.empty() ? "(" : " OR (") + alt + ")";
  }
  return out;
}

std::optional<PlanProbe> BuildPlanProbe(const CatalogQuery& query) {
  if (query.level != QueryLevel::kStudy) return std::nullopt;
  Builder b;
  Conditions conditions = ConditionsOf(query, b);
  if (conditions.modalities.empty()) return std::nullopt;
  std::string where;
  bool patient = false;
  for (const auto& t : conditions.terms) {
    if (!t.indexed) continue;
    where += (where.empty() ? "" : " AND ") + t.sql;
    patient = patient || t.patient;
  }
  if (where.empty()) return std::nullopt;  // nothing else can find the studies
  PlanProbe probe;
  probe.limit_parameter = static_cast<int>(b.binds.size()) + 1;
  std::string limit = "?" + std::to_string(probe.limit_parameter);
  probe.others = "SELECT count(*) FROM (SELECT 1 FROM " +
                 std::string(patient ? "studies s JOIN patients p ON p.pk = s.patient_pk" : "studies s") +
                 " WHERE " + where + " LIMIT " + limit + ")";
  probe.modality =
      "SELECT count(*) FROM (" + ModalitySubquery(conditions.modalities) + " LIMIT " + limit + ")";
  probe.binds = std::move(b.binds);
  return probe;
}

std::int64_t PlanProbeCap(std::size_t limit) {
  return static_cast<std::int64_t>(std::clamp<std::size_t>(limit, 250, 5000) * 20);
}

ModalityPlan ChooseModalityPlan(std::int64_t others, std::int64_t modality, std::int64_t cap) {
  return modality > others && others < cap ? ModalityPlan::kCheckEachStudy : ModalityPlan::kFromModality;
}

SqlQuery BuildQuerySql(const CatalogQuery& query, ModalityPlan plan) {
  SqlQuery out;
  Builder b;
  const QueryLevel level = query.level;
  for (int a = 0; a < dicom::kAttributeCount; ++a) {
    const auto& info = dicom::InfoOf(static_cast<Attribute>(a));
    if (info.level > level) continue;
    // Patient counts are computed per patient row: only at PATIENT level.
    if (info.level == QueryLevel::kPatient && info.computed && level != QueryLevel::kPatient) continue;
    out.columns.push_back(info.attribute);
  }
  std::string select;
  for (auto a : out.columns) {
    if (!select.empty()) select += ", ";
    select += ColumnOf(a).expression;
  }
  std::string from;
  switch (level) {
    case QueryLevel::kPatient: from = "patients p"; break;
    case QueryLevel::kStudy: from = "studies s JOIN patients p ON p.pk = s.patient_pk"; break;
    case QueryLevel::kSeries:
      from = "series se JOIN studies s ON s.pk = se.study_pk JOIN patients p ON p.pk = s.patient_pk";
      break;
    case QueryLevel::kImage:
      select += ", i.blob_key, i.transfer_syntax_uid, i.specific_character_set, i.size_bytes";
      from = "instances i JOIN series se ON se.pk = i.series_pk JOIN studies s ON s.pk = se.study_pk "
             "JOIN patients p ON p.pk = s.patient_pk";
      break;
  }

  Conditions conditions = ConditionsOf(query, b);
  std::vector<std::string> where;
  for (auto& t : conditions.terms) where.push_back(std::move(t.sql));
  if (!conditions.modalities.empty()) {
    if (level != QueryLevel::kStudy) {
      where.push_back("s.pk IN (" + ModalitySubquery(conditions.modalities) + ")");
    } else if (plan == ModalityPlan::kCheckEachStudy) {
      // One probe of series_modality (modality, study_pk) per study found.
      where.push_back("EXISTS (SELECT 1 FROM series x WHERE x.study_pk = s.pk AND x.modality IN (" +
                      conditions.modalities + "))");
    } else {
      // Streams the studies from series_modality; CROSS JOIN keeps that the
      // outer loop, so the first rows come without building the whole list.
      from = "(SELECT DISTINCT x.study_pk AS pk FROM series x WHERE x.modality IN (" + conditions.modalities +
             ")) m CROSS JOIN studies s ON s.pk = m.pk CROSS JOIN patients p ON p.pk = s.patient_pk";
    }
  }
  out.sql = "SELECT " + select + " FROM " + from;
  for (std::size_t i = 0; i < where.size(); ++i) out.sql += (i == 0 ? " WHERE " : " AND ") + where[i];
  if (level == QueryLevel::kImage) out.sql += " ORDER BY i.series_pk, i.instance_number, i.pk";
  out.binds = std::move(b.binds);
  return out;
}

bool RowMatches(const CatalogQuery& query, const CatalogRow& row) {
  const Matcher* date = nullptr;
  const Matcher* time = nullptr;
  for (const auto& c : query.conditions) {
    if (c.matcher.kind() == Matcher::Kind::kUniversal) continue;
    if (dicom::InfoOf(c.attribute).level > query.level) continue;
    if (c.attribute == Attribute::kStudyDate) date = &c.matcher;
    if (c.attribute == Attribute::kStudyTime) time = &c.matcher;
  }
  bool combined = date && time;
  if (combined) {
    // One range from (low date, low time) to (high date, high time).
    std::string d = dicom::NormalizeDate(row.Get(Attribute::kStudyDate));
    std::string t = dicom::NormalizeTime(row.Get(Attribute::kStudyTime));
    if (d.empty()) return false;
    if (t.empty()) t = "000000.000000";
    std::string v = d + t;
    if (!date->low().empty() && v < date->low() + (time->low().empty() ? "000000.000000" : time->low())) return false;
    if (!date->high().empty() && v > date->high() + (time->high().empty() ? "235959.999999" : time->high()))
      return false;
    if (date->low().empty() && !time->low().empty() && t < time->low()) return false;
    if (date->high().empty() && !time->high().empty() && t > time->high()) return false;
  }
  for (const auto& c : query.conditions) {
    if (c.matcher.kind() == Matcher::Kind::kUniversal) continue;
    if (dicom::InfoOf(c.attribute).level > query.level) continue;
    if (combined && (c.attribute == Attribute::kStudyDate || c.attribute == Attribute::kStudyTime)) continue;
    if (!c.matcher.Matches(row.Get(c.attribute))) return false;
  }
  return true;
}

std::string TrigramText(std::string_view upper_name) {
  std::string out;
  out.reserve(upper_name.size());
  for (std::size_t i = 0; i < upper_name.size();) {
    std::size_t at = i;
    if (NextUtf8(upper_name, i) < 0) out += "\xEF\xBF\xBD";  // U+FFFD
    else out.append(upper_name.substr(at, i - at));
  }
  return out;
}

void RegisterSqlFunctions(sqlite3* db) {
  static auto tm = [](sqlite3_context* ctx, int, sqlite3_value** argv) {
    const unsigned char* t = sqlite3_value_text(argv[0]);
    std::string_view v(t ? reinterpret_cast<const char*>(t) : "", t ? sqlite3_value_bytes(argv[0]) : 0);
    std::string out = dicom::NormalizeTime(v);
    sqlite3_result_text(ctx, out.data(), static_cast<int>(out.size()), SQLITE_TRANSIENT);
  };
  static auto upper = [](sqlite3_context* ctx, int, sqlite3_value** argv) {
    const unsigned char* t = sqlite3_value_text(argv[0]);
    std::string_view v(t ? reinterpret_cast<const char*>(t) : "", t ? sqlite3_value_bytes(argv[0]) : 0);
    std::string out = dicom::UpperCaseUtf8(v);
    sqlite3_result_text(ctx, out.data(), static_cast<int>(out.size()), SQLITE_TRANSIENT);
  };
  static auto trigram = [](sqlite3_context* ctx, int, sqlite3_value** argv) {
    const unsigned char* t = sqlite3_value_text(argv[0]);
    std::string_view v(t ? reinterpret_cast<const char*>(t) : "", t ? sqlite3_value_bytes(argv[0]) : 0);
    std::string out = TrigramText(v);
    sqlite3_result_text(ctx, out.data(), static_cast<int>(out.size()), SQLITE_TRANSIENT);
  };
  sqlite3_create_function_v2(db, "bastion_trigram_text", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, +trigram,
                             nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(db, "bastion_tm", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, +tm, nullptr,
                             nullptr, nullptr);
  sqlite3_create_function_v2(db, "bastion_upper", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, +upper, nullptr,
                             nullptr, nullptr);
}

}  // namespace bastion::index::internal
