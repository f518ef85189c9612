#include "web/viewer.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "util/crypto.h"
#include "util/fs.h"

#ifndef BASTION_DEFAULT_VIEWER_DIR
#define BASTION_DEFAULT_VIEWER_DIR ""
#endif

namespace bastion::web {
namespace {

constexpr std::string_view kMount = "/viewer/";
constexpr std::string_view kMarker = "bastion-viewer.json";
constexpr std::size_t kMaxFileBytes = 64u << 20;  // the largest OHIF file is about 17 MB

std::string Base64(const Sha256Digest& d) {
  unsigned char out[4 * ((32 + 2) / 3) + 1];
  int n = ::EVP_EncodeBlock(out, d.data(), static_cast<int>(d.size()));
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

// 'sha256-…' for each inline <script> of the page, so the policy can allow
// exactly those and no other inline script.
std::string InlineScriptHashes(const std::string& html) {
  std::string out;
  std::size_t pos = 0;
  while ((pos = html.find("<script", pos)) != std::string::npos) {
    std::size_t open_end = html.find('>', pos);
    if (open_end == std::string::npos) break;
    std::string_view tag(html.data() + pos, open_end - pos);
    std::size_t close = html.find("</script>", open_end);
    if (close == std::string::npos) break;
    if (tag.find(" src=") == std::string_view::npos) {
      std::string_view body(html.data() + open_end + 1, close - open_end - 1);
      out += " 'sha256-" + Base64(Sha256::Of(body)) + "'";
    }
    pos = close;
  }
  return out;
}

}  // namespace

std::filesystem::path DefaultViewerDir() { return BASTION_DEFAULT_VIEWER_DIR; }

Viewer::Viewer(std::filesystem::path dir) : dir_(std::move(dir)) {
  auto marker = ReadFile(dir_ / kMarker, 1 << 16);
  if (!marker.ok()) {
    problem_ = "the viewer is not installed in " + dir_.string() + " (run scripts/install-viewer.sh)";
    return;
  }
  nlohmann::json m = nlohmann::json::parse(*marker, nullptr, false);
  if (!m.is_object() || m.value("mount", "") != kMount) {
    problem_ = dir_.string() + " was not prepared for " + std::string(kMount) + " (run scripts/install-viewer.sh)";
    return;
  }
  version_ = m.value("version", "");
  auto index = ReadFile(dir_ / "index.html", 1 << 20);
  if (!index.ok()) {
    problem_ = "the viewer in " + dir_.string() + " has no index.html";
    return;
  }
  // Our session guard: sends the browser back to the login page when the
  // session is over, as on every other page of ours.
  index_html_ = std::move(*index);
  std::size_t head_end = index_html_.find("</head>");
  if (head_end == std::string::npos) {
    problem_ = "the viewer's index.html has no </head>";
    return;
  }
  index_html_.insert(head_end, "<script src=\"/static/session-guard.js\" defer></script>");
  // What OHIF needs, and no more: its own scripts and the inline ones it
  // ships (by hash), WebAssembly codecs, blob: workers, inline styles (its
  // components set style attributes), images from data:/blob: URLs.
  // Everything from this origin only; no framing.
  csp_ = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'" + InlineScriptHashes(index_html_) +
         "; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
         "connect-src 'self' data: blob:; worker-src 'self' blob:; child-src 'self' blob:; object-src 'none'; "
         "base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
  installed_ = true;
}

std::string_view Viewer::MediaTypeOf(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".wasm", "application/wasm"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".html", "text/html; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".gif", "image/gif"},
      {".ico", "image/vnd.microsoft.icon"},
      {".woff2", "font/woff2"},
      {".woff", "font/woff"},
      {".ttf", "font/ttf"},
      {".xml", "application/xml"},
      {".txt", "text/plain; charset=utf-8"},
      {".onnx", "application/octet-stream"},
  };
  for (const auto& [ext, type] : kTypes)
    if (name.size() > ext.size() && name.substr(name.size() - ext.size()) == ext) return type;
  return {};
}

Response Viewer::Page() const {
  Response r = Response::Bytes(200, index_html_, "text/html; charset=utf-8");
  r.headers.Set("Content-Security-Policy", csp_);
  return r;
}

Response Viewer::Config() const {
  // Relative roots: every URL the viewer builds stays on the origin the
  // browser used, whatever host name or port that was.
  nlohmann::json source = {
      {"namespace", "@ohif/extension-default.dataSourcesModule.dicomweb"},
      {"sourceName", "bastion"},
      {"configuration",
       {{"friendlyName", "Bastion"},
        {"name", "bastion"},
        {"qidoRoot", "/dicom-web"},
        {"wadoRoot", "/dicom-web"},
        {"wadoUriRoot", "/wado"},
        {"qidoSupportsIncludeField", true},
        {"imageRendering", "wadors"},
        {"thumbnailRendering", "wadors"},
        {"enableStudyLazyLoad", true},
        {"supportsWildcard", true},
        {"supportsFuzzyMatching", false},
        {"supportsReject", false},
        {"omitQuotationForMultipartRequest", true},
        {"bulkDataURI", {{"enabled", true}}}}}};
  nlohmann::json config = {{"routerBasename", "/viewer"},
                           {"extensions", nlohmann::json::array()},
                           {"modes", nlohmann::json::array()},
                           {"customizationService", nlohmann::json::object()},
                           {"showStudyList", true},
                           {"maxNumberOfWebWorkers", 3},
                           {"showWarningMessageForCrossOrigin", false},
                           {"showCPUFallbackMessage", true},
                           {"strictZSpacingForVolumeViewport", true},
                           {"defaultDataSourceName", "bastion"},
                           {"dataSources", nlohmann::json::array({source})}};
  std::string js = "// Generated by Bastion: the viewer reads studies from this server's DICOMweb.\nwindow.config = " +
                   config.dump(2) + ";\n";
  Response r = Response::Bytes(200, std::move(js), "text/javascript; charset=utf-8");
  r.headers.Set("Cache-Control", "no-cache");
  r.headers.Set("Content-Security-Policy", csp_);
  return r;
}

Response Viewer::Serve(std::string_view relative) const {
  if (!installed_) return Response::Problem(503, "Service Unavailable", "the viewer is not installed on this server");
  if (relative.empty() || relative == "index.html") return Page();
  if (relative == "app-config.js") return Config();
  std::string_view name = relative.substr(relative.rfind('/') + 1);
  // A path without an extension is one of the viewer's own routes
  // (/viewer/viewer?StudyInstanceUIDs=…): the single-page app answers it.
  if (name.find('.') == std::string_view::npos) return Page();
  // The service worker is not served: nothing of the viewer's (or of a
  // study) is to be cached in the browser beyond the HTTP cache rules.
  if (name == "sw.js" || name == kMarker || name.front() == '_' || name == "serve.json")
    return Response::Problem(404, "Not Found", "no such file");
  std::string_view type = MediaTypeOf(name);
  if (type.empty()) return Response::Problem(404, "Not Found", "no such file");
  // The router has refused dot segments and encoded separators; a symbolic
  // link out of the directory is refused here as well.
  std::error_code ec;
  std::filesystem::path file = std::filesystem::weakly_canonical(dir_ / std::filesystem::path(relative), ec);
  std::filesystem::path root = std::filesystem::weakly_canonical(dir_, ec);
  auto [r_end, f_it] = std::mismatch(root.begin(), root.end(), file.begin(), file.end());
  if (ec || r_end != root.end() || !std::filesystem::is_regular_file(file, ec))
    return Response::Problem(404, "Not Found", "no such file");
  auto bytes = ReadFile(file, kMaxFileBytes);
  if (!bytes.ok()) return Response::Problem(404, "Not Found", "no such file");
  Response r = Response::Bytes(200, std::move(*bytes), type);
  // The bundles carry content hashes in their names; an hour's private
  // cache spares a radiologist 200 MB at every visit. No patient data here.
  r.headers.Set("Cache-Control", "private, max-age=3600");
  // Workers take their policy from their own script's response: the same.
  r.headers.Set("Content-Security-Policy", csp_);
  return r;
}

}  // namespace bastion::web
