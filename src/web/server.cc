#include "web/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <limits>
#include <set>

#include "security/tls_credentials.h"
#include "util/net.h"

namespace bastion::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

// BCP 195: TLS 1.2 with forward-secret AEAD suites only; TLS 1.3's suites are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The policy for everything we serve: our own scripts and styles only, no
// framing, no plug-ins, no form posts elsewhere.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

// How much of an unread request body is read and dropped after a refusal,
// so that the client sees the answer instead of a reset (a lingering close).
constexpr std::size_t kLingerBytes = 1 << 20;
constexpr int kLingerSeconds = 2;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now().time_since_epoch()).count();
}

}  // namespace

// One open connection, as the watchdog sees it.
struct Connection {
  int fd = -1;  // -1 once retired; guarded by WebServer::Impl::mu
  std::atomic<std::int64_t> deadline_ms{0};  // 0: none
  std::atomic<bool> timed_out{false};
  void Deadline(int seconds) { deadline_ms = NowMs() + std::int64_t(seconds) * 1000; }
};

struct WebServer::Impl {
  Impl(const Config& config, WebApp& app)
      : config(config), app(app), tls(HttpsFiles(config.tls), "HTTPS", [&config] { return LoadTls(config.tls); }) {}

  const Config& config;
  WebApp& app;
  asio::io_context io;  // owns no threads: sockets are used synchronously
  security::ReloadingTlsContext<ssl::context> tls;  // loaded by Start if an HTTPS listener is configured

  struct Listener {
    int fd = -1;
    bool secure = true;
    Endpoint endpoint;
  };
  std::vector<Listener> listeners;
  int wake_fd = -1;
  std::thread acceptor_thread, watchdog_thread;
  std::atomic<bool> stopping{false};

  std::mutex mu;
  std::condition_variable cv;                 // connection ended / stop
  std::set<Connection*> connections;          // guarded by mu
  std::map<std::string, int> per_address;    // guarded by mu
  int open = 0;                               // guarded by mu

  // HTTPS asks for no client certificate: [tls] client_ca is for DICOM peers.
  static TlsOptions HttpsFiles(TlsOptions files) {
    files.client_ca.clear();
    return files;
  }
  static Result<std::shared_ptr<ssl::context>> LoadTls(const TlsOptions& files);
  Status Bind(const Endpoint& ep, bool secure);
  void AcceptLoop();
  void WatchdogLoop();
  void Admit(int fd, const std::string& address, bool secure);
  template <class Stream>
  void Serve(Stream& stream, Connection& conn, const std::string& address, bool secure);
};

WebServer::WebServer(const Config& config, WebApp& app) : impl_(std::make_unique<Impl>(config, app)) {}

WebServer::~WebServer() { Stop(); }

Result<std::shared_ptr<ssl::context>> WebServer::Impl::LoadTls(const TlsOptions& files) {
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = tls->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1)
    return Status(Code::kInternal, "OpenSSL refused the BCP 195 cipher list");
  const std::string cert = files.certificate.string(), key = files.private_key.string();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
    return Status(Code::kInsecureConfig, "cannot load the HTTPS certificate " + cert + " ([tls] certificate)");
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    return Status(Code::kInsecureConfig,
                  "cannot load the HTTPS private key " + key + ", or it does not match " + cert + " ([tls])");
  return tls;
}

