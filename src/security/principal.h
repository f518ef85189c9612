// Who is asking, and what they may do. Knows nothing of DICOM networking or HTTP.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bastion::security {

// One permission per DIMSE service / HTTP operation (DESIGN: security model).
enum class Permission : std::uint32_t {
  kEcho = 1u << 0,
  kStore = 1u << 1,
  kFind = 1u << 2,
  kMove = 1u << 3,
  kGet = 1u << 4,
  kAdmin = 1u << 5,
  kReceive = 1u << 6,  // may be sent instances (C-MOVE destination, `bastion send`)
  kView = 1u << 7,     // web viewer / WADO: see images and metadata
  kAudit = 1u << 8,    // read the audit log
};

class PermissionSet {
 public:
  PermissionSet() = default;
  static PermissionSet All();
  bool Has(Permission p) const { return (bits_ & static_cast<std::uint32_t>(p)) != 0; }
  void Add(Permission p) { bits_ |= static_cast<std::uint32_t>(p); }
  bool empty() const { return bits_ == 0; }
  bool operator==(const PermissionSet&) const = default;
  // "echo,store"
  std::string ToString() const;
  std::vector<std::string> Names() const;
  static std::string NameOf(Permission p);  // "find"
  // Parses a node's allow list, "echo,store,find,move,get,receive" (admin,
  // view and audit are for people, never granted to a node); nullopt names
  // the first unknown word in `bad`.
  static std::optional<PermissionSet> Parse(std::string_view list, std::string* bad = nullptr);

 private:
  std::uint32_t bits_ = 0;
};

enum class PrincipalKind { kNode, kUser, kToken, kLocalOperator };

struct Principal {
  PrincipalKind kind = PrincipalKind::kNode;
  std::string id;       // AE title, user name, token id, OS user name
  std::string user;     // the person behind it: the user name for kUser and the token's owner for kToken
  std::string address;  // network peer, when there is one
  std::string via_node; // the DICOM node (AE title) a person works through, when identified on an association
  PermissionSet permissions;

  bool May(Permission p) const { return permissions.Has(p); }
  std::string_view KindName() const;

  // Someone with shell access to the data directory (the CLI): they can read
  // every file anyway, so they may do everything, and it is audited as them.
  static Principal LocalOperator();
};

}  // namespace bastion::security
