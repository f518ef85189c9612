#include "dicom/dicom.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "../temp_dir.h"

namespace bastion::dicom {
namespace {

using test::kPydicomCharsetFiles;
using test::kPydicomTestFiles;
using test::TempDir;

constexpr const char* kCtImageStorage = "1.2.840.10008.5.1.4.1.1.2";
constexpr const char* kMrImageStorage = "1.2.840.10008.5.1.4.1.1.4";
constexpr const char* kExplicitLE = "1.2.840.10008.1.2.1";
constexpr const char* kImplicitLE = "1.2.840.10008.1.2";

// --- UIDs ---

TEST(UidTest, Valid) {
  EXPECT_TRUE(IsValidUid("1.2.840.10008.1.1"));
  EXPECT_TRUE(IsValidUid("0"));
  EXPECT_TRUE(IsValidUid("1.0.2"));
  EXPECT_TRUE(IsValidUid("2.25.329800735698586629295641978511506172918"));
  std::string uid64 = "12";
  while (uid64.size() < 64) uid64 += ".1";
  ASSERT_EQ(uid64.size(), 64u);
  EXPECT_TRUE(IsValidUid(uid64));
}

TEST(UidTest, Invalid) {
  EXPECT_FALSE(IsValidUid(""));
  EXPECT_FALSE(IsValidUid("1.02"));     // leading zero in a component
  EXPECT_FALSE(IsValidUid("01.2"));
  EXPECT_FALSE(IsValidUid("1.00"));
  EXPECT_FALSE(IsValidUid("1..2"));     // empty component
  EXPECT_FALSE(IsValidUid(".1.2"));
  EXPECT_FALSE(IsValidUid("1.2."));     // trailing dot
  EXPECT_FALSE(IsValidUid("."));
  EXPECT_FALSE(IsValidUid("1.2.a"));
  EXPECT_FALSE(IsValidUid("1.2.3A"));
  EXPECT_FALSE(IsValidUid("1.2 .3"));
  EXPECT_FALSE(IsValidUid("1.2.3 "));   // callers trim padding first
  EXPECT_FALSE(IsValidUid("1.2.-3"));
  EXPECT_FALSE(IsValidUid("1.2/../3"));
  EXPECT_FALSE(IsValidUid(std::string_view("1.2\0", 4)));
  std::string uid65 = "1";
  while (uid65.size() < 65) uid65 += ".1";
  ASSERT_EQ(uid65.size(), 65u);
  EXPECT_FALSE(IsValidUid(uid65));
}

// --- SOP classes and transfer syntaxes ---

TEST(SopClassTest, StorageClasses) {
  EXPECT_TRUE(IsStorageSopClass(kCtImageStorage));
  EXPECT_TRUE(IsStorageSopClass(kMrImageStorage));
  EXPECT_TRUE(IsStorageSopClass("1.2.840.10008.5.1.4.1.1.7"));  // Secondary Capture
  EXPECT_FALSE(IsStorageSopClass(kVerificationSopClass));
  EXPECT_FALSE(IsStorageSopClass("1.2.3.4.5.6.7"));
  EXPECT_FALSE(IsStorageSopClass(""));
  EXPECT_FALSE(IsStorageSopClass("1.2.840.10008.5.1.4.1.2.2.1"));  // Study Root Q/R FIND: not storage
  EXPECT_FALSE(IsStorageSopClass(std::string(kCtImageStorage) + ".99"));
}

TEST(SopClassTest, ListIsUniqueAndWellFormed) {
  const auto& all = StorageSopClasses();
  EXPECT_GT(all.size(), 50u);
  std::set<std::string> unique(all.begin(), all.end());
  EXPECT_EQ(unique.size(), all.size());
  for (const auto& uid : all) {
    EXPECT_TRUE(IsValidUid(uid)) << uid;
    EXPECT_TRUE(IsStorageSopClass(uid)) << uid;
  }
  EXPECT_TRUE(unique.contains(kCtImageStorage));
  EXPECT_FALSE(unique.contains(std::string(kVerificationSopClass)));
}

TEST(TransferSyntaxTest, AcceptedList) {
  const auto& ts = AcceptedTransferSyntaxes();
  std::set<std::string> set(ts.begin(), ts.end());
  EXPECT_EQ(set.size(), ts.size()) << "duplicates in the accepted list";
  for (const char* uid : {
           kExplicitLE,                 // Explicit VR Little Endian
           kImplicitLE,                 // Implicit VR Little Endian
           "1.2.840.10008.1.2.1.99",    // Deflated Explicit VR Little Endian
           "1.2.840.10008.1.2.4.50",    // JPEG Baseline
           "1.2.840.10008.1.2.4.70",    // JPEG Lossless SV1
           "1.2.840.10008.1.2.4.80",    // JPEG-LS Lossless
           "1.2.840.10008.1.2.4.81",    // JPEG-LS Near-Lossless
           "1.2.840.10008.1.2.4.90",    // JPEG 2000 Lossless
           "1.2.840.10008.1.2.4.91",    // JPEG 2000
           "1.2.840.10008.1.2.5",       // RLE Lossless
       }) {
    EXPECT_TRUE(set.contains(uid)) << uid;
    EXPECT_TRUE(IsAcceptedTransferSyntax(uid)) << uid;
  }
  for (const auto& uid : ts) EXPECT_TRUE(IsValidUid(uid)) << uid;
  EXPECT_FALSE(IsAcceptedTransferSyntax("1.2.3.4"));
  EXPECT_FALSE(IsAcceptedTransferSyntax(""));
  EXPECT_FALSE(IsAcceptedTransferSyntax("1.2.840.10008.1.2.1 "));
}

TEST(TransferSyntaxTest, Names) {
  EXPECT_NE(TransferSyntaxName(kExplicitLE).find("Explicit"), std::string::npos) << TransferSyntaxName(kExplicitLE);
  EXPECT_NE(TransferSyntaxName(kImplicitLE).find("Implicit"), std::string::npos) << TransferSyntaxName(kImplicitLE);
  EXPECT_NE(TransferSyntaxName(kExplicitLE), TransferSyntaxName(kImplicitLE));
}

// --- file meta ---

// A minimal explicit-VR-LE dataset element to follow the meta group:
// (0008,0060) CS "CT".
const std::string kDatasetBytes = std::string("\x08\x00\x60\x00" "CS" "\x02\x00" "CT", 10);

TEST(FileMetaTest, StartsWithPreambleAndDicm) {
  auto meta = BuildFileMeta(kCtImageStorage, "1.2.3.4.5", kExplicitLE);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  ASSERT_GT(meta->size(), 132u);
  EXPECT_EQ(meta->substr(0, 128), std::string(128, '\0'));
  EXPECT_EQ(meta->substr(128, 4), "DICM");
  // Group 0002 follows, explicit VR: (0002,0000) UL.
  EXPECT_EQ(meta->substr(132, 6), std::string("\x02\x00\x00\x00" "UL", 6));
}

TEST(FileMetaTest, IsDeterministic) {
  auto a = BuildFileMeta(kCtImageStorage, "1.2.3.4.5", kExplicitLE);
  auto b = BuildFileMeta(kCtImageStorage, "1.2.3.4.5", kExplicitLE);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
  auto other = BuildFileMeta(kCtImageStorage, "1.2.3.4.6", kExplicitLE);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*a, *other);
  auto other_ts = BuildFileMeta(kCtImageStorage, "1.2.3.4.5", kImplicitLE);
  ASSERT_TRUE(other_ts.ok());
  EXPECT_NE(*a, *other_ts);
}

TEST(FileMetaTest, GroupLengthMatches) {
  auto meta = BuildFileMeta(kMrImageStorage, "1.2.826.0.1.3680043.2.1125.1", "1.2.840.10008.1.2.4.50");
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  // (0002,0000) UL: tag 4 + VR 2 + length 2 + value 4 = 12 bytes at offset 132.
  const auto* p = reinterpret_cast<const unsigned char*>(meta->data());
  std::uint32_t group_length = p[140] | (p[141] << 8) | (p[142] << 16) | (static_cast<std::uint32_t>(p[143]) << 24);
  EXPECT_EQ(group_length, meta->size() - 144) << "File Meta Information Group Length is off";
}

TEST(FileMetaTest, ParsesBackWithDatasetFollowing) {
  const std::string instance = "1.2.826.0.1.3680043.2.1125.77";  // odd length: padded
  for (const char* ts : {kExplicitLE, kImplicitLE, "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5"}) {
    auto meta = BuildFileMeta(kCtImageStorage, instance, ts);
    ASSERT_TRUE(meta.ok()) << ts << ": " << meta.status().ToString();
    auto layout = ParsePart10Layout(*meta + kDatasetBytes);
    ASSERT_TRUE(layout.ok()) << ts << ": " << layout.status().ToString();
    EXPECT_EQ(layout->transfer_syntax_uid, ts);
    EXPECT_EQ(layout->sop_class_uid, kCtImageStorage);
    EXPECT_EQ(layout->sop_instance_uid, instance);
    EXPECT_EQ(layout->dataset_offset, meta->size());
  }
}

// The meta group alone is a complete header (its group length says where it
// ends); the layout is fully known from it.
TEST(FileMetaTest, ParsesBackFromTheMetaAlone) {
  auto meta = BuildFileMeta(kCtImageStorage, "1.2.3.4.5", kExplicitLE);
  ASSERT_TRUE(meta.ok());
  auto layout = ParsePart10Layout(*meta);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_EQ(layout->transfer_syntax_uid, kExplicitLE);
  EXPECT_EQ(layout->sop_class_uid, kCtImageStorage);
  EXPECT_EQ(layout->sop_instance_uid, "1.2.3.4.5");
  EXPECT_EQ(layout->dataset_offset, meta->size());
}

TEST(FileMetaTest, UnknownTransferSyntaxIsUnsupported) {
  auto meta = BuildFileMeta(kCtImageStorage, "1.2.3", "1.2.3.4.5.6");
  ASSERT_FALSE(meta.ok());
  EXPECT_EQ(meta.status().code(), Code::kUnsupported);
}

TEST(Part10LayoutTest, RejectsMissingDicm) {
  auto meta = BuildFileMeta(kCtImageStorage, "1.2.3.4.5", kExplicitLE);
  ASSERT_TRUE(meta.ok());
  std::string bad = *meta + kDatasetBytes;
  bad[128] = 'X';
  auto layout = ParsePart10Layout(bad);
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.status().code(), Code::kInvalidArgument);

