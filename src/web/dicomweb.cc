// DICOMweb (PS3.18) handlers, rooted at /dicom-web. Each translates the
// request into an archive call made as the authenticated principal (the
// archive checks the permission again and writes the audit record), and the
// answer back into PS3.18 media types.
#include <spdlog/spdlog.h>

#include <fstream>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "dicom/dicom.h"
#include "dicom/json.h"
#include "dicom/pixels.h"
#include "web/app.h"
#include "web/media_type.h"
#include "web/multipart.h"
#include "web/qido.h"

namespace bastion::web {

namespace {

constexpr std::string_view kRoot = "/dicom-web";

// The Accept header(s) plus the "accept=" query forms (PS3.18 8.3.3.1).
Result<std::vector<MediaRange>> AcceptOf(const Request& request, const std::vector<std::string>& query_accept) {
  std::vector<std::string> headers = request.headers.All("Accept");
  for (const auto& a : query_accept) headers.push_back(a);
  return ParseAccept(std::span<const std::string>(headers));
}

Response NotAcceptable(std::string_view what) {
  return Response::Problem(406, "Not Acceptable", std::string("this resource is available as ") + std::string(what));
}

// PS3.18 8.10.3: warnings travel in Warning headers (code 299), never with values.
void AddWarnings(Response& r, const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) {
    std::string text;
    for (char c : w) text += (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
    r.headers.Add("Warning", "299 Bastion \"" + text + "\"");
  }
}

// The study/series/instance UIDs of a WADO path; a 400 for a malformed one.
std::optional<Response> CheckUids(const Request& request) {
  for (const char* name : {"study", "series", "instance"}) {
    std::string_view uid = request.Param(name);
    if (request.params.count(name) && !dicom::IsValidUid(uid))
      return Response::Problem(400, "Bad Request", std::string("the ") + name + " UID in the path is not a valid UID");
  }
  return std::nullopt;
}

// Copies a file into the response in bounded chunks.
Status StreamFile(const std::filesystem::path& path, BodyWriter& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kIo, "stored object unreadable");
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::streamsize n = in.gcount();
    if (n > 0) BASTION_RETURN_IF_ERROR(out.Write(std::string_view(buffer.data(), static_cast<std::size_t>(n))));
  }
  if (in.bad()) return Status(Code::kIo, "stored object unreadable");
  return Status::Ok();
}

// "1,3,5" -> {1, 3, 5}; nullopt for anything else (frame numbers start at 1).
std::optional<std::vector<int>> ParseFrameList(std::string_view text) {
  std::vector<int> out;
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    int n = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
    if (ec != std::errc() || end != item.data() + item.size() || n < 1) return std::nullopt;
    out.push_back(n);
    if (out.size() > 1000) return std::nullopt;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    if (text.empty()) return std::nullopt;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// One query parameter's decoded value (first occurrence), if present.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    std::size_t eq = piece.find('=');
    if (piece.substr(0, eq) == name) {
      auto v = PercentDecode(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1), true);
      if (v) return *v;
      return std::nullopt;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// PS3.18 8.3.5 rendering parameters: window=center,width[,function], quality=1..100, viewport=w,h.
Result<dicom::RenderOptions> RenderOptionsOf(std::string_view query, dicom::RenderOptions o) {
  if (auto window = QueryParam(query, "window")) {
    double c = 0, w = 0;
    char extra[32] = {};
    if (std::sscanf(window->c_str(), "%lf,%lf%31s", &c, &w, extra) < 2 || !(w > 0))
      return Status(Code::kInvalidArgument, "window must be center,width with a positive width");
    o.window_center = c;
    o.window_width = w;
  }
  if (auto quality = QueryParam(query, "quality")) {
    int q = 0;
    auto [end, ec] = std::from_chars(quality->data(), quality->data() + quality->size(), q);
    if (ec != std::errc() || end != quality->data() + quality->size() || q < 1 || q > 100)
      return Status(Code::kInvalidArgument, "quality must be 1 to 100");
    o.quality = q;
  }
  if (auto viewport = QueryParam(query, "viewport")) {
    int w = 0, hgt = 0;
    if (std::sscanf(viewport->c_str(), "%d,%d", &w, &hgt) != 2 || w < 1 || hgt < 1)
      return Status(Code::kInvalidArgument, "viewport must be width,height");
    o.max_size = std::min(std::max(w, hgt), dicom::kMaxRenderDimension);
  }
  return o;
}

// Media for rendered images: JPEG unless the client prefers PNG.
std::optional<dicom::RenderOptions::Format> RenderFormat(const std::vector<MediaRange>& accept) {
  const Offer offers[] = {{"image/jpeg", "", "", false}, {"image/png", "", "", false}};
  auto choice = Negotiate(accept, offers);
  if (!choice) return std::nullopt;
  return choice->index == 0 ? dicom::RenderOptions::Format::kJpeg : dicom::RenderOptions::Format::kPng;
}

// Whether the client named a transfer syntax (or "*") anywhere in Accept.
// Without one, PS3.18 8.7.3.5.2 says Explicit VR Little Endian, and a
// wildcard is not taken as permission to send a compressed syntax.
bool NamesTransferSyntax(const std::vector<MediaRange>& accept) {
  for (const auto& range : accept)
    if (range.media.Find("transfer-syntax") != nullptr) return true;
  return false;
}

Response FromPixelStatus(const Status& s) {
  if (s.code() == Code::kUnsupported)
    return Response::Problem(406, "Not Acceptable",
                             "Bastion cannot decode this transfer syntax; ask for the frames as stored "
                             "(transfer-syntax=*)");
  return Response::FromStatus(s);
}

}  // namespace

