#include <gtest/gtest.h>

#include "scan/scan.h"

namespace bastion::scan {
namespace {

std::vector<std::string> Addresses(const Result<std::vector<Host>>& r) {
  std::vector<std::string> out;
  if (r.ok())
    for (const auto& h : *r) out.push_back(h.address);
  return out;
}

TEST(Targets, SingleAddresses) {
  EXPECT_EQ(Addresses(ExpandTargets({"127.0.0.1", "::1", "[::1]", "127.0.0.1"}, 256)),
            (std::vector<std::string>{"127.0.0.1", "::1"}));
}

TEST(Targets, RangesSkipNetworkAndBroadcast) {
  EXPECT_EQ(Addresses(ExpandTargets({"192.168.7.4/30"}, 256)),
            (std::vector<std::string>{"192.168.7.5", "192.168.7.6"}));
  auto r = ExpandTargets({"10.1.2.0/24"}, 256);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), 254u);
  EXPECT_EQ(r->front().address, "10.1.2.1");
  EXPECT_EQ(r->back().address, "10.1.2.254");
  EXPECT_EQ(Addresses(ExpandTargets({"10.0.0.7/31"}, 256)),
            (std::vector<std::string>{"10.0.0.6", "10.0.0.7"}));
}

TEST(Targets, RangesAreCapped) {
  auto r = ExpandTargets({"10.1.0.0/23"}, 256);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kTooLarge);
  EXPECT_TRUE(ExpandTargets({"10.1.0.0/23"}, 512).ok());
  EXPECT_FALSE(ExpandTargets({"10.0.0.0/8"}, kHardMaxAddresses).ok())
      << "the internet is not your own network";
  EXPECT_FALSE(ExpandTargets({"0.0.0.0/0"}, kHardMaxAddresses).ok());
  EXPECT_FALSE(ExpandTargets({"2001:db8::/64"}, kHardMaxAddresses).ok());
  EXPECT_FALSE(ExpandTargets({"127.0.0.1"}, kHardMaxAddresses + 1).ok());
  EXPECT_FALSE(ExpandTargets({"127.0.0.1"}, 0).ok());
  // Several pieces together count against the same cap.
  EXPECT_FALSE(ExpandTargets({"10.1.0.0/24", "10.2.0.0/24"}, 256).ok());
}

TEST(Targets, BadInput) {
  EXPECT_FALSE(ExpandTargets({}, 256).ok());
  EXPECT_FALSE(ExpandTargets({"10.0.0.0/33"}, 256).ok());
  EXPECT_FALSE(ExpandTargets({"not a host name.invalid"}, 256).ok());
}

TEST(Targets, HostNamesResolve) {
  auto r = ExpandTargets({"localhost"}, 256);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->front().name, "localhost");
  EXPECT_TRUE(r->front().address == "127.0.0.1" || r->front().address == "::1");
}

TEST(Ports, ListsAndRanges) {
  auto p = ParsePorts("104, 11112,4242");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, (std::vector<std::uint16_t>{104, 11112, 4242}));
  p = ParsePorts("100-103,101");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, (std::vector<std::uint16_t>{100, 101, 102, 103}));
  EXPECT_FALSE(ParsePorts("0").ok());
  EXPECT_FALSE(ParsePorts("70000").ok());
  EXPECT_FALSE(ParsePorts("5-3").ok());
  EXPECT_FALSE(ParsePorts("abc").ok());
  EXPECT_FALSE(ParsePorts("").ok());
  EXPECT_FALSE(ParsePorts("1000-1100").ok()) << "at most 64 ports";
}

}  // namespace
}  // namespace bastion::scan