Status WebServer::Impl::Bind(const Endpoint& ep, bool secure) {
  sockaddr_storage sa{};
  socklen_t len = ToSockaddr(ep.address, ep.port, &sa);
  int fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status(Code::kIo, "socket: " + std::string(std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sa.ss_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 || ::listen(fd, 128) != 0) {
    int err = errno;
    ::close(fd);
    return Status(Code::kIo, "cannot listen on " + ep.ToString() + ": " + std::strerror(err) +
                                 (err == EADDRINUSE ? " (another program uses that port; change [web] in bastion.toml)"
                                                    : ""));
  }
  listeners.push_back(Listener{fd, secure, ep});
  return Status::Ok();
}

Status WebServer::Start() {
  Impl& s = *impl_;
  if (!s.config.web.https_listen.empty()) BASTION_RETURN_IF_ERROR(s.tls.Reload());
  auto undo = [&] {
    for (auto& l : s.listeners) ::close(l.fd);
    s.listeners.clear();
  };
  for (const auto& ep : s.config.web.https_listen)
    if (Status st = s.Bind(ep, true); !st.ok()) return undo(), st;
  for (const auto& ep : s.config.web.http_listen)
    if (Status st = s.Bind(ep, false); !st.ok()) return undo(), st;
  if (s.listeners.empty()) return Status::Ok();
  s.wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  s.acceptor_thread = std::thread([&s] { s.AcceptLoop(); });
  s.watchdog_thread = std::thread([&s] { s.WatchdogLoop(); });
  return Status::Ok();
}

Status WebServer::ReloadTls() { return impl_->config.web.https_listen.empty() ? Status::Ok() : impl_->tls.Reload(); }

std::string WebServer::DescribeListeners() const {
  std::string out;
  for (const auto& l : impl_->listeners) {
    if (!out.empty()) out += " ";
    out += (l.secure ? "https://" : "http://") + l.endpoint.ToString();
  }
  return out;
}

bool WebServer::Stop(std::chrono::milliseconds wait) {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return true;
  if (s.wake_fd >= 0) {
    std::uint64_t one = 1;
    (void)!::write(s.wake_fd, &one, sizeof one);
  }
  s.cv.notify_all();
  if (s.acceptor_thread.joinable()) s.acceptor_thread.join();
  for (auto& l : s.listeners) ::close(l.fd);
  s.listeners.clear();
  bool all_ended;
  {
    std::unique_lock lock(s.mu);
    for (Connection* c : s.connections)
      if (c->fd >= 0) ::shutdown(c->fd, SHUT_RDWR);
    all_ended = s.cv.wait_for(lock, wait, [&] { return s.open == 0; });
  }
  if (s.watchdog_thread.joinable()) s.watchdog_thread.join();
  if (s.wake_fd >= 0) ::close(s.wake_fd), s.wake_fd = -1;
  return all_ended;
}

void WebServer::Impl::WatchdogLoop() {
  std::unique_lock lock(mu);
  while (!stopping) {
    cv.wait_for(lock, std::chrono::milliseconds(250));
    std::int64_t now = NowMs();
    for (Connection* c : connections) {
      std::int64_t d = c->deadline_ms.load();
      if (c->fd >= 0 && d != 0 && now >= d && !c->timed_out.exchange(true)) ::shutdown(c->fd, SHUT_RDWR);
    }
  }
}

void WebServer::Impl::AcceptLoop() {
  std::vector<pollfd> fds;
  for (const auto& l : listeners) fds.push_back(pollfd{l.fd, POLLIN, 0});
  fds.push_back(pollfd{wake_fd, POLLIN, 0});
  while (!stopping) {
    {
      // At the connection limit, stop accepting: the kernel's backlog holds the rest.
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return stopping || open < config.web.max_connections; });
    }
    if (stopping) break;
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("web: poll failed: {}", std::strerror(errno));
      break;
    }
    for (std::size_t i = 0; i + 1 < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      int fd = ::accept4(fds[i].fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
      if (fd < 0) continue;
      auto address = IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&peer));
      Admit(fd, address ? address->ToString() : std::string("unknown"), listeners[i].secure);
    }
  }
}