Result<archive::RetrievePlan> WebApp::PlanFor(const Request& request, std::string_view what) {
  return archive_.PlanView(*request.principal, what, std::string(request.Param("study")),
                           std::string(request.Param("series")), std::string(request.Param("instance")));
}

Response WebApp::Metadata(Request& request) {
  if (auto bad = CheckUids(request)) return *bad;
  auto accept = AcceptOf(request, {});
  if (!accept.ok()) return Response::FromStatus(accept.status());
  const Offer offers[] = {{"application/dicom+json", "", "", false}, {"application/json", "", "", false}};
  auto choice = Negotiate(*accept, offers);
  if (!choice) return NotAcceptable("application/dicom+json");
  auto plan = PlanFor(request, "wado-metadata");
  if (!plan.ok()) return Response::FromStatus(plan.status());
  nlohmann::json body = nlohmann::json::array();
  for (const auto& row : plan->instances) {
    auto path = archive_.LocalObjectPath(row);
    if (!path.ok()) return Response::FromStatus(path.status());
    // Relative to the series' URL (.../studies/{st}/series/{se}/), so it
    // stays right behind a reverse proxy that adds a prefix.
    const std::string sop = row.Get(dicom::Attribute::kSOPInstanceUID);
    dicom::JsonOptions options;
    options.bulk_data_uri = [&sop](std::string_view tag_path) {
      std::string dotted(tag_path);
      std::replace(dotted.begin(), dotted.end(), '/', '.');
      return "instances/" + sop + "/bulkdata/" + dotted;
    };
    auto json = dicom::ReadDicomJson(*path, options);
    if (!json.ok()) return Response::FromStatus(json.status());
    body.push_back(std::move(*json));
  }
  return Response::Json(200, body, offers[choice->index].media_type);
}

Response WebApp::BulkData(Request& request) {
  if (auto bad = CheckUids(request)) return *bad;
  std::string tag_path(request.Param("path"));
  std::replace(tag_path.begin(), tag_path.end(), '.', '/');
  if (!dicom::IsValidTagPath(tag_path))
    return Response::Problem(400, "Bad Request", "not a bulk data path of this server");
  auto plan = PlanFor(request, "wado-bulkdata");
  if (!plan.ok()) return Response::FromStatus(plan.status());
  auto path = archive_.LocalObjectPath(plan->instances.front());
  if (!path.ok()) return Response::FromStatus(path.status());
  auto bytes = dicom::ReadBulkData(*path, tag_path);
  if (!bytes.ok()) return Response::FromStatus(bytes.status());
  auto accept = AcceptOf(request, {});
  if (!accept.ok()) return Response::FromStatus(accept.status());
  const Offer offers[] = {{"application/octet-stream", "", "", true},
                          {"multipart/related", "application/octet-stream", "", true}};
  auto choice = Negotiate(*accept, offers);
  if (!choice) return NotAcceptable("application/octet-stream");
  if (choice->index == 0) return Response::Bytes(200, std::move(*bytes), "application/octet-stream");
  MultipartWriter writer(NewBoundary());
  std::string body = writer.BeginPart("application/octet-stream") + *bytes + writer.Close();
  return Response::Bytes(200, std::move(body),
                         "multipart/related; type=\"application/octet-stream\"; boundary=" + writer.boundary());
}

