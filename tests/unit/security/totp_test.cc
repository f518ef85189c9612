#include "security/totp.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bastion::security {
namespace {

using namespace std::chrono_literals;

std::vector<std::uint8_t> Bytes(std::string_view s) {
  return std::vector<std::uint8_t>(s.begin(), s.end());
}

std::chrono::system_clock::time_point At(std::int64_t unix_seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
}

// The RFC 4226 / RFC 6238 SHA-1 test key.
const std::vector<std::uint8_t> kRfcKey = Bytes("12345678901234567890");

// --- base32

TEST(Base32Test, Rfc4648Vectors) {
  const std::pair<std::string, std::string> kVectors[] = {
      {"", ""},
      {"f", "MY======"},
      {"fo", "MZXQ===="},
      {"foo", "MZXW6==="},
      {"foob", "MZXW6YQ="},
      {"fooba", "MZXW6YTB"},
      {"foobar", "MZXW6YTBOI======"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base32Encode(Bytes(plain)), encoded) << plain;
    auto decoded = Base32Decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, Bytes(plain)) << encoded;
  }
}

TEST(Base32Test, DecodeAcceptsLowerCaseAndNoPadding) {
  EXPECT_EQ(Base32Decode("mzxw6ytboi"), Bytes("foobar"));
  EXPECT_EQ(Base32Decode("MZXW6"), Bytes("foo"));
  EXPECT_EQ(Base32Decode("MY"), Bytes("f"));
}

TEST(Base32Test, DecodeRefusesWhatNoEncoderWrites) {
  for (const std::string& bad :
       std::vector<std::string>{"M",         // 5 bits: not a byte
                                "MZX",       // 15 bits: a length no encoder produces
                                "MZXW6Y",    // 30 bits: likewise
                                "MZ======",  // non-zero left-over bits ("MY" is "f")
                                "MY=====",   // padding that does not reach a multiple of 8
                                "========",  // padding alone
                                "MY==MY==",  // padding in the middle
                                "MZXW1YQ=",  // '1' is not in the alphabet
                                "MZXW 6YQ",  // nor is a space
                                "MZXW6YQ=\n"}) {
    EXPECT_FALSE(Base32Decode(bad).has_value()) << bad;
  }
}

TEST(Base32Test, RoundTripsEveryLength) {
  std::vector<std::uint8_t> data;
  for (int n = 0; n < 64; ++n) {
    auto encoded = Base32Encode(data);
    EXPECT_EQ(encoded.size() % 8, 0u);
    auto decoded = Base32Decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, data);
    data.push_back(static_cast<std::uint8_t>(n * 37 + 11));
  }
}

// --- HOTP / TOTP

TEST(HotpTest, Rfc4226AppendixD) {
  const char* kCodes[] = {"755224", "287082", "359152", "969429", "338314",
                          "254676", "287922", "162583", "399871", "520489"};
  for (std::uint64_t counter = 0; counter < 10; ++counter)
    EXPECT_EQ(Hotp(kRfcKey, counter), kCodes[counter]);
}

