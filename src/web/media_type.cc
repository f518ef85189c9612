#include "web/media_type.h"

#include <tuple>

namespace bastion::web {
namespace {

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string LowerCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (Lower(a[i]) != Lower(b[i])) return false;
  return true;
}

void SkipSpace(std::string_view s, std::size_t& i) {
  while (i < s.size() && IsSpace(s[i])) ++i;
}

std::string_view Token(std::string_view s, std::size_t& i) {
  std::size_t start = i;
  while (i < s.size() && IsTokenChar(s[i])) ++i;
  return s.substr(start, i - start);
}

Status Bad(std::string why) { return Status(Code::kInvalidArgument, "media type: " + std::move(why)); }

// Parses `type/subtype *( ; name=value )` filling `out`; wildcards allowed
// only when `range` (an Accept element).
Status ParseInto(std::string_view s, bool range, MediaType& out) {
  std::size_t i = 0;
  SkipSpace(s, i);
  std::string_view type = Token(s, i);
  if (type.empty()) return Bad("no type");
  std::string_view subtype;
  if (i < s.size() && s[i] == '/') {
    ++i;
    subtype = Token(s, i);
    if (subtype.empty()) return Bad("no subtype");
  } else if (range && type == "*") {
    subtype = "*";  // a bare "*" (Java's default Accept): "*/*"
  } else {
    return Bad("expected type/subtype");
  }
  if (type == "*" && subtype != "*") return Bad("*/subtype is not a media range");
  if (!range && (type == "*" || subtype == "*")) return Bad("a wildcard is not a media type");
  out.type = LowerCase(type);
  out.subtype = LowerCase(subtype);
  for (;;) {
    SkipSpace(s, i);
    if (i == s.size()) return Status::Ok();
    if (s[i] != ';') return Bad("unexpected character after " + out.Essence());
    ++i;
    SkipSpace(s, i);
    if (i == s.size()) return Status::Ok();  // a trailing ';'
    if (s[i] == ';') continue;              // an empty parameter
    std::string_view name = Token(s, i);
    if (name.empty()) return Bad("bad parameter name");
    SkipSpace(s, i);
    if (i == s.size() || s[i] != '=') return Bad("parameter without a value");
    ++i;
    SkipSpace(s, i);
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (i == s.size()) break;
          c = s[i++];
        }
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F)
          return Bad("control character in a parameter value");
        value += c;
      }
      if (!closed) return Bad("unterminated quoted string");
    } else {
      // Unquoted: lenient, up to the next ';' (boundaries are sent unquoted with '=' or '/').
      while (i < s.size() && s[i] != ';' && !IsSpace(s[i])) {
        char c = s[i++];
        if (c == '"' || static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
          return Bad("bad character in a parameter value");
        value += c;
      }
      if (value.empty()) return Bad("empty parameter value");
    }
    out.parameters.push_back({LowerCase(name), std::move(value)});
  }
}

// Splits on commas outside quoted strings.
std::vector<std::string_view> SplitList(std::string_view s) {
  std::vector<std::string_view> out;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(s.substr(start));
  return out;
}

// q-value: "1", "1.000", "0.5", ".5" (lenient); thousandths, or -1.
int ParseQuality(std::string_view v) {
  if (v.empty() || v.size() > 5) return -1;
  std::size_t i = 0;
  int whole = 0;
  if (v[0] == '0' || v[0] == '1') {
    whole = v[0] - '0';
    i = 1;
  } else if (v[0] != '.') {
    return -1;
  }
  int frac = 0, digits = 0;
  if (i < v.size()) {
    if (v[i] != '.') return -1;
    for (++i; i < v.size(); ++i) {
      if (v[i] < '0' || v[i] > '9' || digits == 3) return -1;
      frac = frac * 10 + (v[i] - '0');
      ++digits;
    }
    if (digits == 0 && whole == 0 && v[0] == '.') return -1;
  }
  while (digits < 3) {
    frac *= 10;
    ++digits;
  }
  int q = whole * 1000 + frac;
  return q > 1000 ? -1 : q;
}

bool IsBlank(std::string_view s) {
  for (char c : s)
    if (!IsSpace(c)) return false;
  return true;
}

// The transfer syntax a type means when none is named; nullopt: anything.
std::optional<std::string_view> DefaultTransferSyntax(std::string_view type) {
  if (EqualsIgnoreCase(type, "application/dicom") || EqualsIgnoreCase(type, "application/octet-stream"))
    return kExplicitVrLittleEndian;
  return std::nullopt;
}

// How well `range` accepts `offer`: nullopt when it does not.
struct Fit {
  int specificity = 0;      // 0 */*, 1 type/*, 2 type/subtype, +1 type=, +1 a named transfer syntax
  int syntax_rank = 0;      // 2 exactly what was asked (or as stored for "*"), 1 a fallback
};

