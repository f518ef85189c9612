#include <gtest/gtest.h>

#include <algorithm>

#include "scan/scan.h"

namespace bastion::scan {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

SelfState Default() {
  SelfState s;
  s.data_dir = "/srv/bastion";
  s.now = kNow;
  s.listeners = {{"0.0.0.0:2762", true}, {"127.0.0.1:11112", false}};
  s.certificates = {{"server certificate", "tls/server.pem", kNow + 365 * 86400, ""},
                    {"client CA certificate", "tls/ca.pem", kNow + 3650 * 86400, ""}};
  return s;
}

Severity Worst(const std::vector<Finding>& f, const std::string& id = "") {
  Severity w = Severity::kInfo;
  for (const auto& x : f)
    if (id.empty() || x.id == id) w = std::max(w, x.severity);
  return w;
}

std::vector<Finding> Only(const std::vector<Finding>& f, const std::string& id,
                          Severity at_least = Severity::kInfo) {
  std::vector<Finding> out;
  for (const auto& x : f)
    if (x.id == id && x.severity >= at_least) out.push_back(x);
  return out;
}

TEST(SelfCheck, DefaultConfigurationIsClean) {
  auto f = CheckSelf(Default());
  EXPECT_EQ(Worst(f), Severity::kInfo);
  EXPECT_EQ(std::count_if(f.begin(), f.end(), [](const Finding& x) { return x.id == "S1"; }), 2);
  // The web front end of `bastion init`: HTTPS on 8443, 15 minutes idle, 12
  // hours at most, HSTS for a year; all of it said, none of it a finding.
  auto web = Only(f, "S5");
  ASSERT_EQ(web.size(), 3u);
  EXPECT_EQ(web[0].title, "HTTPS (web UI, viewer, DICOMweb) listens on 0.0.0.0:8443");
  EXPECT_EQ(web[1].title,
            "automatic logoff after 15 minutes idle; a session ends after 12 hours however active");
  EXPECT_EQ(web[2].title, "Strict-Transport-Security for 365 days");
  for (const auto& x : web) EXPECT_EQ(x.check, "self: web front end");
}

TEST(SelfCheck, WebListeners) {
  SelfState s = Default();
  s.web.http_listen = {"127.0.0.1:8080"};
  auto f = Only(CheckSelf(s), "S5");
  EXPECT_EQ(Worst(f), Severity::kInfo) << "plain HTTP on loopback is for a local proxy";
  EXPECT_TRUE(std::any_of(f.begin(), f.end(), [](const Finding& x) {
    return x.title.find("plain HTTP listens on 127.0.0.1:8080 (loopback only") == 0;
  }));
  s.web.http_listen = {"0.0.0.0:8080"};
  auto high = Only(CheckSelf(s), "S5", Severity::kHigh);
  ASSERT_EQ(high.size(), 1u);
  EXPECT_NE(high[0].title.find("0.0.0.0:8080"), std::string::npos);
  EXPECT_NE(high[0].fix.find("http_listen"), std::string::npos) << high[0].fix;
}

TEST(SelfCheck, WebOffSaysSoAndNothingElse) {
  SelfState s = Default();
  s.web.https_listen.clear();
  s.web.session_idle_seconds = 86400;  // unused while nothing listens
  s.web.hsts_max_age = 0;
  auto f = Only(CheckSelf(s), "S5");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].title, "the web front end is off");
  EXPECT_EQ(f[0].severity, Severity::kInfo);
}

TEST(SelfCheck, AutomaticLogoffLaterThanFifteenMinutes) {
  SelfState s = Default();
  s.web.session_idle_seconds = 901;
  auto f = Only(CheckSelf(s), "S5", Severity::kLow);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kMedium);
  EXPECT_NE(f[0].title.find("901 seconds"), std::string::npos) << f[0].title;
  EXPECT_EQ(f[0].hipaa, "45 CFR 164.312(a)(2)(iii) Automatic logoff");
  EXPECT_EQ(f[0].received, "[web] session_idle_seconds = 901");
  EXPECT_NE(f[0].fix.find("session_idle_seconds = 900"), std::string::npos) << f[0].fix;
  s.web.session_idle_seconds = 3600;
  f = Only(CheckSelf(s), "S5", Severity::kLow);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].title.find("after 1 hour idle"), std::string::npos) << f[0].title;
  s.web.session_idle_seconds = 900;  // exactly 15 minutes is within the limit
  EXPECT_EQ(Worst(CheckSelf(s)), Severity::kInfo);
}

TEST(SelfCheck, SessionLifetimeOverTwelveHours) {
  SelfState s = Default();
  s.web.session_max_seconds = 86400;
  auto f = Only(CheckSelf(s), "S5", Severity::kLow);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kLow);
  EXPECT_NE(f[0].title.find("1 day"), std::string::npos) << f[0].title;
  EXPECT_NE(f[0].fix.find("session_max_seconds"), std::string::npos);
  s.web.session_max_seconds = 43200;
  EXPECT_EQ(Worst(CheckSelf(s)), Severity::kInfo);
}

