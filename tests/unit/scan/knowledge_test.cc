#include "scan/knowledge.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace bastion::scan {
namespace {

bool Has(const std::vector<KnownVulnerability>& v, std::string_view cve) {
  return std::any_of(v.begin(), v.end(), [&](const auto& x) { return x.cve == cve; });
}

TEST(Reject, ReasonsAreDecoded) {
  EXPECT_EQ(DescribeReject({1, 1, 3}),
            "A-ASSOCIATE-RJ rejected-permanent, source 1 service-user, reason 3 (calling AE title "
            "not recognized)");
  EXPECT_EQ(DescribeReject({1, 1, 7}),
            "A-ASSOCIATE-RJ rejected-permanent, source 1 service-user, reason 7 (called AE title "
            "not recognized)");
  EXPECT_NE(DescribeReject({2, 3, 2}).find("rejected-transient"), std::string::npos);
  EXPECT_NE(DescribeReject({2, 3, 2}).find("local limit exceeded"), std::string::npos);
  EXPECT_NE(DescribeReject({1, 2, 2}).find("protocol version not supported"), std::string::npos);
  EXPECT_NE(DescribeReject({1, 1, 2}).find("application context name not supported"),
            std::string::npos);
  EXPECT_NE(DescribeReject({1, 1, 5}).find("reserved"), std::string::npos);
}

TEST(Reject, CallingAndCalledAreKeptApart) {
  EXPECT_TRUE(IsCallingAeReject({1, 1, 3}));
  EXPECT_FALSE(IsCalledAeReject({1, 1, 3}));
  EXPECT_TRUE(IsCalledAeReject({1, 1, 7}));
  EXPECT_FALSE(IsCallingAeReject({1, 1, 7}));
  // Reason 3 from the presentation-related provider is not an AE title verdict.
  EXPECT_FALSE(IsCallingAeReject({2, 3, 3}));
  EXPECT_FALSE(IsCalledAeReject({1, 2, 7}));
}

TEST(DimseStatus, Decoded) {
  EXPECT_EQ(DescribeDimseStatus(0x0000), "0x0000 Success");
  EXPECT_EQ(DescribeDimseStatus(0xA801), "0xA801 Refused: move destination unknown");
  EXPECT_EQ(DescribeDimseStatus(0xFF00), "0xFF00 Pending");
  EXPECT_EQ(DescribeDimseStatus(0x0124), "0x0124 Refused: not authorized");
  EXPECT_EQ(DescribeDimseStatus(0xC123), "0xC123 Failure: unable to process");
}

TEST(Recognition, FromTheAssociateAccept) {
  Software s = RecogniseDicom("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367");
  EXPECT_EQ(s.product, "DCMTK");
  EXPECT_EQ(s.version, "3.6.7");
  EXPECT_EQ(RecogniseDicom("1.2.276.0.7230010.3.0.3.6.10", "OFFIS_DCMTK_3610").version, "3.6.10");
  EXPECT_EQ(RecogniseDicom("1.2.276.0.7230010.3.0.3.6.4", "").product, "DCMTK");
  EXPECT_EQ(RecogniseDicom("1.2.40.0.13.1.3", "dcm4che-5.31.0").product, "dcm4chee");
  EXPECT_EQ(RecogniseDicom("1.2.40.0.13.1.3", "dcm4che-5.31.0").version, "5.31.0");
  Software o = RecogniseDicom("1.2.3", "ORTHANC_1.9.7");
  EXPECT_EQ(o.product, "Orthanc");
  EXPECT_EQ(o.version, "1.9.7");
  EXPECT_FALSE(RecogniseDicom("1.2.3.4", "SOMEPACS").known());
  // A hostile version name cannot forge report lines.
  EXPECT_EQ(RecogniseDicom("1.2.3", "X\nY").evidence.find('\n'), std::string::npos);
}

TEST(Recognition, FromHttp) {
  EXPECT_EQ(RecogniseHttp("", "1.10.1").ToString(), "Orthanc 1.10.1");
  EXPECT_EQ(RecogniseHttp("Orthanc/1.12.3", "").ToString(), "Orthanc 1.12.3");
  EXPECT_FALSE(RecogniseHttp("nginx", "").known());
}

TEST(Versions, CompareNumerically) {
  EXPECT_LT(CompareVersions("3.6.7", "3.6.10"), 0);
  EXPECT_EQ(CompareVersions("3.6.7", "3.6.7"), 0);
  EXPECT_GT(CompareVersions("1.12.0", "1.5.8"), 0);
  EXPECT_EQ(CompareVersions("1.10", "1.10.0"), 0);
}

TEST(Vulnerabilities, TableByVersion) {
  auto v367 = VulnerabilitiesFor({"DCMTK", "3.6.7", ""});
  EXPECT_TRUE(Has(v367, "CVE-2022-43272"));
  EXPECT_FALSE(Has(v367, "CVE-2022-2119")) << "fixed in 3.6.7";
  auto v366 = VulnerabilitiesFor({"DCMTK", "3.6.6", ""});
  EXPECT_TRUE(Has(v366, "CVE-2022-2119"));
  EXPECT_TRUE(Has(v366, "CVE-2021-41687"));
  EXPECT_TRUE(VulnerabilitiesFor({"DCMTK", "3.6.9", ""}).empty());
  auto o = VulnerabilitiesFor({"Orthanc", "1.10.1", ""});
  EXPECT_TRUE(Has(o, "CVE-2023-33466"));
  EXPECT_FALSE(Has(o, "CVE-2025-0896"));
  EXPECT_TRUE(Has(VulnerabilitiesFor({"Orthanc", "1.5.7", ""}), "CVE-2025-0896"));
  EXPECT_TRUE(VulnerabilitiesFor({"Orthanc", "", ""}).empty()) << "no version, no claim";
  EXPECT_TRUE(VulnerabilitiesFor({"DCMTK", "3.6.7x", ""}).size() == v367.size());
  EXPECT_EQ(SeverityForCvss(9.2), Severity::kCritical);
  EXPECT_EQ(SeverityForCvss(7.5), Severity::kHigh);
  EXPECT_EQ(SeverityForCvss(6.5), Severity::kMedium);
  EXPECT_EQ(SeverityForCvss(0), Severity::kInfo);
}

TEST(Checks, EveryCheckSaysWhyWhereAndHow) {
  for (const char* id :
       {"D1",  "D2", "D3", "D4", "D5", "D6", "D7", "D8", "D9", "D10", "D11", "D12", "D13", "D14",
        "D15", "W1", "W2", "W3", "W4", "W5", "W6", "W7", "S1", "S2",  "S3",  "S4",  "S5"}) {
    const CheckInfo* c = FindCheck(id);
    ASSERT_NE(c, nullptr) << id;
    EXPECT_FALSE(c->name.empty()) << id;
    EXPECT_FALSE(c->why.empty()) << id;
    EXPECT_NE(c->hipaa.find("164.3"), std::string_view::npos) << id;
    EXPECT_FALSE(c->fix.empty()) << id;
  }
}

TEST(Hsts, MaxAge) {
  EXPECT_EQ(HstsMaxAge("max-age=31536000; includeSubDomains"), 31536000);
  EXPECT_EQ(HstsMaxAge("includeSubDomains; Max-Age = \"600\""), 600);
  EXPECT_EQ(HstsMaxAge("max-age=0"), 0);
  EXPECT_EQ(HstsMaxAge("includeSubDomains"), -1);
  EXPECT_EQ(HstsMaxAge("max-age=soon"), -1);
  EXPECT_EQ(HstsMaxAge("max-age=-5"), -1);
  EXPECT_EQ(HstsMaxAge("max-age=99999999999999999999999"), -1);
}

TEST(Checks, FixIsSpecificToTheRecognisedSoftware) {
  Finding o = MakeFinding("D3", Severity::kHigh, "t", "x", "", "", {"Orthanc", "1.10.1", ""});
  EXPECT_NE(o.fix.find("DicomAlwaysAllowStore"), std::string::npos) << o.fix;
  Finding d = MakeFinding("D3", Severity::kHigh, "t", "x", "", "", {"dcm4chee", "", ""});
  EXPECT_NE(d.fix.find("dcm4chee"), std::string::npos) << d.fix;
  Finding b = MakeFinding("D3", Severity::kHigh, "t", "x", "", "", {"Bastion", "", ""});
  EXPECT_NE(b.fix.find("bastion node add"), std::string::npos) << b.fix;
  Finding u = MakeFinding("D3", Severity::kHigh, "t", "x", "", "", {});
  EXPECT_EQ(u.fix.find("Orthanc"), std::string::npos);
  EXPECT_EQ(u.check, "calling AE not enforced");
  EXPECT_NE(u.hipaa.find("164.312(d)"), std::string::npos);
}

}  // namespace
}  // namespace bastion::scan
