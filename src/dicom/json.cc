#include "dicom/json.h"
#include "dicom/load.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfcache.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcvrat.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "dicom/dicom.h"

namespace bastion::dicom {
namespace {

using nlohmann::json;

using internal::kMaxReadLength;
using internal::LoadStructure;

std::string TagHex(const DcmTagKey& tag) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::uint32_t v = (static_cast<std::uint32_t>(tag.getGroup()) << 16) | tag.getElement();
  std::string out(8, '0');
  for (int i = 7; i >= 0; --i, v >>= 4) out[i] = kHex[v & 0xF];
  return out;
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                      (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                      static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Keeps valid UTF-8 sequences and ASCII other than ESC; every other byte
// becomes U+FFFD. The JSON library refuses (throws on) invalid UTF-8 when
// serializing, so nothing unchecked may reach it.
std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      if (b == 0x1B)
        out += "\xEF\xBF\xBD";
      else
        out += static_cast<char>(b);
      ++i;
      continue;
    }
    int extra = (b & 0xE0) == 0xC0 ? 1 : (b & 0xF0) == 0xE0 ? 2 : (b & 0xF8) == 0xF0 ? 3 : 0;
    bool good = extra > 0 && i + static_cast<std::size_t>(extra) < s.size();
    std::uint32_t cp = extra == 1 ? (b & 0x1F) : extra == 2 ? (b & 0x0F) : (b & 0x07);
    for (int k = 1; good && k <= extra; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) good = false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (good && (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) good = false;
    if (good) {
      out.append(s.substr(i, extra + 1));
      i += extra + 1;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// The ASCII characters of `s` (but ESC); every other byte becomes U+FFFD.
std::string AsciiOnly(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x80 && c != 0x1B)
      out += c;
    else
      out += "\xEF\xBF\xBD";
  }
  return out;
}

bool IsCharsetSensitive(DcmEVR vr) {
  switch (vr) {
    case EVR_SH:
    case EVR_LO:
    case EVR_ST:
    case EVR_LT:
    case EVR_UC:
    case EVR_UT:
    case EVR_PN:
      return true;
    default:
      return false;
  }
}

// Single-valued string VRs: a backslash is text, not a delimiter.
bool IsSingleValuedText(DcmEVR vr) {
  return vr == EVR_LT || vr == EVR_ST || vr == EVR_UT || vr == EVR_UR;
}

// PS3.5 6.2: VRs whose leading spaces are padding, not content.
bool LeadingSpacesInsignificant(DcmEVR vr) {
  switch (vr) {
    case EVR_AE:
    case EVR_AS:
    case EVR_CS:
    case EVR_DA:
    case EVR_DS:
    case EVR_DT:
    case EVR_IS:
    case EVR_LO:
    case EVR_SH:
    case EVR_TM:
    case EVR_UI:
      return true;
    default:
      return false;
  }
}

std::string_view TrimPadding(std::string_view s, bool leading) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  if (leading)
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

std::vector<std::string_view> SplitOn(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (std::size_t start = 0;;) {
    std::size_t at = s.find(sep, start);
    out.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

json DecimalValue(std::string_view v) {
  std::string_view n = v;
  if (!n.empty() && n.front() == '+') n.remove_prefix(1);
  double d = 0;
  auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), d);
  if (n.empty() || ec != std::errc() || ptr != n.data() + n.size() || !std::isfinite(d))
    return std::string(v);
  return d;
}

json IntegerValue(std::string_view v) {
  std::string_view n = v;
  if (!n.empty() && n.front() == '+') n.remove_prefix(1);
  std::int64_t i = 0;
  auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), i);
  if (n.empty() || ec != std::errc() || ptr != n.data() + n.size()) return std::string(v);
  return i;
}

json FloatValue(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return d;
}

