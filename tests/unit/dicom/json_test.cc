// The DICOM JSON model (dicom/json.h) of pydicom's real files, and the bulk
// data its BulkDataURIs name.
#include "dicom/json.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../temp_dir.h"
#include "dicom/dicom.h"

namespace bastion::dicom {
namespace {

using nlohmann::json;
using test::kPydicomCharsetFiles;
using test::kPydicomTestFiles;
using test::ReadBytes;
using test::TempDir;
using test::WriteBytes;

#define REQUIRE_FILE(path)                                                                   \
  do {                                                                                       \
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "needs python3-pydicom: " << (path); \
  } while (0)

// Options that record every path they are asked for and make "bulk/<path>".
struct RecordingOptions {
  std::vector<std::string> paths;
  JsonOptions options;
  RecordingOptions() {
    options.bulk_data_uri = [this](std::string_view path) {
      paths.emplace_back(path);
      return "bulk/" + std::string(path);
    };
  }
};

std::string FromBase64(std::string_view in) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : in) {
    if (c == '=') break;
    bits = (bits << 6) | static_cast<std::uint32_t>(kAlphabet.find(c));
    if ((count += 6) >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

json Load(const std::filesystem::path& file, const JsonOptions& options) {
  auto result = ReadDicomJson(file, options);
  EXPECT_TRUE(result.ok()) << file << ": " << result.status().ToString();
  return result.ok() ? *result : json();
}

bool IsTagKey(const std::string& key) {
  if (key.size() != 8) return false;
  for (char c : key)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

// Checks the PS3.18 F.2 shape everywhere, recursively: upper-case 8-digit keys
// in ascending order, "vr" always, at most one of Value/BulkDataURI/InlineBinary,
// Value never empty, no file meta or group length.
void ExpectWellFormed(const json& object) {
  ASSERT_TRUE(object.is_object());
  std::string previous;
  // nlohmann::json serializes objects in key order, so ascending keys here
  // are ascending keys on the wire.
  for (const auto& [key, attr] : object.items()) {
    EXPECT_TRUE(IsTagKey(key)) << key;
    EXPECT_LT(previous, key);
    previous = key;
    EXPECT_NE(key.substr(0, 4), "0002") << key;
    EXPECT_NE(key.substr(4), "0000") << key;
    ASSERT_TRUE(attr.contains("vr")) << key;
    EXPECT_EQ(attr["vr"].get<std::string>().size(), 2u) << key;
    int kinds =
        attr.contains("Value") + attr.contains("BulkDataURI") + attr.contains("InlineBinary");
    EXPECT_LE(kinds, 1) << key;
    if (attr.contains("Value")) {
      ASSERT_TRUE(attr["Value"].is_array()) << key;
      EXPECT_FALSE(attr["Value"].empty()) << key;
      if (attr["vr"] == "SQ")
        for (const auto& item : attr["Value"]) ExpectWellFormed(item);
    }
  }
}

// --- CT_small.dcm: explicit VR little endian, GE CT ---

TEST(DicomJsonTest, CtSmallValues) {
  const auto file = kPydicomTestFiles / "CT_small.dcm";
  REQUIRE_FILE(file);
  RecordingOptions rec;
  json j = Load(file, rec.options);
  ExpectWellFormed(j);

  EXPECT_EQ(j["00080060"]["vr"], "CS");
  EXPECT_EQ(j["00080060"]["Value"], json::array({"CT"}));
  EXPECT_EQ(j["00080018"]["Value"][0], "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322");
  // PN as an object with only the groups present.
  EXPECT_EQ(j["00100010"]["vr"], "PN");
  EXPECT_EQ(j["00100010"]["Value"], json::parse(R"([{"Alphabetic":"CompressedSamples^CT1"}])"));
  // Empty values: "vr" only.
  EXPECT_EQ(j["00080050"], json::parse(R"({"vr":"SH"})"));
  EXPECT_EQ(j["00080090"], json::parse(R"({"vr":"PN"})"));
  // Multi-valued strings are arrays.
  EXPECT_EQ(j["00080008"]["Value"], json::array({"ORIGINAL", "PRIMARY", "AXIAL"}));
  // Numbers: US, IS, DS, SL, SS (private), FL.
  EXPECT_EQ(j["00280010"]["vr"], "US");
  EXPECT_EQ(j["00280010"]["Value"], json::array({128}));
  EXPECT_TRUE(j["00180060"]["Value"][0].is_number());
  EXPECT_DOUBLE_EQ(j["00180060"]["Value"][0].get<double>(), 120.0);            // KVP DS
  EXPECT_DOUBLE_EQ(j["00181110"]["Value"][0].get<double>(), 1099.3100585938);  // DS
  EXPECT_EQ(j["00181150"]["Value"], json::array({1601}));                      // IS
  EXPECT_TRUE(j["00181150"]["Value"][0].is_number_integer());
  EXPECT_EQ(j["00091027"]["Value"], json::array({862399669}));             // SL
  EXPECT_EQ(j["00191057"]["Value"], json::array({-95}));                   // SS
  EXPECT_NEAR(j["0043104E"]["Value"][0].get<double>(), 10.6006098, 1e-5);  // FL
  // A LO that looks numeric stays a string.
  EXPECT_EQ(j["00081030"]["Value"], json::array({"e+1"}));
  // The file's character set is gone: everything is UTF-8 now.
  EXPECT_EQ(j["00080005"]["Value"], json::array({"ISO_IR 192"}));
  // Sequences: arrays of item objects.
  ASSERT_EQ(j["00101002"]["vr"], "SQ");
  ASSERT_EQ(j["00101002"]["Value"].size(), 2u);
  EXPECT_EQ(j["00101002"]["Value"][0]["00100020"]["Value"][0], "ABCD1234");
  EXPECT_EQ(j["00101002"]["Value"][1]["00100020"]["Value"][0], "1234ABCD");
  EXPECT_EQ(j["00101002"]["Value"][1]["00100022"]["Value"][0], "TEXT");
  // Pixel Data: a BulkDataURI from the caller's function, by tag path.
  EXPECT_EQ(j["7FE00010"], json::parse(R"({"vr":"OW","BulkDataURI":"bulk/7FE00010"})"));
  // ... and so does a large private OB (GE's 2068-byte histogram); small ones are inlined.
  EXPECT_EQ(j["00431029"], json::parse(R"({"vr":"OB","BulkDataURI":"bulk/00431029"})"));
  EXPECT_EQ(rec.paths, (std::vector<std::string>{"00431029", "7FE00010"}));
  // No file meta, no trailing padding.
  EXPECT_FALSE(j.contains("00020010"));
  EXPECT_FALSE(j.contains("FFFCFFFC"));
  // Whatever we produced serializes (valid UTF-8 throughout).
  EXPECT_NO_THROW((void)j.dump());
}

TEST(DicomJsonTest, WithoutBulkDataUriLargeValuesKeepOnlyTheirVr) {
  const auto file = kPydicomTestFiles / "CT_small.dcm";
  REQUIRE_FILE(file);
  json j = Load(file, JsonOptions{});
  EXPECT_EQ(j["7FE00010"], json::parse(R"({"vr":"OW"})"));
}

TEST(DicomJsonTest, SmallPixelDataInlinedWhenAllowed) {
  const auto file = kPydicomTestFiles / "SC_rgb_small_odd.dcm";  // 3x3 RGB: 27 bytes
  REQUIRE_FILE(file);
  RecordingOptions rec;
  rec.options.inline_pixel_data_max = 64;
  json j = Load(file, rec.options);
  ASSERT_TRUE(j["7FE00010"].contains("InlineBinary")) << j["7FE00010"].dump();
  EXPECT_TRUE(rec.paths.empty());
  auto bulk = ReadBulkData(file, "7FE00010");
  ASSERT_TRUE(bulk.ok()) << bulk.status().ToString();
  EXPECT_EQ(bulk->size(), 28u);  // 27 bytes of pixels, padded to even length as stored
  // 28 bytes of base64: 40 characters, the last group padded.
  std::string b64 = j["7FE00010"]["InlineBinary"];
  EXPECT_EQ(b64.size(), 40u);
  EXPECT_EQ(b64.substr(38), "==");
  EXPECT_EQ(FromBase64(b64), *bulk);
}

// --- Other syntaxes and VRs ---

TEST(DicomJsonTest, ImplicitAndBigEndianGiveTheSameModel) {
  const auto le = kPydicomTestFiles / "MR_small.dcm";
  const auto be = kPydicomTestFiles / "MR_small_bigendian.dcm";
  const auto implicit = kPydicomTestFiles / "MR_small_implicit.dcm";
  REQUIRE_FILE(le);
  REQUIRE_FILE(be);
  REQUIRE_FILE(implicit);
  RecordingOptions rec;
  json a = Load(le, rec.options), b = Load(be, rec.options), c = Load(implicit, rec.options);
  ExpectWellFormed(b);
  ExpectWellFormed(c);
  for (const char* key : {"00100010", "00280010", "00280030", "00281050", "00200013", "7FE00010"}) {
    EXPECT_EQ(a[key], b[key]) << key;
    EXPECT_EQ(a[key], c[key]) << key;
  }
  EXPECT_EQ(b["00280030"]["Value"], json::parse("[0.3125, 0.3125]"));
  EXPECT_EQ(b["7FE00010"]["vr"], "OW");
  // The bulk data is little endian whatever the file's byte order.
  auto bulk_le = ReadBulkData(le, "7FE00010");
  auto bulk_be = ReadBulkData(be, "7FE00010");
  auto bulk_implicit = ReadBulkData(implicit, "7FE00010");
  ASSERT_TRUE(bulk_le.ok() && bulk_be.ok() && bulk_implicit.ok());
  EXPECT_EQ(bulk_le->size(), 64u * 64u * 2u);
  EXPECT_EQ(*bulk_le, *bulk_be);
  EXPECT_EQ(*bulk_le, *bulk_implicit);
}

TEST(DicomJsonTest, ImplicitMultiFrameDoseAtAndMultiValuedDs) {
  const auto file = kPydicomTestFiles / "rtdose.dcm";
  REQUIRE_FILE(file);
  json j = Load(file, JsonOptions{});
  ExpectWellFormed(j);
  EXPECT_EQ(j["00280009"], json::parse(R"({"vr":"AT","Value":["3004000C"]})"));
  ASSERT_EQ(j["3004000C"]["Value"].size(), 15u);
  EXPECT_DOUBLE_EQ(j["3004000C"]["Value"][1].get<double>(), 5.0);
  EXPECT_EQ(j["00280008"]["Value"], json::array({15}));
}

TEST(DicomJsonTest, BinaryInsideSequenceHasANestedTagPath) {
  const auto file = kPydicomTestFiles / "waveform_ecg.dcm";
  REQUIRE_FILE(file);
  RecordingOptions rec;
  json j = Load(file, rec.options);
  ExpectWellFormed(j);
  ASSERT_EQ(j["54000100"]["vr"], "SQ");
  ASSERT_GE(j["54000100"]["Value"].size(), 2u);
  EXPECT_EQ(j["54000100"]["Value"][0]["54001010"],
            json::parse(R"({"vr":"OW","BulkDataURI":"bulk/54000100/0/54001010"})"));
  EXPECT_EQ(j["54000100"]["Value"][1]["54001010"]["BulkDataURI"], "bulk/54000100/1/54001010");
  // Small binary values are inlined (the threshold is per value).
  auto first = ReadBulkData(file, "54000100/0/54001010");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->size(), 240000u);
  EXPECT_EQ(static_cast<unsigned char>((*first)[0]), 0x50);  // first OW word 0x0050, little endian
  EXPECT_EQ(static_cast<unsigned char>((*first)[1]), 0x00);
  auto second = ReadBulkData(file, "54000100/1/54001010");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->size(), 28800u);
  // A higher threshold inlines them instead.
  JsonOptions generous;
  generous.inline_binary_max = 1 << 20;
  json inlined = Load(file, generous);
  EXPECT_TRUE(inlined["54000100"]["Value"][1]["54001010"].contains("InlineBinary"));
  EXPECT_EQ(inlined["54000100"]["Value"][1]["54001010"]["InlineBinary"].get<std::string>().size(),
            28800u / 3 * 4);
  EXPECT_EQ(
      FromBase64(inlined["54000100"]["Value"][1]["54001010"]["InlineBinary"].get<std::string>()),
      *second);
}

TEST(DicomJsonTest, EncapsulatedPixelDataIsAlwaysBulk) {
  const auto file = kPydicomTestFiles / "SC_rgb_rle_2frame.dcm";
  REQUIRE_FILE(file);
  RecordingOptions rec;
  rec.options.inline_pixel_data_max = 1 << 20;
  json j = Load(file, rec.options);
  EXPECT_EQ(j["7FE00010"], json::parse(R"({"vr":"OB","BulkDataURI":"bulk/7FE00010"})"));
  // Bulk data of encapsulated pixel data: the fragments back to back.
  auto bulk = ReadBulkData(file, "7FE00010");
  ASSERT_TRUE(bulk.ok()) << bulk.status().ToString();
  EXPECT_GT(bulk->size(), 64u);
  EXPECT_LT(bulk->size(), std::filesystem::file_size(file));
  // Each RLE fragment starts with its 64-byte header: the segment count (3 for RGB).
  EXPECT_EQ(static_cast<unsigned char>((*bulk)[0]), 3);
}

TEST(DicomJsonTest, PrivateCreatorSentAsUnIsText) {
  const auto file = kPydicomTestFiles / "J2K_pixelrep_mismatch.dcm";
  REQUIRE_FILE(file);
  json j = Load(file, JsonOptions{});
  EXPECT_EQ(j["00090010"], json::parse(R"({"vr":"LO","Value":["HMC"]})"));
  EXPECT_EQ(j["00090011"]["Value"], json::array({"HMC - CT - ID"}));
  // Other UN values stay binary (PS3.18 F.2.7).
  for (const auto& [key, attr] : j.items()) {
    if (attr["vr"] == "UN") {
      EXPECT_FALSE(attr.contains("Value")) << key;
    }
  }
}

TEST(DicomJsonTest, PaddingInsideMultiValuedCodeStringsIsRemoved) {
  const auto file = kPydicomTestFiles / "693_J2KI.dcm";  // ImageType "DERIVED \PRIMARY\AXIAL"
  REQUIRE_FILE(file);
  json j = Load(file, JsonOptions{});
  EXPECT_EQ(j["00080008"]["Value"], json::array({"DERIVED", "PRIMARY", "AXIAL"}));
  EXPECT_EQ(j["7FE00010"]["vr"], "OB");  // encapsulated pixel data is OB
}

// --- Character sets ---

TEST(DicomJsonTest, JapanesePersonNameGroups) {
  const auto file = kPydicomCharsetFiles / "chrH31.dcm";
  REQUIRE_FILE(file);
  json j = Load(file, JsonOptions{});
  ExpectWellFormed(j);
  EXPECT_EQ(
      j["00100010"]["Value"][0],
      json::parse(
          R"({"Alphabetic":"Yamada^Tarou","Ideographic":"山田^太郎","Phonetic":"やまだ^たろう"})"));
  EXPECT_EQ(j["00080005"]["Value"], json::array({"ISO_IR 192"}));
}

TEST(DicomJsonTest, Utf8AndGb18030PersonNames) {
  const auto x1 = kPydicomCharsetFiles / "chrX1.dcm";
  const auto x2 = kPydicomCharsetFiles / "chrX2.dcm";
  REQUIRE_FILE(x1);
  REQUIRE_FILE(x2);
  // The trailing "=" (an empty phonetic group) leaves no "Phonetic".
  EXPECT_EQ(Load(x1, JsonOptions{})["00100010"]["Value"][0],
            json::parse(R"({"Alphabetic":"Wang^XiaoDong","Ideographic":"王^小東"})"));
  EXPECT_EQ(Load(x2, JsonOptions{})["00100010"]["Value"][0],
            json::parse(R"({"Alphabetic":"Wang^XiaoDong","Ideographic":"王^小东"})"));
}

TEST(DicomJsonTest, LatinAndMultiValued) {
  const auto file = kPydicomCharsetFiles / "chrFrenMulti.dcm";
  REQUIRE_FILE(file);
  json j = Load(file, JsonOptions{});
  ExpectWellFormed(j);
  EXPECT_EQ(j["00100010"]["Value"], json::parse(R"([{"Alphabetic":"Buc^Jérôme"}])"));
  EXPECT_EQ(j["00101000"]["Value"], json::array({"eggs", "spam"}));
}

TEST(DicomJsonTest, SequenceItemWithItsOwnCharacterSet) {
  const auto file = kPydicomCharsetFiles / "chrSQEncoding.dcm";
  REQUIRE_FILE(file);
  json j = Load(file, JsonOptions{});
  ExpectWellFormed(j);
  EXPECT_EQ(j["00321032"]["Value"][0]["Alphabetic"], "Doctor^Who^^MD");
  json item = j["00321064"]["Value"][0];
  EXPECT_EQ(item["00080005"]["Value"], json::array({"ISO_IR 192"}));
  EXPECT_EQ(
      item["00100010"]["Value"][0],
      json::parse(
          R"({"Alphabetic":"ﾔﾏﾀﾞ^ﾀﾛｳ","Ideographic":"山田^太郎","Phonetic":"やまだ^たろう"})"));
}

TEST(DicomJsonTest, EveryPydicomFileGivesValidJsonOrAnError) {
  // Robustness over vendors' oddities: never a crash, never invalid UTF-8.
  int converted = 0;
  for (const auto& dir : {kPydicomTestFiles, kPydicomCharsetFiles}) {
    for (const auto& file : test::FilesIn(dir)) {
      if (file.extension() != ".dcm") continue;
      auto result = ReadDicomJson(file, RecordingOptions().options);
      if (!result.ok()) continue;
      ++converted;
      EXPECT_NO_THROW((void)result->dump()) << file;
      ExpectWellFormed(*result);
    }
  }
  if (converted == 0) GTEST_SKIP() << "needs python3-pydicom";
  EXPECT_GT(converted, 50);
}

// --- Errors ---

TEST(DicomJsonTest, MissingTruncatedAndGarbageFiles) {
  TempDir dir;
  auto missing = ReadDicomJson(dir / "nope.dcm", JsonOptions{});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);

  WriteBytes(dir / "garbage.dcm", std::string(200, 'x'));
  auto garbage = ReadDicomJson(dir / "garbage.dcm", JsonOptions{});
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), Code::kInvalidArgument);

  const auto truncated = kPydicomTestFiles / "MR_truncated.dcm";
  if (std::filesystem::exists(truncated)) {
    auto result = ReadDicomJson(truncated, JsonOptions{});
    EXPECT_FALSE(result.ok());
  }
  // Our own truncation: CT_small cut in the middle of its pixel data.
  const auto ct = kPydicomTestFiles / "CT_small.dcm";
  if (std::filesystem::exists(ct)) {
    std::string bytes = ReadBytes(ct);
    WriteBytes(dir / "cut.dcm", bytes.substr(0, bytes.size() - 20000));
    auto cut = ReadDicomJson(dir / "cut.dcm", JsonOptions{});
    EXPECT_FALSE(cut.ok());
    auto bulk = ReadBulkData(dir / "cut.dcm", "7FE00010");
    EXPECT_FALSE(bulk.ok());
  }
}

