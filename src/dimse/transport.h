// Transport pieces shared by the server and the SCU side. Private to dimse/.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmnet/dcmlayer.h>
#include <dcmtk/dcmtls/tlstrans.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

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
