// Transport pieces shared by the server and the SCU side. Private to dimse/.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmnet/dcmlayer.h>
#include <dcmtk/dcmtls/tlstrans.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdint>
#include <ctime>
#include <string>

#include "security/store_file.h"
#include "util/text.h"

namespace bastion::dimse {

// Peers that leave Nagle's algorithm on (DCMTK's tools do unless TCP_NODELAY=1
// is in their environment) hold back the tail of each PDU until we ACK, and
// Linux delays ACKs by up to 40 ms: most visible over TLS, whose records leave
// small tails. Asking for an immediate ACK after every read removes the stall
// on our side of the wire whatever the peer does.
inline void QuickAck(DcmNativeSocketType sock) {
  int one = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

// Why the TLS handshake on this thread refused the peer's certificate.
// OpenSSL reports only "certificate verify failed"; whoever looks after a
// peer that stopped connecting needs to know that its certificate expired, or
// that it chains to another CA. DCMTK's verify callback only returns
// OpenSSL's verdict; KeepVerifyFailures puts one in its place that also keeps
// the reason, and the verdict stays OpenSSL's.
inline thread_local std::string t_verify_failure;

inline int KeepVerifyFailure(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok || !t_verify_failure.empty()) return preverify_ok;
  int error = X509_STORE_CTX_get_error(store);
  std::string why = X509_verify_cert_error_string(error);
  if (X509* cert = X509_STORE_CTX_get_current_cert(store)) {
    char cn[65] = {};  // the peer's text: printable characters only reach the log
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
      why = "CN=" + Printable(cn) + ": " + why;
    std::tm tm{};
    if (error == X509_V_ERR_CERT_HAS_EXPIRED && ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
      why += " on " + security::FormatUtc(static_cast<std::int64_t>(timegm(&tm)));
  }
  t_verify_failure = "certificate " + why;
  return preverify_ok;
}

inline void KeepVerifyFailures(SSL_CTX* ctx) {
  SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), KeepVerifyFailure);
}
inline void ClearVerifyFailure() { t_verify_failure.clear(); }
// "certificate CN=CT1: certificate has expired on ...", or "" if none was refused since ClearVerifyFailure.
inline std::string VerifyFailure() { return t_verify_failure; }

// A DCMTK connection (plain or TLS) that re-arms the quick ACK after every read.
template <typename Base>
class QuickAckConnection final : public Base {
 public:
  template <typename... More>
  explicit QuickAckConnection(DcmNativeSocketType sock, More... more) : Base(sock, more...), sock_(sock) {}
  ssize_t read(void* buf, size_t nbyte) override {
    ssize_t n = Base::read(buf, nbyte);
    QuickAck(sock_);
    return n;
  }

 private:
  DcmNativeSocketType sock_;
};

// For connections we open (C-MOVE sub-associations, `bastion send`): plain
// or TLS from `tls` (may be null for plain only), with the quick ACK.
class ClientLayer final : public DcmTransportLayer {
 public:
  explicit ClientLayer(SSL_CTX* tls) : tls_(tls) {}
  DcmTransportConnection* createConnection(DcmNativeSocketType sock, OFBool useSecureLayer) override {
    int one = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!useSecureLayer) return new QuickAckConnection<DcmTCPConnection>(sock);
    if (tls_ == nullptr) return nullptr;
    SSL* ssl = SSL_new(tls_);
    if (ssl == nullptr || SSL_set_fd(ssl, sock) != 1) {
      SSL_free(ssl);
      return nullptr;
    }
    return new QuickAckConnection<DcmTLSConnection>(sock, ssl);
  }

 private:
  SSL_CTX* tls_;
};

}  // namespace bastion::dimse
