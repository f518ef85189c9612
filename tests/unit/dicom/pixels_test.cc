// Frames and rendered images (dicom/pixels.h) of pydicom's real files:
// native and compressed, single and multi-frame, monochrome and colour.
#include "dicom/pixels.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "../temp_dir.h"
#include "dicom/json.h"

namespace bastion::dicom {
namespace {

using test::kPydicomTestFiles;
using test::ReadBytes;
using test::TempDir;
using test::WriteBytes;

constexpr const char* kJpegBaseline = "1.2.840.10008.1.2.4.50";
constexpr const char* kJpegExtended = "1.2.840.10008.1.2.4.51";
constexpr const char* kJpegLsLossless = "1.2.840.10008.1.2.4.80";
constexpr const char* kJpeg2000Lossless = "1.2.840.10008.1.2.4.90";
constexpr const char* kRle = "1.2.840.10008.1.2.5";

class PixelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kPydicomTestFiles / "CT_small.dcm"))
      GTEST_SKIP() << "needs python3-pydicom";
  }
  static std::filesystem::path F(const char* name) { return kPydicomTestFiles / name; }

  static Frame Read(const char* name, int frame, FrameEncoding want) {
    auto r = ReadFrame(F(name), frame, want);
    EXPECT_TRUE(r.ok()) << name << " frame " << frame << ": " << r.status().ToString();
    return r.ok() ? *r : Frame{};
  }
  static void ExpectError(const Result<Frame>& r, Code code) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  }
  static std::string Render(const char* name, int frame, const RenderOptions& options) {
    auto r = RenderFrame(F(name), frame, options);
    EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    return r.ok() ? *r : std::string();
  }
};

// PNG: signature, then IHDR with big-endian width and height, bit depth, colour type.
struct PngHeader {
  std::uint32_t width = 0, height = 0;
  int bit_depth = 0, colour_type = -1;
};
PngHeader ParsePng(const std::string& png) {
  PngHeader h;
  if (png.size() < 26 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0 ||
      png.compare(12, 4, "IHDR") != 0)
    return h;
  auto u32 = [&](std::size_t at) {
    return (static_cast<std::uint32_t>(static_cast<unsigned char>(png[at])) << 24) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(png[at + 1])) << 16) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(png[at + 2])) << 8) |
           static_cast<unsigned char>(png[at + 3]);
  };
  h.width = u32(16);
  h.height = u32(20);
  h.bit_depth = static_cast<unsigned char>(png[24]);
  h.colour_type = static_cast<unsigned char>(png[25]);
  return h;
}

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// --- Native frames ---

TEST_F(PixelsTest, UncompressedSingleFrame) {
  Frame f = Read("CT_small.dcm", 1, FrameEncoding::kNative);
  EXPECT_EQ(f.bytes.size(), 128u * 128u * 1u * 16u / 8u);
  EXPECT_EQ(f.transfer_syntax_uid, kExplicitVrLittleEndian);
  EXPECT_EQ(f.photometric_interpretation, "MONOCHROME2");
  // The frame is the stored pixel data, byte for byte.
  auto bulk = ReadBulkData(F("CT_small.dcm"), "7FE00010");
  ASSERT_TRUE(bulk.ok());
  EXPECT_EQ(f.bytes, *bulk);
  // As stored is the same for an uncompressed object.
  Frame stored = Read("CT_small.dcm", 1, FrameEncoding::kAsStored);
  EXPECT_EQ(stored.bytes, f.bytes);
  EXPECT_EQ(stored.transfer_syntax_uid, kExplicitVrLittleEndian);
}

TEST_F(PixelsTest, OddLengthFrameHasNoPadByte) {
  Frame f = Read("SC_rgb_small_odd.dcm", 1, FrameEncoding::kNative);
  EXPECT_EQ(f.bytes.size(), 3u * 3u * 3u);
  EXPECT_EQ(f.photometric_interpretation, "RGB");
}

