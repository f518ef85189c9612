#include "security/pki.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <ctime>
#include <memory>

#include "util/crypto.h"

namespace bastion::security {
namespace {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;

CertPtr ReadCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return CertPtr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

KeyPtr ReadKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return KeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

Status SslError(const char* what) { return Status(Code::kInternal, std::string("OpenSSL: ") + what); }

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return BioString(bio.get());
}

std::string CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return BioString(bio.get());
}

std::string CertSha256(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  return HexEncode(std::span<const std::uint8_t>(md, len));
}

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return SslError("bad certificate extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return Status::Ok();
}

Result<CertPtr> NewCert(EVP_PKEY* key, const std::string& cn, int days) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  std::uint8_t serial[16];
  RandomBytes(serial);
  serial[0] &= 0x7F;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Bastion"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

KeyPtr NewKey() { return KeyPtr(EVP_RSA_gen(2048)); }

}  // namespace

Result<IssuedCertificate> CreateCertificateAuthority(const std::string& cn) {
  KeyPtr key = NewKey();
  if (!key) return SslError("key generation failed");
  BASTION_ASSIGN_OR_RETURN(CertPtr cert, NewCert(key.get(), cn, 3650));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  BASTION_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  BASTION_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  BASTION_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return SslError("signing failed");
  return IssuedCertificate{CertPem(cert.get()), KeyPem(key.get()), CertSha256(cert.get())};
}

Result<IssuedCertificate> IssueCertificate(const std::string& ca_cert_pem, const std::string& ca_key_pem,
                                           const std::string& cn, CertificateUse use,
                                           const std::vector<std::string>& ips, const std::vector<std::string>& dns,
                                           int days, const std::string& key_pem) {
  CertPtr ca = ReadCert(ca_cert_pem);
  KeyPtr ca_key = ReadKey(ca_key_pem);
  if (!ca || !ca_key) return Status(Code::kInvalidArgument, "cannot read the CA certificate or key");

  KeyPtr key = key_pem.empty() ? NewKey() : ReadKey(key_pem);
  if (!key)
    return key_pem.empty() ? SslError("key generation failed")
                           : Status(Code::kInvalidArgument, "cannot read the private key");
  if (EVP_PKEY_get_security_bits(key.get()) < 112)  // BCP 195: RSA 2048 or stronger
    return Status(Code::kInvalidArgument, "the private key is weaker than RSA 2048");
  BASTION_ASSIGN_OR_RETURN(CertPtr cert, NewCert(key.get(), cn, days));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  BASTION_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE"));
  BASTION_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment"));
  BASTION_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_ext_key_usage,
                                       use == CertificateUse::kServer   ? "serverAuth,clientAuth"
                                       : use == CertificateUse::kClient ? "clientAuth"
                                                                        : "clientAuth,serverAuth"));
  BASTION_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid"));
  std::string san;
  for (const auto& ip : ips) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  for (const auto& d : dns) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  if (!san.empty()) BASTION_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_subject_alt_name, san));
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) return SslError("signing failed");
  return IssuedCertificate{CertPem(cert.get()), KeyPem(key.get()), CertSha256(cert.get())};
}

Result<CertificateInfo> ReadCertificateInfo(const std::string& pem) {
  CertPtr cert = ReadCert(pem);
  if (!cert) return Status(Code::kInvalidArgument, "not a PEM certificate");
  CertificateInfo info;
  auto seconds = [](const ASN1_TIME* t) {
    std::tm tm{};
    ASN1_TIME_to_tm(t, &tm);
    return static_cast<std::int64_t>(timegm(&tm));
  };
  info.not_before = seconds(X509_get0_notBefore(cert.get()));
  info.not_after = seconds(X509_get0_notAfter(cert.get()));
  info.sha256 = CertSha256(cert.get());
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  if (len > 0) {
    info.common_name = DerCommonName(der, static_cast<std::size_t>(len));
    OPENSSL_free(der);
  }
  info.client_auth = (X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT) != 0;
  NamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                  static_cast<std::size_t>(ASN1_STRING_length(dns)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      int length = ASN1_STRING_length(ip);
      char text[INET6_ADDRSTRLEN] = {};
      if ((length == 4 || length == 16) &&
          ::inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), text, sizeof text))
        info.ip_addresses.emplace_back(text);
    }
  }
  return info;
}

bool IsIssuedBy(const std::string& certificate_pem, const std::string& ca_certificate_pem) {
  CertPtr cert = ReadCert(certificate_pem);
  CertPtr ca = ReadCert(ca_certificate_pem);
  if (!cert || !ca || X509_check_issued(ca.get(), cert.get()) != X509_V_OK) return false;
  EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
  return ca_key != nullptr && X509_verify(cert.get(), ca_key) == 1;
}

bool KeyMatchesCertificate(const std::string& certificate_pem, const std::string& private_key_pem) {
  CertPtr cert = ReadCert(certificate_pem);
  KeyPtr key = ReadKey(private_key_pem);
  EVP_PKEY* public_key = cert ? X509_get0_pubkey(cert.get()) : nullptr;
  return public_key != nullptr && key && EVP_PKEY_eq(public_key, key.get()) == 1;
}

Result<std::string> CertificateFingerprint(const std::string& pem) {
  CertPtr cert = ReadCert(pem);
  if (!cert) return Status(Code::kInvalidArgument, "not a PEM certificate");
  return CertSha256(cert.get());
}

std::string DerFingerprint(const unsigned char* der, std::size_t length) {
  Sha256 h;
  h.Update(der, length);
  return HexEncode(h.Finish());
}

std::int64_t DerNotAfter(const unsigned char* der, std::size_t length) {
  const unsigned char* p = der;
  CertPtr cert(d2i_X509(nullptr, &p, static_cast<long>(length)));
  std::tm tm{};
  if (!cert || ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string DerCommonName(const unsigned char* der, std::size_t length) {
  const unsigned char* p = der;
  CertPtr cert(d2i_X509(nullptr, &p, static_cast<long>(length)));
  if (!cert) return {};
  X509_NAME* name = X509_get_subject_name(cert.get());
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string cn(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return cn;
}

}  // namespace bastion::security
