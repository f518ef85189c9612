// The audit trail: an append-only, hash-chained log of every security
// decision and every access to PHI. Format: docs/audit.md.
//
// Each record is one JSON line; its "hash" is SHA-256 over the previous
// record's hash and the record's own canonical JSON, so editing, inserting or
// deleting a record breaks the chain at that point (VerifyAuditLog finds it).
//
// PHI (patient names, IDs) may appear here and only here.
//
// Thread-safe, and safe for several processes sharing the file (serve and
// the CLI): appends take an flock and continue the chain from the file's
// actual tail. Append returns once the record is on disk.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "audit/audit_reader.h"
#include "util/status.h"

namespace bastion::audit {

struct Actor {
  std::string kind;     // "node", "user", "token", "local-operator", "anonymous"
  std::string id;       // AE title, user name, token id, OS user
  std::string address;  // peer address, when there is one
  std::string via = {}; // the DICOM node a person works through (User Identity Negotiation), or empty
};

struct AuditEvent {
  std::string type;     // e.g. "association", "instance.store", "node.add"
  bool success = true;
  Actor actor;
  nlohmann::json details = nlohmann::json::object();
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // Durable on return. Concurrent callers share one fsync.
  virtual Status Append(AuditEvent event) = 0;
  // Several records, durable on return; on failure none of them may be
  // assumed written. The file log writes them consecutively in the chain with
  // one fsync; this default appends them one by one.
  virtual Status AppendAll(std::vector<AuditEvent> events) {
    for (auto& e : events) BASTION_RETURN_IF_ERROR(Append(std::move(e)));
    return Status::Ok();
  }
  // A page of records, newest first (audit_reader.h).
  virtual Result<AuditPage> Read(const AuditQuery& query) {
    (void)query;
    return Status(Code::kUnsupported, "this audit log cannot be read back");
  }
};

// The log at `path` (created if missing).
Result<std::unique_ptr<AuditLog>> OpenAuditLog(const std::filesystem::path& path);

struct VerifyReport {
  bool intact = true;
  std::int64_t records = 0;
  std::int64_t broken_line = 0;  // 1-based line where the chain first breaks
  std::string reason;
};

Result<VerifyReport> VerifyAuditLog(const std::filesystem::path& path);

// The hash of a record: SHA-256 over prev_hash, "\n", and the canonical JSON
// of the record without its "hash" member. Exposed for tests and tools.
std::string RecordHash(const nlohmann::json& record_without_hash);

inline constexpr const char* kGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

}  // namespace bastion::audit