TEST_F(PixelsTest, BigEndianAndImplicitFramesAreLittleEndian) {
  Frame le = Read("MR_small.dcm", 1, FrameEncoding::kNative);
  ASSERT_EQ(le.bytes.size(), 64u * 64u * 2u);
  EXPECT_EQ(Read("MR_small_bigendian.dcm", 1, FrameEncoding::kNative).bytes, le.bytes);
  EXPECT_EQ(Read("MR_small_implicit.dcm", 1, FrameEncoding::kNative).bytes, le.bytes);
  // As stored from a big-endian file: still the Explicit VR Little Endian frame.
  Frame be_stored = Read("MR_small_bigendian.dcm", 1, FrameEncoding::kAsStored);
  EXPECT_EQ(be_stored.bytes, le.bytes);
  EXPECT_EQ(be_stored.transfer_syntax_uid, kExplicitVrLittleEndian);
}

TEST_F(PixelsTest, UncompressedMultiFrame) {
  // rtdose.dcm: 15 frames of 10x10, 32 bits, implicit VR.
  constexpr std::size_t kFrameSize = 10 * 10 * 4;
  auto bulk = ReadBulkData(F("rtdose.dcm"), "7FE00010");
  ASSERT_TRUE(bulk.ok());
  ASSERT_EQ(bulk->size(), 15 * kFrameSize);
  Frame first = Read("rtdose.dcm", 1, FrameEncoding::kNative);
  Frame second = Read("rtdose.dcm", 2, FrameEncoding::kNative);
  Frame last = Read("rtdose.dcm", 15, FrameEncoding::kNative);
  EXPECT_EQ(first.bytes.size(), kFrameSize);
  EXPECT_EQ(second.bytes.size(), kFrameSize);
  EXPECT_NE(first.bytes, second.bytes);
  EXPECT_EQ(first.bytes, bulk->substr(0, kFrameSize));
  EXPECT_EQ(second.bytes, bulk->substr(kFrameSize, kFrameSize));
  EXPECT_EQ(last.bytes, bulk->substr(14 * kFrameSize, kFrameSize));
  // The big-endian copy: DCMTK swaps OW by 16-bit words (PS3.5 8.1.1 packs a
  // 32-bit cell into two words, low word first); pydicom wrote this file as
  // whole 32-bit big-endian values, so the words come out in the other order.
  // Explicit VR Big Endian is retired; we follow DCMTK and note the ambiguity.
  Frame be = Read("rtdose_expb.dcm", 2, FrameEncoding::kNative);
  ASSERT_EQ(be.bytes.size(), kFrameSize);
  for (std::size_t i = 0; i < kFrameSize; i += 4)
    ASSERT_EQ(be.bytes.substr(i, 2) + be.bytes.substr(i + 2, 2),
              second.bytes.substr(i + 2, 2) + second.bytes.substr(i, 2))
        << "at byte " << i;

  ExpectError(ReadFrame(F("rtdose.dcm"), 16, FrameEncoding::kNative), Code::kNotFound);
  ExpectError(ReadFrame(F("rtdose.dcm"), 0, FrameEncoding::kNative), Code::kNotFound);
  ExpectError(ReadFrame(F("rtdose.dcm"), -1, FrameEncoding::kAsStored), Code::kNotFound);
  ExpectError(ReadFrame(F("CT_small.dcm"), 2, FrameEncoding::kNative), Code::kNotFound);
}

// --- Compressed frames ---

TEST_F(PixelsTest, JpegBaselineColour) {
  Frame native = Read("SC_rgb_jpeg_dcmtk.dcm", 1, FrameEncoding::kNative);
  EXPECT_EQ(native.bytes.size(), 100u * 100u * 3u);
  EXPECT_EQ(native.transfer_syntax_uid, kExplicitVrLittleEndian);
  EXPECT_EQ(native.photometric_interpretation, "RGB");  // stored as YBR_FULL: the decoder converts
  Frame stored = Read("SC_rgb_jpeg_dcmtk.dcm", 1, FrameEncoding::kAsStored);
  EXPECT_EQ(stored.transfer_syntax_uid, kJpegBaseline);
  EXPECT_TRUE(StartsWith(stored.bytes, "\xFF\xD8")) << "not a JPEG stream";
  EXPECT_LT(stored.bytes.size(), native.bytes.size());
  // The stored frame is a complete JPEG stream: ends with EOI (the fragment
  // may carry one pad byte after it).
  EXPECT_NE(stored.bytes.rfind("\xFF\xD9"), std::string::npos);
  EXPECT_GE(stored.bytes.rfind("\xFF\xD9"), stored.bytes.size() - 3);
}

