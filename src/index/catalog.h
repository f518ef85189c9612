// The catalog: what is stored, indexed for finding it again. Schema and its
// reasons: docs/catalog.md.
//
// Contract (tests/unit/index runs it against every implementation):
//  - InsertBatch() is atomic and durable: when it returns, either every row of
//    the batch is committed or none is.
//  - Inserting an instance already present with the same blob is kDuplicate;
//    with a different blob, kConflict (the row is not changed).
//  - Several processes may share one catalog.
// Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dicom/dicom.h"
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

struct CatalogCounts {
  std::int64_t patients = 0, studies = 0, series = 0, instances = 0;
};

class Catalog {
 public:
  virtual ~Catalog() = default;

  // One transaction for the whole batch; one outcome per record, in order.
  virtual Result<std::vector<InsertOutcome>> InsertBatch(std::span<const InstanceRecord> records) = 0;
  virtual Result<std::optional<std::string>> FindBlobKey(const std::string& sop_instance_uid) = 0;
  virtual Result<bool> HasBlobKey(const std::string& blob_key) = 0;
  virtual Result<CatalogCounts> Counts() = 0;
  // Visits (SOP Instance UID, blob key) of every instance.
  virtual Status ForEachInstance(
      const std::function<Status(const std::string& sop_instance_uid, const std::string& blob_key)>& visit) = 0;
};

// SQLite in WAL mode with synchronous=FULL at `path` (created if missing).
Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::filesystem::path& path);
// The same schema in an in-memory database: the twin for tests.
Result<std::unique_ptr<Catalog>> NewMemoryCatalog();

}  // namespace bastion::index