  // A raw dataset with no preamble at all.
  EXPECT_EQ(ParsePart10Layout(kDatasetBytes).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParsePart10Layout("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParsePart10Layout(std::string(131, '\0')).status().code(), Code::kInvalidArgument);
}

TEST(Part10LayoutTest, RejectsTruncatedMeta) {
  auto meta = BuildFileMeta(kCtImageStorage, "1.2.3.4.5", kExplicitLE);
  ASSERT_TRUE(meta.ok());
  std::string full = *meta + kDatasetBytes;
  for (std::size_t cut : {std::size_t{132}, std::size_t{136}, std::size_t{150}, meta->size() - 3}) {
    auto layout = ParsePart10Layout(std::string_view(full).substr(0, cut));
    EXPECT_FALSE(layout.ok()) << "accepted a head cut at " << cut;
    if (!layout.ok()) {
      EXPECT_EQ(layout.status().code(), Code::kInvalidArgument);
    }
  }
}

TEST(Part10LayoutTest, RejectsElementLengthPastTheEnd) {
  auto meta = BuildFileMeta(kCtImageStorage, "1.2.3.4.5", kExplicitLE);
  ASSERT_TRUE(meta.ok());
  std::string bad = *meta + kDatasetBytes;
  // (0002,0000) UL has a 2-byte length at 138; make it huge.
  bad[138] = '\xff';
  bad[139] = '\x7f';
  EXPECT_EQ(ParsePart10Layout(bad).status().code(), Code::kInvalidArgument);
}

TEST(Part10LayoutTest, RequiresTransferSyntax) {
  // Preamble + DICM + just (0002,0002) UI, then the dataset.
  std::string head(128, '\0');
  head += "DICM";
  std::string uid = kCtImageStorage;
  uid.push_back('\0');  // even length
  head += std::string("\x02\x00\x02\x00" "UI", 6);
  head.push_back(static_cast<char>(uid.size()));
  head.push_back('\0');
  head += uid;
  head += kDatasetBytes;
  auto layout = ParsePart10Layout(head);
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.status().code(), Code::kInvalidArgument);
}

TEST(Part10LayoutTest, RealFile) {
  auto path = kPydicomTestFiles / "CT_small.dcm";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "pydicom test files not installed";
  std::string bytes = test::ReadBytes(path);
  auto layout = ParsePart10Layout(std::string_view(bytes).substr(0, 4096));
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_EQ(layout->transfer_syntax_uid, kExplicitLE);
  EXPECT_EQ(layout->sop_class_uid, kCtImageStorage);
  EXPECT_EQ(layout->sop_instance_uid, "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322");
  // Group length 192 + 12 bytes for (0002,0000) itself + preamble and magic.
  EXPECT_EQ(layout->dataset_offset, 132u + 12u + 192u);
}

// --- ReadHeader on real files ---

class ReadHeaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kPydicomTestFiles)) GTEST_SKIP() << "pydicom test files not installed";
  }
};