TEST_F(PixelsTest, JpegExtended12Bit) {
  Frame native = Read("JPEG-lossy.dcm", 1, FrameEncoding::kNative);
  EXPECT_EQ(native.bytes.size(), 1024u * 256u * 2u);
  Frame stored = Read("JPEG-lossy.dcm", 1, FrameEncoding::kAsStored);
  EXPECT_EQ(stored.transfer_syntax_uid, kJpegExtended);
  EXPECT_TRUE(StartsWith(stored.bytes, "\xFF\xD8\xFF"));
}

TEST_F(PixelsTest, LosslessCodecsDecodeToTheUncompressedFrame) {
  Frame reference = Read("MR_small.dcm", 1, FrameEncoding::kNative);
  ASSERT_EQ(reference.bytes.size(), 64u * 64u * 2u);

  Frame jpeg_ls = Read("MR_small_jpeg_ls_lossless.dcm", 1, FrameEncoding::kNative);
  EXPECT_EQ(jpeg_ls.bytes, reference.bytes);
  EXPECT_EQ(jpeg_ls.transfer_syntax_uid, kExplicitVrLittleEndian);
  Frame jpeg_ls_stored = Read("MR_small_jpeg_ls_lossless.dcm", 1, FrameEncoding::kAsStored);
  EXPECT_EQ(jpeg_ls_stored.transfer_syntax_uid, kJpegLsLossless);
  EXPECT_TRUE(StartsWith(jpeg_ls_stored.bytes, "\xFF\xD8"));

  Frame rle = Read("MR_small_RLE.dcm", 1, FrameEncoding::kNative);
  EXPECT_EQ(rle.bytes, reference.bytes);
  Frame rle_stored = Read("MR_small_RLE.dcm", 1, FrameEncoding::kAsStored);
  EXPECT_EQ(rle_stored.transfer_syntax_uid, kRle);
  EXPECT_EQ(static_cast<unsigned char>(rle_stored.bytes[0]),
            2);  // RLE header: two byte segments for 16 bits
}

TEST_F(PixelsTest, RleMultiFrameWithoutOffsetTable) {
  // rtdose_rle.dcm: the same 15 frames as rtdose.dcm, one RLE fragment each, empty offset table.
  auto reference = ReadBulkData(F("rtdose.dcm"), "7FE00010");
  ASSERT_TRUE(reference.ok());
  for (int frame : {1, 2, 7, 15}) {
    Frame f = Read("rtdose_rle.dcm", frame, FrameEncoding::kNative);
    EXPECT_EQ(f.bytes, reference->substr((frame - 1) * 400u, 400u)) << "frame " << frame;
  }
  // Out of order, too (no "previous frame" state between calls).
  EXPECT_EQ(Read("rtdose_rle.dcm", 9, FrameEncoding::kNative).bytes,
            reference->substr(8 * 400u, 400u));
  Frame s1 = Read("rtdose_rle.dcm", 1, FrameEncoding::kAsStored);
  Frame s2 = Read("rtdose_rle.dcm", 2, FrameEncoding::kAsStored);
  EXPECT_EQ(s1.transfer_syntax_uid, kRle);
  EXPECT_EQ(static_cast<unsigned char>(s1.bytes[0]), 4);  // four segments for 32 bits
  EXPECT_NE(s1.bytes, s2.bytes);
  ExpectError(ReadFrame(F("rtdose_rle.dcm"), 16, FrameEncoding::kAsStored), Code::kNotFound);
}

