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

TEST(SelfCheck, DefaultConfigurationIsClean) {
  auto f = CheckSelf(Default());
  EXPECT_EQ(Worst(f), Severity::kInfo);
  EXPECT_EQ(std::count_if(f.begin(), f.end(), [](const Finding& x) { return x.id == "S1"; }), 2);
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

}  // namespace
}  // namespace bastion::scan
