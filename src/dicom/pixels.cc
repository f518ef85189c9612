#include "dicom/pixels.h"
#include "dicom/load.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfcache.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcxfer.h>
// Not sorted: dipipng.h uses DCMTK_DCMIMGLE_EXPORT without including
// its definition, so dcmimage.h must come first.
// clang-format off
#include <dcmtk/dcmimgle/dcmimage.h>
#include <dcmtk/dcmimage/diregist.h>  // colour images in DicomImage
#include <dcmtk/dcmimage/dipipng.h>
// clang-format on
#include <dcmtk/dcmjpeg/dipijpeg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace bastion::dicom {
namespace {

using internal::kMaxReadLength;
using internal::LoadStructure;

// The parsed object with its Pixel Data, checked against the frame asked for.
struct ImageObject {
  std::unique_ptr<DcmFileFormat> file;
  DcmDataset* dataset = nullptr;
  DcmPixelData* pixel_data = nullptr;
  E_TransferSyntax xfer = EXS_Unknown;
  Uint32 number_of_frames = 1;
  DcmPixelSequence* fragments = nullptr;  // encapsulated only
};

Result<ImageObject> OpenImage(const std::filesystem::path& file, int frame_number) {
  ImageObject image;
  BASTION_ASSIGN_OR_RETURN(image.file, LoadStructure(file));
  image.dataset = image.file->getDataset();
  image.xfer = image.dataset->getOriginalXfer();
  DcmElement* el = nullptr;
  if (image.dataset->findAndGetElement(DCM_PixelData, el, OFFalse).bad() || el == nullptr ||
      el->ident() != EVR_PixelData)
    return Status(Code::kNotFound, "the object has no pixel data");
  image.pixel_data = static_cast<DcmPixelData*>(el);
  Sint32 frames = 1;
  if (image.dataset->findAndGetSint32(DCM_NumberOfFrames, frames).good() && frames > 1)
    image.number_of_frames = static_cast<Uint32>(frames);
  if (frame_number < 1 || static_cast<Uint32>(frame_number) > image.number_of_frames)
    return Status(Code::kNotFound, "no frame " + std::to_string(frame_number) +
                                       " (the object has " +
                                       std::to_string(image.number_of_frames) + ")");
  if (DcmXfer(image.xfer).isEncapsulated()) {
    E_TransferSyntax rep = EXS_Unknown;
    const DcmRepresentationParameter* param = nullptr;
    image.pixel_data->getOriginalRepresentationKey(rep, param);
    if (DcmXfer(rep).isEncapsulated() &&
        image.pixel_data->getEncapsulatedRepresentation(rep, param, image.fragments).bad())
      image.fragments = nullptr;
  }
  return image;
}

Status CheckDecodable(const ImageObject& image) {
  if (image.fragments == nullptr) return Status::Ok();
  if (DcmCodecList::canChangeCoding(image.xfer, EXS_LittleEndianExplicit)) return Status::Ok();
  return Status(Code::kUnsupported, std::string("cannot decompress ") +
                                        DcmXfer(image.xfer).getXferName() +
                                        " (no decoder for it in DCMTK 3.6.7)");
}

Result<std::string> ItemBytes(DcmPixelItem& item, Uint32 offset, Uint32 length,
                              DcmFileCache* cache) {
  std::string bytes(length, '\0');
  if (length == 0) return bytes;
  OFCondition cond = item.getPartialValue(bytes.data(), offset, length, cache, EBO_LittleEndian);
  if (cond.bad())
    return Status(Code::kCorrupt, std::string("reading a pixel data fragment: ") + cond.text());
  return bytes;
}

// Fragment indexes (1-based within the pixel sequence: item 0 is the Basic
// Offset Table) of each frame's first fragment, plus one past the last.
Result<std::vector<unsigned long>> FrameStarts(ImageObject& image, DcmFileCache* cache) {
  DcmPixelSequence& seq = *image.fragments;
  const unsigned long items = seq.card();
  if (items < 2) return Status(Code::kCorrupt, "encapsulated pixel data without fragments");
  const unsigned long fragments = items - 1;
  const Uint32 frames = image.number_of_frames;
  std::vector<unsigned long> starts;
  if (frames == 1) return std::vector<unsigned long>{1, items};
  if (fragments == frames) {
    for (unsigned long i = 1; i <= items; ++i) starts.push_back(i);
    return starts;
  }

  // Offsets of each frame's first fragment item, relative to the first
  // fragment item: the Extended Offset Table if present, else the Basic one.
  std::vector<std::uint64_t> offsets;
  DcmElement* extended = nullptr;
  if (image.dataset->findAndGetElement(DCM_ExtendedOffsetTable, extended, OFFalse).good() &&
      extended && extended->getLength() == 8ull * frames) {
    std::vector<Uint64> table(frames);
    if (extended->getPartialValue(table.data(), 0, 8 * frames, cache, EBO_LittleEndian).good())
      offsets.assign(table.begin(), table.end());
  }
  DcmPixelItem* bot = nullptr;
  if (offsets.empty() && seq.getItem(bot, 0).good() && bot && bot->getLength() == 4ull * frames) {
    std::vector<Uint32> table(frames);
    if (bot->getPartialValue(table.data(), 0, 4 * frames, cache, EBO_LittleEndian).good())
      offsets.assign(table.begin(), table.end());
  }
  if (!offsets.empty()) {
    std::uint64_t position = 0;
    std::size_t next = 0;
    for (unsigned long i = 1; i < items && next < offsets.size(); ++i) {
      if (offsets[next] == position) starts.push_back(i), ++next;
      DcmPixelItem* item = nullptr;
      if (seq.getItem(item, i).bad() || !item) break;
      position += 8 + item->getLength();
    }
    if (next == offsets.size()) {
      starts.push_back(items);
      return starts;
    }
    starts.clear();  // an offset table that does not match the fragments: find the frames ourselves
  }

  // No usable table: a frame starts with a fragment that starts a codestream
  // (JPEG and JPEG-LS SOI FF D8, JPEG 2000 SOC FF 4F).
  for (unsigned long i = 1; i < items; ++i) {
    DcmPixelItem* item = nullptr;
    if (seq.getItem(item, i).bad() || !item)
      return Status(Code::kCorrupt, "unreadable pixel data fragment");
    if (item->getLength() < 2) continue;
    BASTION_ASSIGN_OR_RETURN(std::string head, ItemBytes(*item, 0, 2, cache));
    if (head[0] == '\xFF' && (head[1] == '\xD8' || head[1] == '\x4F')) starts.push_back(i);
  }
  if (starts.size() != frames || starts.front() != 1)
    return Status(Code::kCorrupt,
                  "cannot find the frame boundaries in the encapsulated pixel data");
  starts.push_back(items);
  return starts;
}

Result<Frame> StoredFrame(ImageObject& image, int frame_number) {
  DcmFileCache cache;
  BASTION_ASSIGN_OR_RETURN(std::vector<unsigned long> starts, FrameStarts(image, &cache));
  Frame frame;
  frame.transfer_syntax_uid = DcmXfer(image.xfer).getXferID();
  const std::size_t index = static_cast<std::size_t>(frame_number - 1);
  for (unsigned long i = starts[index]; i < starts[index + 1]; ++i) {
    DcmPixelItem* item = nullptr;
    if (image.fragments->getItem(item, i).bad() || !item)
      return Status(Code::kCorrupt, "unreadable pixel data fragment");
    BASTION_ASSIGN_OR_RETURN(std::string bytes, ItemBytes(*item, 0, item->getLength(), &cache));
    frame.bytes += bytes;
  }
  return frame;
}

// Refuses frames whose declared size is absurd before anything is allocated:
// a few hundred bytes of JPEG may claim 65535 x 65535 x 3 samples.
Status CheckFrameSize(DcmDataset& dataset) {
  Uint16 rows = 0, columns = 0, samples = 1, bits = 0;
  dataset.findAndGetUint16(DCM_Rows, rows);
  dataset.findAndGetUint16(DCM_Columns, columns);
  dataset.findAndGetUint16(DCM_SamplesPerPixel, samples);
  dataset.findAndGetUint16(DCM_BitsAllocated, bits);
  if (rows == 0 || columns == 0 || samples == 0 || bits == 0)
    return Status(Code::kInvalidArgument,
                  "the image has no rows, columns, samples or bits allocated");
  std::uint64_t bytes = (static_cast<std::uint64_t>(rows) * columns * samples * bits + 7) / 8;
  if (bytes > kMaxFrameBytes)
    return Status(Code::kTooLarge, "a frame of " + std::to_string(bytes) +
                                       " bytes is over the limit of " +
                                       std::to_string(kMaxFrameBytes));
  return Status::Ok();
}

// One frame of native (uncompressed) pixel data, read at its offset in the
// file. DCMTK's getUncompressedFrame is not used here: in 3.6.7 it sizes
// YBR_FULL_422 frames as if they were not subsampled.
Result<Frame> UncompressedFrame(ImageObject& image, int frame_number) {
  DcmDataset& ds = *image.dataset;
  Uint16 rows = 0, columns = 0, samples = 1, bits = 0;
  ds.findAndGetUint16(DCM_Rows, rows);
  ds.findAndGetUint16(DCM_Columns, columns);
  ds.findAndGetUint16(DCM_SamplesPerPixel, samples);
  ds.findAndGetUint16(DCM_BitsAllocated, bits);
  OFString photometric;
  ds.findAndGetOFString(DCM_PhotometricInterpretation, photometric);
  std::uint64_t frame_bits = static_cast<std::uint64_t>(rows) * columns * samples * bits;
  // PS3.3 C.7.6.3.1.2: 4:2:2 stores two luminance values and one pair of
  // chrominance values per two pixels.
  if (samples == 3 && (photometric == "YBR_FULL_422" || photometric == "YBR_PARTIAL_422"))
    frame_bits = frame_bits * 2 / 3;
  if (frame_bits % 8 != 0 && image.number_of_frames > 1)
    return Status(Code::kUnsupported,
                  "frames of bit-packed pixels that do not end on a byte boundary");
  const std::uint64_t frame_size = (frame_bits + 7) / 8;
  const std::uint64_t offset = frame_size * static_cast<std::uint64_t>(frame_number - 1);
  // Native data shorter than its frames say: refuse rather than read past it.
  if (offset + frame_size > image.pixel_data->getLength())
    return Status(Code::kCorrupt, "pixel data is shorter than its frames");
  Frame frame;
  frame.transfer_syntax_uid = kExplicitVrLittleEndian;
  frame.photometric_interpretation = photometric.c_str();
  // Slack for DCMTK swapping whole words at an odd end.
  frame.bytes.assign(frame_size + 2, '\0');
  DcmFileCache cache;
  OFCondition cond =
      image.pixel_data->getPartialValue(frame.bytes.data(), static_cast<Uint32>(offset),
                                        static_cast<Uint32>(frame_size), &cache, EBO_LittleEndian);
  if (cond.bad())
    return Status(Code::kCorrupt, std::string("cannot read the frame: ") + cond.text());
  frame.bytes.resize(frame_size);
  return frame;
}

Result<Frame> NativeFrame(ImageObject& image, int frame_number) {
  BASTION_RETURN_IF_ERROR(CheckFrameSize(*image.dataset));
  if (image.fragments == nullptr) return UncompressedFrame(image, frame_number);
  BASTION_RETURN_IF_ERROR(CheckDecodable(image));
  Uint32 frame_size = 0;
  OFCondition cond = image.pixel_data->getUncompressedFrameSize(image.dataset, frame_size);
  if (cond.bad() || frame_size == 0)
    return Status(Code::kInvalidArgument,
                  std::string("inconsistent image attributes: ") + cond.text());
  Frame frame;
  frame.transfer_syntax_uid = kExplicitVrLittleEndian;
  // Room for the pad byte DCMTK may write when swapping an odd-length frame.
  frame.bytes.assign(frame_size + (frame_size & 1), '\0');
  // Where the frame starts, when we can tell: DCMTK's own search only works
  // for frames read in order when frames span several fragments and the
  // offset table is empty. 0 lets DCMTK look.
  Uint32 start_fragment = 0;
  DcmFileCache cache;
  auto starts = FrameStarts(image, &cache);
  if (starts.ok())
    start_fragment = static_cast<Uint32>((*starts)[static_cast<std::size_t>(frame_number - 1)]);
  OFString colour_model;
  cond = image.pixel_data->getUncompressedFrame(
      image.dataset, static_cast<Uint32>(frame_number - 1), start_fragment, frame.bytes.data(),
      static_cast<Uint32>(frame.bytes.size()), colour_model, &cache);
  if (cond.bad())
    return Status(Code::kCorrupt, std::string("cannot decode the frame: ") + cond.text());
  frame.bytes.resize(frame_size);
  frame.photometric_interpretation = colour_model.c_str();
  return frame;
}

// Replaces the object's compressed Pixel Data by one decoded frame, so that
// DicomImage renders what we decoded: DicomImage finds frames by DCMTK's own
// search, which cannot locate a frame spanning several fragments without an
// offset table unless all frames before it are decoded first.
Status ReplaceWithDecodedFrame(ImageObject& object, const Frame& frame) {
  DcmDataset& ds = *object.dataset;
  Uint16 bits = 0;
  ds.findAndGetUint16(DCM_BitsAllocated, bits);
  delete ds.remove(DCM_PixelData);
  object.pixel_data = nullptr;
  object.fragments = nullptr;
  auto pixel_data =
      std::make_unique<DcmPixelData>(DcmTag(DCM_PixelData, bits > 8 ? EVR_OW : EVR_OB));
  OFCondition cond =
      bits > 8 ? pixel_data->putUint16Array(reinterpret_cast<const Uint16*>(frame.bytes.data()),
                                            static_cast<unsigned long>(frame.bytes.size() / 2))
               : pixel_data->putUint8Array(reinterpret_cast<const Uint8*>(frame.bytes.data()),
                                           static_cast<unsigned long>(frame.bytes.size()));
  if (cond.good()) cond = ds.insert(pixel_data.get(), OFTrue);
  if (cond.bad())
    return Status(Code::kInternal, std::string("preparing the frame to render: ") + cond.text());
  pixel_data.release();  // the dataset owns it now
  ds.putAndInsertString(DCM_NumberOfFrames, "1");
  if (!frame.photometric_interpretation.empty())
    ds.putAndInsertString(DCM_PhotometricInterpretation, frame.photometric_interpretation.c_str());
  return Status::Ok();
}

// An in-memory FILE* for DCMTK's image writers, which only write to C streams.
class MemoryStream {
 public:
  MemoryStream() : file_(open_memstream(&data_, &size_)) {}
  ~MemoryStream() {
    if (file_) fclose(file_);
    free(data_);
  }
  MemoryStream(const MemoryStream&) = delete;
  MemoryStream& operator=(const MemoryStream&) = delete;
  FILE* file() { return file_; }
  // Closes the stream and returns what was written.
  std::string Take() {
    if (file_) fclose(file_);
    file_ = nullptr;
    return std::string(data_ ? data_ : "", size_);
  }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
  FILE* file_ = nullptr;
};

Status StatusFromImage(EI_Status status) {
  std::string what = std::string("cannot render the image: ") + DicomImage::getString(status);
  switch (status) {
    case EIS_NotSupportedValue:
      return Status(Code::kUnsupported, what);
    case EIS_MissingAttribute:
    case EIS_InvalidValue:
    case EIS_InvalidDocument:
      return Status(Code::kInvalidArgument, what);
    case EIS_MemoryFailure:
      return Status(Code::kTooLarge, what);
    default:
      return Status(Code::kCorrupt, what);
  }
}

}  // namespace

