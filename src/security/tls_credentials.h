// The server's TLS credentials, the [tls] files of bastion.toml, as the DICOM
// and HTTPS listeners load them. A certificate renewed while Bastion runs
// (`bastion tls renew`, or the site's PKI replacing the files) is taken up on
// the next TLS connection, the way nodes.json is, without a restart: each new
// connection stats the files, and a change builds the listener's context again.
// A set of files that does not check out (unreadable, the key not the
// certificate's, a certificate expired) is not applied: the previous context
// stays in force and the refusal is logged once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "security/pki.h"
#include "security/store_file.h"
#include "util/config.h"
#include "util/status.h"

namespace bastion::security {

struct TlsCredentials {
  CertificateInfo certificate;
  std::optional<CertificateInfo> client_ca;  // if [tls] client_ca is set
};

// Reads the certificate, the private key and the client CA (if set) and checks
// them together: PEM that parses, the key is the certificate's, neither
// certificate has expired at `now` (seconds since the epoch). The errors name
// the file and the [tls] option.
Result<TlsCredentials> CheckTlsCredentials(const TlsOptions& tls, std::int64_t now);

// Builds a listener's TLS context from the files again when they change; the
// non-template half of ReloadingTlsContext.
class TlsFilesReloader {
 public:
  // `what` names the listener in the log ("DICOM over TLS", "HTTPS").
  TlsFilesReloader(TlsOptions files, std::string what) : files_(std::move(files)), what_(std::move(what)) {}
  // Checks the files, then calls `apply` to build from them; remembers the
  // files' state if both succeed. Nothing changes on failure.
  Status Reload(const std::function<Status()>& apply);
  // Reload(apply) if a file changed since the last load or refusal, logging what happened.
  void ReloadIfChanged(const std::function<Status()>& apply);

 private:
  std::vector<FileIdentity> Identify() const;
  Status ReloadLocked(const std::function<Status()>& apply);

  const TlsOptions files_;
  const std::string what_;
  std::mutex mu_;                      // one reload at a time
  std::vector<FileIdentity> loaded_;   // guarded by mu_
  std::vector<FileIdentity> refused_;  // guarded by mu_
};

// A TLS context (DCMTK's transport layer, an asio ssl::context) that follows
// the [tls] files. Connections hold the context they started with.
template <class Context>
class ReloadingTlsContext {
 public:
  using Build = std::function<Result<std::shared_ptr<Context>>()>;
  ReloadingTlsContext(TlsOptions files, std::string what, Build build)
      : reloader_(std::move(files), std::move(what)), build_(std::move(build)) {}

  // Loads now (at start-up, and on SIGHUP); a failure leaves the context in force.
  Status Reload() {
    return reloader_.Reload([this] { return Apply(); });
  }
  // The context for a new connection; the files are checked first.
  std::shared_ptr<Context> Current() {
    reloader_.ReloadIfChanged([this] { return Apply(); });
    std::lock_guard lock(mu_);
    return current_;
  }

 private:
  Status Apply() {
    auto built = build_();
    if (!built.ok()) return built.status();
    std::lock_guard lock(mu_);
    current_ = std::move(*built);
    return Status::Ok();
  }

  TlsFilesReloader reloader_;
  const Build build_;
  std::mutex mu_;
  std::shared_ptr<Context> current_;  // guarded by mu_
};

}  // namespace bastion::security
