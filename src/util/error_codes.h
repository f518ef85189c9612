// The one catalogue of error codes. Each code says, as data, what the HTTP
// front end and the DIMSE front end answer for it; those two places are the
// only ones that turn a Status into a protocol reply.
#pragma once

#include <cstdint>
#include <string_view>

namespace bastion {

enum class Code : int {
  kOk = 0,
  kInvalidArgument,   // the request or object is malformed (missing/bad UIDs, bad value)
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,  // authenticated, but the policy says no
  kUnauthenticated,   // we do not know who this is
  kConflict,          // same identity, different content (e.g. SOP Instance UID reused)
  kTooLarge,          // over a configured limit
  kUnsupported,       // a SOP class / transfer syntax / feature we do not handle
  kCorrupt,           // stored data failed an integrity check
  kIo,                // the file system or catalog failed
  kNoSpace,           // the disk is full, or under the free-space reserve ([storage] min_free_mib)
  kUnavailable,       // overloaded or shutting down; try later
  kInsecureConfig,    // the configuration would expose PHI; refuse to start
  kInternal,          // a bug
};

struct CodeInfo {
  Code code;
  std::string_view name;
  int http_status;
  // C-STORE/DIMSE failure status (PS3.7 Annex C, PS3.4 B.2.3).
  std::uint16_t dimse_status;
};

inline constexpr CodeInfo kCodeCatalogue[] = {
    {Code::kOk, "ok", 200, 0x0000},
    {Code::kInvalidArgument, "invalid_argument", 400, 0xC000},   // Error: cannot understand
    {Code::kNotFound, "not_found", 404, 0xC000},
    {Code::kAlreadyExists, "already_exists", 409, 0x0111},        // duplicate SOP instance
    {Code::kPermissionDenied, "permission_denied", 403, 0x0124},  // refused: not authorized
    {Code::kUnauthenticated, "unauthenticated", 401, 0x0124},
    {Code::kConflict, "conflict", 409, 0x0111},
    {Code::kTooLarge, "too_large", 413, 0xA700},                  // refused: out of resources
    {Code::kUnsupported, "unsupported", 415, 0x0122},             // refused: SOP class not supported
    {Code::kCorrupt, "corrupt", 500, 0x0110},                     // processing failure
    {Code::kIo, "io_error", 500, 0xA700},
    {Code::kNoSpace, "insufficient_storage", 507, 0xA700},        // refused: out of resources
    {Code::kUnavailable, "unavailable", 503, 0xA700},
    {Code::kInsecureConfig, "insecure_config", 500, 0x0110},
    {Code::kInternal, "internal", 500, 0x0110},
};

constexpr const CodeInfo& InfoFor(Code code) {
  for (const auto& info : kCodeCatalogue)
    if (info.code == code) return info;
  return kCodeCatalogue[sizeof(kCodeCatalogue) / sizeof(kCodeCatalogue[0]) - 1];
}

}  // namespace bastion
