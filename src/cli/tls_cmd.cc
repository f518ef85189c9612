// `bastion tls show|renew`, and the certificate checks of `serve`: the local
// CA's server certificate lasts 825 days, and without a way to renew it a site
// would find out on the day every modality's TLS handshake fails.
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <iostream>

#include "cli/commands.h"
#include "cli/stack.h"
#include "security/pki.h"
#include "security/store_file.h"
#include "security/tls_credentials.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/net.h"

namespace bastion::cli {
namespace {

constexpr int kMaxDays = 825;  // what Apple's platforms accept from a CA an administrator added
constexpr int kWarnDays = 30;  // `serve` warns this long ahead

std::int64_t DaysLeft(std::int64_t not_after, std::int64_t now) { return (not_after - now) / 86400; }

std::filesystem::path LocalCa(const std::filesystem::path& data) { return DataLayout(data).tls() / "ca.pem"; }

// Whether the local CA issued the PEM certificate in `file`.
bool IssuedLocally(const std::filesystem::path& data, const std::filesystem::path& file) {
  auto cert = ReadFile(file, 1 << 20);
  auto ca = ReadFile(LocalCa(data), 1 << 20);
  return cert.ok() && ca.ok() && security::IsIssuedBy(*cert, *ca);
}

// What to do about the server certificate's expiry.
std::string RenewServerHint(const std::filesystem::path& data, const Config& config) {
  if (IssuedLocally(data, config.tls.certificate)) return "renew it with: bastion tls renew --data " + data.string();
  return "renew it with the PKI that issued it and replace the files of [tls]; the server takes them up without a "
         "restart";
}

std::string RenewCaHint(const std::filesystem::path& data, const Config& config) {
  std::error_code ec;
  if (std::filesystem::equivalent(config.tls.client_ca, LocalCa(data), ec))
    return "every node certificate chains to it: see \"Certificates\" in docs/operations.md";
  return "ask the PKI that issued it for its successor and replace the file";
}

std::string JoinNames(const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses) {
  std::string names;
  for (const auto* list : {&dns_names, &ip_addresses})
    for (const auto& n : *list) names += (names.empty() ? "" : ", ") + n;
  return names;
}

bool Expired(const std::filesystem::path& file, std::int64_t now) {
  auto pem = ReadFile(file, 1 << 20);
  auto info = pem.ok() ? security::ReadCertificateInfo(*pem) : Result<security::CertificateInfo>(pem.status());
  return info.ok() && info->not_after <= now;
}

}  // namespace

ServerNames DefaultServerNames(const std::vector<IpAddress>& listen_addresses) {
  ServerNames names{{"127.0.0.1", "::1"}, {"localhost"}};
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  if (host[0] && std::string(host) != "localhost") names.dns_names.emplace_back(host);
  for (const auto& a : listen_addresses) {
    std::string text = a.ToString();
    if (!a.IsUnspecified() && !a.IsLoopback() &&
        std::find(names.ip_addresses.begin(), names.ip_addresses.end(), text) == names.ip_addresses.end())
      names.ip_addresses.push_back(text);
  }
  return names;
}

int CheckCertificates(const std::filesystem::path& data, const Config& config, bool starting) {
  if (config.dicom.tls_listen.empty() && config.web.https_listen.empty()) return kExitOk;
  std::int64_t now = std::time(nullptr);
  auto checked = security::CheckTlsCredentials(config.tls, now);
  if (!checked.ok()) {
    std::string message = checked.status().message();
    bool expired = true;
    if (Expired(config.tls.certificate, now))
      message += "; " + RenewServerHint(data, config);
    else if (Expired(config.tls.client_ca, now))
      message += "; " + RenewCaHint(data, config);
    else
      expired = false;
    if (starting) {
      PrintError("refusing to start: " + message);
      return kExitInsecureConfig;
    }
    if (expired)
      spdlog::error("TLS peers cannot connect: {}", message);
    else
      spdlog::error("the [tls] files do not check out, so the server keeps those it loaded last: {}", message);
    return kExitInsecureConfig;
  }
  if (std::int64_t days = DaysLeft(checked->certificate.not_after, now); days < kWarnDays)
    spdlog::warn("the server certificate {} expires in {} days, on {}; {}", config.tls.certificate.string(), days,
                 security::FormatUtc(checked->certificate.not_after), RenewServerHint(data, config));
  if (checked->client_ca) {
    if (std::int64_t days = DaysLeft(checked->client_ca->not_after, now); days < kWarnDays)
      spdlog::warn("the client CA certificate {} expires in {} days, on {}; {}", config.tls.client_ca.string(), days,
                   security::FormatUtc(checked->client_ca->not_after), RenewCaHint(data, config));
  }
  return kExitOk;
}

int TlsShow(const std::filesystem::path& data, bool json) {
  auto config = LoadConfig(data);
  if (!config.ok()) {
    PrintError(config.status().ToString());
    return kExitFailed;
  }
  std::int64_t now = std::time(nullptr);
  nlohmann::json out = nlohmann::json::array();
  int rc = kExitOk;
  for (const auto& [what, file] :
       {std::pair{"server certificate", config->tls.certificate}, std::pair{"client CA", config->tls.client_ca}}) {
    if (file.empty()) continue;
    auto pem = ReadFile(file, 1 << 20);
    auto info = pem.ok() ? security::ReadCertificateInfo(*pem) : Result<security::CertificateInfo>(pem.status());
    if (!info.ok()) {
      PrintError(std::string("the ") + what + " " + file.string() + " is unreadable: " + info.status().message());
      rc = kExitFailed;
      continue;
    }
    std::error_code ec;
    bool itself = std::filesystem::equivalent(file, LocalCa(data), ec);
    bool local = IssuedLocally(data, file);
    std::int64_t days = DaysLeft(info->not_after, now);
    if (json) {
      out.push_back({{"what", what},
                     {"file", file.string()},
                     {"subject_cn", info->common_name},
                     {"sha256", info->sha256},
                     {"not_before", security::FormatUtc(info->not_before)},
                     {"not_after", security::FormatUtc(info->not_after)},
                     {"days_left", days},
                     {"expired", info->not_after <= now},
                     {"ip_addresses", info->ip_addresses},
                     {"dns_names", info->dns_names},
                     {"issued_by_local_ca", local},
                     {"is_local_ca", itself},
                     {"client_auth", info->client_auth}});
      continue;
    }
    std::string names = JoinNames(info->dns_names, info->ip_addresses);
    std::cout << what << ": " << file.string() << "\n"
              << "  subject CN   " << info->common_name << "\n"
              << "  SHA-256      " << info->sha256 << "\n"
              << "  valid until  " << security::FormatUtc(info->not_after)
              << (info->not_after <= now ? "  EXPIRED" : " (" + std::to_string(days) + " days)") << "\n"
              << (names.empty() ? "" : "  names        " + names + "\n") << "  issued by    "
              << (itself  ? "itself: the local CA"
                  : local ? "the local CA (tls/ca.pem)"
                          : "another CA")
              << "\n";
    if (!itself && !info->client_auth)
      std::cout << "  note         not valid for TLS clients, which Bastion is towards TLS-only C-MOVE destinations and "
                   "modalities' commitment listeners: "
                   "bastion tls renew issues one that is\n";
  }
  if (json) std::cout << out.dump(2) << "\n";
  return rc;
}

int TlsRenew(const std::filesystem::path& data, const TlsRenewOptions& options) {
  if (options.days < 1 || options.days > kMaxDays) {
    PrintError("--days must be from 1 to " + std::to_string(kMaxDays));
    return kExitUsage;
  }
  std::vector<std::string> add_ips, add_dns;
  for (const auto& host : options.add_hosts) {
    if (auto ip = IpAddress::Parse(host)) {
      add_ips.push_back(ip->ToString());
    } else if (!host.empty() && host.size() <= 253 &&
               host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") ==
                   std::string::npos &&
               host.front() != '.' && host.front() != '-' && host.back() != '.') {
      add_dns.push_back(host);
    } else {
      PrintError("--add-host '" + host + "' is neither an IP address nor a DNS name");
      return kExitUsage;
    }
  }
  auto stack = OpenAdministration(data);
  if (!stack.ok()) {
    PrintError(stack.status().ToString());
    return kExitFailed;
  }
  const TlsOptions& tls = (*stack)->config.tls;
  DataLayout layout(data);
  auto ca_cert = ReadFile(layout.tls() / "ca.pem", 1 << 20);
  auto ca_key = ReadFile(layout.tls() / "ca-key.pem", 1 << 20);
  if (!ca_cert.ok() || !ca_key.ok()) {
    PrintError(
        "the local CA (tls/ca.pem, tls/ca-key.pem) is not readable; a site with its own PKI renews the "
        "server certificate there");
    return kExitFailed;
  }
  // The certificate in force gives the names to keep. If it is gone or
  // damaged, the server's are made again as `bastion init` made them.
  auto old_pem = ReadFile(tls.certificate, 1 << 20);
  auto old =
      old_pem.ok() ? security::ReadCertificateInfo(*old_pem) : Result<security::CertificateInfo>(old_pem.status());
  if (old.ok() && !security::IsIssuedBy(*old_pem, *ca_cert)) {
    PrintError(tls.certificate.string() +
               " ([tls] certificate) was not issued by the local CA (tls/ca.pem): renew "
               "it with the PKI that issued it and replace the files of [tls]; the server takes them up without a "
               "restart");
    return kExitFailed;
  }
  std::error_code ec;
  if (!old.ok() && std::filesystem::weakly_canonical(tls.certificate, ec) !=
                       std::filesystem::weakly_canonical(layout.tls() / "server.pem", ec)) {
    PrintError("cannot read the server certificate " + tls.certificate.string() + " ([tls] certificate): " +
               old.status().message() + "; it is not the local CA's tls/server.pem: renew it with the PKI that "
               "issued it");
    return kExitFailed;
  }
  security::CertificateInfo previous;
  if (old.ok()) {
    previous = *old;
  } else {
    std::cerr << "bastion: the server certificate " << tls.certificate.string() << " is unreadable ("
              << old.status().message() << "); issuing one with the names `bastion init` gives\n";
    const Config& config = (*stack)->config;
    std::vector<IpAddress> listening;
    for (const auto* endpoints : {&config.dicom.tls_listen, &config.dicom.plain_listen, &config.web.https_listen})
      for (const auto& ep : *endpoints) listening.push_back(ep.address);
    ServerNames names = DefaultServerNames(listening);
    previous.common_name = config.dicom.ae_title;
    previous.ip_addresses = std::move(names.ip_addresses);
    previous.dns_names = std::move(names.dns_names);
  }
  auto ca = security::ReadCertificateInfo(*ca_cert);
  std::int64_t now = std::time(nullptr);
  if (!ca.ok() || ca->not_after <= now + 86400) {
    PrintError(
        "the local CA tls/ca.pem has expired or expires within a day; a new CA needs new node certificates: "
        "see \"Certificates\" in docs/operations.md");
    return kExitFailed;
  }
  // Not beyond the CA: a certificate is no better than the CA that vouches for it.
  int days = static_cast<int>(std::min<std::int64_t>(options.days, DaysLeft(ca->not_after, now)));
  std::string key_pem;
  if (!options.new_key) {
    auto key = ReadFile(tls.private_key, 1 << 20);
    if (!key.ok() || (old.ok() && !security::KeyMatchesCertificate(*old_pem, *key))) {
      PrintError(tls.private_key.string() + " ([tls] private_key) is " +
                 (key.ok() ? "not the key of " + tls.certificate.string() : "unreadable") + "; renew with --new-key");
      return kExitFailed;
    }
    key_pem = *key;
  }
  std::vector<std::string> ips = previous.ip_addresses, dns = previous.dns_names;
  for (const auto& ip : add_ips)
    if (std::find(ips.begin(), ips.end(), ip) == ips.end()) ips.push_back(ip);
  for (const auto& d : add_dns)
    if (std::find(dns.begin(), dns.end(), d) == dns.end()) dns.push_back(d);
  auto issued = security::IssueCertificate(*ca_cert, *ca_key, previous.common_name, security::CertificateUse::kServer,
                                           ips, dns, days, key_pem);
  if (!issued.ok()) {
    PrintError(issued.status().ToString());
    return kExitFailed;
  }
  // With the same key only the certificate file changes, in one rename, so a
  // running server never sees a key and a certificate that do not belong together.
  if (options.new_key) {
    if (Status s = WriteFileAtomic(tls.private_key, issued->private_key_pem, 0600); !s.ok()) {
      PrintError(s.ToString());
      return kExitFailed;
    }
  }
  if (Status s = WriteFileAtomic(tls.certificate, issued->certificate_pem, 0644); !s.ok()) {
    PrintError(s.ToString() +
               (options.new_key ? "; the new key is written: run `bastion tls renew --new-key` again" : ""));
    return kExitFailed;
  }
  auto info = security::ReadCertificateInfo(issued->certificate_pem);
  std::string until = info.ok() ? security::FormatUtc(info->not_after) : "";
  if (Status s = (*stack)->audit->Append(audit::AuditEvent{"tls.renew",
                                                           true,
                                                           Operator(),
                                                           {{"previous_sha256", previous.sha256},
                                                            {"cert_sha256", issued->sha256},
                                                            {"not_after", until},
                                                            {"new_key", options.new_key ? "yes" : "no"}}});
      !s.ok()) {
    PrintError(s.ToString());
    return kExitFailed;
  }
  std::string names = JoinNames(dns, ips);
  std::cout << "renewed " << tls.certificate.string() << (options.new_key ? " with a new key" : "") << "\n"
            << "  SHA-256      " << issued->sha256 << (previous.sha256.empty() ? "" : " (was " + previous.sha256 + ")")
            << "\n"
            << "  valid until  " << until << (days < options.days ? " (the local CA's own end)" : "") << "\n"
            << "  names        " << names << "\n"
            << "A running `bastion serve` uses it from its next TLS connection. Peers that trust tls/ca.pem need "
               "nothing; peers that pinned the old SHA-256 need the new one.\n";
  return kExitOk;
}

}  // namespace bastion::cli
