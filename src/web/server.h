// The HTTPS (and loopback-only HTTP) listener: Boost.Beast over OpenSSL.
//
// One thread per open connection, at most [web] max_connections (and
// max_connections_per_address) of them; further connections wait in the
// kernel's backlog, and an address over its share is closed at once. Every
// read and write runs under a deadline enforced by a watchdog thread that
// shuts the socket down when it passes: a client that sends its headers
// slowly (header_timeout_seconds) or stalls a body or a response
// (idle_timeout_seconds) loses its connection, whatever it does.
//
// Limits are checked before work: headers over max_header_bytes get 431, a
// declared Content-Length over the route's limit gets 413 before any body
// byte is read, a compressed request body (Content-Encoding) gets 415, and
// chunked bodies are bounded by the same limits as they arrive.
//
// Every response carries the security headers (HSTS over TLS, a strict
// Content-Security-Policy with frame-ancestors 'none', nosniff,
// Referrer-Policy, no-store caching unless the handler allows caching).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/config.h"
#include "util/status.h"
#include "web/app.h"

namespace bastion::web {

class WebServer {
 public:
  WebServer(const Config& config, WebApp& app);
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // Loads the certificate and key of [tls], binds every [web] listener.
  // Fails (and binds nothing) with a message that says what to fix.
  Status Start();
  // Stops accepting, ends every connection (in-flight responses are cut
  // short) and waits for their threads, at most `wait`. False if some did not end.
  bool Stop(std::chrono::milliseconds wait = std::chrono::milliseconds(10000));
  // "https://127.0.0.1:8443 http://127.0.0.1:8080"
  std::string DescribeListeners() const;
  // Loads the [tls] certificate and key again now (SIGHUP); they are also
  // taken up on their own when they change, at the next HTTPS connection.
  // On failure the ones in force stay.
  Status ReloadTls();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bastion::web
