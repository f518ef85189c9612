// Turns a CatalogQuery into one SQL statement with bound parameters only,
// and checks rows against the exact matching rules afterwards.
//
// The SQL narrows the search through the indexes (patient ID, upper-case
// name prefix, accession number, study date, modality, UIDs); it may return
// more rows than match (a time range, a name's ideographic group), never
// fewer. RowMatches() then applies dicom::Matcher's rules exactly, so both
// together return precisely the matches. Private to index/.
#pragma once

#include <cstdint>
#include <string>
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

SqlQuery BuildQuerySql(const CatalogQuery& query);
bool RowMatches(const CatalogQuery& query, const CatalogRow& row);

// SQL functions the statements use; registered on every connection.
//   bastion_tm(text)    -> TM normalized (dicom::NormalizeTime), '' if invalid
//   bastion_upper(text) -> dicom::UpperCaseUtf8
void RegisterSqlFunctions(::sqlite3* db);

}  // namespace bastion::index::internal
