// Media types (RFC 9110 8.3.1, 12.5.1) as DICOMweb (PS3.18 8.7) uses them:
// parsing Content-Type and Accept, and choosing what to send.
//
// Pure functions, no I/O; thread-safe.
//
// Parsing is lenient where real clients differ and strict where it matters:
//  - type, subtype and parameter names are case-insensitive (stored lower-case);
//    parameter values are kept as sent (transfer-syntax UIDs, boundaries);
//  - a value is a token or a quoted-string with backslash escapes; an unquoted
//    value runs to the next ';' (boundaries with '=' or '/' are sent unquoted);
//  - whitespace around ';' and '=' is allowed; empty parameters (";;") skipped;
//  - duplicate parameters are kept in order (OHIF sends two transfer-syntax
//    parameters);
//  - in an Accept list a bare "*" means "*/*" (Java's default Accept has it),
//    q accepts ".5" as well as "0.5"; an element that does not parse is
//    dropped, and only a header in which no element parses is an error.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dicom/pixels.h"
#include "util/status.h"

namespace bastion::web {

// Explicit VR Little Endian: the transfer syntax of DICOMweb when none is named (PS3.18 8.7.3.5.2).
inline constexpr std::string_view kExplicitVrLittleEndian = dicom::kExplicitVrLittleEndian;

struct MediaParameter {
  std::string name;   // lower-case
  std::string value;  // unquoted, unescaped, as sent otherwise
};

struct MediaType {
  std::string type;     // lower-case; "*" in an Accept range
  std::string subtype;  // lower-case; "*" in an Accept range
  std::vector<MediaParameter> parameters;  // in order, duplicates kept

  // "type/subtype".
  std::string Essence() const { return type + "/" + subtype; }
  // The first value of a parameter (name case-insensitive); nullptr when absent.
  const std::string* Find(std::string_view name) const;
  // Every value of a parameter, in order.
  std::vector<std::string_view> FindAll(std::string_view name) const;
};

// One media type, e.g. a Content-Type. kInvalidArgument when it does not parse.
// Wildcards are refused here ("*/*" is an Accept range, not a content type).
Result<MediaType> ParseMediaType(std::string_view text);

// One element of an Accept header.
struct MediaRange {
  MediaType media;    // may be "*/*" or "type/*"; the q parameter is removed
  int quality = 1000;  // q in thousandths: 0 (not acceptable) .. 1000
};

// An Accept header (several Accept headers: pass them all; they are one list).
// An empty header, or none, is an empty list, which Negotiate reads as "*/*".
// kInvalidArgument only when the header is not empty and no element parses.
Result<std::vector<MediaRange>> ParseAccept(std::string_view header);
Result<std::vector<MediaRange>> ParseAccept(std::span<const std::string> headers);

// Something the server can send, in the order the server prefers them.
struct Offer {
  std::string media_type;       // "multipart/related", "application/dicom+json", "image/jpeg", ...
  std::string type_param;       // multipart/related: the parts' type ("application/octet-stream"); else empty
  std::string transfer_syntax;  // the transfer syntax UID delivered, or empty when the type has none (JSON)
  bool as_stored = false;       // delivered without transcoding: preferred when the client accepts any
};

struct Choice {
  std::size_t index = 0;  // into the offers
  int quality = 0;        // q of the range that accepted it, 1..1000
};

// The offer to send, or nullopt: nothing acceptable (answer 406).
//
// Each offer takes the q of the most specific Accept range that matches it
// (RFC 9110 12.5.1); q=0 excludes it. The best offer has the highest q, then
// the most specific range, then as_stored, then comes first in `offers`.
// A range matches an offer when:
//  - "*/*" matches any offer, "type/*" any offer of that type; wildcards
//    carry no parameter constraints;
//  - otherwise type/subtype are equal, and for multipart/related the range's
//    `type` parameter (quoted or not, case-insensitive), when given, equals
//    the offer's type_param (a range without one matches any part type);
//  - transfer-syntax: "*" matches any, preferring as_stored; a UID matches
//    that UID (any one of several transfer-syntax parameters); no parameter
//    means the type's default (PS3.18 8.7.3.5.2): Explicit VR Little Endian
//    for application/dicom and application/octet-stream (also as multipart
//    part types), anything for other types (image/jpeg names its own).
//    Deviation: when no offer of that type has the default, the as_stored
//    offer matches instead (OHIF asks for frames without a transfer-syntax
//    and reads the real one from each part's Content-Type; a 406 would leave
//    images Bastion cannot transcode unviewable).
// An empty `accept` is "*/*".
//
// A frame request for an object stored as JPEG Lossless that can be decoded:
//   const Offer offers[] = {
//       {"multipart/related", "application/octet-stream", stored_ts, true},
//       {"multipart/related", "application/octet-stream", std::string(kExplicitVrLittleEndian), false},
//       {"application/octet-stream", "", stored_ts, true}};
//   auto choice = Negotiate(accept, offers);  // nullopt: 406
//   // Content-Type: ContentTypeOf(offers[choice->index], boundary);
//   // each part:   PartContentTypeOf(offers[choice->index]).
std::optional<Choice> Negotiate(std::span<const MediaRange> accept, std::span<const Offer> offers);

// The Content-Type of an offer, with `boundary` for multipart types:
// multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1; boundary=...
std::string ContentTypeOf(const Offer& offer, std::string_view boundary = {});
// The Content-Type of one part of a multipart offer (Cornerstone reads the
// transfer syntax of a frame from here): application/octet-stream; transfer-syntax=...
std::string PartContentTypeOf(const Offer& offer);

}  // namespace bastion::web
