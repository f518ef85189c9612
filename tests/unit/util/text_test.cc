#include "util/text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "../temp_dir.h"

namespace bastion {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(TrimTest, RemovesSurroundingWhitespace) {
  EXPECT_EQ(Trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(Trim("abc"), "abc");
  EXPECT_EQ(Trim(""), "");
  EXPECT_EQ(Trim("    "), "");
  EXPECT_EQ(Trim("\t\n"), "");
  // DICOM pads UIDs with NUL.
  EXPECT_EQ(Trim(std::string_view("1.2.3\0", 6)), "1.2.3");
  EXPECT_EQ(Trim(" x "), "x");
  // Inner whitespace stays.
  EXPECT_EQ(Trim(" Doe^John  "), "Doe^John");
}

TEST(SplitTest, DropsEmptyPiecesAndTrims) {
  EXPECT_THAT(Split("a, b,,c ,", ','), ElementsAre("a", "b", "c"));
  EXPECT_THAT(Split("echo", ','), ElementsAre("echo"));
  EXPECT_THAT(Split("", ','), IsEmpty());
  EXPECT_THAT(Split(" , ,", ','), IsEmpty());
  EXPECT_THAT(Split("CT\\MR", '\\'), ElementsAre("CT", "MR"));
  EXPECT_THAT(Split(",x", ','), ElementsAre("x"));
}

TEST(PrintableTest, ReplacesControlAndNonAsciiBytes) {
  EXPECT_EQ(Printable("CT_1 ok"), "CT_1 ok");
  EXPECT_EQ(Printable("EVIL\n2026 info forged"), "EVIL?2026 info forged");
  EXPECT_EQ(Printable(std::string("A\x1b[31mB\xc3\xa9", 9)), "A?[31mB??");
  EXPECT_EQ(Printable(std::string("\0", 1)), "?");
}

TEST(ToUpperTest, AsciiOnly) {
  EXPECT_EQ(ToUpper("smith^john 1"), "SMITH^JOHN 1");
  EXPECT_EQ(ToUpper(""), "");
  EXPECT_EQ(ToUpper("\xc3\xa4"), "\xc3\xa4");  // UTF-8 bytes untouched
}

TEST(AeTitleTest, Valid) {
  EXPECT_TRUE(IsValidAeTitle("A"));
  EXPECT_TRUE(IsValidAeTitle("BASTION"));
  EXPECT_TRUE(IsValidAeTitle("CT_SCANNER-1"));
  EXPECT_TRUE(IsValidAeTitle("ABCDEFGHIJKLMNOP"));  // 16
  EXPECT_TRUE(IsValidAeTitle(" PADDED "));
  EXPECT_TRUE(IsValidAeTitle("WITH SPACE"));
}

TEST(AeTitleTest, Invalid) {
  EXPECT_FALSE(IsValidAeTitle(""));
  EXPECT_FALSE(IsValidAeTitle("ABCDEFGHIJKLMNOPQ"));  // 17
  EXPECT_FALSE(IsValidAeTitle("AB\\CD"));
  EXPECT_FALSE(IsValidAeTitle("\\"));
  EXPECT_FALSE(IsValidAeTitle("AB\tCD"));
  EXPECT_FALSE(IsValidAeTitle("AB\nCD"));
  EXPECT_FALSE(IsValidAeTitle(std::string_view("AB\0CD", 5)));
  EXPECT_FALSE(IsValidAeTitle("AB\x1b" "CD"));
  EXPECT_FALSE(IsValidAeTitle("AB\x7f"));
  EXPECT_FALSE(IsValidAeTitle(" "));
  EXPECT_FALSE(IsValidAeTitle("                "));  // 16 spaces
  EXPECT_FALSE(IsValidAeTitle("M\xc3\x9cLLER"));     // not the default repertoire
}

TEST(TimestampTest, Rfc3339Utc) {
  std::string ts = UtcTimestampNow();
  EXPECT_TRUE(test::IsUtcTimestampWithMicros(ts)) << ts;
  EXPECT_FALSE(test::IsUtcTimestampWithMicros("2026-11-21 23:50:01.123456Z"));
  EXPECT_GE(ts.substr(0, 4), "2024");
}

}  // namespace
}  // namespace bastion
