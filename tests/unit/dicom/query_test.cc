// PS3.4 C.2.2.2 attribute matching (dicom/query.h) and the character set
// conversion that makes stored names matchable (dicom::ConvertToUtf8,
// dicom::ReadHeader on pydicom's charset files).
#include "dicom/query.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "../temp_dir.h"
#include "dicom/dicom.h"
#include "util/text.h"

namespace bastion::dicom {
namespace {

using K = ValueKind;

Matcher Parse(ValueKind kind, std::string_view value) {
  auto m = Matcher::Parse(kind, value);
  EXPECT_TRUE(m.ok()) << "\"" << value << "\": " << m.status().ToString();
  return m.ok() ? *m : Matcher();
}

bool Match(ValueKind kind, std::string_view pattern, std::string_view stored) {
  return Parse(kind, pattern).Matches(stored);
}

void ExpectInvalid(ValueKind kind, std::string_view value) {
  auto m = Matcher::Parse(kind, value);
  ASSERT_FALSE(m.ok()) << "\"" << value << "\" was accepted";
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument) << value;
}

bool IsValidUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    int extra;
    std::uint32_t cp;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      extra = 1, cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      extra = 2, cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      extra = 3, cp = b & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

// --- Universal matching ---

TEST(MatcherTest, EmptyAndStarAreUniversalForEveryKind) {
  for (K kind : {K::kText, K::kCodeString, K::kPersonName, K::kUid, K::kDate, K::kTime, K::kDateTime, K::kInteger}) {
    for (std::string_view v : {"", "*", "  ", " * "}) {
      Matcher m = Parse(kind, v);
      EXPECT_EQ(m.kind(), Matcher::Kind::kUniversal) << "\"" << v << "\" kind " << static_cast<int>(kind);
      EXPECT_EQ(m.value_kind(), kind);
      EXPECT_TRUE(m.Matches(""));
      EXPECT_TRUE(m.Matches("anything"));
      EXPECT_TRUE(m.Matches("not-a-date"));
    }
  }
}

TEST(MatcherTest, DefaultMatcherIsUniversal) {
  Matcher m;
  EXPECT_EQ(m.kind(), Matcher::Kind::kUniversal);
  EXPECT_TRUE(m.Matches(""));
  EXPECT_TRUE(m.Matches("X"));
}

// --- Single value, text ---

TEST(MatcherTest, SingleValueText) {
  Matcher m = Parse(K::kText, "ACC123");
  EXPECT_EQ(m.kind(), Matcher::Kind::kSingle);
  ASSERT_EQ(m.values().size(), 1u);
  EXPECT_EQ(m.values()[0], "ACC123");
  EXPECT_TRUE(m.Matches("ACC123"));
  EXPECT_TRUE(m.Matches("ACC123 "));  // trailing padding
  EXPECT_FALSE(m.Matches("ACC1234"));
  EXPECT_FALSE(m.Matches("ACC12"));
  EXPECT_FALSE(m.Matches("acc123"));  // other text is case-sensitive
  EXPECT_FALSE(m.Matches(""));
}

TEST(MatcherTest, QueryValuePaddingIsTrimmed) {
  EXPECT_TRUE(Match(K::kText, " ACC1 ", "ACC1"));
  EXPECT_TRUE(Match(K::kCodeString, "CT ", "CT"));
}

TEST(MatcherTest, CodeStringIsCaseSensitive) {
  EXPECT_TRUE(Match(K::kCodeString, "M", "M"));
  EXPECT_FALSE(Match(K::kCodeString, "m", "M"));
  EXPECT_FALSE(Match(K::kCodeString, "M", "F"));
  EXPECT_FALSE(Match(K::kCodeString, "C*", "ct"));
  EXPECT_TRUE(Match(K::kCodeString, "C?", "CT"));
}

TEST(MatcherTest, TextIsCaseSensitiveAlsoOutsideAscii) {
  EXPECT_TRUE(Match(K::kText, "Thorax", "Thorax"));
  EXPECT_FALSE(Match(K::kText, "thorax", "Thorax"));
  EXPECT_FALSE(Match(K::kText, "THORAX", "Thorax"));
  EXPECT_FALSE(Match(K::kText, "tho*", "Thorax"));
  EXPECT_TRUE(Match(K::kText, "Tho*", "Thorax"));
  EXPECT_FALSE(Match(K::kText, "ÉTUDE", "étude"));
  EXPECT_TRUE(Match(K::kText, "étude", "étude"));
}

// --- Wildcards ---

TEST(MatcherTest, WildcardStarAndQuestion) {
  Matcher m = Parse(K::kText, "AB*");
  EXPECT_EQ(m.kind(), Matcher::Kind::kWildcard);
  EXPECT_TRUE(m.Matches("AB"));
  EXPECT_TRUE(m.Matches("ABC"));
  EXPECT_TRUE(m.Matches("ABCDEF"));
  EXPECT_FALSE(m.Matches("A"));
  EXPECT_FALSE(m.Matches("XAB"));

  EXPECT_EQ(Parse(K::kText, "A?C").kind(), Matcher::Kind::kWildcard);
  EXPECT_TRUE(Match(K::kText, "A?C", "ABC"));
  EXPECT_TRUE(Match(K::kText, "A?C", "A?C"));
  EXPECT_FALSE(Match(K::kText, "A?C", "AC"));
  EXPECT_FALSE(Match(K::kText, "A?C", "ABBC"));
  EXPECT_TRUE(Match(K::kText, "*B*", "ABC"));
  EXPECT_TRUE(Match(K::kText, "*B*", "B"));
  EXPECT_FALSE(Match(K::kText, "*B*", "AC"));
  EXPECT_TRUE(Match(K::kText, "??", "AB"));
  EXPECT_FALSE(Match(K::kText, "??", "A"));
  EXPECT_FALSE(Match(K::kText, "??", "ABC"));
  EXPECT_FALSE(Match(K::kText, "?", ""));
}

TEST(MatcherTest, QuestionMarkIsOneCodePointNotOneByte) {
  // "é" is 2 bytes, "山" 3 bytes, "𝔸" (U+1D538) 4 bytes in UTF-8.
  EXPECT_TRUE(Match(K::kText, "J?r?me", "Jérôme"));
  EXPECT_FALSE(Match(K::kText, "J??r??me", "Jérôme"));
  EXPECT_TRUE(Match(K::kText, "?田", "山田"));
  EXPECT_FALSE(Match(K::kText, "???田", "山田"));
  EXPECT_TRUE(Match(K::kText, "??", "山田"));
  EXPECT_FALSE(Match(K::kText, "?", "山田"));
  EXPECT_TRUE(Match(K::kText, "?", "𝔸"));
  EXPECT_FALSE(Match(K::kText, "??", "𝔸"));
  EXPECT_TRUE(Match(K::kPersonName, "??^??", "山田^太郎"));
  EXPECT_FALSE(Match(K::kPersonName, "??????^??????", "山田^太郎"));
  EXPECT_TRUE(Match(K::kPersonName, "?????????", "Διονυσιος"));
  EXPECT_FALSE(Match(K::kPersonName, "????????", "Διονυσιος"));
}

TEST(MatcherTest, CharactersSpecialElsewhereAreLiteral) {
  // SQL LIKE, GLOB and regular expressions give these meaning; PS3.4 does not.
  EXPECT_TRUE(Match(K::kText, "A[B]C", "A[B]C"));
  EXPECT_FALSE(Match(K::kText, "A[B]C", "ABC"));
  EXPECT_TRUE(Match(K::kText, "A[B]*", "A[B]C"));
  EXPECT_FALSE(Match(K::kText, "A[B]*", "AB"));
  EXPECT_FALSE(Match(K::kText, "[AB]*", "A"));
  EXPECT_TRUE(Match(K::kText, "[AB]*", "[AB]x"));
  EXPECT_FALSE(Match(K::kText, "A[!B]C", "AXC"));
  EXPECT_TRUE(Match(K::kText, "50%", "50%"));
  EXPECT_FALSE(Match(K::kText, "5%", "50%"));
  EXPECT_FALSE(Match(K::kText, "%", "anything"));
  EXPECT_FALSE(Match(K::kText, "%*", "anything"));
  EXPECT_TRUE(Match(K::kText, "%*", "%anything"));
  EXPECT_TRUE(Match(K::kText, "A_B", "A_B"));
  EXPECT_FALSE(Match(K::kText, "A_B", "AXB"));
  EXPECT_FALSE(Match(K::kText, "A_*", "AXB"));
  EXPECT_FALSE(Match(K::kText, "A.B", "AXB"));
  EXPECT_TRUE(Match(K::kText, "A.B", "A.B"));
  EXPECT_FALSE(Match(K::kText, "A.*", "AXB"));
  EXPECT_FALSE(Match(K::kText, "^A", "A"));
  EXPECT_TRUE(Match(K::kText, "^A", "^A"));
  EXPECT_FALSE(Match(K::kText, "A+", "AA"));
  EXPECT_FALSE(Match(K::kText, "(A|B)", "A"));
  // In names '^' separates components and is matched literally.
  EXPECT_TRUE(Match(K::kPersonName, "SMITH^JOHN", "Smith^John"));
  EXPECT_FALSE(Match(K::kPersonName, "SMITH^JOHN", "SmithJohn"));
  EXPECT_FALSE(Match(K::kPersonName, "SMITH_JOHN", "Smith^John"));
  EXPECT_FALSE(Match(K::kPersonName, "SMITH%", "Smith^John"));
  EXPECT_TRUE(Match(K::kPersonName, "O[B]RIEN*", "o[b]rien^pat"));
  EXPECT_FALSE(Match(K::kPersonName, "[OS]*", "Smith^John"));
  EXPECT_TRUE(Match(K::kPersonName, "%_*", "%_x"));
}

TEST(WildcardMatchTest, EdgeCases) {
  EXPECT_TRUE(WildcardMatch("", ""));
  EXPECT_FALSE(WildcardMatch("", "a"));
  EXPECT_FALSE(WildcardMatch("a", ""));
  EXPECT_TRUE(WildcardMatch("*", ""));
  EXPECT_TRUE(WildcardMatch("**", ""));
  EXPECT_TRUE(WildcardMatch("***", "abc"));
  EXPECT_FALSE(WildcardMatch("?", ""));
  EXPECT_TRUE(WildcardMatch("*a", "a"));
  EXPECT_TRUE(WildcardMatch("*a", "bba"));
  EXPECT_FALSE(WildcardMatch("*a", "ab"));
  EXPECT_TRUE(WildcardMatch("a*", "a"));
  EXPECT_TRUE(WildcardMatch("a*", "abc"));
  EXPECT_FALSE(WildcardMatch("a*", "ba"));
  EXPECT_TRUE(WildcardMatch("a**b", "ab"));
  EXPECT_TRUE(WildcardMatch("a**b", "axxb"));
  EXPECT_TRUE(WildcardMatch("*a*b*", "xxaxxbxx"));
  EXPECT_FALSE(WildcardMatch("*a*b*", "xxbxxaxx"));
  EXPECT_TRUE(WildcardMatch("*?", "a"));
  EXPECT_FALSE(WildcardMatch("*?", ""));
  EXPECT_TRUE(WildcardMatch("?*?", "ab"));
  EXPECT_FALSE(WildcardMatch("?*?", "a"));
  // Backtracking: the first 'ab' is not the one that ends the text.
  EXPECT_TRUE(WildcardMatch("*ab", "abab"));
  EXPECT_TRUE(WildcardMatch("*aab", "aaab"));
  EXPECT_TRUE(WildcardMatch("a*b*c", "abbbc"));
  EXPECT_FALSE(WildcardMatch("a*b*c", "abbb"));
  EXPECT_TRUE(WildcardMatch("*x*x*x*", "xxx"));
  EXPECT_FALSE(WildcardMatch("*x*x*x*", "xx"));
  // Case-sensitive.
  EXPECT_FALSE(WildcardMatch("A*", "abc"));
  // Code points.
  EXPECT_TRUE(WildcardMatch("山*", "山田"));
  EXPECT_TRUE(WildcardMatch("*田", "山田"));
  EXPECT_TRUE(WildcardMatch("?田", "山田"));
  EXPECT_FALSE(WildcardMatch("?田", "田"));
  EXPECT_TRUE(WildcardMatch("*", "山田"));
  // Literal characters.
  EXPECT_TRUE(WildcardMatch("a\\b", "a\\b"));
  EXPECT_FALSE(WildcardMatch("[a]", "a"));
}

TEST(WildcardMatchTest, InvalidUtf8BytesCompareAsThemselves) {
  EXPECT_TRUE(WildcardMatch("\xff", "\xff"));
  EXPECT_FALSE(WildcardMatch("\xfe", "\xff"));
  EXPECT_TRUE(WildcardMatch("?", "\xff"));
  EXPECT_TRUE(WildcardMatch("a?", "a\xe5"));  // truncated 3-byte sequence: one invalid byte
  EXPECT_TRUE(WildcardMatch("*", "\xc3"));
}

// --- UIDs ---

TEST(MatcherTest, UidSingleAndList) {
  Matcher one = Parse(K::kUid, "1.2.3");
  EXPECT_EQ(one.kind(), Matcher::Kind::kSingle);
  EXPECT_TRUE(one.Matches("1.2.3"));
  EXPECT_FALSE(one.Matches("1.2.3.4"));
  EXPECT_FALSE(one.Matches("1.2"));
  EXPECT_FALSE(one.Matches(""));

  Matcher list = Parse(K::kUid, "1.2.3\\1.2.4\\1.2.5");
  EXPECT_EQ(list.kind(), Matcher::Kind::kList);
  ASSERT_EQ(list.values().size(), 3u);
  EXPECT_EQ(list.values()[1], "1.2.4");
  EXPECT_TRUE(list.Matches("1.2.3"));
  EXPECT_TRUE(list.Matches("1.2.4"));
  EXPECT_TRUE(list.Matches("1.2.5"));
  EXPECT_FALSE(list.Matches("1.2.6"));
  EXPECT_FALSE(list.Matches("1.2"));
  EXPECT_FALSE(list.Matches(""));
  EXPECT_FALSE(list.Matches("1.2.3\\1.2.4"));  // a UID is one value
}

TEST(MatcherTest, UidRejectsWildcardsAndEmptyListMembers) {
  ExpectInvalid(K::kUid, "1.2.*");
  ExpectInvalid(K::kUid, "1.2.?");
  ExpectInvalid(K::kUid, "1.2.3\\1.2.*");
  ExpectInvalid(K::kUid, "*\\1.2.3");
  ExpectInvalid(K::kUid, "1.2.3\\");
  ExpectInvalid(K::kUid, "\\1.2.3");
  ExpectInvalid(K::kUid, "1.2.3\\\\1.2.4");
  ExpectInvalid(K::kUid, "1.2.3\\ \\1.2.4");
  ExpectInvalid(K::kUid, "\\");
}

// query.h: Parse "Fails with kInvalidArgument for a value the rules do not
// allow (... a range on a UID ...)". UIDs have no range matching.
TEST(MatcherTest, UidRangeIsRejected) {
  ExpectInvalid(K::kUid, "1.2.3-1.2.9");
  ExpectInvalid(K::kUid, "-1.2.9");
  ExpectInvalid(K::kUid, "1.2.3-");
}

// --- Lists of text ---

TEST(MatcherTest, TextListAnyOneMatches) {
  Matcher m = Parse(K::kCodeString, "CT\\MR\\US");
  EXPECT_EQ(m.kind(), Matcher::Kind::kList);
  ASSERT_EQ(m.values().size(), 3u);
  EXPECT_TRUE(m.Matches("CT"));
  EXPECT_TRUE(m.Matches("MR"));
  EXPECT_TRUE(m.Matches("US"));
  EXPECT_FALSE(m.Matches("PT"));
  EXPECT_FALSE(m.Matches("ct"));
  EXPECT_FALSE(m.Matches(""));
  // Each alternative may be a wildcard pattern.
  Matcher w = Parse(K::kText, "ACC1*\\B?");
  EXPECT_EQ(w.kind(), Matcher::Kind::kList);
  EXPECT_TRUE(w.Matches("ACC19"));
  EXPECT_TRUE(w.Matches("BX"));
  EXPECT_FALSE(w.Matches("BXX"));
  EXPECT_FALSE(w.Matches("ACC2"));
}

TEST(MatcherTest, StoredMultiValuedMatchesAnyValue) {
  EXPECT_TRUE(Match(K::kCodeString, "MR", "CT\\MR"));
  EXPECT_TRUE(Match(K::kCodeString, "CT", "CT\\MR"));
  EXPECT_FALSE(Match(K::kCodeString, "PT", "CT\\MR"));
  EXPECT_TRUE(Match(K::kCodeString, "PT\\MR", "CT\\MR"));
  EXPECT_FALSE(Match(K::kCodeString, "PT\\US", "CT\\MR"));
  EXPECT_TRUE(Match(K::kCodeString, "M?", "CT\\MR"));
  EXPECT_FALSE(Match(K::kCodeString, "C", "CT\\MR"));
  EXPECT_TRUE(Match(K::kDate, "20240102", "20231231\\20240102"));
  EXPECT_TRUE(Match(K::kInteger, "3", "1\\2\\3"));
  EXPECT_FALSE(Match(K::kInteger, "4", "1\\2\\3"));
}

TEST(MatcherTest, StoredListAgainstQueryList) {
  // Query "CT\MR" is a list with alternative "CT", so it matches stored "CT".
  EXPECT_TRUE(Match(K::kCodeString, "CT\\MR", "CT"));
  EXPECT_TRUE(Match(K::kCodeString, "CT\\MR", "MR"));
  EXPECT_TRUE(Match(K::kCodeString, "CT\\MR", "US\\MR"));
}

// query.h: "a stored multi-valued attribute ... matches if any of its values
// matches". A person name with several values (VM > 1 in the object, e.g.
// "SMITH^JOHN\DOE^JANE") is stored as one backslash-joined string.
TEST(MatcherTest, StoredMultiValuedPersonNameMatchesAnyValue) {
  EXPECT_TRUE(Match(K::kPersonName, "DOE^JANE", "Smith^John\\Doe^Jane"));
  EXPECT_TRUE(Match(K::kPersonName, "DOE*", "Smith^John\\Doe^Jane"));
  EXPECT_TRUE(Match(K::kPersonName, "SMITH^JOHN", "Smith^John\\Doe^Jane"));
  // The same values are split when a component group separator is present.
  EXPECT_TRUE(Match(K::kPersonName, "DOE^JANE", "Smith^John=X\\Doe^Jane"));
}

// --- Integers ---

TEST(MatcherTest, Integers) {
  Matcher m = Parse(K::kInteger, "7");
  EXPECT_EQ(m.kind(), Matcher::Kind::kSingle);
  EXPECT_TRUE(m.Matches("7"));
  EXPECT_TRUE(m.Matches("+7"));
  EXPECT_TRUE(m.Matches("007"));
  EXPECT_TRUE(m.Matches(" 7 "));
  EXPECT_FALSE(m.Matches("70"));
  EXPECT_FALSE(m.Matches("-7"));
  EXPECT_FALSE(m.Matches(""));
  EXPECT_FALSE(m.Matches("seven"));
  EXPECT_TRUE(Match(K::kInteger, "+7", "7"));
  EXPECT_TRUE(Match(K::kInteger, "+7", "+7"));
  EXPECT_TRUE(Match(K::kInteger, "-3", "-3"));
  EXPECT_FALSE(Match(K::kInteger, "-3", "3"));
  EXPECT_TRUE(Match(K::kInteger, "0", "0"));
  EXPECT_TRUE(Match(K::kInteger, "0", "+0"));
  EXPECT_TRUE(Match(K::kInteger, "512", "512"));

  Matcher list = Parse(K::kInteger, "1\\+2\\3");
  EXPECT_EQ(list.kind(), Matcher::Kind::kList);
  EXPECT_TRUE(list.Matches("1"));
  EXPECT_TRUE(list.Matches("2"));
  EXPECT_TRUE(list.Matches("3"));
  EXPECT_FALSE(list.Matches("4"));
}

TEST(MatcherTest, NonIntegersRejected) {
  for (std::string_view v : {"7.0", "1e3", "abc", "7a", "+", "-", "+-7", "--7", "7*", "?", "1\\x", "1\\", "\\1", "7 8"})
    ExpectInvalid(K::kInteger, v);
}

// --- Empty stored values ---

TEST(MatcherTest, EmptyStoredValueMatchesOnlyUniversalKeys) {
  EXPECT_FALSE(Match(K::kText, "A", ""));
  EXPECT_FALSE(Match(K::kText, "?", ""));
  EXPECT_FALSE(Match(K::kText, "A*", ""));
  EXPECT_FALSE(Match(K::kPersonName, "SMITH", ""));
  EXPECT_FALSE(Match(K::kPersonName, "S*", ""));
  EXPECT_FALSE(Match(K::kUid, "1.2", ""));
  EXPECT_FALSE(Match(K::kDate, "20240101", ""));
  EXPECT_FALSE(Match(K::kDate, "20240101-", ""));
  EXPECT_FALSE(Match(K::kDate, "-20240101", ""));
  EXPECT_FALSE(Match(K::kTime, "10", ""));
  EXPECT_FALSE(Match(K::kTime, "-10", ""));
  EXPECT_FALSE(Match(K::kDateTime, "2024", ""));
  EXPECT_FALSE(Match(K::kInteger, "0", ""));
  EXPECT_FALSE(Match(K::kCodeString, "CT\\MR", ""));
  EXPECT_TRUE(Match(K::kText, "", ""));
  EXPECT_TRUE(Match(K::kText, "*", ""));
  EXPECT_TRUE(Match(K::kDate, "", ""));
}

// --- Dates ---

TEST(MatcherTest, DateSingle) {
  Matcher m = Parse(K::kDate, "20240131");
  EXPECT_EQ(m.kind(), Matcher::Kind::kSingle);
  EXPECT_EQ(m.low(), "20240131");
  EXPECT_EQ(m.high(), "20240131");
  EXPECT_TRUE(m.Matches("20240131"));
  EXPECT_TRUE(m.Matches("2024.01.31"));  // a legacy stored value
  EXPECT_FALSE(m.Matches("20240130"));
  EXPECT_FALSE(m.Matches("20240201"));
  EXPECT_FALSE(m.Matches(""));
  EXPECT_FALSE(m.Matches("garbage"));
}

TEST(MatcherTest, DateRanges) {
  Matcher both = Parse(K::kDate, "20240101-20240131");
  EXPECT_EQ(both.kind(), Matcher::Kind::kRange);
  EXPECT_EQ(both.low(), "20240101");
  EXPECT_EQ(both.high(), "20240131");
  EXPECT_TRUE(both.Matches("20240101"));
  EXPECT_TRUE(both.Matches("20240115"));
  EXPECT_TRUE(both.Matches("20240131"));
  EXPECT_FALSE(both.Matches("20231231"));
  EXPECT_FALSE(both.Matches("20240201"));

  Matcher upto = Parse(K::kDate, "-20240131");
  EXPECT_EQ(upto.kind(), Matcher::Kind::kRange);
  EXPECT_EQ(upto.low(), "");
  EXPECT_EQ(upto.high(), "20240131");
  EXPECT_TRUE(upto.Matches("19000101"));
  EXPECT_TRUE(upto.Matches("20240131"));
  EXPECT_FALSE(upto.Matches("20240201"));

  Matcher from = Parse(K::kDate, "20240101-");
  EXPECT_EQ(from.kind(), Matcher::Kind::kRange);
  EXPECT_EQ(from.low(), "20240101");
  EXPECT_EQ(from.high(), "");
  EXPECT_TRUE(from.Matches("20240101"));
  EXPECT_TRUE(from.Matches("29991231"));
  EXPECT_FALSE(from.Matches("20231231"));

  Matcher same = Parse(K::kDate, "20240101-20240101");
  EXPECT_TRUE(same.Matches("20240101"));
  EXPECT_FALSE(same.Matches("20240102"));

  Matcher spaced = Parse(K::kDate, "20240101 - 20240131");
  EXPECT_TRUE(spaced.Matches("20240110"));
}

TEST(MatcherTest, LegacyDateFormat) {
  Matcher single = Parse(K::kDate, "2024.01.31");
  EXPECT_EQ(single.kind(), Matcher::Kind::kSingle);
  EXPECT_EQ(single.low(), "20240131");
  EXPECT_TRUE(single.Matches("20240131"));
  EXPECT_TRUE(single.Matches("2024.01.31"));

  Matcher range = Parse(K::kDate, "2024.01.01-2024.01.31");
  EXPECT_EQ(range.kind(), Matcher::Kind::kRange);
  EXPECT_EQ(range.low(), "20240101");
  EXPECT_EQ(range.high(), "20240131");
  EXPECT_TRUE(range.Matches("20240115"));
  EXPECT_TRUE(range.Matches("2024.01.15"));
  EXPECT_FALSE(range.Matches("2024.02.01"));

  Matcher mixed = Parse(K::kDate, "2024.01.01-20240131");
  EXPECT_TRUE(mixed.Matches("20240120"));
}

TEST(MatcherTest, InvalidDatesRejected) {
  for (std::string_view v : {"2024", "202401", "2024013", "202401311", "20241301", "20240001", "20240100",
                             "20240132", "2024-01-31", "2024/01/31", "abcdefgh", "2024013a", "-", "20240131-20240101",
                             "2024*", "2024013?", "20240101\\20240102", "20240101-2024", "x-20240101",
                             "20240101--20240102", "2024.1.31"})
    ExpectInvalid(K::kDate, v);
}

// A DA is a date of the Gregorian calendar (PS3.5 Table 6.2-1).
TEST(MatcherTest, ImpossibleCalendarDatesRejected) {
  ExpectInvalid(K::kDate, "20240230");
  ExpectInvalid(K::kDate, "20230229");
  ExpectInvalid(K::kDate, "20240431");
  EXPECT_FALSE(Parse(K::kDate, "20240229").low().empty());  // leap year
  EXPECT_EQ(NormalizeDate("20240231"), "");
}

// --- Times ---

TEST(MatcherTest, PartialTimeCoversItsSpan) {
  Matcher hour = Parse(K::kTime, "10");
  EXPECT_EQ(hour.kind(), Matcher::Kind::kSingle);
  EXPECT_EQ(hour.low(), "100000.000000");
  EXPECT_EQ(hour.high(), "105959.999999");
  EXPECT_TRUE(hour.Matches("10"));
  EXPECT_TRUE(hour.Matches("100000"));
  EXPECT_TRUE(hour.Matches("1030"));
  EXPECT_TRUE(hour.Matches("105959.999999"));
  EXPECT_TRUE(hour.Matches("10:59:59"));
  EXPECT_FALSE(hour.Matches("095959.999999"));
  EXPECT_FALSE(hour.Matches("11"));
  EXPECT_FALSE(hour.Matches("110000"));

  Matcher minute = Parse(K::kTime, "1030");
  EXPECT_EQ(minute.low(), "103000.000000");
  EXPECT_EQ(minute.high(), "103059.999999");
  EXPECT_TRUE(minute.Matches("1030"));
  EXPECT_TRUE(minute.Matches("103000"));
  EXPECT_TRUE(minute.Matches("103059.5"));
  EXPECT_FALSE(minute.Matches("1031"));
  EXPECT_FALSE(minute.Matches("102959.999999"));

  Matcher second = Parse(K::kTime, "103015");
  EXPECT_EQ(second.low(), "103015.000000");
  EXPECT_EQ(second.high(), "103015.999999");
  EXPECT_TRUE(second.Matches("103015.123"));
  EXPECT_FALSE(second.Matches("103016"));
}

TEST(MatcherTest, TimeFractionsAndColons) {
  Matcher frac = Parse(K::kTime, "103015.5");
  EXPECT_EQ(frac.kind(), Matcher::Kind::kSingle);
  EXPECT_EQ(frac.low(), "103015.500000");
  EXPECT_TRUE(frac.Matches("103015.5"));
  EXPECT_TRUE(frac.Matches("103015.500000"));
  EXPECT_FALSE(frac.Matches("103015.4"));
  EXPECT_FALSE(frac.Matches("103015"));

  Matcher full = Parse(K::kTime, "103015.123456");
  EXPECT_EQ(full.low(), "103015.123456");
  EXPECT_EQ(full.high(), "103015.123456");
  EXPECT_TRUE(full.Matches("10:30:15.123456"));
  EXPECT_FALSE(full.Matches("103015.123457"));

  Matcher colons = Parse(K::kTime, "10:30");
  EXPECT_EQ(colons.low(), "103000.000000");
  EXPECT_EQ(colons.high(), "103059.999999");
  EXPECT_TRUE(colons.Matches("103045"));
  EXPECT_TRUE(Match(K::kTime, "10:30:15", "103015"));
}

TEST(MatcherTest, TimeRanges) {
  Matcher r = Parse(K::kTime, "0800-1200");
  EXPECT_EQ(r.kind(), Matcher::Kind::kRange);
  EXPECT_EQ(r.low(), "080000.000000");
  EXPECT_EQ(r.high(), "120059.999999");
  EXPECT_TRUE(r.Matches("080000"));
  EXPECT_TRUE(r.Matches("1000"));
  EXPECT_TRUE(r.Matches("120059"));
  EXPECT_FALSE(r.Matches("120100"));
  EXPECT_FALSE(r.Matches("075959.999999"));

  Matcher to = Parse(K::kTime, "-10");
  EXPECT_EQ(to.low(), "");
  EXPECT_EQ(to.high(), "105959.999999");
  EXPECT_TRUE(to.Matches("000000"));
  EXPECT_TRUE(to.Matches("1059"));
  EXPECT_FALSE(to.Matches("11"));

  Matcher from = Parse(K::kTime, "1030-");
  EXPECT_EQ(from.low(), "103000.000000");
  EXPECT_EQ(from.high(), "");
  EXPECT_TRUE(from.Matches("1030"));
  EXPECT_TRUE(from.Matches("235959"));
  EXPECT_FALSE(from.Matches("102959"));

  Matcher colons = Parse(K::kTime, "10:00-10:30:00.5");
  EXPECT_EQ(colons.low(), "100000.000000");
  EXPECT_EQ(colons.high(), "103000.599999");
  EXPECT_TRUE(colons.Matches("103000.5"));
  EXPECT_FALSE(colons.Matches("103000.6"));
}

TEST(MatcherTest, InvalidTimesRejected) {
  for (std::string_view v : {"1", "103", "24", "2400", "1060", "106161", "1030.5", ".5", "103015.", "103015.1234567",
                             "1030a", "ab", "10*", "1?", "10\\11", "-", "10:3", "1030151"})
    ExpectInvalid(K::kTime, v);
}

// A time range that ends before it starts spans midnight (a night shift).
TEST(MatcherTest, TimeRangeSpanningMidnight) {
  Matcher night = Parse(K::kTime, "2200-0600");
  EXPECT_EQ(night.kind(), Matcher::Kind::kRange);
  EXPECT_TRUE(night.Matches("233000"));
  EXPECT_TRUE(night.Matches("0100"));
  EXPECT_TRUE(night.Matches("060059"));
  EXPECT_FALSE(night.Matches("120000"));
  EXPECT_FALSE(night.Matches("0601"));
}

// --- Date-times ---

TEST(MatcherTest, DateTimeSingleAndPartial) {
  Matcher year = Parse(K::kDateTime, "2024");
  EXPECT_EQ(year.kind(), Matcher::Kind::kSingle);
  EXPECT_EQ(year.low(), "20240101000000.000000");
  EXPECT_EQ(year.high(), "20241231235959.999999");
  EXPECT_TRUE(year.Matches("20240615"));
  EXPECT_TRUE(year.Matches("20241231235959.999999"));
  EXPECT_FALSE(year.Matches("2025"));
  EXPECT_FALSE(year.Matches("20231231235959"));

  Matcher minute = Parse(K::kDateTime, "202401021030");
  EXPECT_EQ(minute.low(), "20240102103000.000000");
  EXPECT_EQ(minute.high(), "20240102103059.999999");
  EXPECT_TRUE(minute.Matches("20240102103059"));
  EXPECT_FALSE(minute.Matches("20240102103100"));
}

TEST(MatcherTest, DateTimeSingleWithNegativeOffset) {
  // 2024-01-02 10:00 at UTC-05:00 is 15:00 UTC.
  Matcher m = Parse(K::kDateTime, "2024010210-0500");
  EXPECT_EQ(m.kind(), Matcher::Kind::kSingle);
  EXPECT_EQ(m.low(), "20240102100000.000000");
  EXPECT_EQ(m.high(), "20240102105959.999999");
  EXPECT_TRUE(m.Matches("20240102153000+0000"));  // both have offsets: UTC
  EXPECT_TRUE(m.Matches("20240102163000+0100"));
  EXPECT_FALSE(m.Matches("20240102103000+0000"));
  EXPECT_TRUE(m.Matches("20240102103000"));  // stored without offset: time-zone-free
  EXPECT_FALSE(m.Matches("20240102153000"));
  EXPECT_TRUE(m.Matches("20240102100000-0500"));
}

TEST(MatcherTest, DateTimeRangesWithoutOffsets) {
  Matcher r = Parse(K::kDateTime, "20240101120000-20240102120000");
  EXPECT_EQ(r.kind(), Matcher::Kind::kRange);
  EXPECT_EQ(r.low(), "20240101120000.000000");
  EXPECT_EQ(r.high(), "20240102120000.999999");
  EXPECT_TRUE(r.Matches("20240101120000"));
  EXPECT_TRUE(r.Matches("20240101235959"));
  EXPECT_TRUE(r.Matches("20240102120000.5"));
  EXPECT_FALSE(r.Matches("20240101115959"));
  EXPECT_FALSE(r.Matches("20240102120001"));
  // Time-zone-free: one side (the query) has no offset, so a stored offset is ignored.
  EXPECT_TRUE(r.Matches("20240101130000+1400"));
  EXPECT_TRUE(r.Matches("20240101130000-1200"));

  Matcher from = Parse(K::kDateTime, "20240101-");
  EXPECT_EQ(from.low(), "20240101000000.000000");
  EXPECT_EQ(from.high(), "");
  EXPECT_TRUE(from.Matches("20240101"));
  EXPECT_FALSE(from.Matches("20231231235959"));

  Matcher to = Parse(K::kDateTime, "-202401");
  EXPECT_EQ(to.low(), "");
  EXPECT_EQ(to.high().substr(0, 6), "202401");
  EXPECT_TRUE(to.Matches("20240131235959"));
  EXPECT_FALSE(to.Matches("20240201"));
}

TEST(MatcherTest, DateTimeRangeOfYears) {
  // "2024-2025" is a range of two years; "-2025" cannot be a UTC offset
  // (offsets run from -1200 to +1400, PS3.5 Table 6.2-1).
  Matcher r = Parse(K::kDateTime, "2024-2025");
  EXPECT_EQ(r.kind(), Matcher::Kind::kRange);
  EXPECT_TRUE(r.Matches("20240601"));
  EXPECT_TRUE(r.Matches("20250601"));
  EXPECT_FALSE(r.Matches("20260101"));
}

TEST(MatcherTest, DateTimeRangesWithOffsets) {
  // Both bounds and the stored value carry offsets: compared in UTC.
  // 2024-01-02 08:00+0100 .. 2024-01-02 10:00+0100 is 07:00Z .. 09:00:59.999999Z.
  Matcher r = Parse(K::kDateTime, "202401020800+0100-202401021000+0100");
  ASSERT_EQ(r.kind(), Matcher::Kind::kRange);
  EXPECT_EQ(r.low(), "20240102080000.000000");
  EXPECT_EQ(r.high(), "20240102100059.999999");
  EXPECT_TRUE(r.Matches("20240102073000+0000"));   // 07:30Z
  EXPECT_FALSE(r.Matches("20240102093000+0000"));  // 09:30Z: after
  EXPECT_TRUE(r.Matches("20240102023000-0500"));   // 07:30Z
  EXPECT_FALSE(r.Matches("20240102013000-0500"));  // 06:30Z: before
  EXPECT_TRUE(r.Matches("20240102083000+0100"));
  EXPECT_TRUE(r.Matches("20240101233000-0800"));   // 07:30Z, across the date line
  // Stored without offset: time-zone-free (local comparison).
  EXPECT_TRUE(r.Matches("20240102093000"));
  EXPECT_FALSE(r.Matches("20240102073000"));

  // Only one side has an offset: time-zone-free for the side without one.
  Matcher half = Parse(K::kDateTime, "20240102080000-20240102100000+0100");
  ASSERT_EQ(half.kind(), Matcher::Kind::kRange);
  EXPECT_EQ(half.low(), "20240102080000.000000");
  EXPECT_TRUE(half.Matches("20240102083000+0000"));  // low compared locally: 08:30 >= 08:00
  EXPECT_FALSE(half.Matches("20240102073000+0000"));
  EXPECT_FALSE(half.Matches("20240102093000+0000"));  // high in UTC: 09:30Z > 09:00:00.999999Z
  EXPECT_TRUE(half.Matches("20240102090000"));

  // A range whose low side has a negative offset.
  Matcher neg = Parse(K::kDateTime, "20240102080000-0500-20240102100000-0500");
  ASSERT_EQ(neg.kind(), Matcher::Kind::kRange);
  EXPECT_EQ(neg.low(), "20240102080000.000000");
  EXPECT_EQ(neg.high(), "20240102100000.999999");
  EXPECT_TRUE(neg.Matches("20240102140000+0000"));   // 09:00-0500
  EXPECT_FALSE(neg.Matches("20240102120000+0000"));  // 07:00-0500
  EXPECT_FALSE(neg.Matches("20240102160000+0000"));  // 11:00-0500

  // Open on one side, with an offset.
  Matcher open = Parse(K::kDateTime, "-20240102100000+0100");
  ASSERT_EQ(open.kind(), Matcher::Kind::kRange);
  EXPECT_EQ(open.low(), "");
  EXPECT_TRUE(open.Matches("20240102085959+0000"));
  EXPECT_FALSE(open.Matches("20240102093000+0000"));
}

TEST(MatcherTest, InvalidDateTimesRejected) {
  for (std::string_view v : {"20", "202", "2024013", "20241301", "2024010125", "202401011260", "20240101120000.",
                             "2024010112.5", "20240101120000.1234567", "2024*", "2024\\2025", "2024+01", "2024+0100x",
                             "abcd", "-", "20240101120000+01:00"})
    ExpectInvalid(K::kDateTime, v);
}

// --- Person names ---

TEST(MatcherTest, PersonNamesAreCaseInsensitiveAscii) {
  Matcher m = Parse(K::kPersonName, "smith^john");
  EXPECT_EQ(m.kind(), Matcher::Kind::kSingle);
  ASSERT_EQ(m.values().size(), 1u);
  EXPECT_EQ(m.values()[0], "SMITH^JOHN");  // upper-cased
  EXPECT_TRUE(m.Matches("SMITH^JOHN"));
  EXPECT_TRUE(m.Matches("Smith^John"));
  EXPECT_TRUE(m.Matches("smith^john"));
  EXPECT_FALSE(m.Matches("SMITH^JOHNNY"));
  EXPECT_TRUE(Match(K::kPersonName, "SM*", "smith^john"));
  EXPECT_TRUE(Match(K::kPersonName, "s?ith*", "SMITH^JOHN"));
  EXPECT_TRUE(Match(K::kPersonName, "*^JOHN", "smith^john"));
}

TEST(MatcherTest, PersonNamesAreCaseInsensitiveInOtherScripts) {
  // Greek (with final sigma), Cyrillic, Latin-1.
  EXPECT_TRUE(Match(K::kPersonName, "διονυσιος", "ΔΙΟΝΥΣΙΟΣ"));
  EXPECT_TRUE(Match(K::kPersonName, "ΔΙΟΝΥΣΙΟΣ", "Διονυσιος"));
  EXPECT_TRUE(Match(K::kPersonName, "Διονυσιος", "διονυσιος"));
  EXPECT_TRUE(Match(K::kPersonName, "δια*", "ΔΙΑΝΑ"));
  EXPECT_TRUE(Match(K::kPersonName, "люксембург", "ЛЮКСЕМБУРГ"));
  EXPECT_TRUE(Match(K::kPersonName, "ЛЮК*", "Люксембург"));
  EXPECT_TRUE(Match(K::kPersonName, "buc^jérôme", "BUC^JÉRÔME"));
  EXPECT_TRUE(Match(K::kPersonName, "BUC^JÉRÔME", "Buc^Jérôme"));
  EXPECT_TRUE(Match(K::kPersonName, "äneas^rüdiger", "ÄNEAS^RÜDIGER"));
  EXPECT_TRUE(Match(K::kPersonName, "J?R?ME", "jérôme"));
  EXPECT_FALSE(Match(K::kPersonName, "jerome", "Jérôme"));  // accents are not folded
  EXPECT_FALSE(Match(K::kPersonName, "ΔΙΟΝΥΣΙΟΣ", "ΔΙΟΝΥΣΙΟ"));
  // Scripts without case are compared as they are.
  EXPECT_TRUE(Match(K::kPersonName, "山田", "山田"));
  EXPECT_FALSE(Match(K::kPersonName, "山田", "山口"));
}

TEST(MatcherTest, PersonNameComponentGroups) {
  const std::string yamada = "Yamada^Tarou=山田^太郎=やまだ^たろう";
  EXPECT_TRUE(Match(K::kPersonName, yamada, yamada));              // whole
  EXPECT_TRUE(Match(K::kPersonName, "YAMADA^TAROU", yamada));      // alphabetic group
  EXPECT_TRUE(Match(K::kPersonName, "yamada^tarou", yamada));
  EXPECT_TRUE(Match(K::kPersonName, "山田^太郎", yamada));         // ideographic group
  EXPECT_TRUE(Match(K::kPersonName, "やまだ^たろう", yamada));     // phonetic group
  EXPECT_TRUE(Match(K::kPersonName, "山田*", yamada));
  EXPECT_TRUE(Match(K::kPersonName, "やま*", yamada));
  EXPECT_TRUE(Match(K::kPersonName, "*^太郎", yamada));
  EXPECT_TRUE(Match(K::kPersonName, "Yama*", yamada));
  EXPECT_TRUE(Match(K::kPersonName, "??^??", yamada));             // only the ideographic group
  EXPECT_FALSE(Match(K::kPersonName, "山田", yamada));             // exact: the group is 山田^太郎
  EXPECT_FALSE(Match(K::kPersonName, "太郎*", yamada));
  EXPECT_FALSE(Match(K::kPersonName, "YAMADA", yamada));
  EXPECT_FALSE(Match(K::kPersonName, "山田^太郎=", yamada));
  // An empty alphabetic group, and a trailing empty group.
  EXPECT_TRUE(Match(K::kPersonName, "山田^太郎", "=山田^太郎"));
  EXPECT_TRUE(Match(K::kPersonName, "王^小东", "Wang^XiaoDong=王^小东="));
  EXPECT_TRUE(Match(K::kPersonName, "WANG^XIAODONG", "Wang^XiaoDong=王^小东="));
  // A group is not matched by an empty-looking pattern piece.
  EXPECT_FALSE(Match(K::kPersonName, "X", "=山田^太郎"));
}

TEST(MatcherTest, PersonNameLists) {
  Matcher m = Parse(K::kPersonName, "doe*\\山田^太郎");
  EXPECT_EQ(m.kind(), Matcher::Kind::kList);
  ASSERT_EQ(m.values().size(), 2u);
  EXPECT_EQ(m.values()[0], "DOE*");
  EXPECT_TRUE(m.Matches("Doe^Jane"));
  EXPECT_TRUE(m.Matches("Yamada^Tarou=山田^太郎=やまだ^たろう"));
  EXPECT_FALSE(m.Matches("Smith^John"));
}

// --- Normalizations ---

TEST(NormalizeTest, Date) {
  EXPECT_EQ(NormalizeDate("20240131"), "20240131");
  EXPECT_EQ(NormalizeDate(" 20240131 "), "20240131");
  EXPECT_EQ(NormalizeDate("2024.01.31"), "20240131");
  EXPECT_EQ(NormalizeDate("19000101"), "19000101");
  EXPECT_EQ(NormalizeDate(""), "");
  EXPECT_EQ(NormalizeDate("2024"), "");
  EXPECT_EQ(NormalizeDate("20241301"), "");
  EXPECT_EQ(NormalizeDate("20240132"), "");
  EXPECT_EQ(NormalizeDate("20240100"), "");
  EXPECT_EQ(NormalizeDate("20240001"), "");
  EXPECT_EQ(NormalizeDate("2024-01-31"), "");
  EXPECT_EQ(NormalizeDate("2024.1.31"), "");
  EXPECT_EQ(NormalizeDate("2024.01.3a"), "");
  EXPECT_EQ(NormalizeDate("-2024013"), "");
}

TEST(NormalizeTest, Time) {
  EXPECT_EQ(NormalizeTime("10"), "100000.000000");
  EXPECT_EQ(NormalizeTime("10", true), "105959.999999");
  EXPECT_EQ(NormalizeTime("1030"), "103000.000000");
  EXPECT_EQ(NormalizeTime("1030", true), "103059.999999");
  EXPECT_EQ(NormalizeTime("103015"), "103015.000000");
  EXPECT_EQ(NormalizeTime("103015", true), "103015.999999");
  EXPECT_EQ(NormalizeTime("103015.5"), "103015.500000");
  EXPECT_EQ(NormalizeTime("103015.5", true), "103015.599999");
  EXPECT_EQ(NormalizeTime("103015.123456"), "103015.123456");
  EXPECT_EQ(NormalizeTime("103015.123456", true), "103015.123456");
  EXPECT_EQ(NormalizeTime("10:30:15"), "103015.000000");
  EXPECT_EQ(NormalizeTime("10:30"), "103000.000000");
  EXPECT_EQ(NormalizeTime(" 1030 "), "103000.000000");
  EXPECT_EQ(NormalizeTime("000000"), "000000.000000");
  EXPECT_EQ(NormalizeTime("235959.999999"), "235959.999999");
  EXPECT_EQ(NormalizeTime("235960"), "235960.000000");  // leap second
  EXPECT_EQ(NormalizeTime(""), "");
  EXPECT_EQ(NormalizeTime("1"), "");
  EXPECT_EQ(NormalizeTime("103"), "");
  EXPECT_EQ(NormalizeTime("24"), "");
  EXPECT_EQ(NormalizeTime("1060"), "");
  EXPECT_EQ(NormalizeTime("103061"), "");
  EXPECT_EQ(NormalizeTime("1030.5"), "");
  EXPECT_EQ(NormalizeTime("103015."), "");
  EXPECT_EQ(NormalizeTime("103015.1234567"), "");
  EXPECT_EQ(NormalizeTime("10a0"), "");
  EXPECT_EQ(NormalizeTime("1030151"), "");
}

TEST(NormalizeTest, DateTime) {
  EXPECT_EQ(NormalizeDateTime("2024"), "20240101000000.000000");
  EXPECT_EQ(NormalizeDateTime("2024", true), "20241231235959.999999");
  EXPECT_EQ(NormalizeDateTime("202402"), "20240201000000.000000");
  EXPECT_EQ(NormalizeDateTime("20240215"), "20240215000000.000000");
  EXPECT_EQ(NormalizeDateTime("20240215", true), "20240215235959.999999");
  EXPECT_EQ(NormalizeDateTime("2024021510"), "20240215100000.000000");
  EXPECT_EQ(NormalizeDateTime("2024021510", true), "20240215105959.999999");
  EXPECT_EQ(NormalizeDateTime("202402151030"), "20240215103000.000000");
  EXPECT_EQ(NormalizeDateTime("20240215103015"), "20240215103015.000000");
  EXPECT_EQ(NormalizeDateTime("20240215103015.25"), "20240215103015.250000");
  EXPECT_EQ(NormalizeDateTime("20240215103015.25", true), "20240215103015.259999");
  std::string off = "unchanged";
  EXPECT_EQ(NormalizeDateTime("20240215103015+0100", false, &off), "20240215103015.000000");
  EXPECT_EQ(off, "+0100");
  EXPECT_EQ(NormalizeDateTime("2024021510-0530", false, &off), "20240215100000.000000");
  EXPECT_EQ(off, "-0530");
  EXPECT_EQ(NormalizeDateTime("20240215103015.123456-1200", true, &off), "20240215103015.123456");
  EXPECT_EQ(off, "-1200");
  EXPECT_EQ(NormalizeDateTime("20240215", false, &off), "20240215000000.000000");
  EXPECT_EQ(off, "");
  EXPECT_EQ(NormalizeDateTime(""), "");
  EXPECT_EQ(NormalizeDateTime("20"), "");
  EXPECT_EQ(NormalizeDateTime("202"), "");
  EXPECT_EQ(NormalizeDateTime("20241301"), "");
  EXPECT_EQ(NormalizeDateTime("2024010124"), "");
  EXPECT_EQ(NormalizeDateTime("2024+01"), "");
  EXPECT_EQ(NormalizeDateTime("2024010110.5"), "");
  EXPECT_EQ(NormalizeDateTime("202401011030151"), "");
}

// --- Upper case ---

TEST(UpperCaseUtf8Test, Scripts) {
  EXPECT_EQ(UpperCaseUtf8("smith^john"), "SMITH^JOHN");
  EXPECT_EQ(UpperCaseUtf8("Jérôme"), "JÉRÔME");
  EXPECT_EQ(UpperCaseUtf8("äöüÿ"), "ÄÖÜŸ");
  EXPECT_EQ(UpperCaseUtf8("διονυσιος"), "ΔΙΟΝΥΣΙΟΣ");  // final sigma too
  EXPECT_EQ(UpperCaseUtf8("люксембург"), "ЛЮКСЕМБУРГ");
  EXPECT_EQ(UpperCaseUtf8("山田^太郎=やまだ"), "山田^太郎=やまだ");
  EXPECT_EQ(UpperCaseUtf8("ﾔﾏﾀﾞ"), "ﾔﾏﾀﾞ");
  EXPECT_EQ(UpperCaseUtf8("123 ^=*?[%_"), "123 ^=*?[%_");
  EXPECT_EQ(UpperCaseUtf8("ＡＢｃ"), "ＡＢＣ");  // full-width
  EXPECT_EQ(UpperCaseUtf8("𐐨"), "𐐀");          // Deseret, 4 bytes
  EXPECT_EQ(UpperCaseUtf8(""), "");
}

TEST(UpperCaseUtf8Test, InvalidBytesKept) {
  EXPECT_EQ(UpperCaseUtf8("a\xff" "b"), "A\xff" "B");
  EXPECT_EQ(UpperCaseUtf8("\xc3"), "\xc3");                 // truncated
  EXPECT_EQ(UpperCaseUtf8("\xe5\xb1"), "\xe5\xb1");         // truncated
  EXPECT_EQ(UpperCaseUtf8("\xc3" "a"), "\xc3" "A");         // bad continuation
  EXPECT_EQ(UpperCaseUtf8("\x80\xbf"), "\x80\xbf");         // lone continuations
  EXPECT_EQ(UpperCaseUtf8(std::string_view("a\0b", 3)), std::string_view("A\0B", 3));
}

// query.h: "invalid UTF-8 bytes are kept as they are". Overlong encodings are
// invalid UTF-8 (RFC 3629); decoding them would also make "\xC1\xA1" (an
// overlong 'a') equal to 'A' in name matching.
TEST(UpperCaseUtf8Test, OverlongEncodingsKept) {
  EXPECT_EQ(UpperCaseUtf8("\xc0\x80"), "\xc0\x80");
  EXPECT_EQ(UpperCaseUtf8("\xc1\xa1"), "\xc1\xa1");
  EXPECT_EQ(UpperCaseUtf8("\xe0\x81\x81"), "\xe0\x81\x81");
  EXPECT_FALSE(Match(K::kPersonName, "A", "\xc1\xa1"));
}

// --- Attribute table ---

TEST(AttributeTest, FindByTagAndKeyword) {
  const AttributeInfo* pn = FindAttribute(0x00100010);
  ASSERT_NE(pn, nullptr);
  EXPECT_EQ(pn->attribute, Attribute::kPatientName);
  EXPECT_EQ(pn->keyword, "PatientName");
  EXPECT_EQ(pn->vr, "PN");
  EXPECT_EQ(pn->kind, ValueKind::kPersonName);
  EXPECT_EQ(pn->level, QueryLevel::kPatient);
  EXPECT_FALSE(pn->computed);

  const AttributeInfo* mis = FindAttributeByKeyword("ModalitiesInStudy");
  ASSERT_NE(mis, nullptr);
  EXPECT_EQ(mis->tag, 0x00080061u);
  EXPECT_EQ(mis->level, QueryLevel::kStudy);
  EXPECT_TRUE(mis->computed);
  EXPECT_EQ(mis->kind, ValueKind::kCodeString);

  EXPECT_EQ(FindAttribute(0x0020000D)->attribute, Attribute::kStudyInstanceUID);
  EXPECT_EQ(FindAttribute(0x0020000D)->kind, ValueKind::kUid);
  EXPECT_EQ(FindAttribute(0x00080020)->kind, ValueKind::kDate);
  EXPECT_EQ(FindAttribute(0x00080030)->kind, ValueKind::kTime);
  EXPECT_EQ(FindAttribute(0x00201208)->attribute, Attribute::kNumberOfStudyRelatedInstances);
  EXPECT_EQ(FindAttribute(0x00280010)->attribute, Attribute::kRows);
  EXPECT_EQ(FindAttribute(0x00080018)->level, QueryLevel::kImage);
  EXPECT_EQ(FindAttributeByKeyword("SOPInstanceUID")->tag, 0x00080018u);
  EXPECT_EQ(FindAttributeByKeyword("AccessionNumber")->tag, 0x00080050u);
  EXPECT_EQ(FindAttributeByKeyword("ReferringPhysicianName")->kind, ValueKind::kPersonName);

  EXPECT_EQ(FindAttribute(0x00080005), nullptr);  // Specific Character Set: not an index attribute
  EXPECT_EQ(FindAttribute(0x7FE00010), nullptr);
  EXPECT_EQ(FindAttribute(0), nullptr);
  EXPECT_EQ(FindAttributeByKeyword("patientname"), nullptr);  // keywords are case-sensitive
  EXPECT_EQ(FindAttributeByKeyword(""), nullptr);
  EXPECT_EQ(FindAttributeByKeyword("PixelData"), nullptr);
}

TEST(AttributeTest, TableIsConsistent) {
  for (int i = 0; i < kAttributeCount; ++i) {
    auto a = static_cast<Attribute>(i);
    const AttributeInfo& info = InfoOf(a);
    EXPECT_EQ(info.attribute, a) << i;
    EXPECT_EQ(FindAttribute(info.tag), &info) << info.keyword;
    EXPECT_EQ(FindAttributeByKeyword(info.keyword), &info) << info.keyword;
    if (info.vr == "PN") {
      EXPECT_EQ(info.kind, ValueKind::kPersonName) << info.keyword;
    }
    if (info.vr == "UI") {
      EXPECT_EQ(info.kind, ValueKind::kUid) << info.keyword;
    }
    if (info.vr == "DA") {
      EXPECT_EQ(info.kind, ValueKind::kDate) << info.keyword;
    }
    if (info.vr == "TM") {
      EXPECT_EQ(info.kind, ValueKind::kTime) << info.keyword;
    }
    if (info.vr == "IS" || info.vr == "US") {
      EXPECT_EQ(info.kind, ValueKind::kInteger) << info.keyword;
    }
  }
}

TEST(AttributeTest, UniqueKeys) {
  EXPECT_EQ(UniqueKeyOf(QueryLevel::kPatient), Attribute::kPatientID);
  EXPECT_EQ(UniqueKeyOf(QueryLevel::kStudy), Attribute::kStudyInstanceUID);
  EXPECT_EQ(UniqueKeyOf(QueryLevel::kSeries), Attribute::kSeriesInstanceUID);
  EXPECT_EQ(UniqueKeyOf(QueryLevel::kImage), Attribute::kSOPInstanceUID);
  for (auto level : {QueryLevel::kPatient, QueryLevel::kStudy, QueryLevel::kSeries, QueryLevel::kImage})
    EXPECT_EQ(InfoOf(UniqueKeyOf(level)).level, level);
}

TEST(QueryLevelTest, ParseAndName) {
  EXPECT_EQ(ParseQueryLevel("PATIENT"), QueryLevel::kPatient);
  EXPECT_EQ(ParseQueryLevel("STUDY"), QueryLevel::kStudy);
  EXPECT_EQ(ParseQueryLevel("SERIES"), QueryLevel::kSeries);
  EXPECT_EQ(ParseQueryLevel("IMAGE"), QueryLevel::kImage);
  EXPECT_EQ(ParseQueryLevel("STUDY "), QueryLevel::kStudy);  // CS padding
  EXPECT_EQ(ParseQueryLevel(" IMAGE"), QueryLevel::kImage);
  EXPECT_EQ(ParseQueryLevel("study"), std::nullopt);
  EXPECT_EQ(ParseQueryLevel(""), std::nullopt);
  EXPECT_EQ(ParseQueryLevel("INSTANCE"), std::nullopt);
  EXPECT_EQ(ParseQueryLevel("STUDIES"), std::nullopt);
  EXPECT_EQ(ParseQueryLevel("STUDY\\SERIES"), std::nullopt);
  for (auto level : {QueryLevel::kPatient, QueryLevel::kStudy, QueryLevel::kSeries, QueryLevel::kImage})
    EXPECT_EQ(ParseQueryLevel(QueryLevelName(level)), level);
  EXPECT_TRUE(QueryLevel::kPatient < QueryLevel::kStudy && QueryLevel::kStudy < QueryLevel::kSeries &&
              QueryLevel::kSeries < QueryLevel::kImage);
}

TEST(MatcherTest, HasWildcard) {
  EXPECT_TRUE(Matcher::HasWildcard("*"));
  EXPECT_TRUE(Matcher::HasWildcard("a?b"));
  EXPECT_FALSE(Matcher::HasWildcard("a[b]%_"));
  EXPECT_FALSE(Matcher::HasWildcard(""));
}

// --- Character sets ---

TEST(ConvertToUtf8Test, Iso2022Ir87) {
  auto r = ConvertToUtf8("\x1b$B;3ED\x1b(B", "\\ISO 2022 IR 87");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "山田");
  auto alone = ConvertToUtf8("\x1b$B;3ED\x1b(B", "ISO 2022 IR 87");
  ASSERT_TRUE(alone.ok()) << alone.status().ToString();
  EXPECT_EQ(*alone, "山田");
  auto full = ConvertToUtf8(
      "Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B", "\\ISO 2022 IR 87");
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(*full, "Yamada^Tarou=山田^太郎=やまだ^たろう");
}