json PersonNameValue(std::string_view v) {
  static constexpr const char* kGroups[] = {"Alphabetic", "Ideographic", "Phonetic"};
  json out = json::object();
  auto groups = SplitOn(v, '=');
  for (std::size_t g = 0; g < groups.size() && g < 3; ++g) {
    std::string_view group = TrimPadding(groups[g], false);
    if (!group.empty()) out[kGroups[g]] = std::string(group);
  }
  return out;
}

// The VR to name an element by, and to read its value as. The element's
// class is what DCMTK parsed (ident(): US, SS, ...), and its accessors only
// work for that class, so a standard class VR wins; DCMTK's internal VRs
// (ox, xs, lt, ...) of implicit VR files are mapped to the one the standard
// allows.
DcmEVR JsonVr(DcmElement& el, DcmItem& item) {
  const DcmEVR ident = el.ident();
  if (ident == EVR_SQ) return EVR_SQ;
  const DcmEVR tag_vr = el.getTag().getEVR();
  if (ident == EVR_PixelData || el.getTag() == DCM_PixelData) {
    if (tag_vr == EVR_OB || tag_vr == EVR_OW) return tag_vr;
    Uint16 bits = 0;
    item.findAndGetUint16(DCM_BitsAllocated, bits);
    return bits > 8 ? EVR_OW : EVR_OB;
  }
  if (ident == EVR_OverlayData)
    return tag_vr == EVR_OB ? EVR_OB : EVR_OW;  // PS3.5 A.1: OW when implicit
  DcmEVR vr = ident;
  if (!DcmVR(vr).isStandard()) {
    vr = DcmVR(tag_vr).getValidEVR();
    if (!DcmVR(vr).isStandard()) vr = EVR_UN;
  }
  // A Private Creator is LO by definition (PS3.5 7.8.1), and clients need it
  // as text to make sense of the block it reserves.
  if (vr == EVR_UN && el.getTag().isPrivateReservation()) vr = EVR_LO;
  return vr;
}

bool IsBinaryVr(DcmEVR vr) {
  switch (vr) {
    case EVR_OB:
    case EVR_OD:
    case EVR_OF:
    case EVR_OL:
    case EVR_OV:
    case EVR_OW:
    case EVR_UN:
      return true;
    default:
      return false;
  }
}

bool IsPixelDataTag(const DcmTagKey& tag) {
  return tag == DCM_PixelData || tag == DCM_FloatPixelData || tag == DCM_DoubleFloatPixelData;
}

// The pixel sequence of encapsulated Pixel Data, or null for native data.
DcmPixelSequence* EncapsulatedFragments(DcmElement& el) {
  if (el.ident() != EVR_PixelData) return nullptr;
  auto& pixel_data = static_cast<DcmPixelData&>(el);
  E_TransferSyntax ts = EXS_Unknown;
  const DcmRepresentationParameter* param = nullptr;
  pixel_data.getOriginalRepresentationKey(ts, param);
  if (!DcmXfer(ts).isEncapsulated()) return nullptr;
  DcmPixelSequence* seq = nullptr;
  if (pixel_data.getEncapsulatedRepresentation(ts, param, seq).bad()) return nullptr;
  return seq;
}

// Reads `length` bytes of a native value, little endian by the VR's width,
// without keeping the value loaded.
Result<std::string> NativeValueBytes(DcmElement& el, Uint32 length, DcmFileCache* cache) {
  std::string bytes(length, '\0');
  if (length == 0) return bytes;
  // getPartialValue wants room for a pad byte when swapping odd lengths.
  bytes.resize(length + (length & 1));
  OFCondition cond = el.getPartialValue(bytes.data(), 0, length, cache, EBO_LittleEndian);
  if (cond.bad()) return Status(Code::kCorrupt, std::string("reading a value: ") + cond.text());
  bytes.resize(length);
  return bytes;
}

// Item 0 of a pixel sequence is the Basic Offset Table; fragments follow.
std::uint64_t FragmentsLength(DcmPixelSequence& seq) {
  std::uint64_t total = 0;
  for (unsigned long i = 1; i < seq.card(); ++i) {
    DcmPixelItem* item = nullptr;
    if (seq.getItem(item, i).good() && item) total += item->getLength();
  }
  return total;
}

