// What to scan: only what the operator names, and never more than a site's
// own network.
#include <netdb.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

#include "scan/scan.h"
#include "util/net.h"
#include "util/text.h"

namespace bastion::scan {
namespace {

bool ParseInt(std::string_view s, long& out) {
  s = Trim(s);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<std::vector<Host>> ExpandTargets(const std::vector<std::string>& specs, int max_addresses) {
  if (max_addresses < 1 || max_addresses > kHardMaxAddresses)
    return Status(Code::kInvalidArgument,
                  "--max-hosts must be between 1 and " + std::to_string(kHardMaxAddresses));
  std::vector<Host> out;
  auto add = [&](Host h) -> Status {
    for (const auto& e : out)
      if (e.address == h.address) return Status::Ok();
    if (static_cast<int>(out.size()) >= max_addresses)
      return Status(Code::kTooLarge, "more than " + std::to_string(max_addresses) +
                                         " addresses in the targets (raise --max-hosts, at most " +
                                         std::to_string(kHardMaxAddresses) + ")");
    out.push_back(std::move(h));
    return Status::Ok();
  };
  for (const auto& raw : specs) {
    std::string spec(Trim(raw));
    if (spec.empty()) continue;
    if (spec.find('/') != std::string::npos) {
      auto range = IpRange::Parse(spec);
      if (!range) return Status(Code::kInvalidArgument, "not an address range: " + Printable(spec));
      int bits = (range->base.v6 ? 128 : 32) - range->prefix;
      long usable = bits > 20 ? 0 : (1L << bits) - (!range->base.v6 && bits >= 2 ? 2 : 0);
      if (bits > 20 || usable > max_addresses)
        return Status(Code::kTooLarge, "range " + spec + " has more than " +
                                           std::to_string(max_addresses) +
                                           " addresses (raise --max-hosts, at most " +
                                           std::to_string(kHardMaxAddresses) + ")");
      long count = 1L << bits;
      IpAddress a = range->base;
      // Walk the range from its first address.
      int nbytes = a.v6 ? 16 : 4;
      for (int i = 0; i < nbytes; ++i) {
        int bit_start = i * 8;
        for (int b = 0; b < 8; ++b)
          if (bit_start + b >= range->prefix) a.bytes[i] &= static_cast<std::uint8_t>(~(0x80 >> b));
      }
      for (long n = 0; n < count; ++n) {
        bool edge = !a.v6 && bits >= 2 && (n == 0 || n == count - 1);  // network / broadcast
        if (!edge) BASTION_RETURN_IF_ERROR(add({spec, a.ToString()}));
        for (int i = nbytes - 1; i >= 0; --i)
          if (++a.bytes[i] != 0) break;
      }
      continue;
    }
    std::string host = spec;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    if (auto ip = IpAddress::Parse(host)) {
      BASTION_RETURN_IF_ERROR(add({spec, ip->ToString()}));
      continue;
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr)
      return Status(Code::kNotFound,
                    "cannot resolve " + Printable(host) + ": " + ::gai_strerror(rc));
    auto ip = IpAddress::FromSockaddr(res->ai_addr);
    ::freeaddrinfo(res);
    if (!ip) return Status(Code::kNotFound, "no usable address for " + Printable(host));
    BASTION_RETURN_IF_ERROR(add({spec, ip->ToString()}));
  }
  if (out.empty()) return Status(Code::kInvalidArgument, "no targets given");
  return out;
}

Result<std::vector<std::uint16_t>> ParsePorts(std::string_view text) {
  std::vector<std::uint16_t> out;
  for (const auto& piece : Split(text, ',')) {
    long lo = 0, hi = 0;
    auto dash = piece.find('-');
    bool ok = dash == std::string::npos
                  ? ParseInt(piece, lo) && (hi = lo, true)
                  : ParseInt(std::string_view(piece).substr(0, dash), lo) &&
                        ParseInt(std::string_view(piece).substr(dash + 1), hi);
    if (!ok || lo < 1 || hi > 65535 || lo > hi)
      return Status(Code::kInvalidArgument, "not a port or port range: " + Printable(piece));
    for (long p = lo; p <= hi; ++p) {
      bool seen = false;
      for (auto q : out) seen |= q == p;
      if (seen) continue;
      if (out.size() >= 64) return Status(Code::kTooLarge, "more than 64 ports");
      out.push_back(static_cast<std::uint16_t>(p));
    }
  }
  if (out.empty()) return Status(Code::kInvalidArgument, "no ports given");
  return out;
}

}  // namespace bastion::scan