TEST_F(ReadHeaderTest, CtSmall) {
  auto h = ReadHeader(kPydicomTestFiles / "CT_small.dcm");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->patient_id, "1CT1");
  EXPECT_EQ(h->patient_name, "CompressedSamples^CT1");
  EXPECT_EQ(h->modality, "CT");
  EXPECT_EQ(h->rows, 128);
  EXPECT_EQ(h->columns, 128);
  EXPECT_EQ(h->sop_class_uid, kCtImageStorage);
  EXPECT_EQ(h->sop_instance_uid, "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322");
  EXPECT_EQ(h->study_instance_uid, "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322");
  EXPECT_EQ(h->series_instance_uid, "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322");
  EXPECT_EQ(h->transfer_syntax_uid, kExplicitLE);
  EXPECT_EQ(h->specific_character_set, "ISO_IR 100");
  EXPECT_FALSE(h->charset_conversion_failed);
  EXPECT_FALSE(h->number_of_frames.has_value());
}

TEST_F(ReadHeaderTest, ImplicitLittleEndianFile) {
  auto h = ReadHeader(kPydicomTestFiles / "MR_small_implicit.dcm");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->transfer_syntax_uid, kImplicitLE);
  EXPECT_EQ(h->sop_class_uid, kMrImageStorage);
  EXPECT_EQ(h->modality, "MR");
  EXPECT_EQ(h->rows, 64);
  EXPECT_EQ(h->columns, 64);
}