void WebServer::Impl::Admit(int fd, const std::string& address, bool secure) {
  {
    std::lock_guard lock(mu);
    int& mine = per_address[address];
    if (mine >= config.web.max_connections_per_address) {
      if (mine == 0) per_address.erase(address);
      spdlog::warn("web: connection from {} refused: it already has {} open (max_connections_per_address)",
                   address, config.web.max_connections_per_address);
      ::close(fd);
      return;
    }
    ++mine;
    ++open;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::thread([this, fd, address, secure] {
    Connection conn;
    conn.fd = fd;
    {
      std::lock_guard lock(mu);
      connections.insert(&conn);
    }
    // Before the descriptor is closed (and may be reused by another
    // connection), the watchdog and Stop must stop seeing it.
    auto retire = [&] {
      std::lock_guard lock(mu);
      conn.fd = -1;
    };
    try {
      boost::system::error_code ec;
      tcp::socket socket(io);
      auto protocol = address.find(':') != std::string::npos ? tcp::v6() : tcp::v4();
      socket.assign(protocol, fd, ec);
      if (!ec) {
        if (secure) {
          // Held for the whole connection: the [tls] files may be renewed meanwhile.
          std::shared_ptr<ssl::context> context = tls.Current();
          ssl::stream<tcp::socket> stream(std::move(socket), *context);
          conn.Deadline(config.web.header_timeout_seconds);
          stream.handshake(ssl::stream_base::server, ec);
          if (!ec) Serve(stream, conn, address, true);
          // close_notify, without waiting for the peer's.
          if (!ec && !conn.timed_out) ::SSL_shutdown(stream.native_handle());
          retire();
          stream.next_layer().close(ec);
        } else {
          Serve(socket, conn, address, false);
          retire();
          socket.close(ec);
        }
      } else {
        retire();
        ::close(fd);
      }
    } catch (const std::exception& e) {
      // The socket's destructor has closed the descriptor by now.
      spdlog::error("web: connection from {} ended by an unexpected error: {}", address, e.what());
    }
    std::lock_guard lock(mu);
    connections.erase(&conn);
    if (--per_address[address] <= 0) per_address.erase(address);
    --open;
    cv.notify_all();
  }).detach();
}

namespace {

// Beast's request/response header as our HeaderList.
HeaderList HeadersOf(const http::fields& fields) {
  HeaderList h;
  for (const auto& f : fields) h.Add(std::string(f.name_string()), std::string(f.value()));
  return h;
}

void AddSecurityHeaders(http::fields& fields, bool secure, std::int64_t hsts_max_age) {
  if (secure && hsts_max_age > 0)
    fields.set("Strict-Transport-Security", "max-age=" + std::to_string(hsts_max_age) + "; includeSubDomains");
  // A handler may send a policy of its own (the viewer's); every other response gets ours.
  if (fields.find("Content-Security-Policy") == fields.end())
    fields.set("Content-Security-Policy", kContentSecurityPolicy);
  fields.set("X-Content-Type-Options", "nosniff");
  fields.set("X-Frame-Options", "DENY");
  fields.set("Referrer-Policy", "no-referrer");
  fields.set("Cross-Origin-Opener-Policy", "same-origin");
  fields.set("Cross-Origin-Resource-Policy", "same-origin");
  if (fields.find(http::field::cache_control) == fields.end()) fields.set(http::field::cache_control, "no-store");
  fields.set(http::field::server, "Bastion");
}

// A streamed request body (STOW-RS): reads through Beast's buffer_body parser.
template <class Stream>
class StreamedBody final : public BodyReader {
 public:
  StreamedBody(Stream& stream, beast::flat_buffer& buffer, http::request_parser<http::buffer_body>& parser,
               Connection& conn, int idle_seconds)
      : stream_(stream), buffer_(buffer), parser_(parser), conn_(conn), idle_(idle_seconds) {}

  Result<std::size_t> Read(char* out, std::size_t size) override {
    if (parser_.is_done() || failed_) return std::size_t{0};
    parser_.get().body().data = out;
    parser_.get().body().size = size;
    conn_.Deadline(idle_);
    boost::system::error_code ec;
    http::read(stream_, buffer_, parser_, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      failed_ = true;
      if (ec == http::error::body_limit)
        return Status(Code::kTooLarge, "the body is larger than [web] max_upload_bytes");
      return Status(Code::kInvalidArgument, conn_.timed_out ? "the body stopped arriving (idle timeout)"
                                                            : "the body ended early or is malformed");
    }
    return size - parser_.get().body().size;
  }
  bool failed() const { return failed_; }

 private:
  Stream& stream_;
  beast::flat_buffer& buffer_;
  http::request_parser<http::buffer_body>& parser_;
  Connection& conn_;
  int idle_;
  bool failed_ = false;
};

}  // namespace

template <class Stream>
void WebServer::Impl::Serve(Stream& stream, Connection& conn, const std::string& address, bool secure) {
  const WebOptions& w = config.web;
  beast::flat_buffer buffer;
  boost::system::error_code ec;

  // Writes a whole response; false when the connection is lost.
  auto send = [&](Response& r, unsigned version, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(r.status), version};
    for (auto& [n, v] : r.headers.items) res.insert(n, v);
    AddSecurityHeaders(res, secure, w.hsts_max_age);
    res.keep_alive(keep_alive);
    res.body() = std::move(r.body);
    res.prepare_payload();
    conn.Deadline(w.idle_timeout_seconds);
    http::write(stream, res, ec);
    return !ec;
  };
  // After refusing a request whose body was not read to its end, the client
  // may still be sending it. Closing at once would reset the connection under
  // it and it might never see the answer; so a bounded rest (at most
  // kLingerBytes, kLingerSeconds) is read and dropped first.
  auto linger = [&] {
    std::vector<char> scratch(1 << 16);
    std::size_t dropped = buffer.size();
    buffer.consume(buffer.size());
    conn.Deadline(kLingerSeconds);
    boost::system::error_code e;
    while (dropped < kLingerBytes && !conn.timed_out) {
      std::size_t n = stream.read_some(asio::buffer(scratch), e);
      if (e || n == 0) break;
      dropped += n;
    }
  };
  // Sends a refusal on a request whose body is not read, then closes.
  auto refuse = [&](Response r, unsigned version) {
    if (send(r, version, false)) linger();
  };

  for (;;) {
    conn.Deadline(w.header_timeout_seconds);
    http::request_parser<http::empty_body> head;
    head.header_limit(w.max_header_bytes);
    // Checked against the route's own limit once the route is known (413 before any body byte).
    head.body_limit(std::numeric_limits<std::uint64_t>::max());
    http::read_header(stream, buffer, head, ec);
    if (ec) {
      if (ec == http::error::header_limit) {
        Response r = Response::Problem(431, "Request Header Fields Too Large",
                                       "the request line and headers exceed [web] max_header_bytes");
        send(r, 11, false);
      } else if (ec != http::error::end_of_stream && !conn.timed_out && ec != asio::error::eof &&
                 ec != ssl::error::stream_truncated && ec != asio::error::connection_reset) {
        Response r = Response::Problem(400, "Bad Request", "the request is not valid HTTP/1.1");
        send(r, 11, false);
      }
      return;
    }
    const auto& req = head.get();
    Request request;
    request.method = std::string(req.method_string());
    std::string_view target(req.target().data(), req.target().size());
    std::size_t q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
    request.headers = HeadersOf(req.base());
    request.peer_address = address;
    request.secure = secure;
    const unsigned version = req.version();
    bool keep_alive = req.keep_alive();
    const bool has_body = req.has_content_length() ? head.content_length().value_or(0) > 0 : req.chunked();

    auto resolved = app.Resolve(request.method, request.path);
    if (auto* immediate = std::get_if<Response>(&resolved)) {
      // The body (if any) is not read: the connection cannot be reused.
      if (has_body) {
        refuse(std::move(*immediate), version);
        return;
      }
      if (!send(*immediate, version, keep_alive) || !keep_alive) return;
      continue;
    }
    const WebApp::Match& match = std::get<WebApp::Match>(resolved);
    const std::uint64_t limit = app.max_body_bytes(*match.route);
    auto encoding = request.headers.Get("Content-Encoding");
    if (has_body && encoding && *encoding != "identity") {
      // Never inflate what a client sends: no decompression bombs.
      refuse(Response::Problem(415, "Unsupported Media Type", "compressed request bodies are not accepted"), version);
      return;
    }
    if (has_body && match.route->body == BodyMode::kNone) {
      refuse(Response::Problem(413, "Content Too Large", "this resource takes no request body"), version);
      return;
    }
    if (has_body && head.content_length() && *head.content_length() > limit) {
      refuse(Response::Problem(413, "Content Too Large",
                               match.route->body == BodyMode::kStreamed
                                   ? "the declared body is larger than [web] max_upload_bytes"
                                   : "the declared body is larger than [web] max_body_bytes"),
             version);
      return;
    }
    auto expect = request.headers.Get("Expect");
    if (has_body && expect && ::strcasecmp(std::string(*expect).c_str(), "100-continue") == 0) {
      http::response<http::empty_body> cont{http::status::continue_, version};
      conn.Deadline(w.idle_timeout_seconds);
      http::write(stream, cont, ec);
      if (ec) return;
    }

    Response response;
    std::optional<http::request_parser<http::buffer_body>> streamed;
    std::optional<StreamedBody<Stream>> body_reader;
    if (match.route->body == BodyMode::kBuffered) {
      http::request_parser<http::string_body> full{std::move(head)};
      full.body_limit(limit);
      conn.Deadline(w.idle_timeout_seconds);
      if (has_body) http::read(stream, buffer, full, ec);
      if (ec) {
        Response r = ec == http::error::body_limit
                         ? Response::Problem(413, "Content Too Large", "the body is larger than [web] max_body_bytes")
                         : Response::Problem(400, "Bad Request", "the body ended early or is malformed");
        if (conn.timed_out) return;
        if (ec == http::error::body_limit)
          refuse(std::move(r), version);
        else
          send(r, version, false);
        return;
      }
      request.body = std::move(full.get().body());
      response = app.Handle(request, match);
    } else if (match.route->body == BodyMode::kStreamed) {
      streamed.emplace(std::move(head));
      streamed->body_limit(limit);
      body_reader.emplace(stream, buffer, *streamed, conn, w.idle_timeout_seconds);
      request.body_reader = &*body_reader;
      response = app.Handle(request, match);
      // A body the handler did not read (a refusal): a small rest is read and
      // dropped so the client, still sending, gets the answer; a large one
      // is not worth it, and the connection closes after the answer.
      std::vector<char> scratch(1 << 16);
      std::uint64_t drained = 0;
      while (!body_reader->failed() && !streamed->is_done() && drained <= w.max_body_bytes) {
        auto n = body_reader->Read(scratch.data(), scratch.size());
        if (!n.ok() || *n == 0) break;
        drained += *n;
      }
      if (body_reader->failed() || !streamed->is_done()) keep_alive = false;
    } else {
      response = app.Handle(request, match);
    }

    const bool body_left = streamed && !streamed->is_done() && !conn.timed_out;
    if (!response.stream) {
      if (!send(response, version, keep_alive)) return;
      if (body_left) linger();
      if (!keep_alive) return;
      continue;
    }
    // A body produced while it is sent: chunked transfer coding.
    http::response<http::buffer_body> res{static_cast<http::status>(response.status), version};
    for (auto& [n, v] : response.headers.items) res.insert(n, v);
    AddSecurityHeaders(res, secure, w.hsts_max_age);
    res.keep_alive(keep_alive);
    res.chunked(true);
    res.body().data = nullptr;
    res.body().more = true;
    http::response_serializer<http::buffer_body> sr{res};
    conn.Deadline(w.idle_timeout_seconds);
    http::write_header(stream, sr, ec);
    if (ec) return;
    struct ChunkWriter final : BodyWriter {
      Stream& stream;
      http::response<http::buffer_body>& res;
      http::response_serializer<http::buffer_body>& sr;
      Connection& conn;
      int idle;
      ChunkWriter(Stream& s, http::response<http::buffer_body>& r, http::response_serializer<http::buffer_body>& z,
                  Connection& c, int i)
          : stream(s), res(r), sr(z), conn(c), idle(i) {}
      Status Write(std::string_view bytes) override {
        if (bytes.empty()) return Status::Ok();
        res.body().data = const_cast<char*>(bytes.data());
        res.body().size = bytes.size();
        res.body().more = true;
        conn.Deadline(idle);
        boost::system::error_code e;
        http::write(stream, sr, e);
        if (e == http::error::need_buffer) e = {};
        if (e) return Status(Code::kIo, "the client went away");
        return Status::Ok();
      }
    } writer(stream, res, sr, conn, w.idle_timeout_seconds);
    Status produced = response.stream(writer);
    if (!produced.ok()) {
      // Headers are gone already: the only honest signal left is to cut the
      // connection without the final chunk, so the client sees a truncated body.
      spdlog::warn("web: response to {} {} cut short: {}", request.method, match.route->pattern, produced.ToString());
      return;
    }
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = false;
    conn.Deadline(w.idle_timeout_seconds);
    http::write(stream, sr, ec);
    if (ec || !keep_alive) return;
  }
}

}  // namespace bastion::web
