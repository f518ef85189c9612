#include "security/association_policy.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace bastion::security {
namespace {

const std::string kPin = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kOtherPin = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

Node MakeNode(const std::string& ae, std::vector<std::string> hosts, bool tls_only = false,
              const std::string& pin = "") {
  Node n;
  n.ae_title = ae;
  for (const auto& h : hosts) n.hosts.push_back(*IpRange::Parse(h));
  n.tls_only = tls_only;
  n.tls_cert_sha256 = pin;
  n.permissions = *PermissionSet::Parse("echo,store");
  return n;
}

class DecideAssociationTest : public ::testing::Test {
 protected:
  // Over TLS the client certificate's CN defaults to the calling AE title,
  // as `bastion node cert` issues it.
  AssociationDecision Decide(const std::string& calling, const char* peer, Transport transport = Transport::kPlain,
                             const std::string& cert = "", const std::string& called = "BASTION",
                             std::optional<std::string> cn = std::nullopt) {
    AssociationRequest req;
    req.called_ae = called;
    req.calling_ae = calling;
    req.peer = Ip(peer);
    req.transport = transport;
    req.peer_cert_sha256 = cert;
    if (transport == Transport::kTls) req.peer_cert_cn = cn.value_or(calling);
    return DecideAssociation(req, "BASTION", nodes_);
  }

  AssociationDecision DecideTlsWithCn(const std::string& calling, const char* peer, const std::string& cert,
                                      const std::string& cn) {
    return Decide(calling, peer, Transport::kTls, cert, "BASTION", cn);
  }

  static void ExpectRejected(const AssociationDecision& d, RejectReason reason) {
    EXPECT_FALSE(d.accept);
    EXPECT_EQ(d.reason, reason);
    EXPECT_FALSE(d.why.empty());
    EXPECT_FALSE(d.node.has_value());
  }

