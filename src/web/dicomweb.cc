// DICOMweb (PS3.18) handlers, rooted at /dicom-web. Each translates the
// request into an archive call made as the authenticated principal (the
// archive checks the permission again and writes the audit record), and the
// answer back into PS3.18 media types.
#include <spdlog/spdlog.h>
#include <strings.h>

#include "web/app.h"
#include "web/media_type.h"
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

}  // namespace

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
