#include "util/net.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace bastion {
namespace {

IpAddress Ip(const char* text) {
  auto a = IpAddress::Parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

IpRange Range(const char* text) {
  auto r = IpRange::Parse(text);
  EXPECT_TRUE(r.has_value()) << text;
  return r.value_or(IpRange{});
}

TEST(IpAddressTest, ParsesV4) {
  IpAddress a = Ip("10.1.2.3");
  EXPECT_FALSE(a.v6);
  EXPECT_EQ(a.bytes[0], 10);
  EXPECT_EQ(a.bytes[1], 1);
  EXPECT_EQ(a.bytes[2], 2);
  EXPECT_EQ(a.bytes[3], 3);
  EXPECT_EQ(a.ToString(), "10.1.2.3");
}

TEST(IpAddressTest, ParsesV6) {
  IpAddress a = Ip("2001:DB8::1");
  EXPECT_TRUE(a.v6);
  EXPECT_EQ(a.bytes[0], 0x20);
  EXPECT_EQ(a.bytes[1], 0x01);
  EXPECT_EQ(a.bytes[15], 0x01);
  EXPECT_EQ(a.ToString(), "2001:db8::1");
}

TEST(IpAddressTest, V4MappedIsNormalisedToV4) {
  IpAddress mapped = Ip("::ffff:10.1.2.3");
  EXPECT_FALSE(mapped.v6);
  EXPECT_EQ(mapped, Ip("10.1.2.3"));
  EXPECT_EQ(mapped.ToString(), "10.1.2.3");
  EXPECT_EQ(Ip("::FFFF:7f00:1"), Ip("127.0.0.1"));
  // Not mapped: an ordinary v6 address that happens to end in v4-looking bytes.
  EXPECT_TRUE(Ip("::fffe:10.1.2.3").v6);
  EXPECT_TRUE(Ip("64:ff9b::10.1.2.3").v6);
}

TEST(IpAddressTest, RejectsNonNumeric) {
  for (const char* bad : {"", "localhost", "example.org", "1.2.3", "256.1.1.1", "1.2.3.4.5", "10.1.2.3 ",
                          " 10.1.2.3", "10.1.2.3/8", "[::1]", "::1%lo", "1::2::3", "gggg::1", "0x7f.0.0.1"}) {
    EXPECT_FALSE(IpAddress::Parse(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(IpAddressTest, Loopback) {
  EXPECT_TRUE(Ip("127.0.0.1").IsLoopback());
  EXPECT_TRUE(Ip("127.255.255.254").IsLoopback());
  EXPECT_TRUE(Ip("127.1.2.3").IsLoopback());
  EXPECT_TRUE(Ip("::1").IsLoopback());
  EXPECT_TRUE(Ip("::ffff:127.0.0.1").IsLoopback());
  EXPECT_FALSE(Ip("128.0.0.1").IsLoopback());
  EXPECT_FALSE(Ip("126.255.255.255").IsLoopback());
  EXPECT_FALSE(Ip("10.0.0.1").IsLoopback());
  EXPECT_FALSE(Ip("0.0.0.0").IsLoopback());
  EXPECT_FALSE(Ip("::").IsLoopback());
  EXPECT_FALSE(Ip("::2").IsLoopback());
  EXPECT_FALSE(Ip("1::1").IsLoopback());
}

TEST(IpAddressTest, Unspecified) {
  EXPECT_TRUE(Ip("0.0.0.0").IsUnspecified());
  EXPECT_TRUE(Ip("::").IsUnspecified());
  EXPECT_FALSE(Ip("0.0.0.1").IsUnspecified());
  EXPECT_FALSE(Ip("::1").IsUnspecified());
}

TEST(IpAddressTest, FromSockaddr) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, "192.168.7.9", &v4.sin_addr), 1);
  auto a = IpAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&v4));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, Ip("192.168.7.9"));

