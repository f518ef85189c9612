#include "security/principal.h"

#include <pwd.h>
#include <unistd.h>

#include "util/text.h"

namespace bastion::security {
namespace {
struct Name {
  Permission p;
  std::string_view name;
};
constexpr Name kNames[] = {{Permission::kEcho, "echo"}, {Permission::kStore, "store"}, {Permission::kFind, "find"},
                           {Permission::kMove, "move"}, {Permission::kGet, "get"},     {Permission::kAdmin, "admin"},
                           {Permission::kReceive, "receive"}, {Permission::kView, "view"},
                           {Permission::kAudit, "audit"}};
// What a node's allow list may name: the DIMSE services, and receiving.
constexpr bool IsNodeService(Permission p) {
  return p == Permission::kEcho || p == Permission::kStore || p == Permission::kFind || p == Permission::kMove ||
         p == Permission::kGet || p == Permission::kReceive;
}
}  // namespace

PermissionSet PermissionSet::All() {
  PermissionSet s;
  for (const auto& n : kNames) s.Add(n.p);
  return s;
}

std::string PermissionSet::NameOf(Permission p) {
  for (const auto& n : kNames)
    if (n.p == p) return std::string(n.name);
  return "unknown";
}

std::vector<std::string> PermissionSet::Names() const {
  std::vector<std::string> out;
  for (const auto& n : kNames)
    if (Has(n.p)) out.emplace_back(n.name);
  return out;
}

std::string PermissionSet::ToString() const {
  std::string out;
  for (const auto& n : Names()) {
    if (!out.empty()) out += ',';
    out += n;
  }
  return out;
}

std::optional<PermissionSet> PermissionSet::Parse(std::string_view list, std::string* bad) {
  PermissionSet s;
  for (const auto& word : Split(list, ',')) {
    bool found = false;
    for (const auto& n : kNames) {
      if (word == n.name && IsNodeService(n.p)) {
        s.Add(n.p);
        found = true;
      }
    }
    if (!found) {
      if (bad) *bad = word;
      return std::nullopt;
    }
  }
  return s;
}

std::string_view Principal::KindName() const {
  switch (kind) {
    case PrincipalKind::kNode: return "node";
    case PrincipalKind::kUser: return "user";
    case PrincipalKind::kToken: return "token";
    case PrincipalKind::kLocalOperator: return "local-operator";
  }
  return "unknown";
}

Principal Principal::LocalOperator() {
  Principal p;
  p.kind = PrincipalKind::kLocalOperator;
  struct passwd* pw = ::getpwuid(::getuid());
  p.id = pw ? pw->pw_name : ("uid " + std::to_string(::getuid()));
  p.permissions = PermissionSet::All();
  return p;
}

}  // namespace bastion::security
