// D13 / W7: what a port's TLS looks like, straight through OpenSSL (no
// client certificate is ever sent): version, suite, certificate, whether a
// client certificate is required, and whether legacy versions or weak
// suites are still accepted when offered alone.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "scan/probe.h"
#include "util/net.h"

namespace bastion::scan {
namespace {

int Connect(const std::string& address, std::uint16_t port, int timeout_seconds) {
  auto ip = IpAddress::Parse(address);
  if (!ip) return -1;
  int fd = ::socket(ip->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_storage ss{};
  socklen_t len = ToSockaddr(*ip, port, &ss);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (rc != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  if (rc != 0) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t elen = sizeof err;
    if (::poll(&p, 1, timeout_seconds * 1000) != 1 ||
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
      ::close(fd);
      return -1;
    }
  }
  // Blocking again, bounded by timeouts.
  int flags = 0;
  ::ioctl(fd, FIONBIO, &flags);
  timeval tv{timeout_seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

std::int64_t AsnTime(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string Name(X509_NAME* name) {
  if (!name) return "";
  char buf[256] = {};
  X509_NAME_oneline(name, buf, sizeof buf);
  return buf;
}

struct Seen {
  bool* cert_requested;
  bool* server_hello;
};

int OnClientCertRequest(SSL* ssl, X509** /*x509*/, EVP_PKEY** /*pkey*/) {
  auto* seen = static_cast<Seen*>(SSL_get_app_data(ssl));
  if (seen) *seen->cert_requested = true;
  return 0;  // we have none to give
}

void OnMessage(int write_p, int /*version*/, int content_type, const void* buf, size_t len,
               SSL* ssl, void*) {
  auto* seen = static_cast<Seen*>(SSL_get_app_data(ssl));
  if (!seen || write_p || content_type != SSL3_RT_HANDSHAKE || len == 0) return;
  if (static_cast<const unsigned char*>(buf)[0] == SSL3_MT_SERVER_HELLO) *seen->server_hello = true;
}

struct Attempt {
  bool connected = false, handshake = false, alert = false;
  bool cert_requested = false;
  bool server_hello =
      false;  // the server accepted what we offered (even if the handshake failed later)
  std::string version, cipher, error;
  SSL* ssl = nullptr;
  SSL_CTX* ctx = nullptr;
  int fd = -1;
  Seen seen{nullptr, nullptr};
  ~Attempt() {
    if (ssl) SSL_free(ssl);
    if (ctx) SSL_CTX_free(ctx);
    if (fd >= 0) ::close(fd);
  }
};

// One handshake; `min`/`max` protocol versions, `ciphers` (TLS 1.2 and below) or "".
void Handshake(Attempt& a, const std::string& address, std::uint16_t port, const std::string& sni,
               int min, int max, const char* ciphers, const Options& options, Pacer& pacer,
               bool verify) {
  a.ctx = SSL_CTX_new(TLS_client_method());
  if (!a.ctx) return;
  SSL_CTX_set_security_level(a.ctx,
                             0);  // let legacy versions and suites through: we are measuring them
  SSL_CTX_set_min_proto_version(a.ctx, min);
  SSL_CTX_set_max_proto_version(a.ctx, max);
  if (ciphers && SSL_CTX_set_cipher_list(a.ctx, ciphers) != 1) {
    a.error = "cipher list not available in this OpenSSL";
    return;
  }
  SSL_CTX_set_client_cert_cb(a.ctx, OnClientCertRequest);
  if (verify) {
    if (!options.ca_file.empty())
      SSL_CTX_load_verify_locations(a.ctx, options.ca_file.c_str(), nullptr);
    else
      SSL_CTX_set_default_verify_paths(a.ctx);
  }
  pacer.Wait();
  a.fd = Connect(address, port, options.connect_timeout_seconds);
  if (a.fd < 0) {
    a.error = "no connection";
    return;
  }
  a.connected = true;
  a.ssl = SSL_new(a.ctx);
  a.seen = Seen{&a.cert_requested, &a.server_hello};
  SSL_set_app_data(a.ssl, &a.seen);
  SSL_set_msg_callback(a.ssl, OnMessage);
  SSL_set_fd(a.ssl, a.fd);
  if (!sni.empty() && !IpAddress::Parse(sni)) SSL_set_tlsext_host_name(a.ssl, sni.c_str());
  ERR_clear_error();
  int rc = SSL_connect(a.ssl);
  if (rc != 1) {
    unsigned long e = ERR_peek_last_error();
    char buf[256] = {};
    ERR_error_string_n(e, buf, sizeof buf);
    a.error = e ? buf : "handshake failed (connection closed)";
    a.alert = a.error.find("alert") != std::string::npos;  // a TLS alert came back: it speaks TLS
    ERR_clear_error();
    return;
  }
  a.handshake = true;
  a.version = SSL_get_version(a.ssl);
  a.cipher = SSL_get_cipher_name(a.ssl);
}

}  // namespace

TlsOutcome ProbeTls(const std::string& address, std::uint16_t port, const std::string& sni,
                    const Options& options, Pacer& pacer) {
  TlsOutcome out;
  {
    Attempt a;
    Handshake(a, address, port, sni, TLS1_VERSION, TLS1_3_VERSION, nullptr, options, pacer, true);
    if (!a.connected) {
      out.error = a.error;
      return out;
    }
    out.client_cert_requested = a.cert_requested;
    if (!a.handshake) {
      out.speaks_tls = a.alert || a.cert_requested || a.server_hello;
      out.client_cert_required = a.cert_requested;
      out.error = a.error;
      if (!out.speaks_tls) return out;
    } else {
      out.speaks_tls = true;
      out.version = a.version;
      out.cipher = a.cipher;
      const SSL_CIPHER* c = SSL_get_current_cipher(a.ssl);
      out.aead = c && SSL_CIPHER_is_aead(c);
      int kx = c ? SSL_CIPHER_get_kx_nid(c) : NID_undef;
      out.forward_secret = kx == NID_kx_ecdhe || kx == NID_kx_dhe || kx == NID_kx_any;
      X509* cert = SSL_get1_peer_certificate(a.ssl);
      if (cert) {
        out.cert_subject = Name(X509_get_subject_name(cert));
        out.cert_issuer = Name(X509_get_issuer_name(cert));
        out.cert_not_before = AsnTime(X509_get0_notBefore(cert));
        out.cert_not_after = AsnTime(X509_get0_notAfter(cert));
        out.cert_self_signed = X509_check_issued(cert, cert) == X509_V_OK;
        EVP_PKEY* key = X509_get0_pubkey(cert);
        if (key) {
          out.cert_key_bits = EVP_PKEY_get_bits(key);
          int id = EVP_PKEY_get_base_id(key);
          out.cert_key = id == EVP_PKEY_RSA       ? "RSA"
                         : id == EVP_PKEY_EC      ? "EC"
                         : id == EVP_PKEY_ED25519 ? "Ed25519"
                                                  : "other";
        }
        int sig = X509_get_signature_nid(cert);
        out.cert_signature = OBJ_nid2ln(sig);
        long v = SSL_get_verify_result(a.ssl);
        out.cert_verify = v == X509_V_OK ? "ok" : X509_verify_cert_error_string(v);
        X509_free(cert);
      }
      // A client certificate was asked for but the handshake went through
      // without one: with TLS 1.3 the server's verdict comes with the first
      // read. Ask for nothing and see whether it hangs up.
      if (a.cert_requested) {
        char b;
        int n = SSL_read(a.ssl, &b, 1);
        int err = SSL_get_error(a.ssl, n);
        unsigned long e = ERR_peek_last_error();
        if (n <= 0 && err == SSL_ERROR_SSL && e) out.client_cert_required = true;
        if (n <= 0 && err == SSL_ERROR_ZERO_RETURN) out.client_cert_required = true;
        ERR_clear_error();
      }
      out.handshake = !out.client_cert_required;
    }
  }
  // Legacy versions, offered alone.
  for (int v : {TLS1_1_VERSION, TLS1_VERSION}) {
    Attempt a;
    Handshake(a, address, port, sni, v, v, "ALL:@SECLEVEL=0", options, pacer, false);
    if (a.handshake || a.server_hello) {
      out.legacy_accepted = true;
      out.legacy_version = v == TLS1_1_VERSION ? "TLSv1.1" : "TLSv1";
      break;
    }
  }
  // Non-AEAD and RSA key exchange suites (TLS 1.2), offered alone.
  for (const char* list : {"kRSA:@SECLEVEL=0", "ECDHE:DHE:!AESGCM:!CHACHA20:!AESCCM:@SECLEVEL=0"}) {
    const bool rsa = list[0] == 'k';
    Attempt a;
    Handshake(a, address, port, sni, TLS1_2_VERSION, TLS1_2_VERSION, list, options, pacer, false);
    if (a.handshake || a.server_hello) {
      out.weak_suite_accepted = true;
      const SSL_CIPHER* c = a.ssl ? SSL_get_pending_cipher(a.ssl) : nullptr;
      if (!c && a.ssl) c = SSL_get_current_cipher(a.ssl);
      out.weak_suite =
          std::string(c ? SSL_CIPHER_get_name(c) : list) +
          (rsa ? " (RSA key exchange: no forward secrecy)" : " (not AEAD: CBC with HMAC)");
      break;
    }
  }
  return out;
}

}  // namespace bastion::scan
