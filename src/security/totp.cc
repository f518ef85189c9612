#include "security/totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

#include "util/crypto.h"

namespace bastion::security {
namespace {

constexpr std::string_view kBase32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int Base32Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (IsUnreserved(c)) {
      out += c;
    } else {
      auto b = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0xF];
    }
  }
  return out;
}

}  // namespace

std::string Base32Encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 4) / 5 * 8);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::uint8_t b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += kBase32Alphabet[(buffer >> (bits - 5)) & 0x1F];
      bits -= 5;
    }
  }
  if (bits > 0) out += kBase32Alphabet[(buffer << (5 - bits)) & 0x1F];
  while (out.size() % 8 != 0) out += '=';
  return out;
}

std::optional<std::vector<std::uint8_t>> Base32Decode(std::string_view text) {
  std::size_t padding = 0;
  while (!text.empty() && text.back() == '=') {
    text.remove_suffix(1);
    ++padding;
  }
  // The unpadded lengths an encoder can produce: 8 characters per 5 bytes,
  // and 2, 4, 5 or 7 for a last group of 1-4 bytes.
  std::size_t tail = text.size() % 8;
  if (tail == 1 || tail == 3 || tail == 6) return std::nullopt;
  if (padding >= 8 || (padding != 0 && (text.size() + padding) % 8 != 0)) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(text.size() * 5 / 8);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = Base32Value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<std::uint8_t>(buffer >> (bits - 8)));
      bits -= 8;
    }
    buffer &= 0xFF;  // at most 7 bits are still pending
  }
  // Left-over bits must be zero: otherwise two texts would decode alike.
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string Hotp(std::span<const std::uint8_t> key, std::uint64_t counter, int digits) {
  std::array<std::uint8_t, 8> message{};
  for (int i = 7; i >= 0; --i) {
    message[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(counter & 0xFF);
    counter >>= 8;
  }
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_size = 0;
  if (::HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), message.data(), message.size(),
             mac.data(), &mac_size) == nullptr ||
      mac_size != 20)
    return std::string();  // never matches a code (ConstantTimeEquals on lengths)
  // RFC 4226 5.3: dynamic truncation.
  std::size_t offset = mac[19] & 0x0F;
  std::uint32_t binary = (static_cast<std::uint32_t>(mac[offset] & 0x7F) << 24) |
                         (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
                         (static_cast<std::uint32_t>(mac[offset + 2]) << 8) | mac[offset + 3];
  std::uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  std::string code = std::to_string(binary % modulus);
  return std::string(static_cast<std::size_t>(digits) - code.size(), '0') + code;
}

std::int64_t TotpStep(std::chrono::system_clock::time_point now) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (seconds < 0) return 0;
  return seconds / kTotpPeriod.count();
}

std::string GenerateTotpSecret() {
  std::array<std::uint8_t, kTotpSecretBytes> key{};
  RandomBytes(key);
  std::string secret = Base32Encode(key);
  OPENSSL_cleanse(key.data(), key.size());
  return secret;
}

std::string TotpUri(std::string_view issuer, std::string_view account,
                    std::string_view base32_secret) {
  std::string secret(base32_secret);
  while (!secret.empty() && secret.back() == '=') secret.pop_back();  // apps expect it unpadded
  return "otpauth://totp/" + PercentEncode(issuer) + ":" + PercentEncode(account) +
         "?secret=" + secret + "&issuer=" + PercentEncode(issuer) +
         "&algorithm=SHA1&digits=" + std::to_string(kTotpDigits) +
         "&period=" + std::to_string(kTotpPeriod.count());
}

TotpCheck CheckTotp(std::span<const std::uint8_t> key, std::string_view code,
                    std::chrono::system_clock::time_point now, std::int64_t last_accepted_step) {
  TotpCheck result;
  bool well_formed = code.size() == static_cast<std::size_t>(kTotpDigits);
  for (char c : code) well_formed = well_formed && c >= '0' && c <= '9';
  // A malformed code is still compared (as a string of the right length) so
  // the answer takes the same time.
  std::string candidate = well_formed ? std::string(code) : std::string(kTotpDigits, 'x');
  std::int64_t current = TotpStep(now);
  bool accepted = false, replayed = false;
  for (std::int64_t step = current - kTotpSkewSteps; step <= current + kTotpSkewSteps; ++step) {
    if (step < 0) continue;
    bool match = ConstantTimeEquals(Hotp(key, static_cast<std::uint64_t>(step)), candidate);
    bool fresh = step > last_accepted_step;
    // The earliest fresh step that matches: a later step's code may come round again.
    if (match && fresh && !accepted) {
      accepted = true;
      result.step = step;
    }
    if (match && !fresh) replayed = true;
  }
  if (!well_formed) return TotpCheck{};
  result.outcome = accepted   ? TotpOutcome::kAccepted
                   : replayed ? TotpOutcome::kReplayed
                              : TotpOutcome::kWrong;
  return result;
}

}  // namespace bastion::security
