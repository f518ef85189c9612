#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "scan/knowledge.h"
#include "scan/scan.h"

namespace bastion::scan {
namespace {

Report Sample() {
  Report r;
  r.started = "2026-01-01T00:00:00.000000Z";
  r.finished = "2026-01-01T00:00:01.000000Z";
  r.targets = {"127.0.0.1"};
  r.ports = {4242};
  r.connections = 7;
  Service s;
  s.endpoint = "127.0.0.1:4242";
  s.protocol = "dicom";
  s.software = {"Orthanc", "1.10.1", "version name"};
  s.accepted_services = {"Verification", "Study Root FIND"};
  r.services.push_back(s);
  Software sw{"Orthanc", "1.10.1", ""};
  r.findings.push_back(MakeFinding("D10", Severity::kInfo, "127.0.0.1:4242", "move refused",
                                   "C-MOVE-RQ", "0xA801", sw));
  r.findings.push_back(MakeFinding("D2", Severity::kHigh, "127.0.0.1:4242",
                                   "<script>alert(1)</script>", "RQ", "AC", sw));
  r.findings.push_back(MakeFinding("D8", Severity::kCritical, "127.0.0.1:4242", "3 patients",
                                   "C-FIND-RQ", "3 pending answers", sw));
  r.Sort();
  return r;
}

TEST(Severity, ExitCodesDoNotClashWithOtherCommands) {
  EXPECT_EQ(ExitCodeForSeverity(Severity::kInfo), 0);
  EXPECT_EQ(ExitCodeForSeverity(Severity::kLow), 10);
  EXPECT_EQ(ExitCodeForSeverity(Severity::kMedium), 11);
  EXPECT_EQ(ExitCodeForSeverity(Severity::kHigh), 12);
  EXPECT_EQ(ExitCodeForSeverity(Severity::kCritical), 13);
  for (auto s : {Severity::kLow, Severity::kMedium, Severity::kHigh, Severity::kCritical})
    EXPECT_GT(ExitCodeForSeverity(s), 5) << "must not look like another command's exit code";
}

TEST(Report, WorstSeverityDecidesTheExitCode) {
  Report r;
  EXPECT_EQ(r.ExitCode(), kExitClean);
  r.errors.push_back("cannot resolve x");
  EXPECT_EQ(r.ExitCode(), kExitScanError) << "an error with nothing found is a failed scan";
  r.findings.push_back(MakeFinding("D15", Severity::kLow, "t", "", "", "", {}));
  EXPECT_EQ(r.ExitCode(), kExitLow) << "a finding beats an error";
  r.findings.push_back(MakeFinding("D3", Severity::kHigh, "t", "", "", "", {}));
  EXPECT_EQ(r.Worst(), Severity::kHigh);
  EXPECT_EQ(r.ExitCode(), kExitHigh);
}

TEST(Report, SortsWorstFirstThenByCheckNumber) {
  Report r;
  for (const char* id : {"D10", "D2", "W1", "D1"})
    r.findings.push_back(MakeFinding(id, Severity::kInfo, "t", "", "", "", {}));
  r.findings.push_back(MakeFinding("D15", Severity::kLow, "t", "", "", "", {}));
  r.Sort();
  std::vector<std::string> ids;
  for (const auto& f : r.findings) ids.push_back(f.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"D15", "D1", "D2", "D10", "W1"}));
}

TEST(Render, JsonIsStableAndDocumented) {
  Report r = Sample();
  std::string a = Render(r, Format::kJson), b = Render(r, Format::kJson);
  EXPECT_EQ(a, b);
  auto j = nlohmann::json::parse(a);
  EXPECT_EQ(j["schema"], "bastion-scan/1");
  // The keys docs/scan.md documents, no more and no fewer.
  std::vector<std::string> top;
  for (auto& [k, v] : j.items()) top.push_back(k);
  EXPECT_EQ(top, (std::vector<std::string>{"errors", "findings", "finished", "schema", "scope",
                                           "services", "started", "summary", "tool"}));
  std::vector<std::string> keys;
  for (auto& [k, v] : j["findings"][0].items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"check", "cves", "fix", "hipaa", "id", "received",
                                            "sent", "severity", "target", "title", "why"}));
  EXPECT_EQ(j["findings"][0]["id"], "D8");
  EXPECT_EQ(j["findings"][0]["severity"], "critical");
  EXPECT_EQ(j["summary"]["worst"], "critical");
  EXPECT_EQ(j["summary"]["exit_code"], 13);
  EXPECT_EQ(j["summary"]["counts"]["high"], 1);
  EXPECT_EQ(j["summary"]["connections"], 7);
  EXPECT_EQ(j["services"][0]["software"]["product"], "Orthanc");
  EXPECT_EQ(j["scope"]["ports"][0], 4242);
}

