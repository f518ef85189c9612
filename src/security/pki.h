// The local certificate authority `bastion init` creates, for sites without
// a PKI of their own: it signs Bastion's server certificate and the client
// certificates of DICOM nodes (`bastion node cert`). RSA 2048 keys (BCP 195 minimum; fast to make) and
// SHA-256 signatures, which DCMTK's BCP 195 profiles negotiate.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "util/status.h"

namespace bastion::security {

struct IssuedCertificate {
  std::string certificate_pem;
  std::string private_key_pem;
  std::string sha256;  // of the certificate's DER, lower-case hex
};

// A new self-signed CA (10 years).
Result<IssuedCertificate> CreateCertificateAuthority(const std::string& common_name);

// Extended key usage, which OpenSSL checks on both sides of a handshake.
enum class CertificateUse {
  kServer,           // Bastion's own: serverAuth, and clientAuth since it is a DICOM client too
                     // (C-MOVE destinations, `bastion send`, `bastion query`)
  kClient,           // a node that only connects to Bastion: clientAuth
  kClientAndServer,  // a node Bastion also connects to (allowed `receive`): clientAuth, serverAuth
};

// A certificate signed by the CA (`ca_cert_pem`/`ca_key_pem`). Server
// certificates get the given IP addresses and DNS names as subjectAltNames.
// With `key_pem`, the certificate is for that private key; otherwise for a new one.
Result<IssuedCertificate> IssueCertificate(const std::string& ca_cert_pem, const std::string& ca_key_pem,
                                           const std::string& common_name, CertificateUse use,
                                           const std::vector<std::string>& ip_addresses,
                                           const std::vector<std::string>& dns_names, int valid_days,
                                           const std::string& key_pem = "");

struct CertificateInfo {
  std::string common_name;
  std::int64_t not_before = 0;  // seconds since the epoch
  std::int64_t not_after = 0;
  std::string sha256;
  std::vector<std::string> ip_addresses;  // subjectAltName, as text
  std::vector<std::string> dns_names;     // subjectAltName
  bool client_auth = true;                // may authenticate a TLS client (no extended key usage, or clientAuth)
};
// Reads the first certificate of a PEM text.
Result<CertificateInfo> ReadCertificateInfo(const std::string& certificate_pem);

// Whether the certificate names the CA as its issuer and its signature verifies with the CA's key.
bool IsIssuedBy(const std::string& certificate_pem, const std::string& ca_certificate_pem);
// Whether the PEM private key is the one of the certificate's public key.
bool KeyMatchesCertificate(const std::string& certificate_pem, const std::string& private_key_pem);

// SHA-256 of a PEM certificate's DER encoding.
Result<std::string> CertificateFingerprint(const std::string& certificate_pem);
// SHA-256 of a DER certificate.
std::string DerFingerprint(const unsigned char* der, std::size_t length);
// The subject common name of a DER certificate ("" if it has none or does not parse).
std::string DerCommonName(const unsigned char* der, std::size_t length);
// The end of a DER certificate's validity, seconds since the epoch (0 if it does not parse).
std::int64_t DerNotAfter(const unsigned char* der, std::size_t length);

}  // namespace bastion::security
