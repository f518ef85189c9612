#include "web/viewer.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "../temp_dir.h"
#include "util/crypto.h"

namespace bastion::web {
namespace {

constexpr std::string_view kIndex =
    "<!doctype html><html><head><script>window.PUBLIC_URL=\"/viewer/\"</script>"
    "<script src=\"/viewer/app-config.js\"></script><script defer src=\"/viewer/app.bundle.js\"></script>"
    "</head><body><div id=\"root\"></div></body></html>";

std::string Sha256Base64(std::string_view s) {
  auto d = Sha256::Of(s);
  unsigned char out[64];
  int n = ::EVP_EncodeBlock(out, d.data(), static_cast<int>(d.size()));
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

// A viewer directory as scripts/install-viewer.sh prepares it.
struct Installed {
  test::TempDir dir;
  Installed(std::string_view mount = "/viewer/") {
    test::WriteBytes(dir / "bastion-viewer.json",
                     "{\"package\": \"@ohif/app\", \"version\": \"3.13.2\", \"mount\": \"" + std::string(mount) + "\"}");
    test::WriteBytes(dir / "index.html", kIndex);
    test::WriteBytes(dir / "app.bundle.js", "console.log(1);");
    test::WriteBytes(dir / "codec.wasm", std::string("\0asm\1\0\0\0", 8));
    std::filesystem::create_directories(dir / "assets");
    test::WriteBytes(dir / "assets" / "icon.svg", "<svg/>");
    test::WriteBytes(dir / "sw.js", "self.addEventListener('fetch', () => {});");
    test::WriteBytes(dir / "notes.unknown", "x");
  }
};

TEST(Viewer, NotInstalledSaysHowToInstall) {
  test::TempDir empty;
  Viewer v(empty.path());
  EXPECT_FALSE(v.installed());
  EXPECT_NE(v.problem().find("install-viewer.sh"), std::string::npos);
  Response r = v.Serve("");
  EXPECT_EQ(r.status, 503);
}

TEST(Viewer, RefusesADirectoryPreparedForAnotherMount) {
  Installed i("/");
  Viewer v(i.dir.path());
  EXPECT_FALSE(v.installed());
}

TEST(Viewer, PageWithSessionGuardAndAPolicyThatAllowsExactlyItsInlineScripts) {
  Installed i;
  Viewer v(i.dir.path());
  ASSERT_TRUE(v.installed()) << v.problem();
  EXPECT_EQ(v.version(), "3.13.2");
  Response r = v.Serve("");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("/static/session-guard.js"), std::string::npos);
  auto csp = r.headers.Get("Content-Security-Policy");
  ASSERT_TRUE(csp);
  EXPECT_NE(csp->find("'sha256-" + Sha256Base64("window.PUBLIC_URL=\"/viewer/\"") + "'"), std::string::npos)
      << *csp;
  EXPECT_EQ(csp->find("'unsafe-eval'"), std::string_view::npos);
  EXPECT_NE(csp->find("'wasm-unsafe-eval'"), std::string_view::npos);
  EXPECT_NE(csp->find("frame-ancestors 'none'"), std::string_view::npos);
  // One hash per inline script: the two with src= are not inline.
  std::size_t hashes = 0;
  for (std::size_t p = 0; (p = csp->find("'sha256-", p)) != std::string_view::npos; ++p) ++hashes;
  EXPECT_EQ(hashes, 1u);
}

TEST(Viewer, SinglePageAppFallbackForRoutesWithoutAnExtension) {
  Installed i;
  Viewer v(i.dir.path());
  for (std::string_view route : {"viewer", "viewer/dicomjson", "segmentation", "index.html"}) {
    Response r = v.Serve(route);
    EXPECT_EQ(r.status, 200) << route;
    EXPECT_NE(r.body.find("<div id=\"root\">"), std::string::npos) << route;
  }
}

TEST(Viewer, FilesWithTheirMediaTypes) {
  Installed i;
  Viewer v(i.dir.path());
  Response js = v.Serve("app.bundle.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.body, "console.log(1);");
  EXPECT_EQ(js.headers.Get("Content-Type").value_or(""), "text/javascript; charset=utf-8");
  EXPECT_TRUE(js.headers.Get("Content-Security-Policy"));  // workers take the policy of their script
  EXPECT_EQ(v.Serve("codec.wasm").headers.Get("Content-Type").value_or(""), "application/wasm");
  EXPECT_EQ(v.Serve("assets/icon.svg").headers.Get("Content-Type").value_or(""), "image/svg+xml");
  EXPECT_EQ(v.Serve("missing.js").status, 404);
  EXPECT_EQ(v.Serve("notes.unknown").status, 404);  // not a type the viewer uses
  EXPECT_EQ(v.Serve("sw.js").status, 404);           // no service worker
  EXPECT_EQ(v.Serve("bastion-viewer.json").status, 404);
}

TEST(Viewer, ASymbolicLinkOutOfTheDirectoryIsNotFollowed) {
  Installed i;
  test::TempDir outside;
  test::WriteBytes(outside / "secret.json", "{\"secret\": true}");
  std::filesystem::create_symlink(outside / "secret.json", i.dir / "leak.json");
  Viewer v(i.dir.path());
  EXPECT_EQ(v.Serve("leak.json").status, 404);
}

TEST(Viewer, GeneratedConfigPointsAtThisServersDicomWebWithRelativeRoots) {
  Installed i;
  Viewer v(i.dir.path());
  Response r = v.Serve("app-config.js");
  ASSERT_EQ(r.status, 200);
  constexpr std::string_view kPrefix = "window.config = ";
  auto at = r.body.find(kPrefix);
  ASSERT_NE(at, std::string::npos);
  std::string json = r.body.substr(at + kPrefix.size());
  json = json.substr(0, json.rfind(';'));
  auto config = nlohmann::json::parse(json);
  EXPECT_EQ(config["routerBasename"], "/viewer");
  EXPECT_EQ(config["defaultDataSourceName"], "bastion");
  const auto& c = config["dataSources"][0]["configuration"];
  EXPECT_EQ(c["qidoRoot"], "/dicom-web");
  EXPECT_EQ(c["wadoRoot"], "/dicom-web");
  EXPECT_EQ(c["imageRendering"], "wadors");
  EXPECT_EQ(r.headers.Get("Cache-Control").value_or(""), "no-cache");
}

TEST(Viewer, MediaTypes) {
  EXPECT_EQ(Viewer::MediaTypeOf("a.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(Viewer::MediaTypeOf("a.woff2"), "font/woff2");
  EXPECT_EQ(Viewer::MediaTypeOf("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(Viewer::MediaTypeOf("js"), "");
  EXPECT_EQ(Viewer::MediaTypeOf("a.exe"), "");
}

}  // namespace
}  // namespace bastion::web
