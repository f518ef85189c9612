// Network address helpers: listen endpoints, peer addresses and CIDR ranges.
// Only numeric addresses: host names are never resolved for security decisions.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace bastion {

// A numeric IPv4 or IPv6 address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
// are normalised to IPv4 so that a node registered as 10.1.2.3 matches either.
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // first 4 used for IPv4

  static std::optional<IpAddress> Parse(std::string_view text);
  static std::optional<IpAddress> FromSockaddr(const sockaddr* sa);
  std::string ToString() const;
  bool IsLoopback() const;
  bool IsUnspecified() const;  // 0.0.0.0 or ::
  bool operator==(const IpAddress&) const = default;
};

// Fills `out` with a sockaddr_in / sockaddr_in6 for address:port; returns its length.
socklen_t ToSockaddr(const IpAddress& address, std::uint16_t port, sockaddr_storage* out);

// An address range "a.b.c.d/n" or a single address (a /32 or /128 range).
struct IpRange {
  IpAddress base;
  int prefix = 0;

  static std::optional<IpRange> Parse(std::string_view text);
  bool Contains(const IpAddress& a) const;
  bool IsSingleAddress() const { return prefix == (base.v6 ? 128 : 32); }
  std::string ToString() const;
};

// A listen endpoint "ADDR:PORT" or "[V6ADDR]:PORT".
struct Endpoint {
  IpAddress address;
  std::uint16_t port = 0;

  static Result<Endpoint> Parse(std::string_view text);
  std::string ToString() const;
};

}  // namespace bastion