TEST_F(PixelsTest, RleMultiFrameWithOffsetTableColour) {
  Frame f1 = Read("SC_rgb_rle_2frame.dcm", 1, FrameEncoding::kNative);
  Frame f2 = Read("SC_rgb_rle_2frame.dcm", 2, FrameEncoding::kNative);
  EXPECT_EQ(f1.bytes.size(), 100u * 100u * 3u);
  EXPECT_EQ(f2.bytes.size(), 100u * 100u * 3u);
  EXPECT_EQ(f1.photometric_interpretation, "RGB");
  Frame s2 = Read("SC_rgb_rle_2frame.dcm", 2, FrameEncoding::kAsStored);
  EXPECT_EQ(s2.bytes.size(), 664u);
  ExpectError(ReadFrame(F("SC_rgb_rle_2frame.dcm"), 3, FrameEncoding::kNative), Code::kNotFound);
}

// Two JPEG frames, each split over two fragments, with or without a Basic
// Offset Table: built from SC_rgb_jpeg_dcmtk.dcm (frame 1) and
// SC_rgb_dcmtk_+eb+cy+np.dcm (frame 2), both 100x100 baseline.
std::string TwoFrameJpeg(const std::string& head, const std::string& jpeg1,
                         const std::string& jpeg2, bool with_bot,
                         const std::vector<std::uint64_t>& extended_offsets = {}) {
  auto le32 = [](std::uint32_t v) {
    std::string out(4, '\0');
    for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
    return out;
  };
  auto item = [&](const std::string& value) {
    return std::string("\xFE\xFF\x00\xE0", 4) + le32(value.size()) + value;
  };
  auto even = [](std::string s) {
    if (s.size() % 2) s += '\0';
    return s;
  };
  std::string f1 = even(jpeg1), f2 = even(jpeg2);
  std::vector<std::string> fragments = {f1.substr(0, 800), f1.substr(800), f2.substr(0, 600),
                                        f2.substr(600)};
  std::string bot;
  if (with_bot)
    bot = le32(0) +
          le32(static_cast<std::uint32_t>(8 + fragments[0].size() + 8 + fragments[1].size()));
  std::string out = head;
  // Number of Frames (0028,0008) IS "2 ", before Rows (0028,0010).
  std::size_t rows = out.find(std::string("\x28\x00\x10\x00US", 6));
  out.insert(rows, std::string("\x28\x00\x08\x00IS\x02\x00"
                               "2 ",
                               10));
  if (!extended_offsets.empty()) {
    // Extended Offset Table (7FE0,0001) OV.
    out += std::string("\xE0\x7F\x01\x00OV\x00\x00", 8);
    out += le32(static_cast<std::uint32_t>(8 * extended_offsets.size()));
    for (std::uint64_t v : extended_offsets) out += le32(v & 0xFFFFFFFF) + le32(v >> 32);
  }
  out += std::string("\xE0\x7F\x10\x00OB\x00\x00\xFF\xFF\xFF\xFF", 12);
  out += item(bot);
  for (const auto& f : fragments) out += item(f);
  out += std::string("\xFE\xFF\xDD\xE0\x00\x00\x00\x00", 8);
  return out;
}

