#include "security/tls_credentials.h"

#include <ctime>

#include "util/fs.h"
#include "util/log.h"

namespace bastion::security {
namespace {

Result<std::string> ReadPem(const std::filesystem::path& file, const char* option) {
  auto text = ReadFile(file, 1 << 20);
  if (!text.ok())
    return Status(Code::kInsecureConfig,
                  "cannot read " + file.string() + " ([tls] " + option + "): " + text.status().message());
  return text;
}

Result<CertificateInfo> ReadValidCertificate(const std::string& pem, const std::filesystem::path& file,
                                             const char* option, std::int64_t now) {
  auto info = ReadCertificateInfo(pem);
  if (!info.ok())
    return Status(Code::kInsecureConfig, file.string() + " ([tls] " + option + ") is not a PEM certificate");
  if (info->not_after <= now)
    return Status(Code::kInsecureConfig,
                  file.string() + " ([tls] " + option + ") expired on " + FormatUtc(info->not_after));
  return info;
}

}  // namespace

Result<TlsCredentials> CheckTlsCredentials(const TlsOptions& tls, std::int64_t now) {
  TlsCredentials out;
  BASTION_ASSIGN_OR_RETURN(std::string cert, ReadPem(tls.certificate, "certificate"));
  BASTION_ASSIGN_OR_RETURN(out.certificate, ReadValidCertificate(cert, tls.certificate, "certificate", now));
  BASTION_ASSIGN_OR_RETURN(std::string key, ReadPem(tls.private_key, "private_key"));
  if (!KeyMatchesCertificate(cert, key))
    return Status(Code::kInsecureConfig, tls.private_key.string() + " ([tls] private_key) is not the private key of " +
                                             tls.certificate.string());
  if (!tls.client_ca.empty()) {
    BASTION_ASSIGN_OR_RETURN(std::string ca, ReadPem(tls.client_ca, "client_ca"));
    BASTION_ASSIGN_OR_RETURN(out.client_ca, ReadValidCertificate(ca, tls.client_ca, "client_ca", now));
  }
  return out;
}

std::vector<FileIdentity> TlsFilesReloader::Identify() const {
  return {FileIdentity::Of(files_.certificate), FileIdentity::Of(files_.private_key),
          files_.client_ca.empty() ? FileIdentity{} : FileIdentity::Of(files_.client_ca)};
}

Status TlsFilesReloader::Reload(const std::function<Status()>& apply) {
  std::lock_guard lock(mu_);
  return ReloadLocked(apply);
}

Status TlsFilesReloader::ReloadLocked(const std::function<Status()>& apply) {
  // Taken before reading: a file replaced meanwhile differs from this and is read again next time.
  std::vector<FileIdentity> seen = Identify();
  auto checked = CheckTlsCredentials(files_, std::time(nullptr));
  Status s = checked.ok() ? apply() : checked.status();
  if (!s.ok()) {
    refused_ = std::move(seen);
    return s;
  }
  loaded_ = std::move(seen);
  refused_.clear();
  spdlog::info("{}: TLS certificate {} (SHA-256 {}) in use, valid until {}", what_, files_.certificate.string(),
               checked->certificate.sha256, FormatUtc(checked->certificate.not_after));
  return Status::Ok();
}

void TlsFilesReloader::ReloadIfChanged(const std::function<Status()>& apply) {
  // A stat of each file per connection: cheap, and a renewal applies to the very next one.
  std::vector<FileIdentity> current = Identify();
  std::lock_guard lock(mu_);
  if (current == loaded_ || current == refused_) return;
  if (Status s = ReloadLocked(apply); !s.ok())
    spdlog::error("{}: the [tls] files changed but were not loaded, keeping the previous ones: {}", what_, s.message());
}

}  // namespace bastion::security
