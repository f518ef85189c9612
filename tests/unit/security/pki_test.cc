#include "security/pki.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "../temp_dir.h"
#include "util/crypto.h"

namespace bastion::security {
namespace {

using test::TempDir;

// RSA 2048 key generation costs a few hundred milliseconds here, and ctest
// runs every test in its own process: each certificate is made at most once
// per process, and only by the tests that need it.
class PkiTest : public ::testing::Test {
 protected:
  static const IssuedCertificate& Ca() {
    if (!ca_) {
      auto ca = CreateCertificateAuthority("Bastion Test CA");
      EXPECT_TRUE(ca.ok()) << ca.status().ToString();
      ca_ = new IssuedCertificate(ca.ok() ? *ca : IssuedCertificate{});
    }
    return *ca_;
  }
  static const IssuedCertificate& Server() {
    if (!server_) {
      auto s = IssueCertificate(Ca().certificate_pem, Ca().private_key_pem, "pacs.example.org",
                                CertificateUse::kServer, {"127.0.0.1", "::1"}, {"localhost", "pacs.example.org"}, 30);
      EXPECT_TRUE(s.ok()) << s.status().ToString();
      server_ = new IssuedCertificate(s.ok() ? *s : IssuedCertificate{});
    }
    return *server_;
  }
  static const IssuedCertificate& Client() {
    if (!client_) {
      auto c = IssueCertificate(Ca().certificate_pem, Ca().private_key_pem, "CT1", CertificateUse::kClient, {}, {}, 30);
      EXPECT_TRUE(c.ok()) << c.status().ToString();
      client_ = new IssuedCertificate(c.ok() ? *c : IssuedCertificate{});
    }
    return *client_;
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete server_;
    delete client_;
    ca_ = server_ = client_ = nullptr;
  }

  // Runs the openssl command line tool; returns its exit status, its output in *out.
  int OpenSsl(const std::string& args, std::string* out = nullptr) {
    auto log = dir_ / "openssl.out";
    std::string cmd = "openssl " + args + " >" + log.string() + " 2>&1";
    int rc = std::system(cmd.c_str());
    if (out) *out = test::ReadBytes(log);
    return rc;
  }

  std::string Write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    test::WriteBytes(p, text);
    return p.string();
  }

  static bool HasOpenSslTool() { return std::system("openssl version >/dev/null 2>&1") == 0; }

