#include "util/net.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace bastion {

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  std::string s(text);
  IpAddress a;
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    std::memcpy(a.bytes.data(), &v4, 4);
    return a;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    static const std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(&v6, kMapped, 12) == 0) {
      std::memcpy(a.bytes.data(), reinterpret_cast<const std::uint8_t*>(&v6) + 12, 4);
      return a;
    }
    a.v6 = true;
    std::memcpy(a.bytes.data(), &v6, 16);
    return a;
  }
  return std::nullopt;
}

std::optional<IpAddress> IpAddress::FromSockaddr(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  } else {
    return std::nullopt;
  }
  return Parse(buf);
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

bool IpAddress::IsLoopback() const {
  if (!v6) return bytes[0] == 127;
  for (int i = 0; i < 15; ++i)
    if (bytes[i] != 0) return false;
  return bytes[15] == 1;
}

bool IpAddress::IsUnspecified() const {
  int n = v6 ? 16 : 4;
  for (int i = 0; i < n; ++i)
    if (bytes[i] != 0) return false;
  return true;
}

std::optional<IpRange> IpRange::Parse(std::string_view text) {
  IpRange r;
  std::size_t slash = text.find('/');
  auto addr = IpAddress::Parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  r.base = *addr;
  int max = r.base.v6 ? 128 : 32;
  r.prefix = max;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    int value = -1;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (ec != std::errc() || ptr != p.data() + p.size() || value < 0 || value > max) return std::nullopt;
    r.prefix = value;
  }
  return r;
}

bool IpRange::Contains(const IpAddress& a) const {
  if (a.v6 != base.v6) return false;
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a.bytes.data(), base.bytes.data(), static_cast<std::size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (a.bytes[static_cast<std::size_t>(full)] & mask) == (base.bytes[static_cast<std::size_t>(full)] & mask);
}

std::string IpRange::ToString() const {
  if (IsSingleAddress()) return base.ToString();
  return base.ToString() + "/" + std::to_string(prefix);
}

Result<Endpoint> Endpoint::Parse(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return Status(Code::kInvalidArgument, "bad endpoint '" + std::string(text) + "': expected [ADDR]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return Status(Code::kInvalidArgument, "bad endpoint '" + std::string(text) + "': expected ADDR:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  Endpoint e;
  auto addr = IpAddress::Parse(host);
  if (!addr)
    return Status(Code::kInvalidArgument,
                  "bad endpoint '" + std::string(text) + "': the address must be numeric (no host names)");
  e.address = *addr;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535)
    return Status(Code::kInvalidArgument, "bad endpoint '" + std::string(text) + "': port must be 1-65535");
  e.port = static_cast<std::uint16_t>(value);
  return e;
}

socklen_t ToSockaddr(const IpAddress& address, std::uint16_t port, sockaddr_storage* out) {
  *out = sockaddr_storage{};
  if (address.v6) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(out);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    std::memcpy(&sa->sin6_addr, address.bytes.data(), 16);
    return sizeof(sockaddr_in6);
  }
  auto* sa = reinterpret_cast<sockaddr_in*>(out);
  sa->sin_family = AF_INET;
  sa->sin_port = htons(port);
  std::memcpy(&sa->sin_addr, address.bytes.data(), 4);
  return sizeof(sockaddr_in);
}

std::string Endpoint::ToString() const {
  // Built by appending: GCC 12 at -O3 warns (-Wrestrict, a false positive)
  // about the operator+ chain.
  std::string out;
  if (address.v6) out += '[';
  out += address.ToString();
  if (address.v6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

}  // namespace bastion