TEST_F(ReadHeaderTest, GarbageIsInvalidArgument) {
  TempDir dir;
  std::string garbage;
  for (int i = 0; i < 5000; ++i) garbage.push_back(static_cast<char>((i * 131 + 17) % 256));
  test::WriteBytes(dir / "garbage.dcm", garbage);
  auto h = ReadHeader(dir / "garbage.dcm");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), Code::kInvalidArgument);

  test::WriteBytes(dir / "empty.dcm", "");
  auto e = ReadHeader(dir / "empty.dcm");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
}

TEST_F(ReadHeaderTest, TruncatedObjectsAreRefused) {
  // A value that runs past the end of the file: the object is incomplete.
  TempDir dir;
  std::string bytes = test::ReadBytes(kPydicomTestFiles / "CT_small.dcm");
  for (std::size_t cut : {std::size_t{100}, std::size_t{5000}}) {
    auto path = dir / "cut.dcm";
    test::WriteBytes(path, bytes.substr(0, bytes.size() - cut));
    auto h = ReadHeader(path);
    ASSERT_FALSE(h.ok()) << "accepted CT_small.dcm without its last " << cut << " bytes";
    EXPECT_EQ(h.status().code(), Code::kInvalidArgument);
  }
  // pydicom's own truncated example.
  auto mr = ReadHeader(kPydicomTestFiles / "MR_truncated.dcm");
  ASSERT_FALSE(mr.ok());
  EXPECT_EQ(mr.status().code(), Code::kInvalidArgument);
}

