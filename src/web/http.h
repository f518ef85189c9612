// The web front end's own request and response types: what handlers see.
// No Boost here — Beast stays inside server.cc, so handlers and their tests
// compile fast and can be driven without a socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "security/principal.h"
#include "util/status.h"
#include "web/sessions.h"

namespace bastion::web {

// Header names compare case-insensitively (RFC 9110 5.1).
struct HeaderList {
  std::vector<std::pair<std::string, std::string>> items;
  // The first value of `name`, if any.
  std::optional<std::string_view> Get(std::string_view name) const;
  // Every value of `name`, in order (several Accept headers are one list).
  std::vector<std::string> All(std::string_view name) const;
  void Add(std::string name, std::string value) { items.emplace_back(std::move(name), std::move(value)); }
  void Set(std::string name, std::string value);
};

// A request body that arrives while the handler reads it (STOW-RS): never
// held whole in memory. Read returns 0 at the end of the body.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  virtual Result<std::size_t> Read(char* buffer, std::size_t size) = 0;
};

// A response body written while it is produced (WADO-RS of a whole study).
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  virtual Status Write(std::string_view bytes) = 0;
};

struct Request {
  std::string method;       // "GET", ...
  std::string path;         // as sent, percent-encoded, without the query
  std::string query;        // after '?', percent-encoded; empty if none
  HeaderList headers;
  std::string body;         // for routes with a buffered body (at most [web] max_body_bytes)
  BodyReader* body_reader = nullptr;  // for routes with a streamed body
  std::string peer_address; // the client's IP address
  bool secure = false;      // arrived over TLS

  // Filled by the router:
  std::map<std::string, std::string, std::less<>> params;  // path parameters, percent-decoded and checked
  std::optional<security::Principal> principal;            // who is asking (absent on public routes)
  std::optional<Session> session;                          // when authenticated by a session cookie
  std::string session_id;                                  // its cookie value (for logout)

  std::string_view Param(std::string_view name) const;
};

struct Response {
  int status = 200;
  HeaderList headers;
  std::string body;
  // When set, the body is produced by this function instead (sent chunked).
  std::function<Status(BodyWriter&)> stream;

  static Response Json(int status, const nlohmann::json& body, std::string_view content_type = "application/json");
  // RFC 9457 problem document. `detail` must never contain PHI or echo the
  // request: it is a fixed explanation written by us.
  static Response Problem(int status, std::string_view title, std::string_view detail = {});
  static Response FromStatus(const Status& status);
  static Response Redirect(std::string_view location);
  static Response Bytes(int status, std::string body, std::string_view content_type);
};

std::string_view ReasonPhrase(int status);

// Percent-decoding of a path segment or query component; nullopt for a
// malformed escape. `plus_as_space` for application/x-www-form-urlencoded.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_as_space = false);

}  // namespace bastion::web
