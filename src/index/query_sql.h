// Turns a CatalogQuery into one SQL statement with bound parameters only,
// and checks rows against the exact matching rules afterwards.
//
// The SQL narrows the search through the indexes (patient ID, upper-case
// name prefix, name trigrams, accession number, study date, modality, UIDs);
// it may return more rows than match (a time range, a name's ideographic
// group, a name holding a pattern's pieces in another order), never fewer.
// RowMatches() then applies dicom::Matcher's rules exactly, so both together
// return precisely the matches. Private to index/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "index/catalog.h"

struct sqlite3;

namespace bastion::index::internal {

struct SqlQuery {
  std::string sql;
  std::vector<std::variant<std::string, std::int64_t>> binds;  // ?1, ?2, ... in order
  // Result columns, in order: the attributes, then (IMAGE level) blob key,
  // transfer syntax, character set, size.
  std::vector<dicom::Attribute> columns;
};

// A STUDY-level query with ModalitiesInStudy can be answered two ways, and
// which is fast depends on the data (bench/README.md, "DICOMweb"):
//  - kFromModality: walk series_modality (modality, study_pk) for the listed
//    modalities and look up each study: cost ~ series of those modalities
//    walked until `limit` studies matched. Best when the modality is the most
//    selective key, or the only indexed one.
//  - kCheckEachStudy: let another indexed key (patient ID, name, accession,
//    date range, UID) find the studies and probe series_modality once per
//    study: cost ~ studies that key finds. Best when that key is selective.
// A query where there is no choice to make is built as kFromModality.
enum class ModalityPlan { kFromModality, kCheckEachStudy };

// Two bounded counts that choose the plan: `others` counts studies the other
// indexed keys alone find; then `modality` counts series of the listed
// modalities, at most others + 1. Each takes its LIMIT as the last bind
// parameter (`limit_parameter`), after `binds`. The catalog runs them with
// the bound kPlanProbeFirstBound, and again up to PlanProbeCap only when
// both sides reached it.
// Counting an index entry costs ~0.1 us, walking one with its study and
// patient rows ~1-2 us; either plan walks at least `limit` entries.
struct PlanProbe {
  std::string others, modality;
  std::vector<std::variant<std::string, std::int64_t>> binds;
  int limit_parameter = 0;
};
// The counts stop at 20 entries per row asked for (5,000 to 100,000): a
// probe costs about as much as the cheapest walk could.
std::int64_t PlanProbeCap(std::size_t limit);
inline constexpr std::int64_t kPlanProbeFirstBound = 1024;

// The probe, or nothing when the query has no choice to make.
std::optional<PlanProbe> BuildPlanProbe(const CatalogQuery& query);
// From the probe's counts: walk whichever side finds fewer rows (with
// independent keys that is also the cheaper way to the first `limit`
// matches: each side's walk costs ~ limit x studies / the other side's
// size); when both reach the cap, the modality, whose walk has no
// correlated probe and stops at the limit.
ModalityPlan ChooseModalityPlan(std::int64_t others, std::int64_t modality, std::int64_t cap);

SqlQuery BuildQuerySql(const CatalogQuery& query, ModalityPlan plan = ModalityPlan::kFromModality);

// The FTS5 match expression that finds, among patient_name_trigrams, every
// name a PatientName matcher can match (and others), or "" when the
// matcher's patterns do not allow one (an alternative without a literal run
// of three characters), or when the name index serves it better (no
// alternative starts with a wildcard). Exposed for tests.
std::string NameTrigramMatch(const dicom::Matcher& matcher);
bool RowMatches(const CatalogQuery& query, const CatalogRow& row);

// What patient_name_trigrams indexes for a patient: patient_name_upper with
// every byte that is not part of valid UTF-8 replaced by U+FFFD, so that the
// index cuts the name into the same code points as the matcher does.
std::string TrigramText(std::string_view upper_name);

// SQL functions the statements use; registered on every connection.
//   bastion_tm(text)    -> TM normalized (dicom::NormalizeTime), '' if invalid
//   bastion_upper(text) -> dicom::UpperCaseUtf8
//   bastion_trigram_text(text) -> TrigramText
void RegisterSqlFunctions(::sqlite3* db);

}  // namespace bastion::index::internal