TEST(ConvertToUtf8Test, Iso2022Ir13HalfWidthKatakana) {
  auto r = ConvertToUtf8("\xd4", "ISO 2022 IR 13\\ISO 2022 IR 87");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "ﾔ");
  EXPECT_EQ(*r, "\xef\xbe\x94");  // U+FF94
  auto full = ConvertToUtf8(
      "\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J=\x1b$B$d$^$@\x1b(J^\x1b$B$?$m$&\x1b(J",
      "ISO 2022 IR 13\\ISO 2022 IR 87");
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(*full, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう");
}

TEST(ConvertToUtf8Test, Latin1AndOtherSingleByteSets) {
  auto e = ConvertToUtf8("\xe9", "ISO_IR 100");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(*e, "é");
  auto name = ConvertToUtf8("Buc^J\xe9r\xf4me", "ISO_IR 100");
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  EXPECT_EQ(*name, "Buc^Jérôme");
  auto greek = ConvertToUtf8("\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2", "ISO_IR 126");
  ASSERT_TRUE(greek.ok()) << greek.status().ToString();
  EXPECT_EQ(*greek, "Διονυσιος");
}

TEST(ConvertToUtf8Test, PassThrough) {
  auto utf8 = ConvertToUtf8("山田^太郎", "ISO_IR 192");
  ASSERT_TRUE(utf8.ok()) << utf8.status().ToString();
  EXPECT_EQ(*utf8, "山田^太郎");
  for (std::string_view cs : {"", "ISO_IR 6", "ISO_IR 100", "ISO_IR 192", "\\ISO 2022 IR 87", "GB18030"}) {
    auto ascii = ConvertToUtf8("Smith^John", cs);
    ASSERT_TRUE(ascii.ok()) << cs << ": " << ascii.status().ToString();
    EXPECT_EQ(*ascii, "Smith^John") << cs;
  }
  auto empty = ConvertToUtf8("", "ISO_IR 100");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

TEST(ConvertToUtf8Test, Errors) {
  auto unknown_escape = ConvertToUtf8("\x1b$Z;3ED\x1b(B", "\\ISO 2022 IR 87");
  EXPECT_FALSE(unknown_escape.ok());
  auto truncated_escape = ConvertToUtf8("abc\x1b", "\\ISO 2022 IR 87");
  EXPECT_FALSE(truncated_escape.ok());
  auto high_in_default = ConvertToUtf8("\xe9", "");
  EXPECT_FALSE(high_in_default.ok());
  auto high_in_ir6 = ConvertToUtf8("\xe9", "ISO_IR 6");
  EXPECT_FALSE(high_in_ir6.ok());
  auto unknown_set = ConvertToUtf8("\xe9", "NOT A CHARSET");
  EXPECT_FALSE(unknown_set.ok());
  // A katakana byte without ISO 2022 IR 13 in the set.
  auto no_katakana = ConvertToUtf8("\xd4", "\\ISO 2022 IR 87");
  EXPECT_FALSE(no_katakana.ok());
  // Half a JIS X 0208 character.
  auto half = ConvertToUtf8("\x1b$B;", "\\ISO 2022 IR 87");
  EXPECT_FALSE(half.ok());
}

// --- pydicom's charset files through ReadHeader ---

std::filesystem::path CharsetDir() {
  // The directory `dpkg -L python3-pydicom | grep charset_files/chrH31.dcm` names.
  return test::kPydicomCharsetFiles;
}

struct CharsetCase {
  const char* file;
  const char* expected_in_name;  // a UTF-8 piece of the patient name
  const char* expected_name;     // the whole name, or nullptr
};

TEST(CharsetFilesTest, PatientNamesAreUtf8) {
  QuietToolkitLogs();
  const auto dir = CharsetDir();
  if (!std::filesystem::exists(dir / "chrH31.dcm")) GTEST_SKIP() << "no pydicom charset files at " << dir;
  const CharsetCase cases[] = {
      {"chrH31.dcm", "山田^太郎", "Yamada^Tarou=山田^太郎=やまだ^たろう"},
      {"chrH32.dcm", "ﾔﾏﾀﾞ^ﾀﾛｳ", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"},
      {"chrJapMulti.dcm", "やまだ", "やまだ^たろう"},
      {"chrGreek.dcm", "Διονυσιος", "Διονυσιος"},
      {"chrRuss.dcm", "Люк", nullptr},  // "Люкceмбypг": the file mixes Latin letters in
      {"chrFren.dcm", "Jérôme", "Buc^Jérôme"},
      {"chrX2.dcm", "王^小东", nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    auto h = ReadHeader(dir / c.file);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_FALSE(h->charset_conversion_failed);
    EXPECT_TRUE(IsValidUtf8(h->patient_name)) << Printable(h->patient_name);
    EXPECT_NE(h->patient_name.find(c.expected_in_name), std::string::npos) << h->patient_name;
    if (c.expected_name) {
      EXPECT_EQ(h->patient_name, c.expected_name);
    }
    EXPECT_EQ(h->patient_name.find('\x1b'), std::string::npos);
  }
}

TEST(CharsetFilesTest, JapaneseNamesMatchQueries) {
  QuietToolkitLogs();
  const auto dir = CharsetDir();
  if (!std::filesystem::exists(dir / "chrH31.dcm")) GTEST_SKIP() << "no pydicom charset files at " << dir;
  auto h31 = ReadHeader(dir / "chrH31.dcm");
  ASSERT_TRUE(h31.ok()) << h31.status().ToString();
  EXPECT_EQ(h31->specific_character_set, "\\ISO 2022 IR 87");
  EXPECT_EQ(h31->patient_id, "H31EXAMPLE");
  EXPECT_TRUE(Match(K::kPersonName, "山田*", h31->patient_name));
  EXPECT_TRUE(Match(K::kPersonName, "yamada^tarou", h31->patient_name));
  auto h32 = ReadHeader(dir / "chrH32.dcm");
  ASSERT_TRUE(h32.ok()) << h32.status().ToString();
  EXPECT_EQ(h32->patient_id, "H32EXAMPLE");
  EXPECT_TRUE(Match(K::kPersonName, "ﾔﾏﾀﾞ*", h32->patient_name));
  EXPECT_TRUE(Match(K::kPersonName, "やまだ^たろう", h32->patient_name));
  auto multi = ReadHeader(dir / "chrJapMulti.dcm");
  ASSERT_TRUE(multi.ok()) << multi.status().ToString();
  EXPECT_EQ(multi->study_description, "Chest");
  EXPECT_EQ(multi->patient_birth_date, "18000101");
}

}  // namespace
}  // namespace bastion::dicom