TEST_F(PixelsTest, FramesSpanningSeveralFragments) {
  std::string source = ReadBytes(F("SC_rgb_jpeg_dcmtk.dcm"));
  std::size_t pixel_data = source.rfind(std::string("\xE0\x7F\x10\x00OB", 6));
  ASSERT_NE(pixel_data, std::string::npos);
  Frame jpeg1 = Read("SC_rgb_jpeg_dcmtk.dcm", 1, FrameEncoding::kAsStored);
  Frame jpeg2 = Read("SC_rgb_dcmtk_+eb+cy+np.dcm", 1, FrameEncoding::kAsStored);
  ASSERT_GT(jpeg1.bytes.size(), 800u);
  ASSERT_GT(jpeg2.bytes.size(), 600u);
  Frame native1 = Read("SC_rgb_jpeg_dcmtk.dcm", 1, FrameEncoding::kNative);
  Frame native2 = Read("SC_rgb_dcmtk_+eb+cy+np.dcm", 1, FrameEncoding::kNative);
  TempDir dir;
  for (bool with_bot : {true, false}) {
    SCOPED_TRACE(with_bot ? "with offset table" : "without offset table");
    WriteBytes(dir / "two.dcm",
               TwoFrameJpeg(source.substr(0, pixel_data), jpeg1.bytes, jpeg2.bytes, with_bot));
    // Frame 2 first: random access must not depend on having read frame 1.
    auto stored2 = ReadFrame(dir / "two.dcm", 2, FrameEncoding::kAsStored);
    ASSERT_TRUE(stored2.ok()) << stored2.status().ToString();
    EXPECT_EQ(stored2->bytes.substr(0, jpeg2.bytes.size()), jpeg2.bytes);
    EXPECT_EQ(stored2->transfer_syntax_uid, kJpegBaseline);
    auto n2 = ReadFrame(dir / "two.dcm", 2, FrameEncoding::kNative);
    ASSERT_TRUE(n2.ok()) << n2.status().ToString();
    EXPECT_EQ(n2->bytes.size(), 30000u);
    EXPECT_EQ(n2->bytes, native2.bytes);
    auto n1 = ReadFrame(dir / "two.dcm", 1, FrameEncoding::kNative);
    ASSERT_TRUE(n1.ok()) << n1.status().ToString();
    EXPECT_EQ(n1->bytes, native1.bytes);
    auto stored1 = ReadFrame(dir / "two.dcm", 1, FrameEncoding::kAsStored);
    ASSERT_TRUE(stored1.ok());
    EXPECT_EQ(stored1->bytes.substr(0, jpeg1.bytes.size()), jpeg1.bytes);
    RenderOptions png;
    png.format = RenderOptions::Format::kPng;
    auto r2 = RenderFrame(dir / "two.dcm", 2, png);
    ASSERT_TRUE(r2.ok()) << r2.status().ToString();
    EXPECT_EQ(ParsePng(*r2).width, 100u);
    ExpectError(ReadFrame(dir / "two.dcm", 3, FrameEncoding::kAsStored), Code::kNotFound);
  }
}

TEST_F(PixelsTest, ExtendedOffsetTableTakesPrecedence) {
  std::string source = ReadBytes(F("SC_rgb_jpeg_dcmtk.dcm"));
  std::size_t pixel_data = source.rfind(std::string("\xE0\x7F\x10\x00OB", 6));
  ASSERT_NE(pixel_data, std::string::npos);
  Frame jpeg1 = Read("SC_rgb_jpeg_dcmtk.dcm", 1, FrameEncoding::kAsStored);
  Frame jpeg2 = Read("SC_rgb_dcmtk_+eb+cy+np.dcm", 1, FrameEncoding::kAsStored);
  TempDir dir;
  // A table that (wrongly) says frame 2 starts at the second fragment: it is
  // believed over the start markers, so frame 1 is the first fragment alone.
  WriteBytes(dir / "ext.dcm", TwoFrameJpeg(source.substr(0, pixel_data), jpeg1.bytes, jpeg2.bytes,
                                           /*with_bot=*/false, {0, 8 + 800}));
  auto f1 = ReadFrame(dir / "ext.dcm", 1, FrameEncoding::kAsStored);
  ASSERT_TRUE(f1.ok()) << f1.status().ToString();
  EXPECT_EQ(f1->bytes, jpeg1.bytes.substr(0, 800));
  // A table that does not fit the fragments is ignored: the markers decide.
  WriteBytes(dir / "bad.dcm", TwoFrameJpeg(source.substr(0, pixel_data), jpeg1.bytes, jpeg2.bytes,
                                           /*with_bot=*/false, {0, 12345}));
  auto f2 = ReadFrame(dir / "bad.dcm", 2, FrameEncoding::kAsStored);
  ASSERT_TRUE(f2.ok()) << f2.status().ToString();
  EXPECT_EQ(f2->bytes.substr(0, jpeg2.bytes.size()), jpeg2.bytes);
}