  // A dual-stack socket reports v4 peers as v4-mapped v6.
  sockaddr_in6 mapped{};
  mapped.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:192.168.7.9", &mapped.sin6_addr), 1);
  auto b = IpAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&mapped));
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(b->v6);
  EXPECT_EQ(*b, Ip("192.168.7.9"));

  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "fe80::1", &v6.sin6_addr), 1);
  auto c = IpAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&v6));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(*c, Ip("fe80::1"));

  sockaddr other{};
  other.sa_family = AF_UNIX;
  EXPECT_FALSE(IpAddress::FromSockaddr(&other).has_value());
}

TEST(IpRangeTest, SingleAddressWithoutPrefix) {
  IpRange r = Range("10.1.2.3");
  EXPECT_EQ(r.prefix, 32);
  EXPECT_TRUE(r.IsSingleAddress());
  EXPECT_TRUE(r.Contains(Ip("10.1.2.3")));
  EXPECT_FALSE(r.Contains(Ip("10.1.2.4")));
  EXPECT_EQ(r.ToString(), "10.1.2.3");

  IpRange v6 = Range("::1");
  EXPECT_EQ(v6.prefix, 128);
  EXPECT_TRUE(v6.IsSingleAddress());
  EXPECT_TRUE(v6.Contains(Ip("::1")));
  EXPECT_FALSE(v6.Contains(Ip("::2")));
}

TEST(IpRangeTest, Slash0ContainsEveryAddressOfItsFamily) {
  IpRange r = Range("0.0.0.0/0");
  EXPECT_FALSE(r.IsSingleAddress());
  EXPECT_TRUE(r.Contains(Ip("1.2.3.4")));
  EXPECT_TRUE(r.Contains(Ip("255.255.255.255")));
  EXPECT_TRUE(r.Contains(Ip("0.0.0.0")));
  EXPECT_FALSE(r.Contains(Ip("2001:db8::1")));

  IpRange all6 = Range("::/0");
  EXPECT_TRUE(all6.Contains(Ip("2001:db8::1")));
  EXPECT_TRUE(all6.Contains(Ip("::1")));
  EXPECT_FALSE(all6.Contains(Ip("10.0.0.1")));
}

TEST(IpRangeTest, Slash8) {
  IpRange r = Range("10.0.0.0/8");
  EXPECT_TRUE(r.Contains(Ip("10.0.0.0")));
  EXPECT_TRUE(r.Contains(Ip("10.255.1.2")));
  EXPECT_FALSE(r.Contains(Ip("11.0.0.0")));
  EXPECT_FALSE(r.Contains(Ip("9.255.255.255")));
  EXPECT_EQ(r.ToString(), "10.0.0.0/8");
  // A v4-mapped peer (dual-stack socket) is the same host.
  EXPECT_TRUE(r.Contains(Ip("::ffff:10.9.8.7")));
}

TEST(IpRangeTest, Slash32And128) {
  IpRange r = Range("192.168.1.20/32");
  EXPECT_TRUE(r.IsSingleAddress());
  EXPECT_TRUE(r.Contains(Ip("192.168.1.20")));
  EXPECT_FALSE(r.Contains(Ip("192.168.1.21")));
  EXPECT_EQ(r.ToString(), "192.168.1.20");

  IpRange v6 = Range("2001:db8::5/128");
  EXPECT_TRUE(v6.IsSingleAddress());
  EXPECT_TRUE(v6.Contains(Ip("2001:db8::5")));
  EXPECT_FALSE(v6.Contains(Ip("2001:db8::4")));
}

TEST(IpRangeTest, PrefixNotOnAByteBoundary) {
  IpRange r = Range("192.168.4.0/22");
  EXPECT_TRUE(r.Contains(Ip("192.168.4.0")));
  EXPECT_TRUE(r.Contains(Ip("192.168.7.255")));
  EXPECT_FALSE(r.Contains(Ip("192.168.8.0")));
  EXPECT_FALSE(r.Contains(Ip("192.168.3.255")));

  IpRange v6 = Range("2001:db8:8000::/33");
  EXPECT_TRUE(v6.Contains(Ip("2001:db8:ffff::1")));
  EXPECT_FALSE(v6.Contains(Ip("2001:db8:7fff::1")));
}