  std::vector<Node> nodes_ = {
      MakeNode("CT1", {"10.1.2.3"}),
      MakeNode("WARD", {"192.168.10.0/24"}),
      MakeNode("TLSNODE", {"10.9.0.0/16"}, /*tls_only=*/true),
      MakeNode("PINNED", {"10.7.0.5"}, /*tls_only=*/true, kPin),
      MakeNode("V6NODE", {"2001:db8:1::/64"}),
  };
};

TEST_F(DecideAssociationTest, RegisteredNodeFromItsAddressIsAccepted) {
  auto d = Decide("CT1", "10.1.2.3");
  EXPECT_TRUE(d.accept);
  EXPECT_EQ(d.reason, RejectReason::kNone);
  ASSERT_TRUE(d.node.has_value());
  EXPECT_EQ(d.node->ae_title, "CT1");
  EXPECT_EQ(d.node->permissions.ToString(), "echo,store");
}

TEST_F(DecideAssociationTest, WrongCalledAeIsRejectedWithReason7) {
  ExpectRejected(Decide("CT1", "10.1.2.3", Transport::kPlain, "", "OTHERPACS"), RejectReason::kCalledAeNotRecognized);
  ExpectRejected(Decide("CT1", "10.1.2.3", Transport::kPlain, "", ""), RejectReason::kCalledAeNotRecognized);
  ExpectRejected(Decide("CT1", "10.1.2.3", Transport::kPlain, "", "ANY-SCP"), RejectReason::kCalledAeNotRecognized);
}

TEST_F(DecideAssociationTest, UnknownCallingAeIsRejected) {
  ExpectRejected(Decide("NOBODY", "10.1.2.3"), RejectReason::kCallingAeNotRecognized);
  ExpectRejected(Decide("", "10.1.2.3"), RejectReason::kCallingAeNotRecognized);
  ExpectRejected(Decide("ct1", "10.1.2.3"), RejectReason::kCallingAeNotRecognized);
  ExpectRejected(Decide("FINDSCU", "127.0.0.1"), RejectReason::kCallingAeNotRecognized);
}

TEST_F(DecideAssociationTest, KnownAeFromTheWrongAddressIsRejected) {
  ExpectRejected(Decide("CT1", "10.1.2.4"), RejectReason::kCallingAeNotRecognized);
  ExpectRejected(Decide("CT1", "127.0.0.1"), RejectReason::kCallingAeNotRecognized);
  ExpectRejected(Decide("CT1", "::1"), RejectReason::kCallingAeNotRecognized);
}

TEST_F(DecideAssociationTest, RangeRegisteredNodeMatchesHostsInTheRange) {
  EXPECT_TRUE(Decide("WARD", "192.168.10.1").accept);
  EXPECT_TRUE(Decide("WARD", "192.168.10.254").accept);
  ExpectRejected(Decide("WARD", "192.168.11.1"), RejectReason::kCallingAeNotRecognized);
  ExpectRejected(Decide("WARD", "192.168.9.255"), RejectReason::kCallingAeNotRecognized);
  EXPECT_TRUE(Decide("V6NODE", "2001:db8:1::42").accept);
  ExpectRejected(Decide("V6NODE", "2001:db8:2::42"), RejectReason::kCallingAeNotRecognized);
}

TEST_F(DecideAssociationTest, V4MappedPeerMatchesV4Registration) {
  EXPECT_TRUE(Decide("CT1", "::ffff:10.1.2.3").accept);
  EXPECT_TRUE(Decide("WARD", "::ffff:192.168.10.7").accept);
}

TEST_F(DecideAssociationTest, TlsOnlyNodeIsRefusedOnPlain) {
  ExpectRejected(Decide("TLSNODE", "10.9.1.1", Transport::kPlain), RejectReason::kCallingAeNotRecognized);
  EXPECT_TRUE(Decide("TLSNODE", "10.9.1.1", Transport::kTls, kOtherPin).accept);  // no pin: any verified cert
  ExpectRejected(Decide("TLSNODE", "10.10.1.1", Transport::kTls, kOtherPin), RejectReason::kCallingAeNotRecognized);
}

TEST_F(DecideAssociationTest, PinnedCertificate) {
  auto ok = Decide("PINNED", "10.7.0.5", Transport::kTls, kPin);
  EXPECT_TRUE(ok.accept) << ok.why;
  ExpectRejected(Decide("PINNED", "10.7.0.5", Transport::kTls, kOtherPin), RejectReason::kCallingAeNotRecognized);
  ExpectRejected(Decide("PINNED", "10.7.0.5", Transport::kTls, ""), RejectReason::kCallingAeNotRecognized);
  ExpectRejected(Decide("PINNED", "10.7.0.5", Transport::kPlain, kPin), RejectReason::kCallingAeNotRecognized);
  // The right certificate from the wrong address is still refused.
  ExpectRejected(Decide("PINNED", "10.7.0.6", Transport::kTls, kPin), RejectReason::kCallingAeNotRecognized);
}

TEST_F(DecideAssociationTest, PinnedNodeIsNeverAcceptedOnPlain) {
  // LoadNodes sets tls_only for every pinned node, but the decision must not
  // depend on that: over plain DICOM there is no certificate to check, so a
  // pin can only be honoured by refusing.
  nodes_ = {MakeNode("PINNED", {"10.7.0.5"}, /*tls_only=*/false, kPin)};
  ExpectRejected(Decide("PINNED", "10.7.0.5", Transport::kPlain), RejectReason::kCallingAeNotRecognized);
}

TEST_F(DecideAssociationTest, UnpinnedTlsNodeNeedsACertificateIssuedToItsAeTitle) {
  // Every certificate from the CA passes the handshake; without a pin, one
  // issued to another node must not let its holder act as this node.
  EXPECT_TRUE(DecideTlsWithCn("TLSNODE", "10.9.1.1", kOtherPin, "TLSNODE").accept);
  ExpectRejected(DecideTlsWithCn("TLSNODE", "10.9.1.1", kOtherPin, "CT1"), RejectReason::kCallingAeNotRecognized);
  ExpectRejected(DecideTlsWithCn("TLSNODE", "10.9.1.1", kOtherPin, ""), RejectReason::kCallingAeNotRecognized);
  ExpectRejected(DecideTlsWithCn("TLSNODE", "10.9.1.1", kOtherPin, "tlsnode"), RejectReason::kCallingAeNotRecognized);
  // A node that is not TLS-only may also come over TLS, under the same rule.
  EXPECT_TRUE(DecideTlsWithCn("CT1", "10.1.2.3", kOtherPin, "CT1").accept);
  ExpectRejected(DecideTlsWithCn("CT1", "10.1.2.3", kOtherPin, "WARD"), RejectReason::kCallingAeNotRecognized);
}

TEST_F(DecideAssociationTest, PinnedNodeIsIdentifiedByItsPinNotItsCn) {
  EXPECT_TRUE(DecideTlsWithCn("PINNED", "10.7.0.5", kPin, "some other name").accept);
  ExpectRejected(DecideTlsWithCn("PINNED", "10.7.0.5", kOtherPin, "PINNED"), RejectReason::kCallingAeNotRecognized);
}

TEST_F(DecideAssociationTest, NoNodesRejectsEveryone) {
  nodes_.clear();
  ExpectRejected(Decide("CT1", "10.1.2.3"), RejectReason::kCallingAeNotRecognized);
  ExpectRejected(Decide("CT1", "127.0.0.1", Transport::kTls, kPin), RejectReason::kCallingAeNotRecognized);
}

// --- throttle ---

class FakeClock {
 public:
  std::chrono::steady_clock::time_point now() const { return now_; }
  void Advance(std::chrono::milliseconds d) { now_ += d; }
  AssociationThrottle::Clock AsClock() {
    return [this] { return now_; };
  }

