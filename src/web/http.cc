#include "web/http.h"

#include <strings.h>

#include "util/error_codes.h"

namespace bastion::web {

namespace {
bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::string_view> HeaderList::Get(std::string_view name) const {
  for (const auto& [n, v] : items)
    if (SameName(n, name)) return std::string_view(v);
  return std::nullopt;
}

std::vector<std::string> HeaderList::All(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : items)
    if (SameName(n, name)) out.push_back(v);
  return out;
}

void HeaderList::Set(std::string name, std::string value) {
  for (auto it = items.begin(); it != items.end();)
    it = SameName(it->first, name) ? items.erase(it) : std::next(it);
  items.emplace_back(std::move(name), std::move(value));
}

std::string_view Request::Param(std::string_view name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string_view() : std::string_view(it->second);
}

Response Response::Json(int status, const nlohmann::json& body, std::string_view content_type) {
  Response r;
  r.status = status;
  r.headers.Set("Content-Type", std::string(content_type));
  // Replacement of invalid UTF-8 instead of an exception: values come from stored objects.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response Response::Problem(int status, std::string_view title, std::string_view detail) {
  nlohmann::json doc = {{"type", "about:blank"}, {"title", title}, {"status", status}};
  if (!detail.empty()) doc["detail"] = detail;
  return Json(status, doc, "application/problem+json");
}

Response Response::FromStatus(const Status& status) {
  const CodeInfo& info = InfoFor(status.code());
  // Internal failures say nothing of their cause to the client (it may hold
  // paths or values); the server log has it.
  bool server_side = info.http_status >= 500;
  return Problem(info.http_status, ReasonPhrase(info.http_status),
                 server_side ? "the server could not complete the request; the server log has the details"
                             : status.message());
}

Response Response::Redirect(std::string_view location) {
  Response r;
  r.status = 303;
  r.headers.Set("Location", std::string(location));
  return r;
}

Response Response::Bytes(int status, std::string body, std::string_view content_type) {
  Response r;
  r.status = status;
  r.headers.Set("Content-Type", std::string(content_type));
  r.body = std::move(body);
  return r;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Error";
  }
}

std::optional<std::string> PercentDecode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace bastion::web