// The fragments back to back, read straight into the result.
Result<std::string> FragmentBytes(DcmPixelSequence& seq, DcmFileCache* cache) {
  std::string out(FragmentsLength(seq), '\0');
  std::size_t at = 0;
  for (unsigned long i = 1; i < seq.card(); ++i) {
    DcmPixelItem* item = nullptr;
    if (seq.getItem(item, i).bad() || !item)
      return Status(Code::kCorrupt, "unreadable pixel data fragment");
    const Uint32 length = item->getLength();
    if (length == 0) continue;
    OFCondition cond = item->getPartialValue(out.data() + at, 0, length, cache, EBO_LittleEndian);
    if (cond.bad())
      return Status(Code::kCorrupt, std::string("reading a pixel data fragment: ") + cond.text());
    at += length;
  }
  return out;
}

class JsonWriter {
 public:
  JsonWriter(const JsonOptions& options, DcmFileCache& cache) : options_(options), cache_(cache) {}

  Status WriteItem(DcmItem& item, std::string charset, const std::string& path_prefix, int depth,
                   json& out) {
    if (depth > kMaxSequenceDepth)
      return Status(Code::kInvalidArgument,
                    "sequences nested deeper than " + std::to_string(kMaxSequenceDepth));
    OFString own_charset;
    if (item.findAndGetOFStringArray(DCM_SpecificCharacterSet, own_charset, OFFalse).good())
      charset = std::string(
          TrimPadding(std::string_view(own_charset.c_str(), own_charset.length()), true));
    out = json::object();
    for (unsigned long i = 0; i < item.card(); ++i) {
      DcmElement* el = item.getElement(i);
      if (!el) continue;
      const DcmTag& tag = el->getTag();
      if (tag.getGroup() == 0x0002 || tag.getElement() == 0x0000 ||
          tag == DCM_DataSetTrailingPadding)
        continue;
      std::string key = TagHex(tag);
      json attr;
      BASTION_RETURN_IF_ERROR(WriteElement(*el, item, charset, path_prefix + key, depth, attr));
      out[key] = std::move(attr);
    }
    return Status::Ok();
  }

 private:
  Status WriteElement(DcmElement& el, DcmItem& item, const std::string& charset,
                      const std::string& path, int depth, json& attr) {
    DcmEVR vr = JsonVr(el, item);
    attr = json::object();
    attr["vr"] = DcmVR(vr).getVRName();
    const DcmTagKey& tag = el.getTag();

    if (vr == EVR_SQ) {
      auto& seq = static_cast<DcmSequenceOfItems&>(el);
      if (seq.card() == 0) return Status::Ok();
      json items = json::array();
      for (unsigned long i = 0; i < seq.card(); ++i) {
        json sub;
        BASTION_RETURN_IF_ERROR(WriteItem(*seq.getItem(i), charset,
                                          path + "/" + std::to_string(i) + "/", depth + 1, sub));
        items.push_back(std::move(sub));
      }
      attr["Value"] = std::move(items);
      return Status::Ok();
    }

    if (IsBinaryVr(vr) || tag == DCM_PixelData) return WriteBinary(el, tag, path, attr);

    if (tag == DCM_SpecificCharacterSet) {
      // Every string we write is UTF-8.
      if (el.getLength() > 0) attr["Value"] = json::array({"ISO_IR 192"});
      return Status::Ok();
    }

    json values = json::array();
    switch (vr) {
      case EVR_US:
        NumericValues<Uint16>(el, &DcmElement::getUint16, values);
        break;
      case EVR_SS:
        NumericValues<Sint16>(el, &DcmElement::getSint16, values);
        break;
      case EVR_UL:
        NumericValues<Uint32>(el, &DcmElement::getUint32, values);
        break;
      case EVR_SL:
        NumericValues<Sint32>(el, &DcmElement::getSint32, values);
        break;
      case EVR_UV:
        NumericValues<Uint64>(el, &DcmElement::getUint64, values);
        break;
      case EVR_SV:
        NumericValues<Sint64>(el, &DcmElement::getSint64, values);
        break;
      case EVR_FL:
        for (unsigned long i = 0; i < el.getVM(); ++i) {
          Float32 f = 0;
          if (el.getFloat32(f, i).good()) values.push_back(FloatValue(f));
        }
        break;
      case EVR_FD:
        for (unsigned long i = 0; i < el.getVM(); ++i) {
          Float64 f = 0;
          if (el.getFloat64(f, i).good()) values.push_back(FloatValue(f));
        }
        break;
      case EVR_AT:
        for (unsigned long i = 0; i < el.getVM(); ++i) {
          DcmTagKey value;
          if (static_cast<DcmAttributeTag&>(el).getTagVal(value, i).good())
            values.push_back(TagHex(value));
        }
        break;
      default:
        BASTION_RETURN_IF_ERROR(StringValues(el, vr, charset, values));
        break;
    }
    if (!values.empty()) attr["Value"] = std::move(values);
    return Status::Ok();
  }

