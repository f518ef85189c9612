// Two reports side by side: the same site scanned from inside and from
// outside its network (or before and after a change). Rows are keyed by
// check and port, because the two scans see the site under different
// addresses.
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "scan/knowledge.h"
#include "scan/scan.h"

namespace bastion::scan {
namespace {

using nlohmann::json;

int Rank(const std::string& s) {
  if (s == "critical") return 4;
  if (s == "high") return 3;
  if (s == "medium") return 2;
  if (s == "low") return 1;
  return 0;
}
const char* kNames[] = {"info", "low", "medium", "high", "critical"};

// "10.1.2.3:4242" -> ":4242"; "[::1]:104" -> ":104"; "https://h:8443/x" -> "https:8443"; "self:DIR"
// -> "self".
std::string Where(const std::string& target) {
  auto scheme = target.find("://");
  if (scheme != std::string::npos) {
    std::string s = target.substr(0, scheme);
    std::string rest = target.substr(scheme + 3);
    rest = rest.substr(0, rest.find('/'));
    auto colon = rest.rfind(':');
    bool v6_without_port = !rest.empty() && rest.back() == ']';
    std::string port = colon == std::string::npos || v6_without_port ? (s == "https" ? "443" : "80")
                                                                     : rest.substr(colon + 1);
    return s + ":" + port;
  }
  if (target.rfind("self", 0) == 0) return "self";
  auto colon = target.rfind(':');
  return colon == std::string::npos ? target : target.substr(colon);
}

// "D2" before "D10".
struct ByCheck {
  bool operator()(const std::pair<std::string, std::string>& a,
                  const std::pair<std::string, std::string>& b) const {
    if (a.first != b.first) {
      if (a.first.empty() || b.first.empty() || a.first[0] != b.first[0]) return a.first < b.first;
      int c = CompareVersions(a.first.substr(1), b.first.substr(1));
      if (c != 0) return c < 0;
    }
    return a.second < b.second;
  }
};

struct Cell {
  int worst = -1;  // -1: not reported
  std::string title;
};

}  // namespace

Result<std::string> Compare(const std::string& first_json, const std::string& second_json,
                            const std::string& first_name, const std::string& second_name,
                            bool as_json, int* exit_code) {
  json a = json::parse(first_json, nullptr, false), b = json::parse(second_json, nullptr, false);
  for (const auto* j : {&a, &b})
    if (j->is_discarded() || !j->is_object() || j->value("schema", "") != "bastion-scan/1")
      return Status(Code::kInvalidArgument, "not a bastion-scan/1 JSON report");
  std::map<std::pair<std::string, std::string>, std::pair<Cell, Cell>, ByCheck> rows;
  int worst = 0;
  auto take = [&](const json& report, bool second) {
    for (const auto& f : report["findings"]) {
      std::string id = f.value("id", ""), where = Where(f.value("target", ""));
      int rank = Rank(f.value("severity", "info"));
      worst = std::max(worst, rank);
      auto& row = rows[{id, where}];
      Cell& c = second ? row.second : row.first;
      if (rank > c.worst) {
        c.worst = rank;
        c.title = f.value("title", "");
      }
    }
  };
  take(a, false);
  take(b, true);
  *exit_code = ExitCodeForSeverity(static_cast<Severity>(worst));
  auto name = [](const Cell& c) {
    return c.worst < 0 ? std::string("-") : std::string(kNames[c.worst]);
  };
  if (as_json) {
    json out = {
        {"schema", "bastion-scan-compare/1"}, {"first", first_name}, {"second", second_name}};
    json list = json::array();
    for (const auto& [key, cells] : rows) {
      if (cells.first.worst <= 0 && cells.second.worst <= 0) continue;
      list.push_back({{"id", key.first},
                      {"where", key.second},
                      {"first", name(cells.first)},
                      {"second", name(cells.second)},
                      {"differs", cells.first.worst != cells.second.worst},
                      {"title", cells.second.worst > cells.first.worst ? cells.second.title
                                                                       : cells.first.title}});
    }
    out["rows"] = list;
    return out.dump(2) + "\n";
  }
  std::ostringstream o;
  o << "check  where        " << first_name << " | " << second_name << "\n";
  for (const auto& [key, cells] : rows) {
    if (cells.first.worst <= 0 && cells.second.worst <= 0)
      continue;  // info on both sides: nothing to compare
    std::string mark = cells.first.worst == cells.second.worst ? "  " : "!=";
    std::string id = key.first, where = key.second;
    id.resize(6, ' ');
    where.resize(12, ' ');
    std::string left = name(cells.first);
    left.resize(std::max<std::size_t>(first_name.size(), 8), ' ');
    o << id << " " << where << " " << left << " | " << name(cells.second) << " " << mark << "  "
      << (cells.second.worst > cells.first.worst ? cells.second.title : cells.first.title) << "\n";
  }
  return o.str();
}

}  // namespace bastion::scan