Response WebApp::Frames(Request& request) {
  if (auto bad = CheckUids(request)) return *bad;
  auto frames = ParseFrameList(request.Param("frames"));
  if (!frames) return Response::Problem(400, "Bad Request", "frames must be a comma-separated list of numbers from 1");
  auto accept = AcceptOf(request, {});
  if (!accept.ok()) return Response::FromStatus(accept.status());
  auto plan = PlanFor(request, "wado-frames");
  if (!plan.ok()) return Response::FromStatus(plan.status());
  const index::CatalogRow& row = plan->instances.front();
  auto path = archive_.LocalObjectPath(row);
  if (!path.ok()) return Response::FromStatus(path.status());
  const std::string stored = row.transfer_syntax_uid;
  bool compressed = stored != dicom::kExplicitVrLittleEndian && stored != "1.2.840.10008.1.2" &&
                          stored != "1.2.840.10008.1.2.2" && stored != "1.2.840.10008.1.2.1.99";
  std::vector<Offer> offers;
  if (compressed && !NamesTransferSyntax(*accept)) compressed = false;  // decode to the default syntax
  if (compressed) offers.push_back({"multipart/related", "application/octet-stream", stored, true});
  offers.push_back({"multipart/related", "application/octet-stream", std::string(kExplicitVrLittleEndian), !compressed});
  offers.push_back({"application/octet-stream", "", std::string(kExplicitVrLittleEndian), !compressed});
  if (compressed) offers.push_back({"application/octet-stream", "", stored, true});
  auto choice = Negotiate(*accept, offers);
  if (!choice) return NotAcceptable("multipart/related; type=\"application/octet-stream\"");
  const Offer& offer = offers[choice->index];
  const dicom::FrameEncoding encoding =
      offer.transfer_syntax == stored && compressed ? dicom::FrameEncoding::kAsStored : dicom::FrameEncoding::kNative;
  if (offer.media_type == "application/octet-stream") {
    if (frames->size() != 1) return Response::Problem(406, "Not Acceptable", "several frames need multipart/related");
    auto frame = dicom::ReadFrame(*path, frames->front(), encoding);
    if (!frame.ok()) return FromPixelStatus(frame.status());
    return Response::Bytes(200, std::move(frame->bytes),
                           "application/octet-stream; transfer-syntax=" + frame->transfer_syntax_uid);
  }
  // The first frame is read before answering, so a missing frame or an
  // undecodable syntax is a clean 404/406; the rest are read and sent one at
  // a time (up to 1000 frames of up to 1 GiB each must never sit in memory
  // together). Every frame of one instance has the same transfer syntax.
  auto first = dicom::ReadFrame(*path, frames->front(), encoding);
  if (!first.ok()) return FromPixelStatus(first.status());
  auto writer = std::make_shared<MultipartWriter>(NewBoundary());
  Response r;
  r.headers.Set("Content-Type", "multipart/related; type=\"application/octet-stream\"; transfer-syntax=" +
                                    first->transfer_syntax_uid + "; boundary=" + writer->boundary());
  auto pending = std::make_shared<dicom::Frame>(std::move(*first));
  r.stream = [writer, pending, frames = *frames, file = *path, encoding](BodyWriter& out) -> Status {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      dicom::Frame frame;
      if (i == 0) {
        frame = std::move(*pending);
      } else {
        auto next = dicom::ReadFrame(file, frames[i], encoding);
        if (!next.ok()) return next.status();  // the client sees a truncated body
        frame = std::move(*next);
      }
      // The real transfer syntax of each frame, which Cornerstone reads from here.
      BASTION_RETURN_IF_ERROR(
          out.Write(writer->BeginPart("application/octet-stream; transfer-syntax=" + frame.transfer_syntax_uid)));
      BASTION_RETURN_IF_ERROR(out.Write(frame.bytes));
    }
    return out.Write(writer->Close());
  };
  return r;
}

