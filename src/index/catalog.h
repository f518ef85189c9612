// The catalog: what is stored, indexed for finding it again. Schema and its
// reasons: docs/catalog.md.
//
// Contract (tests/unit/index runs it against every implementation):
//  - InsertBatch() is atomic: when it returns, either every row of the batch
//    is committed or none is. It is durable on return too, unless the caller
//    asked for Durability::kAfterSync: then it is durable once a later Sync()
//    has returned (the ingest path flushes the catalog while it writes the
//    audit record, instead of one after the other).
//  - Inserting an instance already present with the same blob is kDuplicate;
//    with a different blob, kConflict (the row is not changed).
//  - Several processes may share one catalog.
// Implementations are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dicom/dicom.h"
#include "dicom/query.h"
#include "util/status.h"

namespace bastion::index {

struct InstanceRecord {
  dicom::InstanceHeader header;
  std::string blob_key;
  std::uint64_t size_bytes = 0;
  std::string received_at;  // RFC 3339 UTC
  std::string source;       // who sent it: calling AE title, or "import"
};

enum class InsertResult { kInserted, kDuplicate, kConflict };

struct InsertOutcome {
  InsertResult result = InsertResult::kInserted;
  std::string existing_blob_key;  // for kDuplicate / kConflict
};

// A query: conditions on attributes at or above `level`, all of which must
// match (PS3.4 C.2.2.2, dicom/query.h). Study Date and Study Time given
// together are matched as one date-time range (C.2.2.2.5.1).
struct CatalogQuery {
  struct Condition {
    dicom::Attribute attribute;
    dicom::Matcher matcher;
  };
  dicom::QueryLevel level = dicom::QueryLevel::kStudy;
  std::vector<Condition> conditions;
  std::size_t limit = 1000;  // at most this many rows are returned
};

// One match: every attribute at or above the query's level (counts included),
// as strings ("" when absent). At IMAGE level also where the object is.
struct CatalogRow {
  std::array<std::string, dicom::kAttributeCount> values;
  std::string blob_key, transfer_syntax_uid, specific_character_set;
  std::uint64_t size_bytes = 0;

  const std::string& Get(dicom::Attribute a) const { return values[static_cast<int>(a)]; }
  std::string& Set(dicom::Attribute a) { return values[static_cast<int>(a)]; }
};

// What the catalog says of one instance it holds (Storage Commitment).
struct HeldInstance {
  std::string sop_instance_uid, sop_class_uid;
  std::string source;  // who sent it (InstanceRecord::source)
};

struct CatalogCounts {
  std::int64_t patients = 0, studies = 0, series = 0, instances = 0;
};

class Catalog {
 public:
  virtual ~Catalog() = default;

  enum class Durability { kOnReturn, kAfterSync };

  // One transaction for the whole batch; one outcome per record, in order.
  Result<std::vector<InsertOutcome>> InsertBatch(std::span<const InstanceRecord> records) {
    return InsertBatch(records, Durability::kOnReturn);
  }
  virtual Result<std::vector<InsertOutcome>> InsertBatch(std::span<const InstanceRecord> records,
                                                         Durability durability) = 0;
  // Makes every batch committed before this call durable. Thread-safe; may
  // run beside inserts and queries.
  virtual Status Sync() = 0;
  virtual Result<std::optional<std::string>> FindBlobKey(const std::string& sop_instance_uid) = 0;
  virtual Result<bool> HasBlobKey(const std::string& blob_key) = 0;
  // The instances among these SOP Instance UIDs that the catalog holds, in
  // the order asked (absent ones are left out). One read snapshot.
  virtual Result<std::vector<HeldInstance>> LookupInstances(std::span<const std::string> sop_instance_uids) = 0;
  virtual Result<CatalogCounts> Counts() = 0;
  // The rows matching `query` (exactly: every rule of dicom/query.h), at most
  // query.limit of them. Runs beside inserts (its own read snapshot).
  virtual Result<std::vector<CatalogRow>> Find(const CatalogQuery& query) = 0;
  // Visits (SOP Instance UID, blob key) of every instance.
  virtual Status ForEachInstance(
      const std::function<Status(const std::string& sop_instance_uid, const std::string& blob_key)>& visit) = 0;
};

// SQLite in WAL mode at `path` (created if missing). Commits are made durable
// by an fdatasync of the WAL file (what synchronous=FULL does, but callable
// apart from the commit).
Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::filesystem::path& path);
// The same schema in an in-memory database: the twin for tests.
Result<std::unique_ptr<Catalog>> NewMemoryCatalog();

}  // namespace bastion::index
