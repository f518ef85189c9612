// Report rendering: text for a terminal, JSON (stable, docs/scan.md), one
// self-contained HTML page for a manager, SARIF 2.1.0 for code-scanning tools.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "scan/knowledge.h"
#include "scan/scan.h"

namespace bastion::scan {

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kLow:
      return "low";
    case Severity::kMedium:
      return "medium";
    case Severity::kHigh:
      return "high";
    case Severity::kCritical:
      return "critical";
  }
  return "info";
}

int ExitCodeForSeverity(Severity worst) {
  switch (worst) {
    case Severity::kInfo:
      return kExitClean;
    case Severity::kLow:
      return kExitLow;
    case Severity::kMedium:
      return kExitMedium;
    case Severity::kHigh:
      return kExitHigh;
    case Severity::kCritical:
      return kExitCritical;
  }
  return kExitClean;
}

std::string Software::ToString() const {
  if (product.empty()) return "unknown";
  return version.empty() ? product : product + " " + version;
}

Severity Report::Worst() const {
  Severity worst = Severity::kInfo;
  for (const auto& f : findings) worst = std::max(worst, f.severity);
  return worst;
}

int Report::ExitCode() const {
  Severity worst = Worst();
  if (worst == Severity::kInfo && !errors.empty()) return kExitScanError;
  return ExitCodeForSeverity(worst);
}

namespace {

// "D2" < "D10" < "W1": by letter, then number.
bool IdLess(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty() || a[0] != b[0]) return a < b;
  return CompareVersions(a.substr(1), b.substr(1)) < 0;
}

}  // namespace

void Report::Sort() {
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    if (a.severity != b.severity) return a.severity > b.severity;
    if (a.id != b.id) return IdLess(a.id, b.id);
    if (a.target != b.target) return a.target < b.target;
    return a.title < b.title;
  });
}

std::optional<Format> ParseFormat(std::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  if (name == "html") return Format::kHtml;
  if (name == "sarif") return Format::kSarif;
  return std::nullopt;
}

