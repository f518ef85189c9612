// The web UI's static files (web/static/), compiled into the binary.
#pragma once

#include <string_view>
#include <vector>

namespace bastion::web {

struct Asset {
  std::string_view name;  // file name, e.g. "login.js"
  std::string_view bytes;
};
const std::vector<Asset>& Assets();
const Asset* FindAsset(std::string_view name);
// By file extension: "text/html; charset=utf-8", "text/javascript; charset=utf-8", ...
std::string_view AssetContentType(std::string_view name);

}  // namespace bastion::web