// The exact bytes for a fixed report: a change here is a change of the
// documented format (docs/scan.md) and needs a new schema version.
TEST(Render, JsonGolden) {
  Report r;
  r.started = "S";
  r.finished = "F";
  r.targets = {"10.0.0.1"};
  r.ports = {104};
  Finding f;
  f.id = "D3";
  f.check = "calling AE not enforced";
  f.severity = Severity::kHigh;
  f.target = "10.0.0.1:104";
  f.title = "t";
  f.sent = "s";
  f.received = "r";
  f.why = "w";
  f.hipaa = "h";
  f.fix = "x";
  r.findings.push_back(f);
  EXPECT_EQ(Render(r, Format::kJson), R"({
  "errors": [],
  "findings": [
    {
      "check": "calling AE not enforced",
      "cves": [],
      "fix": "x",
      "hipaa": "h",
      "id": "D3",
      "received": "r",
      "sent": "s",
      "severity": "high",
      "target": "10.0.0.1:104",
      "title": "t",
      "why": "w"
    }
  ],
  "finished": "F",
  "schema": "bastion-scan/1",
  "scope": {
    "allow_write": false,
    "ports": [
      104
    ],
    "targets": [
      "10.0.0.1"
    ],
    "web": []
  },
  "services": [],
  "started": "S",
  "summary": {
    "connections": 0,
    "counts": {
      "critical": 0,
      "high": 1,
      "info": 0,
      "low": 0,
      "medium": 0
    },
    "exit_code": 12,
    "worst": "high"
  },
  "tool": "bastion scan 0.1.0"
}
)");
}

TEST(Render, HtmlIsOneSelfContainedEscapedPage) {
  std::string html = Render(Sample(), Format::kHtml);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("<script>"), std::string::npos) << "values from the wire must be escaped";
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos) << "no external resources";
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_NE(html.find("45 CFR 164.312"), std::string::npos);
  EXPECT_NE(html.find("no patient data"), std::string::npos);
}

TEST(Render, SarifHasRulesAndLevels) {
  auto j = nlohmann::json::parse(Render(Sample(), Format::kSarif));
  EXPECT_EQ(j["version"], "2.1.0");
  const auto& run = j["runs"][0];
  EXPECT_EQ(run["tool"]["driver"]["name"], "bastion scan");
  EXPECT_GE(run["tool"]["driver"]["rules"].size(), 22u);
  EXPECT_EQ(run["results"][0]["ruleId"], "D8");
  EXPECT_EQ(run["results"][0]["level"], "error");
  EXPECT_EQ(run["results"][2]["level"], "none");
}

TEST(Render, TextHasASummaryLine) {
  std::string text = Render(Sample(), Format::kText);
  EXPECT_NE(text.find("[CRITICAL] D8 query leak"), std::string::npos) << text;
  EXPECT_NE(
      text.find("summary: 1 critical, 1 high, 0 medium, 0 low, 1 info; worst critical; exit 13"),
      std::string::npos)
      << text;
}

TEST(Render, FormatNames) {
  EXPECT_EQ(ParseFormat("json"), Format::kJson);
  EXPECT_EQ(ParseFormat("sarif"), Format::kSarif);
  EXPECT_FALSE(ParseFormat("xml").has_value());
}

}  // namespace
}  // namespace bastion::scan

namespace bastion::scan {
namespace {

std::string ReportJson(const std::vector<Finding>& findings) {
  Report r;
  r.findings = findings;
  return Render(r, Format::kJson);
}

TEST(Compare, InsideAndOutsideSideBySide) {
  Software none;
  // Inside: the DICOM port leaks; outside (another address, same port): it is closed off.
  std::string inside = ReportJson(
      {MakeFinding("D8", Severity::kCritical, "10.1.2.3:4242", "3 patients", "", "", none),
       MakeFinding("D1", Severity::kInfo, "10.1.2.3:4242", "dicom", "", "", none),
       MakeFinding("W1", Severity::kHigh, "http://10.1.2.3:8042", "PHI over HTTP", "", "", none)});
  std::string outside =
      ReportJson({MakeFinding("D1", Severity::kInfo, "203.0.113.9:4242", "dicom", "", "", none),
                  MakeFinding("W1", Severity::kHigh, "http://203.0.113.9:8042/", "PHI over HTTP",
                              "", "", none)});
  int rc = -1;
  auto text = Compare(inside, outside, "inside.json", "outside.json", false, &rc);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(rc, kExitCritical);
  EXPECT_NE(text->find("D8     :4242        critical    | - !=  3 patients"), std::string::npos)
      << *text;
  EXPECT_NE(text->find("W1     http:8042    high        | high     PHI over HTTP"),
            std::string::npos)
      << *text;
  EXPECT_EQ(text->find("D1 "), std::string::npos) << "info on both sides is not a difference";
  auto j = nlohmann::json::parse(*Compare(inside, outside, "a", "b", true, &rc));
  EXPECT_EQ(j["schema"], "bastion-scan-compare/1");
  EXPECT_EQ(j["rows"].size(), 2u);
  EXPECT_EQ(Compare("{}", outside, "a", "b", false, &rc).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace bastion::scan