Response WebApp::Rendered(Request& request) {
  if (auto bad = CheckUids(request)) return *bad;
  const bool thumbnail = request.path.ends_with("/thumbnail");
  int frame = 1;
  if (request.params.count("frames")) {
    auto frames = ParseFrameList(request.Param("frames"));
    if (!frames || frames->size() != 1)
      return Response::Problem(400, "Bad Request", "a rendered frame is named by one frame number");
    frame = frames->front();
  }
  auto accept = AcceptOf(request, {});
  if (!accept.ok()) return Response::FromStatus(accept.status());
  auto format = RenderFormat(*accept);
  if (!format) return NotAcceptable("image/jpeg or image/png");
  dicom::RenderOptions defaults;
  defaults.format = *format;
  if (thumbnail) defaults.max_size = 128;
  auto options = RenderOptionsOf(request.query, defaults);
  if (!options.ok()) return Response::FromStatus(options.status());
  auto plan = PlanFor(request, thumbnail ? "wado-thumbnail" : "wado-rendered");
  if (!plan.ok()) return Response::FromStatus(plan.status());
  // A study or series is represented by its first image.
  auto path = archive_.LocalObjectPath(plan->instances.front());
  if (!path.ok()) return Response::FromStatus(path.status());
  auto image = dicom::RenderFrame(*path, frame, *options);
  if (!image.ok()) return FromPixelStatus(image.status());
  return Response::Bytes(200, std::move(*image),
                         *format == dicom::RenderOptions::Format::kJpeg ? "image/jpeg" : "image/png");
}

// WADO-URI (PS3.18 9): /wado?requestType=WADO&studyUID=&seriesUID=&objectUID=&contentType=...
Response WebApp::WadoUri(Request& request) {
  auto param = [&](const char* name) { return QueryParam(request.query, name).value_or(""); };
  if (param("requestType") != "WADO")
    return Response::Problem(400, "Bad Request", "requestType must be WADO");
  request.params["study"] = param("studyUID");
  request.params["series"] = param("seriesUID");
  request.params["instance"] = param("objectUID");
  for (const char* name : {"study", "series", "instance"})
    if (request.Param(name).empty())
      return Response::Problem(400, "Bad Request", "studyUID, seriesUID and objectUID are all required");
  if (auto bad = CheckUids(request)) return *bad;
  std::string content_type = param("contentType");
  if (content_type.empty()) content_type = "image/jpeg";  // PS3.18 9.1.2.2.1: the default for single-frame images
  if (content_type == "application/dicom") {
    auto plan = PlanFor(request, "wado-uri");
    if (!plan.ok()) return Response::FromStatus(plan.status());
    const index::CatalogRow& row = plan->instances.front();
    auto path = archive_.LocalObjectPath(row);
    if (!path.ok()) return Response::FromStatus(path.status());
    std::string ts = param("transferSyntax");
    if (ts.empty()) ts = std::string(kExplicitVrLittleEndian);
    if (ts == "*" || ts == row.transfer_syntax_uid) {
      Response r;
      r.headers.Set("Content-Type", "application/dicom");
      std::filesystem::path file = *path;
      r.stream = [file](BodyWriter& out) { return StreamFile(file, out); };
      return r;
    }
    auto bytes = dicom::ReadPart10As(*path, ts);
    if (!bytes.ok()) return FromPixelStatus(bytes.status());
    return Response::Bytes(200, std::move(*bytes), "application/dicom");
  }
  dicom::RenderOptions defaults;
  if (content_type == "image/png") defaults.format = dicom::RenderOptions::Format::kPng;
  else if (content_type != "image/jpeg")
    return Response::Problem(406, "Not Acceptable", "contentType must be application/dicom, image/jpeg or image/png");
  dicom::RenderOptions options = defaults;
  std::string wc = param("windowCenter"), ww = param("windowWidth");
  if (!wc.empty() || !ww.empty()) {
    char* end1 = nullptr;
    char* end2 = nullptr;
    double c = std::strtod(wc.c_str(), &end1), w = std::strtod(ww.c_str(), &end2);
    if (wc.empty() || ww.empty() || *end1 != 0 || *end2 != 0 || !(w > 0))
      return Response::Problem(400, "Bad Request", "windowCenter and windowWidth must both be numbers (width > 0)");
    options.window_center = c;
    options.window_width = w;
  }
  int frame = 1;
  if (std::string f = param("frameNumber"); !f.empty()) {
    auto frames = ParseFrameList(f);
    if (!frames || frames->size() != 1) return Response::Problem(400, "Bad Request", "frameNumber must be a number from 1");
    frame = frames->front();
  }
  auto plan = PlanFor(request, "wado-uri");
  if (!plan.ok()) return Response::FromStatus(plan.status());
  auto path = archive_.LocalObjectPath(plan->instances.front());
  if (!path.ok()) return Response::FromStatus(path.status());
  auto image = dicom::RenderFrame(*path, frame, options);
  if (!image.ok()) return FromPixelStatus(image.status());
  return Response::Bytes(200, std::move(*image), content_type);
}

