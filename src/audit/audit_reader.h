// Reading the audit trail back, newest first, for the auditor's page: a page
// of records matching simple filters, found by scanning the log from its end.
// Each call reads at most `max_scan_bytes`, so a search over a long log is
// bounded and continues from where it stopped (`next_before`).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/status.h"

namespace bastion::audit {

struct AuditQuery {
  std::int64_t before_seq = 0;  // only records with seq < this; 0: from the newest
  int limit = 100;              // at most this many records (1..1000)
  std::string type;             // record type, or a prefix of it ending in '.' ("user." matches user.add)
  std::string actor;            // the actor's id (user name, AE title, token id), exact
  std::string text;             // appears anywhere in the record (e.g. a patient ID or study UID), case-sensitive
  std::string since;            // ISO 8601 UTC time, inclusive ("2026-11-01" or "2026-11-01T08:00:00Z")
  std::string until;            // exclusive
  bool failures_only = false;
  std::uint64_t max_scan_bytes = 64ull << 20;
};

struct AuditPage {
  std::vector<nlohmann::json> records;  // newest first
  // The seq to pass as before_seq for the next (older) page; 0 when the
  // start of the log was reached.
  std::int64_t next_before = 0;
  bool scan_limited = false;  // stopped at max_scan_bytes before filling the page
};

// Validates a query (kInvalidArgument with a message naming the field).
Status ValidateAuditQuery(const AuditQuery& query);

Result<AuditPage> ReadAuditLog(const std::filesystem::path& path, const AuditQuery& query);

}  // namespace bastion::audit