TEST(IpRangeTest, V4RangeNeverContainsV6Address) {
  EXPECT_FALSE(Range("0.0.0.0/0").Contains(Ip("::")));
  EXPECT_FALSE(Range("0.0.0.0/0").Contains(Ip("::a00:1")));
  EXPECT_FALSE(Range("10.0.0.0/8").Contains(Ip("a00::")));
  EXPECT_FALSE(Range("::/0").Contains(Ip("0.0.0.0")));
}

TEST(IpRangeTest, RejectsBadPrefixes) {
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/8x", "10.0.0.0/ 8", "10.0.0.0/8/8",
                          "::1/129", "::/1000", "host/8", "/8", "10.0.0.0/0x8", ""}) {
    EXPECT_FALSE(IpRange::Parse(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(EndpointTest, ParsesV4) {
  auto e = Endpoint::Parse("127.0.0.1:11112");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->address, Ip("127.0.0.1"));
  EXPECT_EQ(e->port, 11112);
  EXPECT_EQ(e->ToString(), "127.0.0.1:11112");
}

TEST(EndpointTest, ParsesBracketedV6) {
  auto e = Endpoint::Parse("[::1]:2762");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_TRUE(e->address.v6);
  EXPECT_TRUE(e->address.IsLoopback());
  EXPECT_EQ(e->port, 2762);
  EXPECT_EQ(e->ToString(), "[::1]:2762");

  auto any = Endpoint::Parse("[::]:104");
  ASSERT_TRUE(any.ok());
  EXPECT_TRUE(any->address.IsUnspecified());
}

TEST(EndpointTest, PortBounds) {
  auto lo = Endpoint::Parse("0.0.0.0:1");
  ASSERT_TRUE(lo.ok());
  EXPECT_EQ(lo->port, 1);
  auto hi = Endpoint::Parse("0.0.0.0:65535");
  ASSERT_TRUE(hi.ok());
  EXPECT_EQ(hi->port, 65535);
}

TEST(EndpointTest, Rejects) {
  for (const char* bad : {"localhost:11112", "pacs.example.org:104", "127.0.0.1:0", "127.0.0.1:65536",
                          "127.0.0.1:99999999999", "127.0.0.1", "127.0.0.1:", "[::1]", "[::1]:", "[::1]2762",
                          "[::1:2762", "127.0.0.1:-1", "127.0.0.1:+1", "127.0.0.1:12ab", ":11112", "", "[]:104",
                          "[localhost]:104", "127.0.0.1: 104"}) {
    auto e = Endpoint::Parse(bad);
    EXPECT_FALSE(e.ok()) << "'" << bad << "' was accepted";
    if (!e.ok()) {
      EXPECT_EQ(e.status().code(), Code::kInvalidArgument) << bad;
    }
  }
}

TEST(EndpointTest, HostNameMessageSaysNumeric) {
  auto e = Endpoint::Parse("localhost:11112");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("numeric"), std::string::npos) << e.status().message();
}

}  // namespace
}  // namespace bastion

namespace bastion {
namespace {

TEST(ToSockaddrTest, FillsFamilyPortAndAddress) {
  sockaddr_storage ss{};
  auto v4 = IpAddress::Parse("10.1.2.3");
  ASSERT_TRUE(v4);
  EXPECT_EQ(ToSockaddr(*v4, 104, &ss), sizeof(sockaddr_in));
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  EXPECT_EQ(in->sin_family, AF_INET);
  EXPECT_EQ(ntohs(in->sin_port), 104);
  EXPECT_EQ(IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss))->ToString(), "10.1.2.3");
  auto v6 = IpAddress::Parse("2001:db8::7");
  ASSERT_TRUE(v6);
  EXPECT_EQ(ToSockaddr(*v6, 2762, &ss), sizeof(sockaddr_in6));
  EXPECT_EQ(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_family, AF_INET6);
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port), 2762);
  EXPECT_EQ(IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss))->ToString(), "2001:db8::7");
}

}  // namespace
}  // namespace bastion
