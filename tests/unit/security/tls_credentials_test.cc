#include "security/tls_credentials.h"

#include <gtest/gtest.h>

#include <ctime>
#include <string>

#include "../temp_dir.h"

namespace bastion::security {
namespace {

// One CA and two server certificates per process (RSA keys take a while to make).
struct Pki {
  IssuedCertificate ca, server, other;
};
const Pki& Certificates() {
  static const Pki* pki = [] {
    auto* p = new Pki;
    auto ca = CreateCertificateAuthority("Test CA");
    EXPECT_TRUE(ca.ok());
    p->ca = *ca;
    for (auto* out : {&p->server, &p->other}) {
      auto s = IssueCertificate(p->ca.certificate_pem, p->ca.private_key_pem, "BASTION", CertificateUse::kServer,
                                {"127.0.0.1"}, {"localhost"}, 30);
      EXPECT_TRUE(s.ok());
      *out = *s;
    }
    return p;
  }();
  return *pki;
}

// Replaces a file the way an administrator's tool (and `bastion tls renew`) does: a rename.
void Replace(const std::filesystem::path& file, const std::string& text) {
  test::WriteBytes(file.string() + ".new", text);
  std::filesystem::rename(file.string() + ".new", file);
}

class TlsCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files_.certificate = dir_ / "server.pem";
    files_.private_key = dir_ / "server-key.pem";
    files_.client_ca = dir_ / "ca.pem";
    test::WriteBytes(files_.certificate, Certificates().server.certificate_pem);
    test::WriteBytes(files_.private_key, Certificates().server.private_key_pem);
    test::WriteBytes(files_.client_ca, Certificates().ca.certificate_pem);
  }
  std::int64_t now_ = std::time(nullptr);
  test::TempDir dir_;
  TlsOptions files_;
};

TEST_F(TlsCredentialsTest, AGoodSetChecksOut) {
  auto checked = CheckTlsCredentials(files_, now_);
  ASSERT_TRUE(checked.ok()) << checked.status().ToString();
  EXPECT_EQ(checked->certificate.sha256, Certificates().server.sha256);
  ASSERT_TRUE(checked->client_ca.has_value());
  EXPECT_EQ(checked->client_ca->sha256, Certificates().ca.sha256);
  files_.client_ca.clear();  // HTTPS: no client CA
  checked = CheckTlsCredentials(files_, now_);
  ASSERT_TRUE(checked.ok());
  EXPECT_FALSE(checked->client_ca.has_value());
}

TEST_F(TlsCredentialsTest, EachBadFileIsNamedWithItsOption) {
  auto expect_refused = [&](const std::string& says) {
    auto checked = CheckTlsCredentials(files_, now_);
    ASSERT_FALSE(checked.ok()) << says;
    EXPECT_EQ(checked.status().code(), Code::kInsecureConfig);
    EXPECT_NE(checked.status().message().find(says), std::string::npos) << checked.status().message();
  };
  Replace(files_.private_key, Certificates().other.private_key_pem);
  expect_refused("([tls] private_key) is not the private key of");
  Replace(files_.private_key, Certificates().server.private_key_pem);
  Replace(files_.certificate, "garbage");
  expect_refused("([tls] certificate) is not a PEM certificate");
  std::filesystem::remove(files_.certificate);
  expect_refused("cannot read " + files_.certificate.string() + " ([tls] certificate)");
  Replace(files_.certificate, Certificates().server.certificate_pem);
  Replace(files_.client_ca, "garbage");
  expect_refused("([tls] client_ca) is not a PEM certificate");
}

TEST_F(TlsCredentialsTest, AnExpiredCertificateOrCaIsRefused) {
  auto info = ReadCertificateInfo(Certificates().server.certificate_pem);
  ASSERT_TRUE(info.ok());
  auto later = CheckTlsCredentials(files_, info->not_after);
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.status().message().find("([tls] certificate) expired on"), std::string::npos)
      << later.status().message();
  EXPECT_TRUE(CheckTlsCredentials(files_, info->not_after - 1).ok());
  // The CA, with a certificate that would still be valid: refused as the CA.
  files_.client_ca = dir_ / "old-ca.pem";
  auto short_ca = IssueCertificate(Certificates().ca.certificate_pem, Certificates().ca.private_key_pem, "CA",
                                   CertificateUse::kClient, {}, {}, 1);
  ASSERT_TRUE(short_ca.ok());
  test::WriteBytes(files_.client_ca, short_ca->certificate_pem);
  auto expired_ca = CheckTlsCredentials(files_, now_ + 2 * 86400);
  ASSERT_FALSE(expired_ca.ok());
  EXPECT_NE(expired_ca.status().message().find("([tls] client_ca) expired on"), std::string::npos)
      << expired_ca.status().message();
}