  static void ExpectPem(const IssuedCertificate& c) {
    EXPECT_EQ(c.certificate_pem.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
    EXPECT_NE(c.certificate_pem.find("-----END CERTIFICATE-----"), std::string::npos);
    EXPECT_EQ(c.private_key_pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
    EXPECT_TRUE(IsLowerHex(c.sha256, 64)) << c.sha256;
    auto fp = CertificateFingerprint(c.certificate_pem);
    ASSERT_TRUE(fp.ok()) << fp.status().ToString();
    EXPECT_EQ(*fp, c.sha256);
  }

  // The SHA-256 of the certificate's DER, computed independently of pki.cc.
  std::string DerSha256(const std::string& pem) {
    std::string in = Write("fp.pem", pem);
    auto der = dir_ / "fp.der";
    EXPECT_EQ(OpenSsl("x509 -in " + in + " -outform DER -out " + der.string()), 0);
    std::string bytes = test::ReadBytes(der);
    EXPECT_FALSE(bytes.empty());
    EXPECT_EQ(DerFingerprint(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()),
              HexEncode(Sha256::Of(bytes)));
    return HexEncode(Sha256::Of(bytes));
  }

  static IssuedCertificate* ca_;
  static IssuedCertificate* server_;
  static IssuedCertificate* client_;
  TempDir dir_;
};

IssuedCertificate* PkiTest::ca_ = nullptr;
IssuedCertificate* PkiTest::server_ = nullptr;
IssuedCertificate* PkiTest::client_ = nullptr;

TEST_F(PkiTest, CertificateAuthority) {
  ExpectPem(Ca());
  if (!HasOpenSslTool()) GTEST_SKIP() << "no openssl command";
  EXPECT_EQ(DerSha256(Ca().certificate_pem), Ca().sha256);
  std::string text;
  ASSERT_EQ(OpenSsl("x509 -in " + Write("ca.pem", Ca().certificate_pem) + " -noout -text", &text), 0);
  EXPECT_NE(text.find("CA:TRUE"), std::string::npos) << text;
  EXPECT_NE(text.find("Certificate Sign"), std::string::npos) << text;
  EXPECT_NE(text.find("CN = Bastion Test CA"), std::string::npos) << text;
  EXPECT_NE(text.find("sha256WithRSAEncryption"), std::string::npos) << text;
  // Self-signed: it verifies against itself.
  std::string ca = Write("ca.pem", Ca().certificate_pem);
  EXPECT_EQ(OpenSsl("verify -CAfile " + ca + " " + ca, &text), 0) << text;
}

TEST_F(PkiTest, NotACertificate) {
  EXPECT_EQ(CertificateFingerprint("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(CertificateFingerprint("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(CertificateFingerprint(Ca().private_key_pem).status().code(), Code::kInvalidArgument);
}

TEST_F(PkiTest, DerCommonNameOfGarbageIsEmpty) {
  const unsigned char junk[] = {0x30, 0x82, 0x01, 0x00, 0xde, 0xad};
  EXPECT_EQ(DerCommonName(junk, sizeof junk), "");
  EXPECT_EQ(DerCommonName(junk, 0), "");
}

TEST_F(PkiTest, IssueWithABadCaFails) {
  auto r = IssueCertificate("not a cert", Ca().private_key_pem, "x", CertificateUse::kClient, {}, {}, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  auto k = IssueCertificate(Ca().certificate_pem, "not a key", "x", CertificateUse::kClient, {}, {}, 1);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), Code::kInvalidArgument);
}

TEST_F(PkiTest, ServerCertificate) {
  ExpectPem(Server());
  EXPECT_NE(Server().sha256, Ca().sha256);
  EXPECT_NE(Server().private_key_pem, Ca().private_key_pem);
  if (!HasOpenSslTool()) GTEST_SKIP() << "no openssl command";
  EXPECT_EQ(DerSha256(Server().certificate_pem), Server().sha256);

  std::string ca = Write("ca.pem", Ca().certificate_pem);
  std::string cert = Write("server.pem", Server().certificate_pem);
  std::string key = Write("server-key.pem", Server().private_key_pem);
  std::string out;
  EXPECT_EQ(OpenSsl("verify -CAfile " + ca + " -purpose sslserver " + cert, &out), 0) << out;
  // Bastion is a DICOM client too (C-MOVE destinations, bastion send): peers check the purpose.
  EXPECT_EQ(OpenSsl("verify -CAfile " + ca + " -purpose sslclient " + cert, &out), 0) << out;

  std::string text;
  ASSERT_EQ(OpenSsl("x509 -in " + cert + " -noout -text", &text), 0);
  EXPECT_NE(text.find("IP Address:127.0.0.1"), std::string::npos) << text;
  EXPECT_NE(text.find("IP Address:0:0:0:0:0:0:0:1"), std::string::npos) << text;
  EXPECT_NE(text.find("DNS:localhost"), std::string::npos) << text;
  EXPECT_NE(text.find("DNS:pacs.example.org"), std::string::npos) << text;
  EXPECT_NE(text.find("CN = pacs.example.org"), std::string::npos) << text;
  EXPECT_NE(text.find("CA:FALSE"), std::string::npos) << text;
  EXPECT_NE(text.find("2048 bit"), std::string::npos) << text;

  // The private key belongs to the certificate.
  std::string cert_pub, key_pub;
  ASSERT_EQ(OpenSsl("x509 -in " + cert + " -noout -pubkey", &cert_pub), 0);
  ASSERT_EQ(OpenSsl("pkey -in " + key + " -pubout", &key_pub), 0);
  EXPECT_NE(cert_pub.find("PUBLIC KEY"), std::string::npos);
  EXPECT_EQ(cert_pub, key_pub);
}

TEST_F(PkiTest, ClientCertificate) {
  ExpectPem(Client());
  EXPECT_NE(Client().sha256, Ca().sha256);
  if (!HasOpenSslTool()) GTEST_SKIP() << "no openssl command";
  EXPECT_EQ(DerSha256(Client().certificate_pem), Client().sha256);

  std::string ca = Write("ca.pem", Ca().certificate_pem);
  std::string cert = Write("client.pem", Client().certificate_pem);
  std::string out;
  EXPECT_EQ(OpenSsl("verify -CAfile " + ca + " -purpose sslclient " + cert, &out), 0) << out;
  EXPECT_NE(OpenSsl("verify -CAfile " + ca + " -purpose sslserver " + cert, &out), 0) << out;

  // A node that only connects to Bastion cannot pose as a server to other nodes; one that receives can serve.
  auto receiver = IssueCertificate(Ca().certificate_pem, Ca().private_key_pem, "WS1", CertificateUse::kClientAndServer,
                                   {}, {}, 30);
  ASSERT_TRUE(receiver.ok());
  std::string receiver_cert = Write("receiver.pem", receiver->certificate_pem);
  EXPECT_EQ(OpenSsl("verify -CAfile " + ca + " -purpose sslclient " + receiver_cert, &out), 0) << out;
  EXPECT_EQ(OpenSsl("verify -CAfile " + ca + " -purpose sslserver " + receiver_cert, &out), 0) << out;

  // The subject CN, read back from the DER the TLS layer hands over.
  auto der = dir_ / "client.der";
  ASSERT_EQ(OpenSsl("x509 -in " + cert + " -outform DER -out " + der.string()), 0);
  std::string bytes = test::ReadBytes(der);
  EXPECT_EQ(DerCommonName(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()), "CT1");
  auto info = ReadCertificateInfo(Client().certificate_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(DerNotAfter(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()), info->not_after);
  EXPECT_EQ(DerNotAfter(reinterpret_cast<const unsigned char*>("garbage"), 7), 0);

  // It does not chain to somebody else's CA (an EC one: quick to make).
  std::string other_key = (dir_ / "other-key.pem").string();
  std::string other_ca = (dir_ / "other-ca.pem").string();
  ASSERT_EQ(OpenSsl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=Other "
                    "-keyout " + other_key + " -out " + other_ca,
                    &out),
            0)
      << out;
  EXPECT_NE(OpenSsl("verify -CAfile " + other_ca + " " + cert, &out), 0) << out;
}

TEST_F(PkiTest, CertificateInfoReadsNameLifetimeAndFingerprint) {
  auto info = ReadCertificateInfo(Client().certificate_pem);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->common_name, "CT1");
  EXPECT_EQ(info->sha256, Client().sha256);
  std::int64_t now = std::time(nullptr);
  // Issued for 30 days, back-dated an hour against clock skew.
  EXPECT_LE(info->not_before, now);
  EXPECT_GT(info->not_before, now - 2 * 3600);
  EXPECT_GT(info->not_after, now + 29 * 86400);
  EXPECT_LE(info->not_after, now + 30 * 86400 + 60);
  EXPECT_FALSE(ReadCertificateInfo("not a certificate").ok());
}

TEST_F(PkiTest, CertificateInfoReadsSubjectAltNames) {
  auto info = ReadCertificateInfo(Server().certificate_pem);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(info->dns_names, (std::vector<std::string>{"localhost", "pacs.example.org"}));
  auto client = ReadCertificateInfo(Client().certificate_pem);
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE(client->ip_addresses.empty());
  EXPECT_TRUE(client->dns_names.empty());
}

TEST_F(PkiTest, IssuedByChecksTheSignatureNotJustTheName) {
  EXPECT_TRUE(IsIssuedBy(Server().certificate_pem, Ca().certificate_pem));
  EXPECT_TRUE(IsIssuedBy(Ca().certificate_pem, Ca().certificate_pem));  // self-signed
  EXPECT_FALSE(IsIssuedBy(Ca().certificate_pem, Server().certificate_pem));
  // A CA with the very same name but another key did not issue it.
  auto twin = CreateCertificateAuthority("Bastion Test CA");
  ASSERT_TRUE(twin.ok());
  EXPECT_FALSE(IsIssuedBy(Server().certificate_pem, twin->certificate_pem));
  EXPECT_FALSE(IsIssuedBy("garbage", Ca().certificate_pem));
  EXPECT_FALSE(IsIssuedBy(Server().certificate_pem, "garbage"));
}

TEST_F(PkiTest, KeyMatchesOnlyItsCertificate) {
  EXPECT_TRUE(KeyMatchesCertificate(Server().certificate_pem, Server().private_key_pem));
  EXPECT_FALSE(KeyMatchesCertificate(Server().certificate_pem, Client().private_key_pem));
  EXPECT_FALSE(KeyMatchesCertificate(Server().certificate_pem, "garbage"));
  EXPECT_FALSE(KeyMatchesCertificate("garbage", Server().private_key_pem));
}

TEST_F(PkiTest, IssueForAnExistingKeyKeepsIt) {
  auto renewed = IssueCertificate(Ca().certificate_pem, Ca().private_key_pem, "pacs.example.org",
                                  CertificateUse::kServer, {"127.0.0.1"}, {"localhost"}, 10, Server().private_key_pem);
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_EQ(renewed->private_key_pem, Server().private_key_pem);
  EXPECT_NE(renewed->sha256, Server().sha256);
  EXPECT_TRUE(KeyMatchesCertificate(renewed->certificate_pem, Server().private_key_pem));
  EXPECT_TRUE(IsIssuedBy(renewed->certificate_pem, Ca().certificate_pem));
  auto bad = IssueCertificate(Ca().certificate_pem, Ca().private_key_pem, "x", CertificateUse::kServer, {}, {}, 10,
                              "not a key");
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

TEST_F(PkiTest, IssueRefusesAKeyWeakerThanBcp195) {
  if (!HasOpenSslTool()) GTEST_SKIP() << "the openssl tool is not installed";
  std::string out;
  ASSERT_EQ(OpenSsl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out " + (dir_ / "weak.pem").string(), &out),
            0)
      << out;
  auto weak = IssueCertificate(Ca().certificate_pem, Ca().private_key_pem, "x", CertificateUse::kServer, {}, {}, 10,
                               test::ReadBytes(dir_ / "weak.pem"));
  EXPECT_EQ(weak.status().code(), Code::kInvalidArgument);
  EXPECT_NE(weak.status().message().find("weaker than RSA 2048"), std::string::npos) << weak.status().message();
}

}  // namespace
}  // namespace bastion::security