// CT_small's file meta followed by `depth` nested Referenced Series
// Sequences (0008,1115), undefined lengths, the innermost item holding
// Referenced SOP Instance UID (0008,1155) "1.2".
std::string NestedSequences(int depth) {
  std::string ct = ReadBytes(kPydicomTestFiles / "CT_small.dcm");
  auto layout = ParsePart10Layout(ct);
  EXPECT_TRUE(layout.ok());
  std::string out = ct.substr(0, layout.ok() ? layout->dataset_offset : 0);
  const std::string sq("\x08\x00\x15\x11SQ\x00\x00\xFF\xFF\xFF\xFF", 12);
  const std::string item("\xFE\xFF\x00\xE0\xFF\xFF\xFF\xFF", 8);
  const std::string item_end("\xFE\xFF\x0D\xE0\x00\x00\x00\x00", 8);
  const std::string sq_end("\xFE\xFF\xDD\xE0\x00\x00\x00\x00", 8);
  for (int i = 0; i < depth; ++i) out += sq + item;
  out += std::string(
      "\x08\x00\x55\x11UI\x04\x00"
      "1.2\0",
      12);
  for (int i = 0; i < depth; ++i) out += item_end + sq_end;
  return out;
}

TEST(DicomJsonTest, SequenceDepthIsBounded) {
  REQUIRE_FILE(kPydicomTestFiles / "CT_small.dcm");
  TempDir dir;
  WriteBytes(dir / "deepest.dcm", NestedSequences(kMaxSequenceDepth));
  auto ok = ReadDicomJson(dir / "deepest.dcm", JsonOptions{});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  json item = *ok;
  std::string path;
  for (int i = 0; i < kMaxSequenceDepth; ++i) {
    item = item["00081115"]["Value"][0];
    path += "00081115/0/";
  }
  EXPECT_EQ(item["00081155"]["Value"], json::array({"1.2"}));
  auto bulk = ReadBulkData(dir / "deepest.dcm", path + "00081155");
  ASSERT_TRUE(bulk.ok()) << bulk.status().ToString();
  EXPECT_EQ(*bulk, std::string("1.2\0", 4));  // the stored value, padding and all

  WriteBytes(dir / "deeper.dcm", NestedSequences(kMaxSequenceDepth + 1));
  auto deeper = ReadDicomJson(dir / "deeper.dcm", JsonOptions{});
  ASSERT_FALSE(deeper.ok());
  EXPECT_EQ(deeper.status().code(), Code::kInvalidArgument);
}

