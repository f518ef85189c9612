// Frames and rendered images of a stored Part 10 object, for the DICOMweb
// front end (WADO-RS frames, rendered, thumbnail). No DCMTK type appears here.
//
// Thread-safety: every function may be called concurrently from any number of
// threads. Each call parses its own copy of the file and builds its own image
// objects; DCMTK's decoders (JPEG, JPEG-LS, RLE) are registered once, on first
// use, under std::call_once (dicom::RegisterDecoders, shared with DIMSE).
//
// Memory: only the requested frame is read. A native frame is copied straight
// from the file at its offset; a compressed frame's fragments are read and
// decoded on their own; the rest of a multi-frame object stays on disk (a
// 100 MB, 3000-frame object costs ~12 MB of RSS per call). Rendering holds
// the one decoded frame (twice for a compressed one: ours and DicomImage's),
// its 8-bit output, the scaled copy and the encoded result.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "dicom/dicom.h"
#include "util/status.h"

namespace bastion::dicom {

inline constexpr const char* kExplicitVrLittleEndian = "1.2.840.10008.1.2.1";

enum class FrameEncoding {
  // Uncompressed pixel bytes of one frame with Explicit VR Little Endian
  // semantics (little-endian words; transfer_syntax_uid = 1.2.840.10008.1.2.1).
  // Compressed objects are decompressed (JPEG baseline/extended/lossless,
  // JPEG-LS, RLE); JPEG 2000 and video syntaxes fail with kUnsupported
  // (DCMTK 3.6.7 ships no decoder for them).
  kNative,
  // The frame as stored: for a compressed object the fragments of that frame
  // concatenated, with the stored transfer syntax; for an uncompressed object
  // the same as kNative. Frame boundaries come from the Extended Offset
  // Table, else the Basic Offset Table, else one fragment per frame, else the
  // codestream start markers (JPEG/JPEG-LS SOI, JPEG 2000 SOC). Video
  // syntaxes (MPEG-2/4, HEVC) fail with kUnsupported: one stream, no frames.
  kAsStored,
};

struct Frame {
  std::string bytes;
  std::string transfer_syntax_uid;
  // The colour model of `bytes` when uncompressed. Decoders may change it:
  // a YBR_FULL_422 JPEG decodes to "RGB", so a client told to use the stored
  // Photometric Interpretation would get colours wrong. Empty for kAsStored
  // compressed frames (the stored value applies).
  std::string photometric_interpretation;
};

// No frame is decoded or returned that is larger than this, whatever its
// header claims (a small compressed stream may claim gigabytes). 1 GiB is
// ~16 times the largest single images seen in practice (full-field digital
// mammography, 4k x 5k x 16 bits is 40 MB; a large WSI tile frame far less).
inline constexpr std::uint64_t kMaxFrameBytes = 1ull << 30;

// Frame `frame_number` (1-based) of `file`.
// Errors: kNotFound if the file does not exist, has no Pixel Data, or
// frame_number is outside 1..NumberOfFrames; kInvalidArgument for a file DCMTK
// cannot parse (including a truncated one) or inconsistent image attributes;
// kUnsupported for kNative of a syntax we cannot decompress; kTooLarge for a
// frame over kMaxFrameBytes (kNative); kCorrupt when the stored pixel data
// cannot be read or decoded.
Result<Frame> ReadFrame(const std::filesystem::path& file, int frame_number, FrameEncoding want);

struct RenderOptions {
  enum class Format { kJpeg, kPng };
  Format format = Format::kJpeg;
  int quality = 90;  // JPEG quality, 1..100; ignored for PNG
  // Both or neither; width > 0. Absent: the object's first VOI window if it
  // has one, else the frame's min-max range. Monochrome images only.
  std::optional<double> window_center, window_width;
  // 0: full size (if within kMaxRenderDimension). Otherwise the image is
  // scaled to fit within max_size x max_size, keeping its aspect ratio (never
  // enlarged); values over kMaxRenderDimension count as kMaxRenderDimension.
  // A thumbnail is max_size = 128 or so: the caller decides.
  int max_size = 0;
};

// No rendered image, full size or scaled, is wider or higher than this.
inline constexpr int kMaxRenderDimension = 8192;
// The largest frame (rows x columns) we decode to render, scaled or not: the
// frame is decoded whole before it is scaled.
inline constexpr std::uint64_t kMaxRenderSourcePixels = 64ull << 20;

// Frame `frame_number` (1-based) of `file` rendered to an 8-bit JPEG or PNG
// (monochrome as greyscale with MONOCHROME1 inverted as the standard says;
// colour — RGB, YBR_*, PALETTE COLOR — as RGB).
// Errors: kNotFound for a missing file, an object without Pixel Data (not an
// image) or a frame number out of range; kInvalidArgument for bad options
// (quality outside 1..100, negative max_size, only one of centre/width, a
// width <= 0) or an unparsable file; kTooLarge when the output would exceed
// kMaxRenderDimension (pass max_size) or the frame is over
// kMaxRenderSourcePixels or kMaxFrameBytes; kUnsupported for a syntax we cannot
// decompress; kCorrupt when DCMTK cannot decode or encode the frame.
Result<std::string> RenderFrame(const std::filesystem::path& file, int frame_number,
                                const RenderOptions& options);

}  // namespace bastion::dicom