 private:
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1000)};
};

using std::chrono::milliseconds;
using std::chrono::seconds;

ThrottleOptions Options() {
  ThrottleOptions o;
  o.window_seconds = 60;
  o.failures_before_slowdown = 3;
  o.failures_before_lockout = 8;
  o.lockout_seconds = 300;
  o.max_delay_ms = 500;
  return o;
}

TEST(AssociationThrottleTest, FreshAddressIsNotDelayed) {
  FakeClock clock;
  AssociationThrottle t(Options(), clock.AsClock());
  auto v = t.Check(Ip("10.0.0.1"));
  EXPECT_FALSE(v.refuse);
  EXPECT_EQ(v.delay, milliseconds(0));
}

TEST(AssociationThrottleTest, SlowdownGrowsThenCapsThenLocksOut) {
  FakeClock clock;
  AssociationThrottle t(Options(), clock.AsClock());
  IpAddress a = Ip("10.0.0.1");
  std::vector<milliseconds> delays;
  for (int i = 1; i <= 7; ++i) {
    EXPECT_FALSE(t.Check(a).refuse) << "refused after only " << i - 1 << " failures";
    delays.push_back(t.RecordFailure(a));
    clock.Advance(milliseconds(10));
  }
  // No delay up to failures_before_slowdown (3), then growing, capped at 500 ms.
  EXPECT_EQ(delays[0], milliseconds(0));
  EXPECT_EQ(delays[1], milliseconds(0));
  EXPECT_EQ(delays[2], milliseconds(0));
  EXPECT_GT(delays[3], milliseconds(0));
  EXPECT_GT(delays[4], delays[3]);
  EXPECT_GE(delays[5], delays[4]);
  for (auto d : delays) EXPECT_LE(d, milliseconds(500));
  EXPECT_EQ(delays[6], milliseconds(500));

  // The 8th failure (failures_before_lockout) locks the address out.
  EXPECT_FALSE(t.Check(a).refuse);
  auto last = t.RecordFailure(a);
  EXPECT_LE(last, milliseconds(500));
  EXPECT_TRUE(t.Check(a).refuse);
}

TEST(AssociationThrottleTest, LockoutExpiresAfterLockoutSeconds) {
  FakeClock clock;
  AssociationThrottle t(Options(), clock.AsClock());
  IpAddress a = Ip("10.0.0.1");
  for (int i = 0; i < 8; ++i) (void)t.RecordFailure(a);
  EXPECT_TRUE(t.Check(a).refuse);
  clock.Advance(seconds(299));
  EXPECT_TRUE(t.Check(a).refuse);
  clock.Advance(seconds(1));
  auto v = t.Check(a);
  EXPECT_FALSE(v.refuse);
  EXPECT_EQ(v.delay, milliseconds(0));
  // A clean slate: the next failures are not delayed at once.
  EXPECT_EQ(t.RecordFailure(a), milliseconds(0));
  EXPECT_FALSE(t.Check(a).refuse);
}

TEST(AssociationThrottleTest, OtherAddressesAreUnaffected) {
  FakeClock clock;
  AssociationThrottle t(Options(), clock.AsClock());
  for (int i = 0; i < 8; ++i) (void)t.RecordFailure(Ip("10.0.0.1"));
  EXPECT_TRUE(t.Check(Ip("10.0.0.1")).refuse);
  EXPECT_FALSE(t.Check(Ip("10.0.0.2")).refuse);
  EXPECT_EQ(t.RecordFailure(Ip("10.0.0.2")), milliseconds(0));
}

TEST(AssociationThrottleTest, V4MappedPeerIsTheSameAddress) {
  FakeClock clock;
  AssociationThrottle t(Options(), clock.AsClock());
  for (int i = 0; i < 4; ++i) (void)t.RecordFailure(Ip("10.0.0.1"));
  for (int i = 0; i < 4; ++i) (void)t.RecordFailure(Ip("::ffff:10.0.0.1"));
  EXPECT_TRUE(t.Check(Ip("10.0.0.1")).refuse);
  EXPECT_TRUE(t.Check(Ip("::ffff:10.0.0.1")).refuse);
}

