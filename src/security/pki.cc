#include "security/pki.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

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
                                           const std::vector<std::string>& ips,
                                           const std::vector<std::string>& dns, int days) {
  BioPtr cbio(BIO_new_mem_buf(ca_cert_pem.data(), static_cast<int>(ca_cert_pem.size())));
  CertPtr ca(PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr));
  BioPtr kbio(BIO_new_mem_buf(ca_key_pem.data(), static_cast<int>(ca_key_pem.size())));
  KeyPtr ca_key(PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr));
  if (!ca || !ca_key) return Status(Code::kInvalidArgument, "cannot read the CA certificate or key");

  KeyPtr key = NewKey();
  if (!key) return SslError("key generation failed");
  BASTION_ASSIGN_OR_RETURN(CertPtr cert, NewCert(key.get(), cn, days));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  BASTION_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE"));
  BASTION_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment"));
  BASTION_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_ext_key_usage,
                                       use == CertificateUse::kServer ? "serverAuth" : "clientAuth"));
  BASTION_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid"));
  std::string san;
  for (const auto& ip : ips) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  for (const auto& d : dns) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  if (!san.empty()) BASTION_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_subject_alt_name, san));
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) return SslError("signing failed");
  return IssuedCertificate{CertPem(cert.get()), KeyPem(key.get()), CertSha256(cert.get())};
}

Result<CertificateInfo> ReadCertificateInfo(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
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
  return info;
}

Result<std::string> CertificateFingerprint(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Status(Code::kInvalidArgument, "not a PEM certificate");
  return CertSha256(cert.get());
}

std::string DerFingerprint(const unsigned char* der, std::size_t length) {
  Sha256 h;
  h.Update(der, length);
  return HexEncode(h.Finish());
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