TEST_F(PixelsTest, Jpeg2000CannotBeDecompressedButCanBeServedAsStored) {
  ExpectError(ReadFrame(F("MR_small_jp2klossless.dcm"), 1, FrameEncoding::kNative),
              Code::kUnsupported);
  Frame stored = Read("MR_small_jp2klossless.dcm", 1, FrameEncoding::kAsStored);
  EXPECT_EQ(stored.transfer_syntax_uid, kJpeg2000Lossless);
  EXPECT_TRUE(StartsWith(stored.bytes, "\xFF\x4F\xFF\x51"));  // SOC, SIZ
  auto render = RenderFrame(F("MR_small_jp2klossless.dcm"), 1, RenderOptions{});
  ASSERT_FALSE(render.ok());
  EXPECT_EQ(render.status().code(), Code::kUnsupported);
}

// --- Not images, broken files ---

TEST_F(PixelsTest, ObjectWithoutPixelData) {
  ExpectError(ReadFrame(F("rtplan.dcm"), 1, FrameEncoding::kNative), Code::kNotFound);
  auto render = RenderFrame(F("rtplan.dcm"), 1, RenderOptions{});
  ASSERT_FALSE(render.ok());
  EXPECT_EQ(render.status().code(), Code::kNotFound);
}

TEST_F(PixelsTest, MissingTruncatedAndGarbageFiles) {
  TempDir dir;
  ExpectError(ReadFrame(dir / "nope.dcm", 1, FrameEncoding::kNative), Code::kNotFound);
  WriteBytes(dir / "garbage.dcm", std::string(1000, '\x7f'));
  ExpectError(ReadFrame(dir / "garbage.dcm", 1, FrameEncoding::kNative), Code::kInvalidArgument);
  EXPECT_FALSE(RenderFrame(dir / "garbage.dcm", 1, RenderOptions{}).ok());

  EXPECT_FALSE(ReadFrame(F("MR_truncated.dcm"), 1, FrameEncoding::kNative).ok());
  EXPECT_FALSE(RenderFrame(F("MR_truncated.dcm"), 1, RenderOptions{}).ok());

  // Cut short inside the pixel data, or inside a compressed fragment.
  for (const char* name :
       {"CT_small.dcm", "rtdose.dcm", "SC_rgb_rle_2frame.dcm", "MR_small_jpeg_ls_lossless.dcm"}) {
    std::string bytes = ReadBytes(F(name));
    for (std::size_t cut : {bytes.size() / 2, bytes.size() - 300, bytes.size() - 1}) {
      WriteBytes(dir / "cut.dcm", bytes.substr(0, cut));
      for (auto want : {FrameEncoding::kNative, FrameEncoding::kAsStored})
        EXPECT_FALSE(ReadFrame(dir / "cut.dcm", 1, want).ok()) << name << " cut at " << cut;
      EXPECT_FALSE(RenderFrame(dir / "cut.dcm", 1, RenderOptions{}).ok())
          << name << " cut at " << cut;
    }
  }
}

TEST_F(PixelsTest, AbsurdDimensionsAreRefusedBeforeDecoding) {
  // A small JPEG whose header now claims 65535 x 65535 RGB pixels (12 GB).
  TempDir dir;
  std::string bytes = ReadBytes(F("SC_rgb_jpeg_dcmtk.dcm"));
  for (std::string_view tag : {std::string_view("\x28\x00\x10\x00US\x02\x00", 8),
                               std::string_view("\x28\x00\x11\x00US\x02\x00", 8)}) {
    std::size_t at = bytes.find(tag);
    ASSERT_NE(at, std::string::npos);
    bytes[at + 8] = '\xFF';
    bytes[at + 9] = '\xFF';
  }
  WriteBytes(dir / "huge.dcm", bytes);
  ExpectError(ReadFrame(dir / "huge.dcm", 1, FrameEncoding::kNative), Code::kTooLarge);
  RenderOptions thumbnail;
  thumbnail.max_size = 128;
  auto render = RenderFrame(dir / "huge.dcm", 1, thumbnail);
  ASSERT_FALSE(render.ok());
  EXPECT_EQ(render.status().code(), Code::kTooLarge);
  // As stored needs no decoding: the stored bytes are served.
  EXPECT_TRUE(ReadFrame(dir / "huge.dcm", 1, FrameEncoding::kAsStored).ok());
}