TEST(AssociationThrottleTest, FailuresOutsideTheWindowAreForgotten) {
  FakeClock clock;
  AssociationThrottle t(Options(), clock.AsClock());
  IpAddress a = Ip("10.0.0.1");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(t.RecordFailure(a), milliseconds(0));
  clock.Advance(seconds(61));
  // The old three have left the 60 s window: this is the first again.
  EXPECT_EQ(t.RecordFailure(a), milliseconds(0));
  EXPECT_EQ(t.RecordFailure(a), milliseconds(0));
  EXPECT_EQ(t.RecordFailure(a), milliseconds(0));
  EXPECT_GT(t.RecordFailure(a), milliseconds(0));
}

TEST(AssociationThrottleTest, SlowGuessingNeverLocksOut) {
  // 7 failures per window, forever: slowed, never locked out.
  FakeClock clock;
  AssociationThrottle t(Options(), clock.AsClock());
  IpAddress a = Ip("10.0.0.1");
  for (int i = 0; i < 100; ++i) {
    (void)t.RecordFailure(a);
    clock.Advance(milliseconds(60000 / 7 + 1));
    EXPECT_FALSE(t.Check(a).refuse) << "after " << i + 1 << " spaced failures";
  }
}

TEST(AssociationThrottleTest, FailuresInsideTheWindowAccumulate) {
  FakeClock clock;
  AssociationThrottle t(Options(), clock.AsClock());
  IpAddress a = Ip("10.0.0.1");
  for (int i = 0; i < 7; ++i) {
    (void)t.RecordFailure(a);
    clock.Advance(seconds(8));  // 7 failures over 56 s
  }
  EXPECT_FALSE(t.Check(a).refuse);
  (void)t.RecordFailure(a);  // the 8th within 60 s
  EXPECT_TRUE(t.Check(a).refuse);
}

TEST(AssociationThrottleTest, ZeroMaxDelayMeansNoDelay) {
  FakeClock clock;
  ThrottleOptions o = Options();
  o.max_delay_ms = 0;
  AssociationThrottle t(o, clock.AsClock());
  for (int i = 0; i < 7; ++i) EXPECT_EQ(t.RecordFailure(Ip("10.0.0.1")), milliseconds(0));
}

TEST(AssociationThrottleTest, DefaultOptions) {
  FakeClock clock;
  ThrottleOptions o;  // 5 before slowdown, 20 before lockout, 2000 ms cap
  AssociationThrottle t(o, clock.AsClock());
  IpAddress a = Ip("203.0.113.9");
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(t.RecordFailure(a), milliseconds(0));
  milliseconds prev(0);
  for (int i = 6; i <= 19; ++i) {
    auto d = t.RecordFailure(a);
    EXPECT_GE(d, prev);
    EXPECT_LE(d, milliseconds(2000));
    prev = d;
    EXPECT_FALSE(t.Check(a).refuse);
  }
  EXPECT_EQ(prev, milliseconds(2000));
  (void)t.RecordFailure(a);
  EXPECT_TRUE(t.Check(a).refuse);
}

// --- self-check ---

Config BaseConfig() {
  Config c;
  c.data_dir = "/var/lib/bastion";
  c.dicom.tls_listen = {*Endpoint::Parse("0.0.0.0:2762")};
  c.dicom.plain_listen = {*Endpoint::Parse("127.0.0.1:11112")};
  return c;
}

Config PublicPlain(const char* endpoint = "0.0.0.0:11112") {
  Config c = BaseConfig();
  c.dicom.plain_listen = {*Endpoint::Parse(endpoint)};
  return c;
}

TEST(SelfCheckTest, PlainOnLoopbackIsFineWithAnyNodes) {
  EXPECT_TRUE(SelfCheck(BaseConfig(), {}).ok());
  EXPECT_TRUE(SelfCheck(BaseConfig(), {MakeNode("WARD", {"10.0.0.0/8"})}).ok());
  EXPECT_TRUE(SelfCheck(BaseConfig(), {MakeNode("ANY", {"0.0.0.0/0"})}).ok());
  Config v6 = BaseConfig();
  v6.dicom.plain_listen = {*Endpoint::Parse("[::1]:11112")};
  EXPECT_TRUE(SelfCheck(v6, {MakeNode("WARD", {"10.0.0.0/8"})}).ok());
}

