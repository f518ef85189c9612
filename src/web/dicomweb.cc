// DICOMweb (PS3.18) handlers, rooted at /dicom-web. Each translates the
// request into an archive call made as the authenticated principal (the
// archive checks the permission again and writes the audit record), and the
// answer back into PS3.18 media types.
#include <spdlog/spdlog.h>
#include <strings.h>

#include <fstream>

#include "dicom/dicom.h"
#include "web/app.h"
#include "web/media_type.h"
#include "web/multipart.h"
#include "web/qido.h"

namespace bastion::web {

namespace {

constexpr std::string_view kRoot = "/dicom-web";

// The Accept header(s) plus the "accept=" query forms (PS3.18 8.3.3.1).
Result<std::vector<MediaRange>> AcceptOf(const Request& request, const std::vector<std::string>& query_accept) {
  std::vector<std::string> headers;
  for (const auto& [n, v] : request.headers.items)
    if (n.size() == 6 && ::strncasecmp(n.c_str(), "Accept", 6) == 0) headers.push_back(v);
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

}  // namespace

Response WebApp::RetrieveInstances(Request& request) {
  if (auto bad = CheckUids(request)) return *bad;
  auto accept = AcceptOf(request, {});
  if (!accept.ok()) return Response::FromStatus(accept.status());
  auto plan = archive_.PlanView(*request.principal, "wado-instances", std::string(request.Param("study")),
                                std::string(request.Param("series")), std::string(request.Param("instance")));
  if (!plan.ok()) return Response::FromStatus(plan.status());
  // Offers: every instance as stored (when the client takes any syntax, or
  // exactly that one), or re-encoded in Explicit VR Little Endian, PS3.18's
  // default for application/dicom.
  const std::string first_ts = plan->instances.front().transfer_syntax_uid;
  const Offer offers[] = {{"multipart/related", "application/dicom", first_ts, true},
                          {"multipart/related", "application/dicom", std::string(kExplicitVrLittleEndian), false}};
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
