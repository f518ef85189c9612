// Fuzz target: the multipart/related reader that every STOW-RS body goes
// through before anything is trusted (web/multipart.h).
//
// Input: a first line (at most 200 bytes, up to LF, a CR before it dropped)
// that is either a Content-Type ("multipart/related; boundary=...") or a bare
// boundary, then the body. The last byte of the input picks how the body is
// cut into Feed() calls (one whole chunk, or pseudo-random chunks of 1..1,
// 1..7, 1..64 or 1..4096 bytes) and, rarely, a handler that fails after a few
// callbacks. The handler checks what the header promises: OnPartData only
// inside a part and never empty, Begin/End paired, header blocks within the
// limit, no more data than body bytes, nothing after a failure or the end.
// A complete body is then written again with MultipartWriter and read back:
// the same parts with the same bytes.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "web/media_type.h"
#include "web/multipart.h"

namespace {

using bastion::Code;
using bastion::Status;
namespace web = bastion::web;

[[noreturn]] void Bug() { __builtin_trap(); }

class CheckingHandler : public web::MultipartHandler {
 public:
  CheckingHandler(std::size_t body_size, std::size_t max_header_bytes, long fail_after, bool keep)
      : body_size_(body_size), max_header_bytes_(max_header_bytes), fail_after_(fail_after), keep_(keep) {}

  Status OnPartBegin(const web::PartHeaders& headers) override {
    Callback();
    if (in_part_) Bug();
    in_part_ = true;
    std::size_t header_bytes = 0;
    for (const auto& f : headers.fields) {
      if (f.name.empty()) Bug();
      header_bytes += f.name.size() + f.value.size();
    }
    if (header_bytes > max_header_bytes_) Bug();
    if (keep_) parts_.emplace_back();
    return Verdict();
  }
  Status OnPartData(std::string_view data) override {
    Callback();
    if (!in_part_ || data.empty()) Bug();
    data_bytes_ += data.size();
    if (data_bytes_ > body_size_) Bug();
    if (keep_) parts_.back().append(data);
    return Verdict();
  }
  Status OnPartEnd() override {
    Callback();
    if (!in_part_) Bug();
    in_part_ = false;
    ++ended_;
    return Verdict();
  }

  // No callback may come after the handler failed or the parser stopped.
  void Close() { closed_ = true; }
  bool in_part() const { return in_part_; }
  bool failed() const { return failed_; }
  std::size_t ended() const { return ended_; }
  const std::vector<std::string>& parts() const { return parts_; }

 private:
  void Callback() {
    if (closed_ || failed_) Bug();
    ++callbacks_;
  }
  Status Verdict() {
    if (fail_after_ >= 0 && callbacks_ > fail_after_) {
      failed_ = true;
      return Status(Code::kInternal, "handler refused");
    }
    return Status::Ok();
  }

  const std::size_t body_size_, max_header_bytes_;
  const long fail_after_;
  const bool keep_;
  bool in_part_ = false, closed_ = false, failed_ = false;
  long callbacks_ = 0;
  std::size_t data_bytes_ = 0, ended_ = 0;
  std::vector<std::string> parts_;
};

// A tiny deterministic generator for chunk sizes.
struct Lcg {
  std::uint32_t state;
  std::uint32_t Next() {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  }
};

// The boundary named by the first line: a Content-Type, or a bare boundary.
bool BoundaryFrom(std::string_view line, std::string& boundary) {
  if (auto type = web::ParseMediaType(line); type.ok()) {
    auto b = web::BoundaryOf(*type);
    if (!b.ok()) return false;
    boundary = std::move(b).value();
    return true;
  }
  web::MediaType type{"multipart", "related", {{"boundary", std::string(line)}}};
  auto b = web::BoundaryOf(type);
  if (!b.ok()) return false;
  boundary = std::move(b).value();
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.empty()) return 0;
  std::size_t nl = input.find('\n');
  if (nl == std::string_view::npos || nl > 200) return 0;
  std::string_view line = input.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string_view body = input.substr(nl + 1);

  std::string boundary;
  if (!BoundaryFrom(line, boundary)) return 0;
  if (boundary.empty() || boundary.size() > 70) Bug();  // BoundaryOf promises RFC 2046

  const std::uint8_t schedule = data[size - 1];
  static constexpr std::uint32_t kMaxChunk[] = {0, 1, 7, 64, 4096};  // 0: one Feed
  const std::uint32_t max_chunk = kMaxChunk[schedule % 5];
  const long fail_after = (schedule & 0xF0) == 0xF0 ? long(schedule & 0x07) : -1;

  web::MultipartParser::Limits limits;
  limits.max_parts = 64;  // small enough that the limit is reached, large enough for real seeds
  CheckingHandler handler(body.size(), limits.max_header_bytes, fail_after, /*keep=*/fail_after < 0);
  web::MultipartParser parser(boundary, handler, limits);

  Status status;
  Lcg lcg{schedule * 2654435761u + static_cast<std::uint32_t>(size)};
  for (std::size_t at = 0; at < body.size() && status.ok();) {
    std::size_t n = max_chunk == 0 ? body.size() : 1 + lcg.Next() % max_chunk;
    if (n > body.size() - at) n = body.size() - at;
    status = parser.Feed(body.substr(at, n));
    at += n;
  }
  if (status.ok()) status = parser.Finish();
  handler.Close();

  if (handler.failed() && status.ok()) Bug();  // the handler's failure must stop the parser
  if (parser.parts() > limits.max_parts) Bug();
  if (status.ok()) {
    if (!parser.complete() || handler.in_part() || handler.ended() != parser.parts()) Bug();
  } else {
    // After a failure every later call returns it again, without callbacks.
    Status again = parser.Feed("\r\n--" + boundary + "\r\n\r\nx");
    if (again.ok() || again.code() != status.code()) Bug();
    if (parser.Finish().ok()) Bug();
    return 0;
  }

  // Round trip: the parts written again with the same boundary read back the same.
  web::MultipartWriter writer(boundary);
  std::string written;
  for (const auto& part : handler.parts()) {
    written += writer.BeginPart("application/octet-stream");
    written += part;
  }
  written += writer.Close();
  CheckingHandler again(written.size(), limits.max_header_bytes, -1, /*keep=*/true);
  web::MultipartParser reparser(boundary, again, limits);
  Status s = reparser.Feed(written);
  if (s.ok()) s = reparser.Finish();
  again.Close();
  if (!s.ok() || again.parts() != handler.parts()) Bug();
  return 0;
}