TEST(SelfCheckTest, PublicPlainWithARangeNodeIsRefusedNamingTheNode) {
  Status s = SelfCheck(PublicPlain(), {MakeNode("CT1", {"10.1.2.3"}), MakeNode("WARDCT", {"10.0.0.0/8"})});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInsecureConfig);
  EXPECT_NE(s.message().find("WARDCT"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("10.0.0.0/8"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("0.0.0.0:11112"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("CT1 "), std::string::npos) << "an exact-address node is not the problem";
}

TEST(SelfCheckTest, PublicPlainWithTheRangeNodeTlsOnlyIsFine) {
  // The range node can no longer use the plain port; the legacy modality that
  // needs plain DICOM is registered by its exact address.
  Status s = SelfCheck(PublicPlain(), {MakeNode("WARDCT", {"10.0.0.0/8"}, /*tls_only=*/true),
                                       MakeNode("OLD_US", {"10.1.2.3"})});
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(SelfCheckTest, PublicPlainWithOnlyTlsOnlyNodesIsRefused) {
  // Nobody may use the plain port, so there is no reason to expose it.
  Status s = SelfCheck(PublicPlain(), {MakeNode("WARDCT", {"10.0.0.0/8"}, /*tls_only=*/true)});
  EXPECT_EQ(s.code(), Code::kInsecureConfig) << s.ToString();
}

TEST(SelfCheckTest, PublicPlainWithExactAddressNodesIsFine) {
  Status s = SelfCheck(PublicPlain(), {MakeNode("CT1", {"10.1.2.3"}), MakeNode("MR1", {"10.1.2.4/32", "10.1.2.5"}),
                                       MakeNode("US1", {"2001:db8::7/128"})});
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(SelfCheckTest, PublicPlainWithNoNodesIsRefused) {
  Status s = SelfCheck(PublicPlain(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInsecureConfig);
  EXPECT_NE(s.message().find("plain_listen"), std::string::npos) << "the message should say how to fix it";
}

TEST(CertificateMismatchTest, APinDecidesAloneOtherwiseTheCommonName) {
  const std::string pin(64, 'a'), other(64, 'b');
  EXPECT_EQ(CertificateMismatch("WS1", "", "WS1", other), "");
  EXPECT_NE(CertificateMismatch("WS1", "", "WS2", other).find("issued to another name"), std::string::npos);
  EXPECT_NE(CertificateMismatch("WS1", "", "", "").find("issued to another name"), std::string::npos);
  EXPECT_NE(CertificateMismatch("WS1", "", "ws1", other), "") << "AE titles are compared exactly";
  EXPECT_EQ(CertificateMismatch("WS1", pin, "ANYONE", pin), "");
  // A pinned node's certificate must be that one, even if issued to its name.
  EXPECT_NE(CertificateMismatch("WS1", pin, "WS1", other).find("pinned fingerprint"), std::string::npos);
}

TEST(SelfCheckTest, EverySpecificNonLoopbackAddressCounts) {
  for (const char* ep : {"10.0.0.5:104", "[::]:11112", "[2001:db8::1]:11112", "192.168.1.1:11112"}) {
    Status s = SelfCheck(PublicPlain(ep), {MakeNode("WARD", {"192.168.0.0/16"})});
    EXPECT_EQ(s.code(), Code::kInsecureConfig) << ep;
  }
}

TEST(SelfCheckTest, OneLoopbackAndOnePublicPlainListener) {
  Config c = BaseConfig();
  c.dicom.plain_listen = {*Endpoint::Parse("127.0.0.1:11112"), *Endpoint::Parse("0.0.0.0:104")};
  EXPECT_EQ(SelfCheck(c, {MakeNode("WARD", {"10.0.0.0/8"})}).code(), Code::kInsecureConfig);
  EXPECT_TRUE(SelfCheck(c, {MakeNode("CT1", {"10.1.2.3"})}).ok());
}

TEST(SelfCheckTest, NoPlainListenerIsFine) {
  Config c = BaseConfig();
  c.dicom.plain_listen.clear();
  EXPECT_TRUE(SelfCheck(c, {}).ok());
  EXPECT_TRUE(SelfCheck(c, {MakeNode("WARD", {"10.0.0.0/8"})}).ok());
}

TEST(SelfCheckTest, NoListenerAtAllIsRefused) {
  Config c = BaseConfig();
  c.dicom.plain_listen.clear();
  c.dicom.tls_listen.clear();
  EXPECT_EQ(SelfCheck(c, {}).code(), Code::kInsecureConfig);
}

}  // namespace
}  // namespace bastion::security
