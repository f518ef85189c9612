// Fuzz target: what the DICOMweb front end parses from a request line and
// headers before anything is trusted — media types and Accept lists with
// content negotiation (web/media_type.h), and QIDO-RS paths and query strings
// with the DICOM JSON answer built from them (web/qido.h).
//
// Input: the whole input is an Accept header and a Content-Type; split at the
// first LF, the first line is a QIDO path and the rest its query string. A
// query that parses is answered with QidoResultJson over a catalog row filled
// with slices of the input, and the JSON must serialise (invalid UTF-8
// replaced) and keep the PS3.18 F.2 shape.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "index/catalog.h"
#include "web/media_type.h"
#include "web/multipart.h"
#include "web/qido.h"

namespace {

namespace web = bastion::web;
namespace dicom = bastion::dicom;

[[noreturn]] void Bug() { __builtin_trap(); }

bool IsUpperHex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

void CheckAccept(std::string_view header) {
  auto accept = web::ParseAccept(header);
  if (!accept.ok()) return;
  for (const auto& range : *accept) {
    if (range.quality < 0 || range.quality > 1000) Bug();
    if (range.media.type.empty() || range.media.subtype.empty()) Bug();
    if (range.media.Find("q") != nullptr) Bug();  // removed from the range
  }
  // A frame request for an object stored as JPEG Lossless (media_type.h's example).
  static const web::Offer offers[] = {
      {"multipart/related", "application/octet-stream", "1.2.840.10008.1.2.4.70", true},
      {"multipart/related", "application/octet-stream", std::string(web::kExplicitVrLittleEndian), false},
      {"application/octet-stream", "", "1.2.840.10008.1.2.4.70", true},
      {"application/dicom+json", "", "", false},
      {"image/jpeg", "", "", false}};
  auto choice = web::Negotiate(*accept, offers);
  if (!choice) return;
  if (choice->index >= std::size(offers) || choice->quality < 1 || choice->quality > 1000) Bug();
  // What we would send must parse back as what was chosen.
  const auto& offer = offers[choice->index];
  auto sent = web::ParseMediaType(web::ContentTypeOf(offer, "b0undary"));
  if (!sent.ok() || sent->Essence() != offer.media_type) Bug();
  if (offer.media_type.starts_with("multipart/")) {
    auto boundary = web::BoundaryOf(*sent);
    if (!boundary.ok() || *boundary != "b0undary") Bug();
  }
  if (!web::ParseMediaType(web::PartContentTypeOf(offer)).ok()) Bug();
}

void CheckMediaType(std::string_view text) {
  auto type = web::ParseMediaType(text);
  if (!type.ok()) return;
  if (type->type.empty() || type->subtype.empty() || type->type == "*" || type->subtype == "*") Bug();
  for (const auto& p : type->parameters)
    if (p.name.empty()) Bug();
  (void)web::BoundaryOf(*type);
}

// PS3.18 F.2: keys of 8 upper-case hex digits, "vr" always, "Value" a non-empty array when present.
void CheckJson(const nlohmann::json& object) {
  if (!object.is_object()) Bug();
  for (const auto& [key, attribute] : object.items()) {
    if (key.size() != 8) Bug();
    for (char c : key)
      if (!IsUpperHex(c)) Bug();
    if (!attribute.is_object() || !attribute.contains("vr") || !attribute["vr"].is_string()) Bug();
    if (attribute.contains("Value") && (!attribute["Value"].is_array() || attribute["Value"].empty())) Bug();
  }
}

void CheckQido(const web::QidoPath& path, std::string_view query, std::string_view input) {
  const web::QidoLimits limits;
  auto request = web::ParseQido(path, query, limits);
  if (!request.ok()) return;
  if (request->limit < 1 || request->limit > limits.max_limit) Bug();
  if (request->offset < 0 || request->offset > limits.max_offset) Bug();

  // A match with every attribute a slice of the input (any bytes: the answer must cope).
  bastion::index::CatalogRow row;
  for (int i = 0; i < dicom::kAttributeCount; ++i) {
    if (input.empty()) break;
    std::size_t from = (static_cast<std::size_t>(i) * 7) % input.size();
    row.values[i] = std::string(input.substr(from, 1 + (i * 13) % 40));
  }
  row.specific_character_set = "ISO_IR 192";
  row.transfer_syntax_uid = std::string(web::kExplicitVrLittleEndian);
  for (std::string_view base : {std::string_view(), std::string_view("https://pacs.example/dicomweb")}) {
    nlohmann::json json = web::QidoResultJson(row, *request, base);
    CheckJson(json);
    std::string text = json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (text.empty()) Bug();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16384) return 0;  // far beyond any header or query limit; keeps runs fast
  std::string_view input(reinterpret_cast<const char*>(data), size);

  CheckAccept(input);
  CheckMediaType(input);

  std::size_t nl = input.find('\n');
  std::string_view first = input.substr(0, nl);
  std::string_view rest = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  CheckAccept(first);  // a header line on its own, as a server reads it

  // The path as given; when it is no QIDO path (or a bad one), the query still
  // runs against a study-level search so that query parsing is always reached.
  web::QidoPath path;
  if (auto parsed = web::ParseQidoPath(first); parsed.has_value() && parsed->ok()) {
    path = **parsed;
    if (path.level != dicom::QueryLevel::kStudy && path.level != dicom::QueryLevel::kSeries &&
        path.level != dicom::QueryLevel::kImage)
      Bug();
  }
  CheckQido(path, rest, input);
  // Also the whole input as a query string, and the query part of a URL line.
  CheckQido(web::QidoPath{}, input, input);
  if (std::size_t q = first.find('?'); q != std::string_view::npos) {
    web::QidoPath url_path;
    if (auto parsed = web::ParseQidoPath(first.substr(0, q)); parsed.has_value() && parsed->ok()) url_path = **parsed;
    CheckQido(url_path, first.substr(q + 1), input);
  }
  return 0;
}
