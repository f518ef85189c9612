// multipart/related (RFC 2046 5.1, RFC 2387) for STOW-RS request bodies and
// WADO-RS responses. Pure code, no I/O.
//
// Reading is incremental: MultipartParser takes the body in chunks of any
// size (one byte at a time works) and never holds a part's body: its memory
// is the part header block (bounded) plus the boundary length plus a small
// constant, so a 2 GB STOW body streams through it.
//
// What it accepts, because real clients send it:
//  - a preamble before the first delimiter, including the lone CRLF that
//    dicomweb-client puts first (bounded by Limits::max_preamble_bytes);
//  - transport padding (spaces, tabs) after a delimiter;
//  - nothing, CRLF or anything (the epilogue, ignored) after the close delimiter;
//  - header lines folded onto continuation lines (unfolded);
//  - zero parts ("--b--"): the caller decides whether that is an error.
// What it refuses (kInvalidArgument unless said): no first delimiter; a
// delimiter followed by anything but padding and CRLF or "--"; a header line
// without ':' or with a bad name; a header block over Limits::max_header_bytes
// (kTooLarge); more parts than Limits::max_parts (kTooLarge); the end of the
// input before the close delimiter ("truncated"). Bare LF is not a line end.
//
// Writing: MultipartWriter produces the delimiters and part headers; the
// caller sends each part's bytes itself between them. CRLF only, no preamble
// (Cornerstone takes the first line starting with "--" as the boundary).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"
#include "web/media_type.h"

namespace bastion::web {

// The boundary of a multipart Content-Type, quoted or not.
// kUnsupported (415) when the type is not multipart/*; kInvalidArgument when
// the boundary is missing, given twice with different values, or breaks RFC
// 2046 (1-70 characters of DIGIT ALPHA '()+_,-./:=? and space, not ending in
// a space).
Result<std::string> BoundaryOf(const MediaType& content_type);

struct HeaderField {
  std::string name;   // as sent
  std::string value;  // trimmed, folded lines joined with one space
};

struct PartHeaders {
  std::vector<HeaderField> fields;  // in order
  // The first value of a header (name case-insensitive); nullptr when absent.
  const std::string* Find(std::string_view name) const;
};

// What the parser reports, in order: for each part OnPartBegin, any number
// of OnPartData (possibly none, never empty), OnPartEnd.
// A failed Status stops the parser and is what Feed/Finish return.
class MultipartHandler {
 public:
  virtual ~MultipartHandler() = default;
  virtual Status OnPartBegin(const PartHeaders& headers) = 0;
  virtual Status OnPartData(std::string_view data) = 0;  // never empty
  virtual Status OnPartEnd() = 0;
};

// One parser per body; not thread-safe.
class MultipartParser {
 public:
  // Every limit finite.
  struct Limits {
    std::size_t max_header_bytes = 16 * 1024;  // one part's header block, CRLFs included
    std::size_t max_preamble_bytes = 16 * 1024;  // bytes before the first delimiter
    std::size_t max_parts = 10000;               // a STOW of a big study is ~thousands of instances
    std::size_t max_padding_bytes = 256;         // transport padding after a delimiter
  };

  // `boundary` as from BoundaryOf (valid); the handler must outlive the parser.
  MultipartParser(std::string_view boundary, MultipartHandler& handler);
  MultipartParser(std::string_view boundary, MultipartHandler& handler, Limits limits);

  // The next bytes of the body. After a failure every later call returns it again.
  Status Feed(std::string_view chunk);
  // The end of the body: fails unless the close delimiter was seen.
  Status Finish();

  // The close delimiter was seen (later bytes are the epilogue, ignored).
  bool complete() const { return state_ == State::kEpilogue; }
  std::size_t parts() const { return parts_; }

 private:
  enum class State {
    kPreamble, kAfterDelimiter, kAfterDash, kPadding, kPaddingCr, kHeaders, kBody, kEpilogue, kFailed
  };

  Status Fail(Status s);
  // Scans for the delimiter in body or preamble; returns bytes consumed.
  Result<std::size_t> ScanBody(std::string_view chunk);
  Status EmitData(std::string_view data);
  Status ParseHeaderBlock();

  const std::string delimiter_;  // "\r\n--" + boundary
  MultipartHandler& handler_;
  const Limits limits_;
  State state_ = State::kPreamble;
  Status error_;
  std::string held_;    // the end of the data so far that may begin a delimiter (< delimiter_ size)
  std::string header_;  // the current part's header block
  std::size_t preamble_bytes_ = 0;
  std::size_t padding_bytes_ = 0;
  std::size_t parts_ = 0;
};

// A random boundary: 48 hex characters from the CSPRNG (RAND_bytes), so it
// cannot be predicted or planted inside DICOM data (DICOMWEB.md bug 4).
std::string NewBoundary();

// Writes a multipart body: BeginPart before each part's bytes, Close after
// the last. CRLF only, no preamble, no trailing CRLF after the close delimiter.
class MultipartWriter {
 public:
  explicit MultipartWriter(std::string boundary) : boundary_(std::move(boundary)) {}

  const std::string& boundary() const { return boundary_; }
  // "--b\r\nContent-Type: ...\r\n\r\n" (with "\r\n" before "--" after the
  // first part). `extra` headers follow Content-Type. CR and LF in names and
  // values are replaced by spaces (no header injection).
  std::string BeginPart(std::string_view content_type, const std::vector<HeaderField>& extra = {});
  // "\r\n--b--" (or "--b--" when no part was written).
  std::string Close();

 private:
  std::string boundary_;
  bool first_ = true;
};

}  // namespace bastion::web