// --- Tag paths ---

TEST(TagPathTest, WellFormed) {
  EXPECT_TRUE(IsValidTagPath("7FE00010"));
  EXPECT_TRUE(IsValidTagPath("7fe00010"));
  EXPECT_TRUE(IsValidTagPath("00540016/0/00181072"));
  EXPECT_TRUE(IsValidTagPath("54000100/12/54001010"));
  std::string deepest = "00081115";
  for (int i = 0; i < kMaxSequenceDepth; ++i) deepest += "/0/00081115";
  EXPECT_TRUE(IsValidTagPath(deepest));
  EXPECT_FALSE(IsValidTagPath(deepest + "/0/00081115"));  // one level too deep
}

TEST(TagPathTest, Malformed) {
  using namespace std::string_view_literals;
  for (std::string_view bad : std::initializer_list<std::string_view>{""sv,
                                                                      "/",
                                                                      "7FE0001",
                                                                      "7FE000100",
                                                                      "7FE0001G",
                                                                      "../7FE00010",
                                                                      "7FE00010/..",
                                                                      "7FE00010/",
                                                                      "/7FE00010",
                                                                      "7FE00010/x",
                                                                      "7FE00010/0",
                                                                      "7FE00010//00100010",
                                                                      "7FE00010/-1/00100010",
                                                                      "7FE00010/+1/00100010",
                                                                      "7FE00010/01/00100010",
                                                                      "7FE00010/1000000/00100010",
                                                                      "7FE00010/ 1/00100010",
                                                                      "7FE00010 ",
                                                                      " 7FE00010",
                                                                      "0x7FE0010",
                                                                      "7FE0,0010",
                                                                      "7FE00010%2F0",
                                                                      "7FE00010\\0\\00100010",
                                                                      "7FE00010\0"sv}) {
    EXPECT_FALSE(IsValidTagPath(bad)) << "\"" << bad << "\"";
  }
}

