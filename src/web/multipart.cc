#include "web/multipart.h"

#include <algorithm>

#include "util/crypto.h"

namespace bastion::web {
namespace {

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return Lower(x) == Lower(y); });
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 2046 bcharsnospace.
bool IsBoundaryChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("'()+_,-./:=?").find(c) != std::string_view::npos;
}

// RFC 9110 token characters (header field names).
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

Status Malformed(std::string why) { return Status(Code::kInvalidArgument, "multipart body: " + std::move(why)); }

std::string NoLineBreaks(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c == '\r' || c == '\n') c = ' ';
  return out;
}

}  // namespace

Result<std::string> BoundaryOf(const MediaType& content_type) {
  if (content_type.type != "multipart")
    return Status(Code::kUnsupported, "expected a multipart Content-Type, not " + content_type.Essence());
  std::vector<std::string_view> values = content_type.FindAll("boundary");
  if (values.empty()) return Status(Code::kInvalidArgument, "multipart Content-Type without a boundary");
  for (std::string_view v : values)
    if (v != values.front()) return Status(Code::kInvalidArgument, "multipart Content-Type with two different boundaries");
  std::string_view b = values.front();
  if (b.empty() || b.size() > 70) return Status(Code::kInvalidArgument, "a multipart boundary must have 1 to 70 characters");
  if (b.back() == ' ') return Status(Code::kInvalidArgument, "a multipart boundary must not end with a space");
  for (char c : b)
    if (c != ' ' && !IsBoundaryChar(c))
      return Status(Code::kInvalidArgument, "a multipart boundary has a character RFC 2046 does not allow");
  return std::string(b);
}

const std::string* PartHeaders::Find(std::string_view name) const {
  for (const auto& f : fields)
    if (EqualsIgnoreCase(f.name, name)) return &f.value;
  return nullptr;
}

MultipartParser::MultipartParser(std::string_view boundary, MultipartHandler& handler)
    : MultipartParser(boundary, handler, Limits{}) {}

MultipartParser::MultipartParser(std::string_view boundary, MultipartHandler& handler, Limits limits)
    : delimiter_("\r\n--" + std::string(boundary)), handler_(handler), limits_(limits) {
  // The first delimiter may open the body without a CRLF before it: start as
  // if one had been read.
  held_ = "\r\n";
}

Status MultipartParser::Fail(Status s) {
  state_ = State::kFailed;
  error_ = s;
  held_.clear();
  header_.clear();
  return s;
}

Status MultipartParser::EmitData(std::string_view data) {
  if (data.empty()) return Status::Ok();
  if (state_ == State::kPreamble) {
    preamble_bytes_ += data.size();
    if (preamble_bytes_ > limits_.max_preamble_bytes)
      return Malformed("no boundary delimiter in the first " + std::to_string(limits_.max_preamble_bytes) + " bytes");
    return Status::Ok();
  }
  return handler_.OnPartData(data);
}

// Precondition: held_ is a proper prefix of delimiter_ (possibly empty).
// Emits the data before a delimiter and, when one completes, moves on to
// kAfterDelimiter. Returns how many bytes of `chunk` it consumed; 0 only when
// it has just released held_ (the caller calls again).
Result<std::size_t> MultipartParser::ScanBody(std::string_view chunk) {
  const std::size_t d = delimiter_.size();
  auto found = [&]() -> Status {
    held_.clear();
    bool in_part = state_ == State::kBody;
    state_ = State::kAfterDelimiter;
    padding_bytes_ = 0;
    return in_part ? handler_.OnPartEnd() : Status::Ok();
  };
  if (!held_.empty()) {
    const std::size_t k = held_.size();
    const std::size_t need = d - k;
    const std::size_t take = std::min(need, chunk.size());
    if (chunk.substr(0, take) == std::string_view(delimiter_).substr(k, take)) {
      if (take == need) {
        BASTION_RETURN_IF_ERROR(found());
        return take;
      }
      held_.append(chunk.substr(0, take));  // the chunk ended inside the delimiter
      return take;
    }
    // Not a delimiter at the start of held_; one may start later inside it.
    std::string t = held_;
    t.append(chunk.substr(0, std::min(chunk.size(), d)));
    for (std::size_t p = 1; p < k; ++p) {
      std::string_view rest = std::string_view(t).substr(p);
      if (rest.size() >= d) {
        if (rest.substr(0, d) == delimiter_) {
          BASTION_RETURN_IF_ERROR(EmitData(std::string_view(t).substr(0, p)));
          BASTION_RETURN_IF_ERROR(found());
          return p + d - k;
        }
      } else if (std::string_view(delimiter_).substr(0, rest.size()) == rest) {
        // rest is shorter than a delimiter, so t holds all of the chunk.
        BASTION_RETURN_IF_ERROR(EmitData(std::string_view(t).substr(0, p)));
        held_.assign(rest);
        return chunk.size();
      }
    }
    std::string released = std::move(held_);
    held_.clear();
    BASTION_RETURN_IF_ERROR(EmitData(released));
    return std::size_t{0};
  }
  std::size_t pos = chunk.find(delimiter_);
  if (pos != std::string_view::npos) {
    BASTION_RETURN_IF_ERROR(EmitData(chunk.substr(0, pos)));
    BASTION_RETURN_IF_ERROR(found());
    return pos + d;
  }
  // Hold back the longest end of the chunk that could begin a delimiter.
  std::size_t keep = 0;
  for (std::size_t p = chunk.size() > d - 1 ? chunk.size() - (d - 1) : 0; p < chunk.size(); ++p) {
    if (chunk[p] != '\r') continue;
    std::string_view tail = chunk.substr(p);
    if (std::string_view(delimiter_).substr(0, tail.size()) == tail) {
      keep = tail.size();
      break;
    }
  }
  BASTION_RETURN_IF_ERROR(EmitData(chunk.substr(0, chunk.size() - keep)));
  held_.assign(chunk.substr(chunk.size() - keep));
  return chunk.size();
}