TEST(TotpTest, Rfc6238AppendixBSha1) {
  // 8 digits, as in the RFC's table; the steps are whole 30-second periods.
  const std::pair<std::int64_t, std::string> kVectors[] = {
      {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
      {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
  };
  for (const auto& [time, code] : kVectors) {
    std::int64_t step = time / 30;
    // The year 2603 is past what system_clock (nanoseconds in 64 bits) holds: the step alone for
    // that one.
    if (time < 10000000000) {
      EXPECT_EQ(TotpStep(At(time)), step) << time;
    }
    EXPECT_EQ(Hotp(kRfcKey, static_cast<std::uint64_t>(step), 8), code) << time;
  }
}

TEST(TotpTest, StepBoundaries) {
  EXPECT_EQ(TotpStep(At(0)), 0);
  EXPECT_EQ(TotpStep(At(29)), 0);
  EXPECT_EQ(TotpStep(At(30)), 1);
  EXPECT_EQ(TotpStep(At(59) + 999ms), 1);
  EXPECT_EQ(TotpStep(At(-5)), 0);
}

TEST(TotpTest, AcceptsTheCurrentStepAndOneEitherSide) {
  const std::int64_t now = 1111111111;  // step 37037037
  const std::int64_t step = now / 30;
  for (std::int64_t offset : {-1, 0, 1}) {
    std::string code = Hotp(kRfcKey, static_cast<std::uint64_t>(step + offset));
    TotpCheck check = CheckTotp(kRfcKey, code, At(now), 0);
    EXPECT_EQ(check.outcome, TotpOutcome::kAccepted) << offset;
    EXPECT_EQ(check.step, step + offset);
  }
  for (std::int64_t offset : {-3, -2, 2, 3}) {
    std::string code = Hotp(kRfcKey, static_cast<std::uint64_t>(step + offset));
    EXPECT_EQ(CheckTotp(kRfcKey, code, At(now), 0).outcome, TotpOutcome::kWrong) << offset;
  }
}

TEST(TotpTest, ACodeWorksOnceAndOlderCodesNeverAfterIt) {
  const std::int64_t now = 2000000000;
  const std::int64_t step = now / 30;
  std::string current = Hotp(kRfcKey, static_cast<std::uint64_t>(step));
  TotpCheck first = CheckTotp(kRfcKey, current, At(now), 0);
  ASSERT_EQ(first.outcome, TotpOutcome::kAccepted);
  // The same code again, still within its window (and 29 s later).
  EXPECT_EQ(CheckTotp(kRfcKey, current, At(now), first.step).outcome, TotpOutcome::kReplayed);
  EXPECT_EQ(CheckTotp(kRfcKey, current, At(now + 29), first.step).outcome, TotpOutcome::kReplayed);
  // The previous step's code, still inside the skew window, is older than one used: refused.
  std::string previous = Hotp(kRfcKey, static_cast<std::uint64_t>(step - 1));
  EXPECT_EQ(CheckTotp(kRfcKey, previous, At(now), first.step).outcome, TotpOutcome::kReplayed);
  // The next step's code is fresh.
  std::string next = Hotp(kRfcKey, static_cast<std::uint64_t>(step + 1));
  TotpCheck later = CheckTotp(kRfcKey, next, At(now + 30), first.step);
  EXPECT_EQ(later.outcome, TotpOutcome::kAccepted);
  EXPECT_EQ(later.step, step + 1);
}

TEST(TotpTest, MalformedCodesAreWrong) {
  const std::int64_t now = 1234567890;
  std::string good = Hotp(kRfcKey, static_cast<std::uint64_t>(now / 30));
  for (const std::string& bad : std::vector<std::string>{
           "", "12345", "1234567", "12345a", " " + good, good + " ", "-12345", "１２３４５６",
           Hotp(kRfcKey, static_cast<std::uint64_t>(now / 30), 8)}) {
    EXPECT_EQ(CheckTotp(kRfcKey, bad, At(now), 0).outcome, TotpOutcome::kWrong) << bad;
  }
  EXPECT_EQ(CheckTotp(kRfcKey, good, At(now), 0).outcome, TotpOutcome::kAccepted);
  // Another key's code is wrong.
  EXPECT_EQ(CheckTotp(Bytes("another key, 20 byte"), good, At(now), 0).outcome,
            TotpOutcome::kWrong);
}

TEST(TotpTest, GeneratedSecretsAre160RandomBits) {
  std::string a = GenerateTotpSecret(), b = GenerateTotpSecret();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  auto key = Base32Decode(a);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->size(), kTotpSecretBytes);
}

TEST(TotpTest, UriForAuthenticatorApps) {
  EXPECT_EQ(
      TotpUri("Bastion", "alice", "JBSWY3DPEHPK3PXP"),
      "otpauth://totp/"
      "Bastion:alice?secret=JBSWY3DPEHPK3PXP&issuer=Bastion&algorithm=SHA1&digits=6&period=30");
  // A name with '@' is percent-encoded; padding is dropped.
  EXPECT_EQ(
      TotpUri("Bastion", "dr.who@example.org", "MZXW6==="),
      "otpauth://totp/"
      "Bastion:dr.who%40example.org?secret=MZXW6&issuer=Bastion&algorithm=SHA1&digits=6&period=30");
}

}  // namespace
}  // namespace bastion::security