std::optional<Fit> FitOf(const MediaRange& range, const Offer& offer) {
  const MediaType& m = range.media;
  std::string_view essence = offer.media_type;
  std::size_t slash = essence.find('/');
  std::string_view offer_type = essence.substr(0, slash);
  std::string_view offer_subtype = slash == std::string_view::npos ? std::string_view() : essence.substr(slash + 1);
  Fit fit;
  if (m.type == "*") return Fit{0, offer.as_stored ? 2 : 1};
  if (!EqualsIgnoreCase(m.type, offer_type)) return std::nullopt;
  if (m.subtype == "*") return Fit{1, offer.as_stored ? 2 : 1};
  if (!EqualsIgnoreCase(m.subtype, offer_subtype)) return std::nullopt;
  fit.specificity = 2;
  // The type whose transfer syntax is at stake: the parts' for multipart.
  std::string_view payload = offer.media_type;
  if (!offer.type_param.empty()) {
    payload = offer.type_param;
    if (const std::string* t = m.Find("type")) {
      // A type parameter may itself carry parameters; compare the essence.
      std::string_view asked = *t;
      asked = asked.substr(0, asked.find(';'));
      while (!asked.empty() && IsSpace(asked.back())) asked.remove_suffix(1);
      while (!asked.empty() && IsSpace(asked.front())) asked.remove_prefix(1);
      if (!EqualsIgnoreCase(asked, offer.type_param)) return std::nullopt;
      ++fit.specificity;
    }
  }
  std::vector<std::string_view> syntaxes = m.FindAll("transfer-syntax");
  if (syntaxes.empty()) {
    std::optional<std::string_view> def = DefaultTransferSyntax(payload);
    if (!def || offer.transfer_syntax.empty() || offer.transfer_syntax == *def) {
      fit.syntax_rank = 2;
    } else if (offer.as_stored) {
      fit.syntax_rank = 1;  // the documented fallback
    } else {
      return std::nullopt;
    }
    return fit;
  }
  bool any = false, named = false;
  for (std::string_view ts : syntaxes) {
    if (ts == "*") any = true;
    else if (ts == offer.transfer_syntax) named = true;
  }
  if (named) {
    ++fit.specificity;
    fit.syntax_rank = 2;
    return fit;
  }
  if (any) {
    fit.syntax_rank = offer.as_stored ? 2 : 1;
    return fit;
  }
  return std::nullopt;
}

}  // namespace

const std::string* MediaType::Find(std::string_view name) const {
  for (const auto& p : parameters)
    if (EqualsIgnoreCase(p.name, name)) return &p.value;
  return nullptr;
}

std::vector<std::string_view> MediaType::FindAll(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& p : parameters)
    if (EqualsIgnoreCase(p.name, name)) out.push_back(p.value);
  return out;
}

Result<MediaType> ParseMediaType(std::string_view text) {
  MediaType m;
  BASTION_RETURN_IF_ERROR(ParseInto(text, false, m));
  return m;
}

Result<std::vector<MediaRange>> ParseAccept(std::string_view header) {
  std::vector<MediaRange> out;
  bool any_element = false;
  for (std::string_view element : SplitList(header)) {
    if (IsBlank(element)) continue;
    any_element = true;
    MediaRange r;
    if (!ParseInto(element, true, r.media).ok()) continue;  // dropped: RFC 9110 lets us ignore it
    bool bad_q = false;
    for (auto it = r.media.parameters.begin(); it != r.media.parameters.end();) {
      if (it->name == "q") {
        int q = ParseQuality(it->value);
        if (q < 0) bad_q = true;
        else r.quality = q;
        it = r.media.parameters.erase(it);
      } else {
        ++it;
      }
    }
    if (bad_q) continue;
    out.push_back(std::move(r));
  }
  if (any_element && out.empty()) return Status(Code::kInvalidArgument, "Accept: no media range could be parsed");
  return out;
}

Result<std::vector<MediaRange>> ParseAccept(std::span<const std::string> headers) {
  std::string joined;
  for (const auto& h : headers) {
    if (!joined.empty()) joined += ", ";
    joined += h;
  }
  return ParseAccept(std::string_view(joined));
}

std::optional<Choice> Negotiate(std::span<const MediaRange> accept, std::span<const Offer> offers) {
  static const MediaRange kAnything{MediaType{"*", "*", {}}, 1000};
  if (accept.empty()) accept = std::span<const MediaRange>(&kAnything, 1);
  std::optional<Choice> best;
  std::tuple<int, int, int, bool> best_rank{};
  for (std::size_t i = 0; i < offers.size(); ++i) {
    // The most specific range that matches decides the offer's q (RFC 9110
    // 12.5.1); among equally specific ones, the best for the offer.
    std::optional<std::tuple<int, int, int>> decided;  // specificity, q, syntax rank
    for (const MediaRange& r : accept) {
      auto fit = FitOf(r, offers[i]);
      if (!fit) continue;
      std::tuple<int, int, int> candidate{fit->specificity, r.quality, fit->syntax_rank};
      if (!decided || candidate > *decided) decided = candidate;
    }
    if (!decided) continue;
    auto [specificity, q, syntax_rank] = *decided;
    if (q == 0) continue;
    std::tuple<int, int, int, bool> rank{q, specificity, syntax_rank, offers[i].as_stored};
    if (!best || rank > best_rank) {  // strict: an earlier offer wins a tie
      best = Choice{i, q};
      best_rank = rank;
    }
  }
  return best;
}

std::string ContentTypeOf(const Offer& offer, std::string_view boundary) {
  std::string out = offer.media_type;
  if (!offer.type_param.empty()) out += "; type=\"" + offer.type_param + "\"";
  if (!offer.transfer_syntax.empty()) out += "; transfer-syntax=" + offer.transfer_syntax;
  if (!boundary.empty()) out += "; boundary=" + std::string(boundary);
  return out;
}

std::string PartContentTypeOf(const Offer& offer) {
  std::string out = offer.type_param.empty() ? offer.media_type : offer.type_param;
  if (!offer.transfer_syntax.empty()) out += "; transfer-syntax=" + offer.transfer_syntax;
  return out;
}

}  // namespace bastion::web
