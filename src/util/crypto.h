// Small wrappers over OpenSSL for hashing and randomness.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bastion {

using Sha256Digest = std::array<std::uint8_t, 32>;

// Incremental SHA-256. Not thread-safe; one per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, std::size_t size);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  Sha256Digest Finish();

  static Sha256Digest Of(std::string_view s);

 private:
  void* ctx_;  // EVP_MD_CTX*
};

std::string HexEncode(std::span<const std::uint8_t> bytes);
inline std::string HexEncode(const Sha256Digest& d) { return HexEncode(std::span(d)); }
// True for exactly `length` lower-case hex digits.
bool IsLowerHex(std::string_view s, std::size_t length);

// Cryptographically secure random bytes (OpenSSL RAND_bytes). Aborts if the
// generator fails: there is no safe fallback.
void RandomBytes(std::span<std::uint8_t> out);
// A random token of `bytes` bytes, hex-encoded.
std::string RandomHex(std::size_t bytes);

// Constant-time comparison of two equal-length strings.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace bastion
