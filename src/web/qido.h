// QIDO-RS (PS3.18 10.6): a search's path and query string into an
// archive::QueryRequest, and catalog rows into DICOM JSON (PS3.18 F.2).
// Pure functions, no I/O; thread-safe. The rules mirror the DIMSE C-FIND
// front end (dimse/qr.cc); where PS3.18 leaves room, this is what we do:
//
// Path: /studies, /studies/{st}/series, /studies/{st}/series/{se}/instances,
//   /series, /instances, /studies/{st}/instances. Study Root model. Path UIDs
//   must be valid UIDs (else 400). /series, /instances and
//   /studies/{st}/instances name no single parent of every level above:
//   QIDO-RS requests are therefore relational queries (PS3.4 C.4.1.3.2,
//   QueryRequest::relational), and limit/offset page the archive's answer.
// Query string:
//  - '&' separates parameters; '+' is a space (HTML form rules, which Python
//    requests and browsers' URLSearchParams use; a literal '+' must be sent
//    as %2B — no indexed key can hold one except free text); %XX must be two
//    hex digits (else 400); decoded text must be UTF-8 without control
//    characters (else 400).
//  - keys: a keyword (case-sensitive, PatientName) or 8 hex digits (00100020,
//    either case). A key naming an attribute Bastion does not index, or a
//    sequence path ("a.b"), goes to QueryRequest::other_keys and a warning;
//    it is not matched (PS3.18 allows ignoring an unsupported key with a
//    warning; rejecting it breaks clients). Anything that is not a keyword
//    or tag (cache busters like "_=123") is ignored with a warning.
//  - a key below the query level (Modality in a study query) is kept (and
//    audited) but not matched, with a warning, as in C-FIND.
//  - a repeated key is a list: its values are joined with '\' (any one
//    matches); empty repeats are dropped.
//  - UID-valued keys: ',' separates a list as well as '\' (PS3.18 says
//    comma, OHIF sends backslash). Not for other keys ("Doe, John").
//  - every value is checked with dicom::Matcher::Parse: a malformed date is
//    a 400 that names the parameter.
//  - a UID in both path and query: the query value must match the path UID
//    (it is then redundant and dropped); otherwise 400, because the answer
//    could only ever be empty and the client surely meant something else.
//  - includefield: comma-separated and repeatable; "all" means every
//    attribute Bastion holds at or above the level. Names that do not apply
//    at the level (a series attribute in a study query, as OHIF sends) are
//    ignored; unknown names are ignored with a warning.
//  - limit: 1..max_limit; larger is clamped with a warning (the answer then
//    says there may be more); 0, negative or not a number: 400. offset:
//    0..max_offset, else 400.
//  - fuzzymatching: true or false (any case), else 400. Bastion's person
//    name matching is already case-insensitive; no other fuzziness is
//    offered, so "true" adds the PS3.18 warning.
//  - accept and charset (PS3.18 8.3.3.1 query forms of the headers) are
//    collected for the handler; other reserved words are ignored.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "dicom/query.h"
#include "index/catalog.h"
#include "util/status.h"

namespace bastion::web {

// What the URL path of a search names.
struct QidoPath {
  dicom::QueryLevel level = dicom::QueryLevel::kStudy;  // kStudy, kSeries or kImage
  std::string study_uid;   // fixed by the path, or empty
  std::string series_uid;  // fixed by the path, or empty
};

// The path of a search relative to the DICOMweb root ("/studies/1.2/series").
// nullopt: not a QIDO path (the caller tries other routes); kInvalidArgument:
// a QIDO path with a malformed UID.
std::optional<Result<QidoPath>> ParseQidoPath(std::string_view path);

struct QidoLimits {
  int default_limit = 1000;  // when the client gives none
  int max_limit = 1000;      // larger limits are clamped
  int max_offset = 100000;   // paging deeper than this is refused
  std::size_t max_query_bytes = 8192;  // the raw query string
  std::size_t max_parameters = 200;
};

struct QidoRequest {
  QidoPath path;
  archive::QueryRequest query;             // Study Root, level from the path, path UIDs first
  std::vector<dicom::Attribute> include;   // includefield names that apply, in order, no repeats
  bool include_all = false;
  int limit = 0;                           // 1..max_limit
  bool limit_clamped = false;              // the client asked for more than max_limit
  int offset = 0;
  bool fuzzy = false;
  std::vector<std::string> accept;         // "accept=" values, for negotiation
  std::vector<std::string> charset;        // "charset=" values
  // For a Warning: 299 header: what was ignored or not done. No values, only
  // parameter names (no PHI).
  std::vector<std::string> warnings;
};

// The query string after '?' (without it), raw as received.
Result<QidoRequest> ParseQido(const QidoPath& path, std::string_view raw_query, const QidoLimits& limits = {});

// Decodes %XX and '+' (see above). kInvalidArgument for a bad escape or
// decoded bytes that are not UTF-8 text.
Result<std::string> DecodeQueryComponent(std::string_view raw);

// The attributes answered for every match at `path`'s level by default
// (PS3.18 Table 10.6.3-3..5 as far as Bastion holds them), before
// includefield and the matching keys: the level's own, plus the study's when
// no study UID is in the path and the series' when no series UID is.
std::vector<dicom::Attribute> DefaultReturnAttributes(const QidoPath& path);

// One match as a PS3.18 F.2 JSON object: keys are 8 upper-case hex digits in
// ascending order; "vr" always; "Value" left out when empty (never [""]);
// PN as {"Alphabetic","Ideographic","Phonetic"}; multiple values as arrays
// (an empty one in a list is null); IS and US as numbers; strings made valid
// UTF-8. Holds: SpecificCharacterSet "ISO_IR 192", the defaults above, the
// includefield ones, the matching keys, the unique keys of the level and
// above, InstanceAvailability "ONLINE", and, when `base_url` is given
// ("https://host/dicomweb"), RetrieveURL (0008,1190) of the match.
nlohmann::json QidoResultJson(const index::CatalogRow& row, const QidoRequest& request,
                              std::string_view base_url = {});

}  // namespace bastion::web
