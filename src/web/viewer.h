// The OHIF viewer under /viewer/: its prebuilt files (prepared for that mount
// by scripts/install-viewer.sh), an app-config.js generated here that points
// it at this server's DICOMweb, the single-page-app fallback to index.html,
// and a Content-Security-Policy made for it (its inline scripts by hash,
// WebAssembly codecs, blob: workers).
//
// Only signed-in people reach it (the route table); the files themselves
// hold no patient data — the DICOMweb requests they make are checked and
// audited like any other.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "web/http.h"

namespace bastion::web {

class Viewer {
 public:
  // Reads the directory's index.html and marker; `installed()` says whether
  // it was usable and `problem()` why not.
  explicit Viewer(std::filesystem::path dir);

  bool installed() const { return installed_; }
  const std::string& problem() const { return problem_; }
  const std::filesystem::path& dir() const { return dir_; }
  const std::string& version() const { return version_; }

  // `relative` is the decoded path under /viewer/ (segments already checked
  // by the router: no dot segments, no separators inside a segment).
  Response Serve(std::string_view relative) const;

  // A file's media type by its extension ("application/wasm", ...); empty
  // for extensions the viewer does not use (they are not served).
  static std::string_view MediaTypeOf(std::string_view name);

 private:
  Response Page() const;
  Response Config() const;

  std::filesystem::path dir_;
  bool installed_ = false;
  std::string problem_;
  std::string version_;
  std::string index_html_;
  std::string csp_;
};

// Where scripts/install-viewer.sh puts the viewer when [web] viewer_dir is unset.
std::filesystem::path DefaultViewerDir();

}  // namespace bastion::web