TEST_F(ReadHeaderTest, QuietToolkitLogsKeepsParsing) {
  QuietToolkitLogs();
  auto h = ReadHeader(kPydicomTestFiles / "CT_small.dcm");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->patient_id, "1CT1");
}

class CharsetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kPydicomCharsetFiles)) GTEST_SKIP() << "pydicom charset files not installed";
  }
  void Expect(const char* file, const char* charset, const char* utf8_name, const char* patient_id) {
    auto h = ReadHeader(kPydicomCharsetFiles / file);
    ASSERT_TRUE(h.ok()) << file << ": " << h.status().ToString();
    EXPECT_EQ(h->specific_character_set, charset) << file;
    EXPECT_FALSE(h->charset_conversion_failed) << file;
    EXPECT_EQ(h->patient_name, utf8_name) << file;
    EXPECT_EQ(h->patient_id, patient_id) << file;
  }
};

// Expected names: the raw PN value read with pydicom
// (ds['PatientName'].value.original_string), decoded to UTF-8. pydicom's
// str() drops an empty trailing component group ("...=") that is in the
// file; the archive indexes the value as stored.
TEST_F(CharsetTest, Latin1) { Expect("chrGerm.dcm", "ISO_IR 100", "\xc3\x84neas^R\xc3\xbc" "diger", "SCSGERM"); }

TEST_F(CharsetTest, Latin1French) { Expect("chrFren.dcm", "ISO_IR 100", "Buc^J\xc3\xa9r\xc3\xb4me", "SCSFREN"); }

TEST_F(CharsetTest, Cyrillic) {
  Expect("chrRuss.dcm", "ISO_IR 144", "\xd0\x9b\xd1\x8e\xd0\xba\x63\x65\xd0\xbc\xd0\xb1\x79\x70\xd0\xb3", "SCSRUSS");
}

TEST_F(CharsetTest, Greek) {
  Expect("chrGreek.dcm", "ISO_IR 126", "\xce\x94\xce\xb9\xce\xbf\xce\xbd\xcf\x85\xcf\x83\xce\xb9\xce\xbf\xcf\x82",
         "SCSGREEK");
}

TEST_F(CharsetTest, Arabic) {
  Expect("chrArab.dcm", "ISO_IR 127",
         "\xd9\x82\xd8\xa8\xd8\xa7\xd9\x86\xd9\x8a^\xd9\x84\xd9\x86\xd8\xb2\xd8\xa7\xd8\xb1", "SCSARAB");
}

TEST_F(CharsetTest, Hebrew) {
  Expect("chrHbrw.dcm", "ISO_IR 138", "\xd7\xa9\xd7\xa8\xd7\x95\xd7\x9f^\xd7\x93\xd7\x91\xd7\x95\xd7\xa8\xd7\x94",
         "SCSHBRW");
}

TEST_F(CharsetTest, AlreadyUtf8) {
  Expect("chrX1.dcm", "ISO_IR 192", "Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1=", "X1EXAMPLE");
}

TEST_F(CharsetTest, Gb18030) {
  Expect("chrX2.dcm", "GB18030", "Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe4\xb8\x9c=", "X2EXAMPLE");
}

// ISO 2022 code extensions: DCMTK converts them only with some conversion
// libraries (not with glibc iconv). Either the name comes back as UTF-8, or
// the header says it could not convert and the value is the raw bytes.
TEST_F(CharsetTest, Iso2022JapaneseConvertedOrFlagged) {
  auto h = ReadHeader(kPydicomCharsetFiles / "chrH31.dcm");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->specific_character_set, "\\ISO 2022 IR 87");
  EXPECT_EQ(h->patient_id, "H31EXAMPLE");
  if (h->charset_conversion_failed) {
    EXPECT_EQ(h->patient_name, "Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B");
  } else {
    EXPECT_EQ(h->patient_name,
              "Yamada^Tarou=\xe5\xb1\xb1\xe7\x94\xb0^\xe5\xa4\xaa\xe9\x83\x8e="
              "\xe3\x82\x84\xe3\x81\xbe\xe3\x81\xa0^\xe3\x81\x9f\xe3\x82\x8d\xe3\x81\x86");
  }
}

}  // namespace
}  // namespace bastion::dicom
