// Ordinary operational logging (stderr). Never log PHI here: patient names,
// IDs and birth dates belong in the audit log only. Log UIDs sparingly and AE
// titles, addresses and counts freely.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace bastion {

// level: trace, debug, info, warn, error.
void InitLogging(std::string_view level);

}  // namespace bastion