  template <typename T>
  static void NumericValues(DcmElement& el, OFCondition (DcmElement::*get)(T&, const unsigned long),
                            json& values) {
    for (unsigned long i = 0; i < el.getVM(); ++i) {
      T v{};
      if ((el.*get)(v, i).good()) values.push_back(v);
    }
  }

  static Status StringValues(DcmElement& el, DcmEVR vr, const std::string& charset, json& values) {
    if (el.getLength() == 0) return Status::Ok();
    std::string raw_value;
    if (DcmVR(el.ident()).isaString()) {
      OFString value;
      if (el.getOFStringArray(value, OFFalse).bad())
        return Status::Ok();  // a value DCMTK cannot render
      raw_value.assign(value.c_str(), value.length());
    } else {
      // Text DCMTK parsed as bytes (a Private Creator sent as UN).
      BASTION_ASSIGN_OR_RETURN(raw_value, NativeValueBytes(el, el.getLength(), nullptr));
    }
    std::string_view raw(raw_value);
    std::string text;
    if (IsCharsetSensitive(vr)) {
      auto converted = ConvertToUtf8(raw, charset);
      // A failed conversion must not pass bytes of another repertoire off as UTF-8.
      text = converted.ok() ? SanitizeUtf8(*converted) : AsciiOnly(raw);
    } else {
      text = SanitizeUtf8(raw);
    }
    bool leading = LeadingSpacesInsignificant(vr);
    std::vector<std::string_view> parts;
    if (IsSingleValuedText(vr))
      parts.push_back(text);
    else
      parts = SplitOn(text, '\\');
    bool any = false;
    json out = json::array();
    for (std::string_view part : parts) {
      std::string_view v = TrimPadding(part, leading);
      if (v.empty()) {
        out.push_back(nullptr);
        continue;
      }
      any = true;
      if (vr == EVR_PN)
        out.push_back(PersonNameValue(v));
      else if (vr == EVR_DS)
        out.push_back(DecimalValue(v));
      else if (vr == EVR_IS)
        out.push_back(IntegerValue(v));
      else
        out.push_back(std::string(v));
    }
    if (any) values = std::move(out);
    return Status::Ok();
  }

  Status WriteBinary(DcmElement& el, const DcmTagKey& tag, const std::string& path, json& attr) {
    DcmPixelSequence* fragments = EncapsulatedFragments(el);
    std::uint64_t length = fragments ? FragmentsLength(*fragments) : el.getLength();
    if (length == 0) return Status::Ok();
    std::size_t limit =
        IsPixelDataTag(tag) ? options_.inline_pixel_data_max : options_.inline_binary_max;
    if (fragments == nullptr && length <= limit) {
      BASTION_ASSIGN_OR_RETURN(std::string bytes,
                               NativeValueBytes(el, static_cast<Uint32>(length), &cache_));
      attr["InlineBinary"] = Base64(bytes);
      return Status::Ok();
    }
    if (options_.bulk_data_uri) attr["BulkDataURI"] = options_.bulk_data_uri(path);
    return Status::Ok();
  }

