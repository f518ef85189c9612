// The embedded list of common passwords. Internal to security/ (users.cc).
#pragma once

#include <cstddef>
#include <string_view>

namespace bastion::security {

// `lower` must already be lower-case.
bool IsCommonPassword(std::string_view lower);
std::size_t CommonPasswordCount();

}  // namespace bastion::security