Result<Frame> ReadFrame(const std::filesystem::path& file, int frame_number, FrameEncoding want) {
  RegisterDecoders();
  BASTION_ASSIGN_OR_RETURN(ImageObject image, OpenImage(file, frame_number));
  if (want == FrameEncoding::kAsStored && image.fragments != nullptr) {
    // MPEG-2, MPEG-4 and HEVC (1.2.840.10008.1.2.4.100-108) are one stream
    // for all frames: there is no stored frame to cut out.
    if (std::string_view(DcmXfer(image.xfer).getXferID()).starts_with("1.2.840.10008.1.2.4.10"))
      return Status(Code::kUnsupported,
                    "video frames are one stream: retrieve the pixel data as bulk data");
    return StoredFrame(image, frame_number);
  }
  return NativeFrame(image, frame_number);
}

Result<std::string> RenderFrame(const std::filesystem::path& file, int frame_number,
                                const RenderOptions& options) {
  if (options.format == RenderOptions::Format::kJpeg &&
      (options.quality < 1 || options.quality > 100))
    return Status(Code::kInvalidArgument, "JPEG quality must be 1..100");
  if (options.max_size < 0) return Status(Code::kInvalidArgument, "max_size must not be negative");
  if (options.window_center.has_value() != options.window_width.has_value())
    return Status(Code::kInvalidArgument, "window centre and width come together");
  if (options.window_width && !(*options.window_width > 0 && std::isfinite(*options.window_width) &&
                                std::isfinite(*options.window_center)))
    return Status(Code::kInvalidArgument, "window width must be positive and both finite");

  RegisterDecoders();
  BASTION_ASSIGN_OR_RETURN(ImageObject object, OpenImage(file, frame_number));
  BASTION_RETURN_IF_ERROR(CheckDecodable(object));
  BASTION_RETURN_IF_ERROR(CheckFrameSize(*object.dataset));
  Uint16 rows = 0, columns = 0;
  object.dataset->findAndGetUint16(DCM_Rows, rows);
  object.dataset->findAndGetUint16(DCM_Columns, columns);
  if (rows == 0 || columns == 0)
    return Status(Code::kInvalidArgument, "the image has no rows or columns");
  const int limit =
      options.max_size == 0 ? kMaxRenderDimension : std::min(options.max_size, kMaxRenderDimension);
  if (options.max_size == 0 && (rows > kMaxRenderDimension || columns > kMaxRenderDimension))
    return Status(Code::kTooLarge, "the image is larger than " +
                                       std::to_string(kMaxRenderDimension) +
                                       " pixels across; ask for a smaller size");
  // The whole frame is decoded before it is scaled down.
  if (static_cast<std::uint64_t>(rows) * columns > kMaxRenderSourcePixels)
    return Status(Code::kTooLarge, "the frame has too many pixels to render");

  // Only the one frame is decoded: a compressed frame by us (see
  // ReplaceWithDecodedFrame), a native one by DicomImage's partial access.
  E_TransferSyntax xfer = object.xfer;
  unsigned long first_frame = static_cast<unsigned long>(frame_number - 1);
  if (object.fragments != nullptr) {
    BASTION_ASSIGN_OR_RETURN(Frame decoded, NativeFrame(object, frame_number));
    BASTION_RETURN_IF_ERROR(ReplaceWithDecodedFrame(object, decoded));
    xfer = EXS_LittleEndianExplicit;
    first_frame = 0;
  }
  // The dataset stays ours (no CIF_TakeOverExternalDataset) and outlives the image.
  DicomImage image(object.dataset, xfer, CIF_UsePartialAccessToPixelData, first_frame, 1);
  if (image.getStatus() != EIS_Normal) return StatusFromImage(image.getStatus());

  if (image.isMonochrome()) {
    int ok = 1;
    if (options.window_center)
      ok = image.setWindow(*options.window_center, *options.window_width);
    else if (image.getWindowCount() > 0)
      ok = image.setWindow(0);
    else if (image.getVoiLutCount() > 0)
      ok = image.setVoiLut(0);
    else
      ok = image.setMinMaxWindow();
    if (!ok) image.setMinMaxWindow();  // an unusable stored window: still show something
  }

  DicomImage* output = &image;
  std::unique_ptr<DicomImage> scaled;
  const unsigned long width = image.getWidth(), height = image.getHeight();
  if (width > static_cast<unsigned long>(limit) || height > static_cast<unsigned long>(limit)) {
    double factor =
        std::min(static_cast<double>(limit) / width, static_cast<double>(limit) / height);
    auto new_width = std::clamp<unsigned long>(std::lround(width * factor), 1, limit);
    auto new_height = std::clamp<unsigned long>(std::lround(height * factor), 1, limit);
    scaled.reset(image.createScaledImage(new_width, new_height, /*interpolate=*/1, /*aspect=*/0));
    if (!scaled || scaled->getStatus() != EIS_Normal)
      return Status(Code::kCorrupt, "cannot scale the image");
    output = scaled.get();
  }

  MemoryStream stream;
  if (!stream.file()) return Status(Code::kInternal, "cannot open a memory stream");
  int written = 0;
  if (options.format == RenderOptions::Format::kJpeg) {
    DiJPEGPlugin plugin;
    plugin.setQuality(static_cast<unsigned int>(options.quality));
    written = output->writePluginFormat(&plugin, stream.file(), 0);
  } else {
    DiPNGPlugin plugin;
    plugin.setInterlaceType(E_pngInterlaceNone);
    written = output->writePluginFormat(&plugin, stream.file(), 0);
  }
  std::string bytes = stream.Take();
  if (!written || bytes.empty()) return Status(Code::kCorrupt, "cannot encode the rendered image");
  return bytes;
}

}  // namespace bastion::dicom