TEST_F(PixelsTest, DeflatedAndOneBitObjects) {
  // Deflated Explicit VR Little Endian: DCMTK inflates the whole dataset.
  Frame deflated = Read("image_dfl.dcm", 1, FrameEncoding::kNative);
  EXPECT_EQ(deflated.bytes.size(), 512u * 512u);
  EXPECT_EQ(deflated.transfer_syntax_uid, kExplicitVrLittleEndian);
  // Bits Allocated 1: 512 x 512 bits.
  Frame bits = Read("liver_1frame.dcm", 1, FrameEncoding::kNative);
  EXPECT_EQ(bits.bytes.size(), 512u * 512u / 8u);
  // Uncompressed 4:2:2: two bytes per pixel, and the stored colour model.
  Frame ybr = Read("SC_ybr_full_422_uncompressed.dcm", 1, FrameEncoding::kNative);
  EXPECT_EQ(ybr.bytes.size(), 100u * 100u * 2u);
  EXPECT_EQ(ybr.photometric_interpretation, "YBR_FULL_422");
}

// --- Rendering ---

TEST_F(PixelsTest, RenderJpegAndPng) {
  std::string jpeg = Render("CT_small.dcm", 1, RenderOptions{});
  EXPECT_TRUE(StartsWith(jpeg, "\xFF\xD8\xFF"));
  RenderOptions png_options;
  png_options.format = RenderOptions::Format::kPng;
  std::string png = Render("CT_small.dcm", 1, png_options);
  PngHeader h = ParsePng(png);
  EXPECT_EQ(h.width, 128u);
  EXPECT_EQ(h.height, 128u);
  EXPECT_EQ(h.bit_depth, 8);
  EXPECT_EQ(h.colour_type, 0);  // greyscale
}

TEST_F(PixelsTest, RenderScalesToFitKeepingAspect) {
  RenderOptions options;
  options.format = RenderOptions::Format::kPng;
  options.max_size = 64;
  PngHeader ct = ParsePng(Render("CT_small.dcm", 1, options));
  EXPECT_EQ(ct.width, 64u);
  EXPECT_EQ(ct.height, 64u);
  // JPEG-lossy.dcm is 256 wide, 1024 high.
  options.max_size = 128;
  PngHeader tall = ParsePng(Render("JPEG-lossy.dcm", 1, options));
  EXPECT_EQ(tall.width, 32u);
  EXPECT_EQ(tall.height, 128u);
  // Never enlarged.
  options.max_size = 1000;
  PngHeader small = ParsePng(Render("MR_small.dcm", 1, options));
  EXPECT_EQ(small.width, 64u);
  EXPECT_EQ(small.height, 64u);
  // A thumbnail as JPEG.
  RenderOptions thumbnail;
  thumbnail.max_size = 16;
  EXPECT_TRUE(StartsWith(Render("SC_rgb_jpeg_dcmtk.dcm", 1, thumbnail), "\xFF\xD8\xFF"));
}

TEST_F(PixelsTest, RenderWindowChangesTheImage) {
  RenderOptions options;
  options.format = RenderOptions::Format::kPng;
  std::string stored_window = Render("MR_small.dcm", 1, options);  // its own VOI window (600/1600)
  options.window_center = 100;
  options.window_width = 50;
  std::string narrow = Render("MR_small.dcm", 1, options);
  EXPECT_NE(stored_window, narrow);
  options.window_center = 100;
  options.window_width = 50;
  EXPECT_EQ(Render("MR_small.dcm", 1, options), narrow);  // deterministic
  // Min-max (CT_small has no window) differs from an explicit narrow window too.
  RenderOptions png;
  png.format = RenderOptions::Format::kPng;
  RenderOptions ct_window = png;
  ct_window.window_center = 40;
  ct_window.window_width = 80;
  EXPECT_NE(Render("CT_small.dcm", 1, png), Render("CT_small.dcm", 1, ct_window));
}

