// One-time codes for the optional second factor of a person's login:
// RFC 4226 HOTP and RFC 6238 TOTP (HMAC-SHA1, 30-second steps, 6 digits, one
// step of clock skew either way), and the RFC 4648 base32 that authenticator
// apps exchange secrets in. Pure functions: the caller supplies the time (so
// tests inject it) and keeps the last accepted step (the replay guard lives
// in UserStore, which persists it). Policy: docs/security.md ("Second factor").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bastion::security {

// ---------------------------------------------------------------------------
// Base32 (RFC 4648 section 6)

// Upper-case alphabet A-Z2-7, padded with '=' to a multiple of 8 characters
// (a 20-byte secret needs no padding).
std::string Base32Encode(std::span<const std::uint8_t> bytes);
// Accepts upper or lower case, with or without the '=' padding; nullopt for
// any other character, a length no encoder produces, or non-zero trailing bits.
std::optional<std::vector<std::uint8_t>> Base32Decode(std::string_view text);

// ---------------------------------------------------------------------------
// HOTP / TOTP

inline constexpr std::chrono::seconds kTotpPeriod{30};
inline constexpr int kTotpDigits = 6;
// Steps accepted either side of the current one: a phone clock 30 s off, or a
// code typed just as it rolled over, still works; more would only widen the
// window a stolen code is good for.
inline constexpr int kTotpSkewSteps = 1;
// 160 bits, the HMAC-SHA1 block-size recommendation of RFC 4226 section 4.
inline constexpr std::size_t kTotpSecretBytes = 20;

// RFC 4226: HMAC-SHA1 of the big-endian counter, dynamically truncated to
// `digits` (6-8) decimal digits with leading zeros.
std::string Hotp(std::span<const std::uint8_t> key, std::uint64_t counter,
                 int digits = kTotpDigits);

// RFC 6238 time step: whole periods since the Unix epoch (T0 = 0). Times
// before the epoch are step 0.
std::int64_t TotpStep(std::chrono::system_clock::time_point now);

// A new random secret of kTotpSecretBytes, base32-encoded (32 characters).
std::string GenerateTotpSecret();

// The otpauth:// URI authenticator apps import (as text or a QR code):
// otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
// Issuer and account are percent-encoded.
std::string TotpUri(std::string_view issuer, std::string_view account,
                    std::string_view base32_secret);

enum class TotpOutcome {
  kAccepted,
  kWrong,     // not a 6-digit code, or not the code of any step in the window
  kReplayed,  // the code of a step in the window, but one at or before the last accepted step
};
struct TotpCheck {
  TotpOutcome outcome = TotpOutcome::kWrong;
  std::int64_t step =
      0;  // kAccepted: the step the code belongs to (record it as the last accepted)
};

// Checks `code` against the steps TotpStep(now) - kTotpSkewSteps ..
// + kTotpSkewSteps of `key`. A step <= last_accepted_step is never accepted,
// so a code works once, and a code older than one already used never does.
// Every step in the window is computed and compared in constant time,
// whatever the code, so timing says nothing about which step (if any) matched.
TotpCheck CheckTotp(std::span<const std::uint8_t> key, std::string_view code,
                    std::chrono::system_clock::time_point now, std::int64_t last_accepted_step);

}  // namespace bastion::security