TEST(TagPathTest, ReadBulkDataErrors) {
  const auto file = kPydicomTestFiles / "CT_small.dcm";
  REQUIRE_FILE(file);
  auto check = [&](std::string_view path, Code code) {
    auto r = ReadBulkData(file, path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.status().code(), code) << path << ": " << r.status().ToString();
  };
  check("../7FE00010", Code::kInvalidArgument);
  check("7FE00010/x", Code::kInvalidArgument);
  check("ZZZZZZZZ", Code::kInvalidArgument);
  check("00101002", Code::kInvalidArgument);      // a sequence, not a value
  check("7FE00008", Code::kNotFound);             // absent
  check("00101002/2/00100020", Code::kNotFound);  // item 2 of 2
  check("00101002/0/00100021", Code::kNotFound);  // absent in the item
  check("00100010/0/00100020", Code::kNotFound);  // not a sequence
  check("00020010", Code::kNotFound);             // file meta is never served
  check("00080000", Code::kNotFound);

  // Bulk data of a non-binary attribute inside a sequence is its stored value.
  auto nested = ReadBulkData(file, "00101002/1/00100020");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(*nested, "1234ABCD");
  auto pixels = ReadBulkData(file, "7FE00010");
  ASSERT_TRUE(pixels.ok());
  EXPECT_EQ(pixels->size(), 128u * 128u * 2u);
  // Byte for byte the value in the file: it ends 12 + 126 bytes before the
  // end (Data Set Trailing Padding follows it).
  std::string raw = ReadBytes(file);
  EXPECT_EQ(*pixels, raw.substr(raw.size() - 138 - pixels->size(), pixels->size()));
  // Lower-case hex names the same attribute.
  auto lower = ReadBulkData(file, "7fe00010");
  ASSERT_TRUE(lower.ok());
  EXPECT_EQ(*lower, *pixels);
}

}  // namespace
}  // namespace bastion::dicom