TEST_F(PixelsTest, RenderColourAndCompressedAndMultiFrame) {
  RenderOptions png;
  png.format = RenderOptions::Format::kPng;
  for (const char* name : {"SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm",
                           "SC_rgb_rle_2frame.dcm", "SC_ybr_full_422_uncompressed.dcm"}) {
    PngHeader h = ParsePng(Render(name, 1, png));
    EXPECT_EQ(h.colour_type, 2) << name;  // RGB
    EXPECT_EQ(h.width, 100u) << name;
  }
  PngHeader ls = ParsePng(Render("MR_small_jpeg_ls_lossless.dcm", 1, png));
  EXPECT_EQ(ls.width, 64u);
  EXPECT_EQ(Render("MR_small_RLE.dcm", 1, png),
            Render("MR_small.dcm", 1, png));  // lossless: same picture
  EXPECT_NE(Render("rtdose.dcm", 1, png), Render("rtdose.dcm", 15, png));
  auto beyond = RenderFrame(F("rtdose.dcm"), 16, png);
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.status().code(), Code::kNotFound);
}

TEST_F(PixelsTest, RenderMonochrome1IsInverted) {
  // MR_small with its Photometric Interpretation changed to MONOCHROME1
  // (same length, so the file stays well formed).
  TempDir dir;
  std::string bytes = ReadBytes(F("MR_small.dcm"));
  std::size_t at = bytes.find("MONOCHROME2");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 10] = '1';
  WriteBytes(dir / "mono1.dcm", bytes);
  RenderOptions png;
  png.format = RenderOptions::Format::kPng;
  png.window_center = 600;
  png.window_width = 1600;
  auto mono1 = RenderFrame(dir / "mono1.dcm", 1, png);
  ASSERT_TRUE(mono1.ok()) << mono1.status().ToString();
  EXPECT_EQ(ParsePng(*mono1).colour_type, 0);
  EXPECT_NE(*mono1, Render("MR_small.dcm", 1, png));
}

TEST_F(PixelsTest, RenderOptionsValidated) {
  auto expect_invalid = [&](const RenderOptions& options) {
    auto r = RenderFrame(F("CT_small.dcm"), 1, options);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  };
  RenderOptions o;
  o.quality = 0;
  expect_invalid(o);
  o.quality = 101;
  expect_invalid(o);
  o = RenderOptions{};
  o.max_size = -1;
  expect_invalid(o);
  o = RenderOptions{};
  o.window_center = 40;
  expect_invalid(o);
  o.window_width = 0;
  expect_invalid(o);
  o.window_width = -5;
  expect_invalid(o);
  o.window_width = std::numeric_limits<double>::infinity();
  expect_invalid(o);
  // PNG ignores quality.
  RenderOptions png;
  png.format = RenderOptions::Format::kPng;
  png.quality = 0;
  EXPECT_TRUE(RenderFrame(F("CT_small.dcm"), 1, png).ok());
}

// --- Concurrency ---

TEST_F(PixelsTest, ConcurrentCallsAgreeWithSequentialOnes) {
  // Decoder registration happens on first use, possibly from several threads at once.
  struct Job {
    const char* name;
    int frame;
  };
  const std::vector<Job> jobs = {{"MR_small_RLE.dcm", 1},
                                 {"MR_small_jpeg_ls_lossless.dcm", 1},
                                 {"SC_rgb_jpeg_dcmtk.dcm", 1},
                                 {"rtdose_rle.dcm", 7},
                                 {"JPEG-lossy.dcm", 1}};
  std::vector<std::string> expected_frames, expected_renders;
  RenderOptions thumb;
  thumb.max_size = 32;
  for (const auto& job : jobs) {
    expected_frames.push_back(Read(job.name, job.frame, FrameEncoding::kNative).bytes);
    expected_renders.push_back(Render(job.name, job.frame, thumb));
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (std::size_t i = 0; i < jobs.size(); ++i) {
          auto f = ReadFrame(F(jobs[i].name), jobs[i].frame, FrameEncoding::kNative);
          if (!f.ok() || f->bytes != expected_frames[i]) ++mismatches[t];
          auto r = RenderFrame(F(jobs[i].name), jobs[i].frame, thumb);
          if (!r.ok() || *r != expected_renders[i]) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace bastion::dicom
