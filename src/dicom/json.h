// The DICOM JSON model (PS3.18 Annex F) of a stored Part 10 object, and the
// bulk data its BulkDataURIs name. Used by the DICOMweb front end (WADO-RS
// metadata, bulkdata); no DCMTK type appears here.
//
// Thread-safety: every function is safe to call concurrently (each call parses
// its own copy of the file; DCMTK's data dictionary is read-only after start).
// Options are read, never written; `bulk_data_uri` is called on the calling
// thread only.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "util/status.h"

namespace bastion::dicom {

// Deepest sequence nesting we render or accept in a tag path. Real objects
// nest a handful of levels (SR content trees are the deepest, ~10); anything
// deeper is refused rather than walked, so a hostile object cannot make us
// recurse without bound.
inline constexpr int kMaxSequenceDepth = 16;

struct JsonOptions {
  // Binary values (VR OB, OD, OF, OL, OV, OW, UN) of at most this many bytes are
  // inlined as base64 "InlineBinary"; longer ones become "BulkDataURI". 1 KiB
  // keeps small binary attributes (private blobs, LUT descriptors' companions,
  // icon-sized values) in the metadata while keeping metadata responses small.
  std::size_t inline_binary_max = 1024;
  // The same limit for Pixel Data (7FE0,0010) and Float/Double Float Pixel
  // Data (7FE0,0008/0009). 0: never inlined — pixels are fetched as frames.
  // Encapsulated (compressed) Pixel Data is never inlined, whatever this says.
  std::size_t inline_pixel_data_max = 0;
  // Makes the (relative) URI for the value at `tag_path` — "7FE00010", or
  // "00540016/0/00181072" for a value inside item 0 of a sequence: tags as 8
  // upper-case hex digits, item indexes from 0, separated by "/". The same
  // path given to ReadBulkData returns the bytes. Empty: values over the
  // limits above are written with their "vr" only (no Value, no BulkDataURI,
  // no InlineBinary).
  std::function<std::string(std::string_view tag_path)> bulk_data_uri;
};

// The dataset of `file` (a Part 10 file, any transfer syntax DCMTK reads) as
// one DICOM JSON object (not an array):
//  - keys are 8 upper-case hex digits in ascending order; every attribute has
//    "vr"; "Value" is left out when the value is empty; an empty value inside a
//    multi-valued attribute is null;
//  - the file meta group (0002) and group lengths (gggg,0000) are left out, as
//    is Data Set Trailing Padding (FFFC,FFFC);
//  - strings are UTF-8, converted from the Specific Character Set in force
//    (an item's own (0008,0005) overrides its parent's); (0008,0005) itself
//    then reads "ISO_IR 192". A value that cannot be converted keeps its ASCII
//    characters and has every other byte replaced by U+FFFD, so the result is
//    always valid UTF-8; padding (trailing spaces/NULs; leading spaces where
//    PS3.5 says they are insignificant) is removed;
//  - PN values are objects with "Alphabetic", "Ideographic", "Phonetic" (only
//    the groups that are not empty);
//  - US, SS, UL, SL, FL, FD, UV, SV, IS and DS values are JSON numbers. An IS
//    or DS value that is not a valid (finite, in-range) number is kept as the
//    string that was stored rather than failing the whole object: clients get
//    to see what is there. FL/FD NaN and infinities are the strings "NaN",
//    "Infinity", "-Infinity";
//  - AT values are 8-digit hex strings;
//  - sequences are arrays of item objects (empty items are {}), nested at most
//    kMaxSequenceDepth deep (deeper: kInvalidArgument);
//  - binary values per `options` above. Values over the limits are not loaded:
//    only their lengths are read, so metadata of a large multi-frame object
//    costs its header, not its pixels.
// Errors: kNotFound if the file does not exist, kInvalidArgument if DCMTK
// cannot open or parse it (including a truncated file), kCorrupt if a value
// left on disk cannot be read back when it is inlined.
Result<nlohmann::json> ReadDicomJson(const std::filesystem::path& file, const JsonOptions& options);

// True for a well-formed tag path: 8 hex digits, then any number of
// "/<item index>/<8 hex digits>" pairs, at most kMaxSequenceDepth of them;
// item indexes are decimal without leading zeros and below 1,000,000. Nothing
// else (no "..", no empty segments, no signs or spaces).
bool IsValidTagPath(std::string_view tag_path);

// The bytes of the value at `tag_path` (as produced for JsonOptions::
// bulk_data_uri) in `file`:
//  - for native values, the value as Explicit VR Little Endian would carry it
//    (byte-swapped from a big-endian file by the value's VR width); for native
//    Pixel Data that is all frames' pixel bytes;
//  - for encapsulated Pixel Data, the stored fragments concatenated in order,
//    without item headers and without the Basic Offset Table (for one frame
//    per fragment that is the frames' compressed bitstreams back to back; use
//    pixels.h ReadFrame for one frame).
// Errors: kInvalidArgument for a malformed path, or for a path that names a
// sequence rather than a value; kNotFound when the path names nothing in this
// object; errors of ReadDicomJson for the file itself. The value is read in
// full (bulk data is bounded by the 4 GiB DICOM value length).
Result<std::string> ReadBulkData(const std::filesystem::path& file, std::string_view tag_path);

}  // namespace bastion::dicom