Response WebApp::RetrieveInstances(Request& request) {
  if (auto bad = CheckUids(request)) return *bad;
  auto accept = AcceptOf(request, {});
  if (!accept.ok()) return Response::FromStatus(accept.status());
  auto plan = PlanFor(request, "wado-instances");
  if (!plan.ok()) return Response::FromStatus(plan.status());
  // Offers: every instance as stored (when the client takes any syntax, or
  // exactly that one), or re-encoded in Explicit VR Little Endian, PS3.18's
  // default for application/dicom.
  const std::string first_ts = plan->instances.front().transfer_syntax_uid;
  std::vector<Offer> offers;
  if (NamesTransferSyntax(*accept)) offers.push_back({"multipart/related", "application/dicom", first_ts, true});
  offers.push_back({"multipart/related", "application/dicom", std::string(kExplicitVrLittleEndian), false});
  auto choice = Negotiate(*accept, offers);
  if (!choice) return NotAcceptable("multipart/related; type=\"application/dicom\"");
  const bool as_stored = offers[choice->index].as_stored;
  auto writer = std::make_shared<MultipartWriter>(NewBoundary());
  Response r;
  r.status = 200;
  r.headers.Set("Content-Type", "multipart/related; type=\"application/dicom\"; boundary=" + writer->boundary());
  auto instances = std::make_shared<std::vector<index::CatalogRow>>(std::move(plan->instances));
  r.stream = [this, writer, instances, as_stored](BodyWriter& out) -> Status {
    for (const auto& row : *instances) {
      auto path = archive_.LocalObjectPath(row);
      if (!path.ok()) return path.status();
      const bool send_stored = as_stored || row.transfer_syntax_uid == kExplicitVrLittleEndian;
      const std::string ts = send_stored ? row.transfer_syntax_uid : std::string(kExplicitVrLittleEndian);
      if (send_stored) {
        BASTION_RETURN_IF_ERROR(
            out.Write(writer->BeginPart("application/dicom; transfer-syntax=" + ts)));
        BASTION_RETURN_IF_ERROR(StreamFile(*path, out));
      } else {
        auto bytes = dicom::ReadPart10As(*path, ts);
        if (!bytes.ok()) return bytes.status();
        BASTION_RETURN_IF_ERROR(out.Write(writer->BeginPart("application/dicom; transfer-syntax=" + ts)));
        BASTION_RETURN_IF_ERROR(out.Write(*bytes));
      }
    }
    return out.Write(writer->Close());
  };
  return r;
}

Response WebApp::Search(Request& request) {
  std::string_view path = request.path;
  path.remove_prefix(kRoot.size());
  auto qido_path = ParseQidoPath(path);
  if (!qido_path) return Response::Problem(404, "Not Found", "no such resource");
  if (!qido_path->ok()) return Response::FromStatus(qido_path->status());
  QidoLimits limits;
  limits.default_limit = limits.max_limit = config_.query.max_matches;
  auto qido = ParseQido(**qido_path, request.query, limits);
  if (!qido.ok()) {
    archive_.RecordRefusedQuery(*request.principal, "qido", qido.status().message());
    return Response::FromStatus(qido.status());
  }
  auto accept = AcceptOf(request, qido->accept);
  if (!accept.ok()) return Response::FromStatus(accept.status());
  const Offer offers[] = {{"application/dicom+json", "", "", false}, {"application/json", "", "", false}};
  auto choice = Negotiate(*accept, offers);
  if (!choice) return NotAcceptable("application/dicom+json");

  auto answer = archive_.Find(*request.principal, qido->query);
  if (!answer.ok()) return Response::FromStatus(answer.status());
  nlohmann::json body = nlohmann::json::array();
  for (const auto& row : answer->matches) body.push_back(QidoResultJson(row, *qido));
  Response r = Response::Json(200, body, offers[choice->index].media_type);
  AddWarnings(r, qido->warnings);
  if (answer->truncated || qido->limit_clamped)
    AddWarnings(r, {"There are additional results that can be requested"});
  return r;
}

}  // namespace bastion::web
