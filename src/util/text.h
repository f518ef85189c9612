// Small string helpers shared by every layer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bastion {

std::string_view Trim(std::string_view s);
std::vector<std::string> Split(std::string_view s, char sep);  // empty pieces dropped, pieces trimmed
std::string ToUpper(std::string_view s);

// A DICOM AE title (PS3.5 6.2, VR AE): 1-16 characters of the default
// repertoire without backslash or control characters, not only spaces.
// Leading/trailing spaces are not significant; callers compare trimmed titles.
bool IsValidAeTitle(std::string_view ae);

// `s` with every character outside printable ASCII replaced by '?': for
// putting strings that came off the wire (AE titles) into the ordinary log
// without letting them forge lines or terminal escapes.
std::string Printable(std::string_view s);

// RFC 3339 UTC timestamp with microseconds, e.g. 2026-11-21T23:50:01.123456Z.
std::string UtcTimestampNow();

}  // namespace bastion
