// Helpers shared by the stores kept as files in the data directory
// (nodes.json, users.json, tokens.json, the [tls] files). Internal to security/.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace bastion::security {

// What a loaded file looked like, to notice when it changes: an atomic
// replacement (rename) always changes the inode, even with the same size and
// timestamp.
struct FileIdentity {
  std::uint64_t device = 0, inode = 0, size = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
  // All zero for a file that does not exist.
  static FileIdentity Of(const std::filesystem::path& file);
};

// Reads a store file that must be private to its owner: a missing file is
// nullopt; a file that group or others may read or write is kInsecureConfig
// with the chmod that fixes it.
Result<std::optional<std::string>> ReadPrivateFile(const std::filesystem::path& file, std::size_t max_bytes);

// "2026-11-22T01:40:56Z" (UTC, whole seconds) and back; nullopt if not in that form.
std::string FormatUtc(std::chrono::system_clock::time_point t);
// The same from seconds since the epoch (a certificate's notAfter).
std::string FormatUtc(std::int64_t seconds);
// "2026-11-22T05:06:10.123Z": where the order of events within a second matters.
std::string FormatUtcMillis(std::chrono::system_clock::time_point t);
// Either form.
std::optional<std::chrono::system_clock::time_point> ParseUtc(std::string_view text);

}  // namespace bastion::security