namespace {

using nlohmann::json;

json Counts(const Report& r) {
  json c = {{"critical", 0}, {"high", 0}, {"medium", 0}, {"low", 0}, {"info", 0}};
  for (const auto& f : r.findings)
    c[std::string(SeverityName(f.severity))] =
        c[std::string(SeverityName(f.severity))].get<int>() + 1;
  return c;
}

std::string RenderJson(const Report& r) {
  json j;
  j["schema"] = "bastion-scan/1";
  j["tool"] = r.tool;
  j["started"] = r.started;
  j["finished"] = r.finished;
  j["scope"] = {
      {"targets", r.targets}, {"ports", r.ports}, {"web", r.web}, {"allow_write", r.allow_write}};
  j["summary"] = {{"worst", SeverityName(r.Worst())},
                  {"exit_code", r.ExitCode()},
                  {"counts", Counts(r)},
                  {"connections", r.connections}};
  json services = json::array();
  for (const auto& s : r.services) {
    json d = json::object();
    for (const auto& [k, v] : s.details) d[k] = v;
    services.push_back({{"endpoint", s.endpoint},
                        {"protocol", s.protocol},
                        {"software",
                         {{"product", s.software.product},
                          {"version", s.software.version},
                          {"evidence", s.software.evidence}}},
                        {"called_ae", s.called_ae},
                        {"accepted_services", s.accepted_services},
                        {"details", d}});
  }
  j["services"] = services;
  json findings = json::array();
  for (const auto& f : r.findings) {
    findings.push_back({{"id", f.id},
                        {"check", f.check},
                        {"severity", SeverityName(f.severity)},
                        {"target", f.target},
                        {"title", f.title},
                        {"sent", f.sent},
                        {"received", f.received},
                        {"why", f.why},
                        {"hipaa", f.hipaa},
                        {"fix", f.fix},
                        {"cves", f.cves}});
  }
  j["findings"] = findings;
  j["errors"] = r.errors;
  return j.dump(2) + "\n";
}

std::string RenderText(const Report& r) {
  std::ostringstream o;
  o << r.tool << "  " << r.started << " .. " << r.finished << "\n";
  o << "targets:";
  for (const auto& t : r.targets) o << ' ' << t;
  for (const auto& w : r.web) o << ' ' << w;
  o << "\n";
  for (const auto& s : r.services) {
    o << "  " << s.endpoint << "  " << s.protocol;
    if (s.software.known()) o << "  " << s.software.ToString();
    if (!s.accepted_services.empty()) {
      o << "  accepts:";
      for (std::size_t i = 0; i < s.accepted_services.size(); ++i)
        o << (i ? ", " : " ") << s.accepted_services[i];
    }
    o << "\n";
  }
  o << "\n";
  for (const auto& f : r.findings) {
    std::string sev(SeverityName(f.severity));
    for (auto& ch : sev) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    o << "[" << sev << "] " << f.id << " " << f.check << " - " << f.target << "\n";
    o << "  " << f.title << "\n";
    if (!f.sent.empty()) o << "  sent:     " << f.sent << "\n";
    if (!f.received.empty()) o << "  received: " << f.received << "\n";
    if (f.severity > Severity::kInfo) {
      if (!f.why.empty()) o << "  why:      " << f.why << "\n";
      if (!f.hipaa.empty()) o << "  HIPAA:    " << f.hipaa << "\n";
      if (!f.fix.empty()) o << "  fix:      " << f.fix << "\n";
    }
    if (!f.cves.empty()) {
      o << "  CVEs:    ";
      for (const auto& c : f.cves) o << ' ' << c;
      o << "\n";
    }
    o << "\n";
  }
  for (const auto& e : r.errors) o << "error: " << e << "\n";
  json c = Counts(r);
  o << "summary: " << c["critical"] << " critical, " << c["high"] << " high, " << c["medium"]
    << " medium, " << c["low"] << " low, " << c["info"] << " info; worst "
    << SeverityName(r.Worst()) << "; exit " << r.ExitCode() << "; " << r.connections
    << " connections\n";
  return o.str();
}

std::string Html(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderHtml(const Report& r) {
  std::ostringstream o;
  json c = Counts(r);
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
       "'unsafe-inline'\">"
       "<title>bastion scan report</title><style>"
       "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}"
       "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em "
       ".6em;text-align:left;"
       "vertical-align:top}.sev{font-weight:bold;padding:.1em .5em;border-radius:.3em;color:#fff}"
       ".critical{background:#8b0000}.high{background:#d9480f}.medium{background:#e6a700}.low{"
       "background:#4a7ab5}"
       ".info{background:#777}.finding{border:1px solid #ddd;border-radius:.4em;padding:.6em "
       "1em;margin:1em 0}"
       "dt{font-weight:bold}dd{margin:0 0 .4em 1em}code{background:#f3f3f3}"
       "</style></head><body>\n";
  o << "<h1>PACS exposure scan</h1>\n<p>" << Html(r.tool) << ", " << Html(r.started) << " to "
    << Html(r.finished) << ". Scope: ";
  for (const auto& t : r.targets) o << "<code>" << Html(t) << "</code> ";
  for (const auto& w : r.web) o << "<code>" << Html(w) << "</code> ";
  o << "</p>\n<p>This report contains no patient data: leaks are shown as counts only.</p>\n";
  o << "<h2>Summary</h2>\n<p>Worst finding: <span class=\"sev " << SeverityName(r.Worst()) << "\">"
    << SeverityName(r.Worst()) << "</span></p>\n<table><tr>";
  for (auto s : {"critical", "high", "medium", "low", "info"}) o << "<th>" << s << "</th>";
  o << "</tr><tr>";
  for (auto s : {"critical", "high", "medium", "low", "info"})
    o << "<td>" << c[s].get<int>() << "</td>";
  o << "</tr></table>\n<h2>Services</h2>\n<table><tr><th>endpoint</th><th>protocol</"
       "th><th>software</th>"
       "<th>accepted services</th></tr>\n";
  for (const auto& s : r.services) {
    o << "<tr><td>" << Html(s.endpoint) << "</td><td>" << Html(s.protocol) << "</td><td>"
      << Html(s.software.ToString()) << "</td><td>";
    for (std::size_t i = 0; i < s.accepted_services.size(); ++i)
      o << (i ? ", " : "") << Html(s.accepted_services[i]);
    o << "</td></tr>\n";
  }
  o << "</table>\n<h2>Findings</h2>\n";
  for (const auto& f : r.findings) {
    o << "<div class=\"finding\"><p><span class=\"sev " << SeverityName(f.severity) << "\">"
      << SeverityName(f.severity) << "</span> <b>" << Html(f.id) << " " << Html(f.check)
      << "</b> &mdash; " << Html(f.target) << "</p><p>" << Html(f.title) << "</p><dl>";
    auto row = [&](const char* k, const std::string& v) {
      if (!v.empty()) o << "<dt>" << k << "</dt><dd>" << Html(v) << "</dd>";
    };
    row("Sent", f.sent);
    row("Received", f.received);
    row("Why it matters", f.why);
    row("HIPAA safeguard", f.hipaa);
    row("How to fix", f.fix);
    if (!f.cves.empty()) {
      std::string cves;
      for (const auto& cv : f.cves) cves += (cves.empty() ? "" : ", ") + cv;
      row("CVEs", cves);
    }
    o << "</dl></div>\n";
  }
  if (!r.errors.empty()) {
    o << "<h2>Errors</h2><ul>";
    for (const auto& e : r.errors) o << "<li>" << Html(e) << "</li>";
    o << "</ul>\n";
  }
  o << "</body></html>\n";
  return o.str();
}

std::string SarifLevel(Severity s) {
  switch (s) {
    case Severity::kCritical:
    case Severity::kHigh:
      return "error";
    case Severity::kMedium:
      return "warning";
    case Severity::kLow:
      return "note";
    case Severity::kInfo:
      return "none";
  }
  return "none";
}

std::string RenderSarif(const Report& r) {
  json rules = json::array();
  for (const auto& c : AllChecks())
    rules.push_back({{"id", c.id},
                     {"name", c.name},
                     {"shortDescription", {{"text", c.name}}},
                     {"fullDescription", {{"text", c.why}}},
                     {"help", {{"text", c.fix}}}});
  json results = json::array();
  for (const auto& f : r.findings) {
    results.push_back(
        {{"ruleId", f.id},
         {"level", SarifLevel(f.severity)},
         {"message", {{"text", f.title + (f.received.empty() ? "" : " Received: " + f.received)}}},
         {"locations",
          json::array({{{"physicalLocation", {{"artifactLocation", {{"uri", f.target}}}}}}})},
         {"properties",
          {{"severity", SeverityName(f.severity)}, {"hipaa", f.hipaa}, {"cves", f.cves}}}});
  }
  json j = {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
            {"version", "2.1.0"},
            {"runs", json::array({{{"tool",
                                    {{"driver",
                                      {{"name", "bastion scan"},
                                       {"version", "0.1.0"},
                                       {"informationUri", "docs/scan.md"},
                                       {"rules", rules}}}}},
                                   {"results", results}}})}};
  return j.dump(2) + "\n";
}

}  // namespace

std::string Render(const Report& report, Format format) {
  switch (format) {
    case Format::kText:
      return RenderText(report);
    case Format::kJson:
      return RenderJson(report);
    case Format::kHtml:
      return RenderHtml(report);
    case Format::kSarif:
      return RenderSarif(report);
  }
  return RenderText(report);
}

}  // namespace bastion::scan