// The context type stands in for DCMTK's transport layer or asio's
// ssl::context: what was built, and from which certificate.
struct FakeContext {
  std::string certificate_pem;
  int generation = 0;
};

class ReloadingTlsContextTest : public TlsCredentialsTest {
 protected:
  ReloadingTlsContext<FakeContext> Make() {
    return ReloadingTlsContext<FakeContext>(files_, "test", [this]() -> Result<std::shared_ptr<FakeContext>> {
      ++builds_;
      if (fail_build_) return Status(Code::kInvalidArgument, "the library refused it");
      return std::make_shared<FakeContext>(FakeContext{test::ReadBytes(files_.certificate), builds_});
    });
  }
  int builds_ = 0;
  bool fail_build_ = false;
};

TEST_F(ReloadingTlsContextTest, BuildsOnceUntilAFileChanges) {
  auto tls = Make();
  ASSERT_TRUE(tls.Reload().ok());
  auto first = tls.Current();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->certificate_pem, Certificates().server.certificate_pem);
  EXPECT_EQ(tls.Current(), first);
  EXPECT_EQ(builds_, 1);

  // A renewal: the certificate file is replaced. The next connection gets the new context.
  Replace(files_.certificate, Certificates().other.certificate_pem);
  Replace(files_.private_key, Certificates().other.private_key_pem);
  auto second = tls.Current();
  EXPECT_EQ(second->certificate_pem, Certificates().other.certificate_pem);
  EXPECT_EQ(tls.Current(), second);
  // A connection that began before keeps its own context.
  EXPECT_EQ(first->certificate_pem, Certificates().server.certificate_pem);
  // A new client CA file counts as a change too.
  Replace(files_.client_ca, Certificates().ca.certificate_pem);
  EXPECT_NE(tls.Current(), second);
}

TEST_F(ReloadingTlsContextTest, ABadSetIsNotAppliedAndNotRetriedUntilItChanges) {
  auto tls = Make();
  ASSERT_TRUE(tls.Reload().ok());
  auto good = tls.Current();
  // Half a renewal (a new key, the old certificate): refused, the good context stays.
  Replace(files_.private_key, Certificates().other.private_key_pem);
  EXPECT_EQ(tls.Current(), good);
  EXPECT_EQ(tls.Current(), good);
  EXPECT_EQ(builds_, 1) << "a refused set was checked again although nothing changed";
  // The other half arrives: applied.
  Replace(files_.certificate, Certificates().other.certificate_pem);
  EXPECT_EQ(tls.Current()->certificate_pem, Certificates().other.certificate_pem);
  EXPECT_EQ(builds_, 2);
}

TEST_F(ReloadingTlsContextTest, ALibraryRefusalKeepsTheContextInForce) {
  auto tls = Make();
  ASSERT_TRUE(tls.Reload().ok());
  auto good = tls.Current();
  fail_build_ = true;
  Status s = tls.Reload();  // SIGHUP
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(tls.Current(), good);
  Replace(files_.certificate, Certificates().other.certificate_pem);
  Replace(files_.private_key, Certificates().other.private_key_pem);
  EXPECT_EQ(tls.Current(), good);
  fail_build_ = false;
  EXPECT_TRUE(tls.Reload().ok());
  EXPECT_EQ(tls.Current()->certificate_pem, Certificates().other.certificate_pem);
}

TEST_F(ReloadingTlsContextTest, NothingUntilTheFirstGoodLoad) {
  Replace(files_.certificate, "garbage");
  auto tls = Make();
  EXPECT_FALSE(tls.Reload().ok());
  EXPECT_EQ(tls.Current(), nullptr);
  EXPECT_EQ(builds_, 0);
}

}  // namespace
}  // namespace bastion::security