Status MultipartParser::ParseHeaderBlock() {
  PartHeaders headers;
  std::string_view block(header_);
  block.remove_suffix(2);  // the empty line's CRLF
  while (!block.empty()) {
    std::size_t end = block.find("\r\n");
    std::string_view line = block.substr(0, end);
    block = end == std::string_view::npos ? std::string_view() : block.substr(end + 2);
    for (char c : line)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F)
        return Malformed("control character in a part header");
    if (!line.empty() && IsSpace(line.front())) {
      if (headers.fields.empty()) return Malformed("a part header starts with a continuation line");
      std::string& value = headers.fields.back().value;
      std::string_view more = TrimSpace(line);
      if (!more.empty()) value += (value.empty() ? "" : " ") + std::string(more);
      continue;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Malformed("a part header line without ':'");
    std::string_view name = line.substr(0, colon);
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar))
      return Malformed("a part header with a bad name");
    headers.fields.push_back({std::string(name), std::string(TrimSpace(line.substr(colon + 1)))});
  }
  header_.clear();
  return handler_.OnPartBegin(headers);
}

Status MultipartParser::Feed(std::string_view chunk) {
  if (state_ == State::kFailed) return error_;
  std::size_t i = 0;
  while (i < chunk.size()) {
    switch (state_) {
      case State::kPreamble:
      case State::kBody: {
        auto n = ScanBody(chunk.substr(i));
        if (!n.ok()) return Fail(n.status());
        i += *n;
        break;
      }
      case State::kAfterDelimiter: {
        char c = chunk[i++];
        if (c == '-') state_ = State::kAfterDash;
        else if (c == '\r') state_ = State::kPaddingCr;
        else if (IsSpace(c)) {
          padding_bytes_ = 1;
          state_ = State::kPadding;
        } else {
          return Fail(Malformed("unexpected bytes after a boundary delimiter"));
        }
        break;
      }
      case State::kAfterDash:
        if (chunk[i++] != '-') return Fail(Malformed("unexpected bytes after a boundary delimiter"));
        state_ = State::kEpilogue;
        break;
      case State::kPadding: {
        char c = chunk[i++];
        if (c == '\r') {
          state_ = State::kPaddingCr;
        } else if (!IsSpace(c)) {
          return Fail(Malformed("unexpected bytes after a boundary delimiter"));
        } else if (++padding_bytes_ > limits_.max_padding_bytes) {
          return Fail(Malformed("too much padding after a boundary delimiter"));
        }
        break;
      }
      case State::kPaddingCr:
        if (chunk[i++] != '\n') return Fail(Malformed("a boundary delimiter line must end with CRLF"));
        if (++parts_ > limits_.max_parts)
          return Fail(Status(Code::kTooLarge, "multipart body: more than " + std::to_string(limits_.max_parts) + " parts"));
        state_ = State::kHeaders;
        header_.clear();
        break;
      case State::kHeaders: {
        // Byte by byte: header blocks are small, and this stops exactly at their end.
        while (i < chunk.size()) {
          header_ += chunk[i++];
          if (header_.size() > limits_.max_header_bytes)
            return Fail(Status(Code::kTooLarge, "multipart body: a part's headers exceed " +
                                                    std::to_string(limits_.max_header_bytes) + " bytes"));
          std::string_view h(header_);
          if (h == "\r\n" || (h.size() >= 4 && h.substr(h.size() - 4) == "\r\n\r\n")) {
            if (h.size() >= 4) header_.resize(header_.size() - 2);  // keep one CRLF per line
            state_ = State::kBody;
            held_.clear();
            if (Status s = ParseHeaderBlock(); !s.ok()) return Fail(s);
            break;
          }
        }
        break;
      }
      case State::kEpilogue:
        i = chunk.size();  // the epilogue: ignored
        break;
      case State::kFailed:
        return error_;
    }
  }
  return Status::Ok();
}

Status MultipartParser::Finish() {
  switch (state_) {
    case State::kFailed: return error_;
    case State::kEpilogue: return Status::Ok();
    case State::kPreamble: return Fail(Malformed("no boundary delimiter found"));
    default: return Fail(Malformed("truncated: the body ends before the close delimiter"));
  }
}

std::string NewBoundary() { return RandomHex(24); }

std::string MultipartWriter::BeginPart(std::string_view content_type, const std::vector<HeaderField>& extra) {
  std::string out = first_ ? "--" : "\r\n--";
  first_ = false;
  out += boundary_;
  out += "\r\nContent-Type: ";
  out += NoLineBreaks(content_type);
  out += "\r\n";
  for (const auto& f : extra) {
    out += NoLineBreaks(f.name);
    out += ": ";
    out += NoLineBreaks(f.value);
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

std::string MultipartWriter::Close() {
  std::string out = first_ ? "--" : "\r\n--";
  out += boundary_;
  out += "--";
  return out;
}

}  // namespace bastion::web