  const JsonOptions& options_;
  DcmFileCache& cache_;
};

struct TagPathStep {
  DcmTagKey tag;
  unsigned long item = 0;  // meaningful for all steps but the last
};

std::optional<std::vector<TagPathStep>> ParseTagPath(std::string_view path) {
  if (path.empty() || path.size() > 512) return std::nullopt;
  auto parts = SplitOn(path, '/');
  if (parts.size() % 2 == 0 || static_cast<int>(parts.size() / 2) > kMaxSequenceDepth)
    return std::nullopt;
  std::vector<TagPathStep> steps;
  for (std::size_t i = 0; i < parts.size(); i += 2) {
    std::string_view t = parts[i];
    if (t.size() != 8) return std::nullopt;
    std::uint32_t tag = 0;
    for (char c : t) {
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                       : -1;
      if (d < 0) return std::nullopt;
      tag = (tag << 4) | static_cast<std::uint32_t>(d);
    }
    TagPathStep step;
    step.tag = DcmTagKey(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF));
    if (i + 1 < parts.size()) {
      std::string_view index = parts[i + 1];
      if (index.empty() || index.size() > 6 || (index.size() > 1 && index[0] == '0'))
        return std::nullopt;
      for (char c : index)
        if (c < '0' || c > '9') return std::nullopt;
      std::from_chars(index.data(), index.data() + index.size(), step.item);
    }
    steps.push_back(step);
  }
  return steps;
}

}  // namespace

Result<nlohmann::json> ReadDicomJson(const std::filesystem::path& file,
                                     const JsonOptions& options) {
  BASTION_ASSIGN_OR_RETURN(std::unique_ptr<DcmFileFormat> ff, LoadStructure(file));
  DcmFileCache cache;
  JsonWriter writer(options, cache);
  json out;
  BASTION_RETURN_IF_ERROR(
      writer.WriteItem(*ff->getDataset(), std::string(), std::string(), 0, out));
  return out;
}

bool IsValidTagPath(std::string_view tag_path) { return ParseTagPath(tag_path).has_value(); }

Result<std::string> ReadBulkData(const std::filesystem::path& file, std::string_view tag_path) {
  auto steps = ParseTagPath(tag_path);
  if (!steps) return Status(Code::kInvalidArgument, "malformed bulk data path");
  BASTION_ASSIGN_OR_RETURN(std::unique_ptr<DcmFileFormat> ff, LoadStructure(file));
  DcmItem* item = ff->getDataset();
  for (std::size_t i = 0; i < steps->size(); ++i) {
    const TagPathStep& step = (*steps)[i];
    // Values the JSON never names are not served either.
    if (step.tag.getGroup() == 0x0002 || step.tag.getElement() == 0x0000)
      return Status(Code::kNotFound, "no such attribute");
    DcmElement* el = nullptr;
    if (item->findAndGetElement(step.tag, el, OFFalse).bad() || el == nullptr)
      return Status(Code::kNotFound, "no such attribute");
    bool last = i + 1 == steps->size();
    if (el->ident() == EVR_SQ) {
      if (last) return Status(Code::kInvalidArgument, "the path names a sequence, not a value");
      auto* seq = static_cast<DcmSequenceOfItems*>(el);
      if (step.item >= seq->card()) return Status(Code::kNotFound, "no such sequence item");
      item = seq->getItem(step.item);
      continue;
    }
    if (!last) return Status(Code::kNotFound, "no such sequence");
    DcmFileCache cache;
    if (DcmPixelSequence* fragments = EncapsulatedFragments(*el))
      return FragmentBytes(*fragments, &cache);
    return NativeValueBytes(*el, el->getLength(), &cache);
  }
  return Status(Code::kNotFound, "no such attribute");
}

}  // namespace bastion::dicom
