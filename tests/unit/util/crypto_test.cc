#include "util/crypto.h"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <string>
#include <vector>

namespace bastion {
namespace {

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(HexEncode(Sha256::Of("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256::Of("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Sha256::Of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data.push_back(static_cast<char>(i * 7 + 3));
  Sha256 h;
  for (std::size_t pos = 0; pos < data.size(); pos += 4093) h.Update(std::string_view(data).substr(pos, 4093));
  EXPECT_EQ(h.Finish(), Sha256::Of(data));
}

TEST(Sha256Test, UpdateWithPointerAndSize) {
  const char bytes[] = {'a', 'b', 'c'};
  Sha256 h;
  h.Update(bytes, 1);
  h.Update(bytes + 1, 2);
  EXPECT_EQ(HexEncode(h.Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HexTest, Encode) {
  std::vector<std::uint8_t> bytes = {0x00, 0x0f, 0xab, 0xff, 0x10};
  EXPECT_EQ(HexEncode(bytes), "000fabff10");
  EXPECT_EQ(HexEncode(std::span<const std::uint8_t>()), "");
}

TEST(HexTest, IsLowerHex) {
  EXPECT_TRUE(IsLowerHex("0123456789abcdef", 16));
  EXPECT_TRUE(IsLowerHex("", 0));
  EXPECT_FALSE(IsLowerHex("0123456789ABCDEF", 16));
  EXPECT_FALSE(IsLowerHex("abc", 4));
  EXPECT_FALSE(IsLowerHex("abcde", 4));
  EXPECT_FALSE(IsLowerHex("abcg", 4));
  EXPECT_FALSE(IsLowerHex("ab c", 4));
  EXPECT_FALSE(IsLowerHex("../a", 4));
  EXPECT_FALSE(IsLowerHex(std::string_view("ab\0c", 4), 4));
  EXPECT_TRUE(IsLowerHex(HexEncode(Sha256::Of("x")), 64));
}

TEST(ConstantTimeEqualsTest, Compares) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "Secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("secret", ""));
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(RandomTest, RandomHexLengthAndAlphabet) {
  EXPECT_EQ(RandomHex(0), "");
  for (std::size_t n : {1u, 6u, 16u, 32u}) {
    std::string s = RandomHex(n);
    EXPECT_EQ(s.size(), 2 * n);
    EXPECT_TRUE(IsLowerHex(s, 2 * n)) << s;
  }
}

TEST(RandomTest, RandomHexIsUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(seen.insert(RandomHex(16)).second);
}

TEST(RandomTest, RandomBytesFillsTheBuffer) {
  // 64 bytes all zero after RandomBytes has probability 2^-512.
  std::array<std::uint8_t, 64> a{}, b{};
  RandomBytes(a);
  RandomBytes(b);
  const std::array<std::uint8_t, 64> zeros{};
  EXPECT_NE(a, zeros);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace bastion
