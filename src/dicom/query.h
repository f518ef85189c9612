// Query/Retrieve in our own types: the attributes Bastion indexes, the query
// levels, and PS3.4 C.2.2.2 attribute matching. No DCMTK here; the bridge to
// DCMTK datasets is dicom/dataset_bridge.h (used by dimse/ only).
//
// Matching rules (also in docs/conformance.md):
//  - an empty value (or "*" alone) is universal matching: everything matches;
//  - a value with '*' or '?' is wildcard matching; '?' is one character (a
//    Unicode code point, not a byte); no other character is special;
//  - UIDs: single value or a backslash-separated list (any one matches);
//  - DA, TM, DT: single value or range "a-b", "-b", "a-"; a partial time
//    ("10" or "1030") covers the whole hour/minute; DT ignores a time zone
//    offset when either side has none (time-zone-free matching);
//  - person names: case-insensitive for every script that has case; a
//    pattern matches the whole name or its alphabetic component group, and
//    also the ideographic or phonetic group when it starts with a wildcard or
//    holds non-ASCII characters, so "山田*" finds "Yamada^Tarou=山田^太郎";
//  - a time range that ends before it starts spans midnight ("2200-0600");
//  - DA values are stored as YYYYMMDD (the legacy "YYYY.MM.DD" is rewritten
//    when indexed), so ranges compare them as text;
//  - other text: case-sensitive, exact or wildcard; a backslash-separated
//    value is a list (any one matches);
//  - a stored multi-valued attribute (ModalitiesInStudy "CT\MR") matches if
//    any of its values matches.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace bastion::dicom {

enum class QueryLevel { kPatient = 0, kStudy = 1, kSeries = 2, kImage = 3 };
std::optional<QueryLevel> ParseQueryLevel(std::string_view text);
std::string_view QueryLevelName(QueryLevel level);

enum class InformationModel { kPatientRoot, kStudyRoot };

// Every attribute the catalog holds and can match or return.
enum class Attribute : int {
  kPatientName,
  kPatientID,
  kIssuerOfPatientID,
  kPatientBirthDate,
  kPatientSex,
  kNumberOfPatientRelatedStudies,
  kNumberOfPatientRelatedSeries,
  kNumberOfPatientRelatedInstances,
  kStudyInstanceUID,
  kStudyDate,
  kStudyTime,
  kAccessionNumber,
  kStudyID,
  kStudyDescription,
  kReferringPhysicianName,
  kModalitiesInStudy,
  kNumberOfStudyRelatedSeries,
  kNumberOfStudyRelatedInstances,
  kSeriesInstanceUID,
  kModality,
  kSeriesNumber,
  kSeriesDescription,
  kBodyPartExamined,
  kSeriesDate,
  kSeriesTime,
  kNumberOfSeriesRelatedInstances,
  kSOPInstanceUID,
  kSOPClassUID,
  kInstanceNumber,
  kRows,
  kColumns,
  kNumberOfFrames,
  kCount  // not an attribute: the number of them
};
inline constexpr int kAttributeCount = static_cast<int>(Attribute::kCount);

// How values of an attribute are compared.
enum class ValueKind { kText, kCodeString, kPersonName, kUid, kDate, kTime, kDateTime, kInteger };

struct AttributeInfo {
  Attribute attribute;
  std::uint32_t tag;         // (group << 16) | element
  std::string_view keyword;  // PS3.6 keyword
  std::string_view vr;
  ValueKind kind;
  QueryLevel level;          // the level it belongs to
  bool computed;             // a count or set Bastion computes: returned, and matched (counts exactly)
};

const AttributeInfo& InfoOf(Attribute a);
const AttributeInfo* FindAttribute(std::uint32_t tag);
const AttributeInfo* FindAttributeByKeyword(std::string_view keyword);

// The unique key of a level (PatientID, StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID).
Attribute UniqueKeyOf(QueryLevel level);

// One attribute's matching rule, parsed from the query value.
class Matcher {
 public:
  enum class Kind { kUniversal, kSingle, kWildcard, kList, kRange };

  // Fails with kInvalidArgument for a value the rules do not allow (a
  // malformed date, a range on a UID, a wildcard in a UID list).
  static Result<Matcher> Parse(ValueKind kind, std::string_view value);

  bool Matches(std::string_view stored) const;

  Kind kind() const { return kind_; }
  ValueKind value_kind() const { return value_kind_; }
  // kSingle/kWildcard: one entry; kList: each alternative (each may be a
  // wildcard pattern). Person names are upper-cased.
  const std::vector<std::string>& values() const { return values_; }
  // kRange, and kSingle for DA/TM/DT: normalized bounds, empty when open.
  // DA "YYYYMMDD"; TM "HHMMSS.FFFFFF"; DT "YYYYMMDDHHMMSS.FFFFFF".
  const std::string& low() const { return low_; }
  const std::string& high() const { return high_; }
  static bool HasWildcard(std::string_view value);
  // A person-name pattern is tried against every component group when it
  // starts with a wildcard or holds non-ASCII characters (ideographic and
  // phonetic groups); otherwise against the whole name and its alphabetic
  // group, which the catalog's index can serve.
  static bool SearchesComponentGroups(std::string_view pattern);

 private:
  bool MatchesOne(std::string_view stored) const;
  bool MatchesPattern(std::string_view pattern, std::string_view stored) const;

  Kind kind_ = Kind::kUniversal;
  ValueKind value_kind_ = ValueKind::kText;
  std::vector<std::string> values_;
  std::string low_, high_;
  std::string low_offset_, high_offset_;  // DT bounds' time zone offsets, when given
};

// Normalizations used by the matcher and by the catalog's SQL.
// Empty result: not a valid value of that VR.
std::string NormalizeDate(std::string_view da);  // "20240131" (also accepts "2024.01.31")
// TM to "HHMMSS.FFFFFF"; `high` pads a partial time to the end of its span.
std::string NormalizeTime(std::string_view tm, bool high = false);
// DT to "YYYYMMDDHHMMSS.FFFFFF"; the offset (if any) in `offset`.
std::string NormalizeDateTime(std::string_view dt, bool high = false, std::string* offset = nullptr);

// Wildcard match of a UTF-8 string against a pattern of '*' and '?'
// ('?' is one code point). Case-sensitive.
bool WildcardMatch(std::string_view pattern, std::string_view text);
// Upper case for every script with case (UTF-8 in, UTF-8 out); invalid
// UTF-8 bytes are kept as they are.
std::string UpperCaseUtf8(std::string_view s);

}  // namespace bastion::dicom