TEST(SelfCheck, Hsts) {
  SelfState s = Default();
  s.web.hsts_max_age = 0;
  auto f = Only(CheckSelf(s), "S5", Severity::kLow);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kMedium);
  EXPECT_NE(f[0].title.find("Strict-Transport-Security is off"), std::string::npos);
  EXPECT_NE(f[0].hipaa.find("164.312(e)(1)"), std::string::npos);
  EXPECT_NE(f[0].fix.find("hsts_max_age = 31536000"), std::string::npos) << f[0].fix;
  s.web.hsts_max_age = 179 * 86400;
  f = Only(CheckSelf(s), "S5", Severity::kLow);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kLow);
  EXPECT_NE(f[0].title.find("179 days"), std::string::npos) << f[0].title;
  s.web.hsts_max_age = 180 * 86400;
  EXPECT_EQ(Worst(CheckSelf(s)), Severity::kInfo);
  // Behind a local proxy (no HTTPS listener of its own) HSTS is the proxy's header.
  s.web.hsts_max_age = 0;
  s.web.https_listen.clear();
  s.web.http_listen = {"127.0.0.1:8080"};
  EXPECT_EQ(Worst(CheckSelf(s)), Severity::kInfo);
}

TEST(SelfCheck, PlainOffLoopback) {
  SelfState s = Default();
  s.listeners[1].endpoint = "0.0.0.0:11112";
  s.nodes.push_back({"CT1", {"10.1.2.3"}, {"echo", "store"}, false, false});
  auto f = CheckSelf(s);
  EXPECT_EQ(Worst(f, "S1"), Severity::kMedium);
  EXPECT_EQ(Worst(f, "S2"), Severity::kHigh) << "a plain node with the plain port reachable";
}

TEST(SelfCheck, NodeFromEverywhereWithEveryService) {
  SelfState s = Default();
  s.nodes.push_back(
      {"OPENDOOR", {"0.0.0.0/0"}, {"echo", "store", "find", "move", "get"}, false, false});
  auto f = CheckSelf(s);
  EXPECT_EQ(Worst(f, "S3"), Severity::kHigh);
  EXPECT_EQ(Worst(f, "S2"), Severity::kLow) << "plain allowed, but the plain port is on loopback";
  auto it = std::find_if(f.begin(), f.end(), [](const Finding& x) { return x.id == "S3"; });
  ASSERT_NE(it, f.end());
  EXPECT_NE(it->title.find("OPENDOOR"), std::string::npos);
  EXPECT_NE(it->fix.find("--host"), std::string::npos) << it->fix;
}

TEST(SelfCheck, ExactTlsOnlyModalityIsFine) {
  SelfState s = Default();
  s.nodes.push_back({"CT1", {"10.1.2.3"}, {"echo", "store"}, true, true});
  EXPECT_EQ(Worst(CheckSelf(s)), Severity::kInfo);
}

TEST(SelfCheck, Certificates) {
  SelfState s = Default();
  s.certificates[0].not_after = kNow - 86400;
  s.certificates[1].not_after = kNow + 10 * 86400;
  auto f = CheckSelf(s);
  EXPECT_EQ(Worst(f, "S4"), Severity::kHigh);
  int medium = 0;
  for (const auto& x : f) medium += x.id == "S4" && x.severity == Severity::kMedium;
  EXPECT_EQ(medium, 1);
  s.certificates[0].error = "no such file";
  EXPECT_EQ(Worst(CheckSelf(s), "S4"), Severity::kHigh);
}

TEST(SelfCheck, AServerCertificateWithoutClientAuthMattersOnlyForTlsDestinations) {
  SelfState s = Default();
  ASSERT_EQ(s.certificates[0].what, "server certificate");
  s.certificates[0].client_auth = false;
  s.nodes.push_back({"WS1", {"10.1.2.4"}, {"echo", "receive"}, false, false});  // plain: no TLS handshake
  EXPECT_EQ(Worst(CheckSelf(s), "S4"), Severity::kInfo);
  s.nodes.push_back({"WS2", {"10.1.2.5"}, {"echo", "receive"}, true, false});
  auto f = CheckSelf(s);
  EXPECT_EQ(Worst(f, "S4"), Severity::kMedium);
  auto it = std::find_if(f.begin(), f.end(), [](const Finding& x) { return x.severity == Severity::kMedium; });
  ASSERT_NE(it, f.end());
  EXPECT_NE(it->title.find("WS2"), std::string::npos) << it->title;
  EXPECT_EQ(it->title.find("WS1"), std::string::npos) << it->title;
  s.certificates[0].client_auth = true;
  EXPECT_EQ(Worst(CheckSelf(s), "S4"), Severity::kInfo);
}

TEST(SelfCheck, AServerCertificateWithoutClientAuthMattersForTlsModalitiesThatTakeCommitmentReports) {
  SelfState s = Default();
  s.certificates[0].client_auth = false;
  s.nodes.push_back({"CT1", {"10.1.2.4"}, {"echo", "store"}, true, false});  // no port: nothing to connect to
  EXPECT_EQ(Worst(CheckSelf(s), "S4"), Severity::kInfo);
  s.nodes.back().listens = true;
  auto f = CheckSelf(s);
  EXPECT_EQ(Worst(f, "S4"), Severity::kMedium);
  auto it = std::find_if(f.begin(), f.end(), [](const Finding& x) { return x.severity == Severity::kMedium; });
  ASSERT_NE(it, f.end());
  EXPECT_NE(it->title.find("CT1"), std::string::npos) << it->title;
  EXPECT_NE(it->title.find("Storage Commitment"), std::string::npos) << it->title;
}

}  // namespace
}  // namespace bastion::scan
