#include <sys/stat.h>
#include <unistd.h>

#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "archive/admin.h"
#include "cli/commands.h"
#include "cli/stack.h"
#include "security/nodes.h"
#include "security/pki.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/text.h"

namespace bastion::cli {
namespace {

// Node registry changes through archive::Administration (the code the web
// UI's admin pages use): under the registry lock, checked against the
// self-check, saved atomically, audited as the local operator.
int ChangeNodes(const std::filesystem::path& data,
                const std::function<Status(archive::Administration&, const audit::Actor&)>& change) {
  auto opened = OpenAdministration(data);
  if (!opened.ok()) {
    PrintError(opened.status().ToString());
    return kExitFailed;
  }
  if (Status s = change(*(*opened)->admin, Operator()); !s.ok()) {
    PrintError(s.code() == Code::kIo || s.code() == Code::kInternal ? s.ToString() : s.message());
    return s.code() == Code::kInvalidArgument   ? kExitUsage
           : s.code() == Code::kInsecureConfig ? kExitInsecureConfig
                                                : kExitFailed;
  }
  return kExitOk;
}

}  // namespace

int NodeAdd(const std::filesystem::path& data, const NodeAddOptions& o) {
  archive::Administration::NodeSpec spec{o.ae, o.hosts, o.port, o.allow, o.tls_cert_sha256, o.tls_only,
                                         o.require_user};
  auto node = archive::Administration::MakeNode(spec);
  if (!node.ok()) {
    PrintError(node.status().message());
    return kExitUsage;
  }
  int rc = ChangeNodes(data, [&](archive::Administration& admin, const audit::Actor& by) {
    return admin.AddNode(by, *node);
  });
  if (rc == kExitOk)
    std::cout << "registered node " << node->ae_title << " (" << node->permissions.ToString() << ")"
              << (node->tls_only ? ", TLS only" : "")
              << (node->require_user_identity ? ", a person's identity required" : "") << "\n";
  return rc;
}

int NodeRemove(const std::filesystem::path& data, const std::string& ae) {
  std::string title(Trim(ae));
  int rc = ChangeNodes(data, [&](archive::Administration& admin, const audit::Actor& by) {
    return admin.RemoveNode(by, title);
  });
  if (rc == kExitOk) std::cout << "removed node " << title << "\n";
  return rc;
}

int NodeList(const std::filesystem::path& data, bool json) {
  auto nodes = security::LoadNodes(security::NodesPath(data));
  if (!nodes.ok()) {
    PrintError(nodes.status().ToString());
    return kExitFailed;
  }
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& n : *nodes) {
      nlohmann::json hosts = nlohmann::json::array();
      for (const auto& h : n.hosts) hosts.push_back(h.ToString());
      out.push_back({{"ae_title", n.ae_title}, {"hosts", hosts}, {"port", n.port}, {"tls_only", n.tls_only},
                     {"tls_cert_sha256", n.tls_cert_sha256}, {"require_user_identity", n.require_user_identity},
                     {"allow", n.permissions.Names()}});
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  if (nodes->empty()) {
    std::cout << "no nodes registered: nobody may associate\n";
    return kExitOk;
  }
  std::cout << std::left << std::setw(17) << "AE" << std::setw(32) << "HOSTS" << std::setw(7) << "PORT"
            << std::setw(10) << "TRANSPORT" << "ALLOW\n";
  for (const auto& n : *nodes) {
    std::string hosts;
    for (const auto& h : n.hosts) hosts += (hosts.empty() ? "" : ",") + h.ToString();
    std::string transport = !n.tls_cert_sha256.empty() ? "tls+pin" : n.tls_only ? "tls" : "tls,plain";
    std::cout << std::left << std::setw(17) << n.ae_title << std::setw(32) << hosts << std::setw(7)
              << (n.port ? std::to_string(n.port) : "-") << std::setw(10) << transport << n.permissions.ToString()
              << (n.require_user_identity ? " (user identity required)" : "") << "\n";
  }
  return kExitOk;
}

int NodeCert(const std::filesystem::path& data, const std::string& ae, const std::filesystem::path& out) {
  std::string title(Trim(ae));
  auto stack = OpenStack(data);
  if (!stack.ok()) {
    PrintError(stack.status().ToString());
    return kExitFailed;
  }
  auto node = stack->nodes->Find(title);
  if (!node) {
    PrintError("no node with AE title " + title + " is registered; register it first with bastion node add");
    return kExitFailed;
  }
  // A node Bastion connects to presents it as a server too: a destination
  // (allowed `receive`), and a modality with a listener (a port) that takes
  // the reports of its Storage Commitment requests.
  bool receives = node->permissions.Has(security::Permission::kReceive) ||
                  (node->port != 0 && node->permissions.Has(security::Permission::kStore));
  DataLayout layout(data);
  auto ca_cert = ReadFile(layout.tls() / "ca.pem", 1 << 20);
  auto ca_key = ReadFile(layout.tls() / "ca-key.pem", 1 << 20);
  if (!ca_cert.ok() || !ca_key.ok()) {
    PrintError("the local CA (tls/ca.pem, tls/ca-key.pem) is not readable; sites with their own PKI issue node "
               "certificates there");
    return kExitFailed;
  }
  auto cert = security::IssueCertificate(
      *ca_cert, *ca_key, title,
      receives ? security::CertificateUse::kClientAndServer : security::CertificateUse::kClient, {}, {}, 825);
  if (!cert.ok()) {
    PrintError(cert.status().ToString());
    return kExitFailed;
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    PrintError("cannot create " + out.string() + ": " + ec.message());
    return kExitFailed;
  }
  for (const auto& [name, contents, mode] : {std::tuple{"key.pem", cert->private_key_pem, 0600},
                                             std::tuple{"cert.pem", cert->certificate_pem, 0644},
                                             std::tuple{"ca.pem", *ca_cert, 0644}}) {
    if (Status s = WriteFileAtomic(out / name, contents, mode); !s.ok()) {
      PrintError(s.ToString());
      return kExitFailed;
    }
  }
  if (Status s = stack->audit->Append(audit::AuditEvent{"node.cert", true, Operator(),
                                                        {{"ae_title", title}, {"cert_sha256", cert->sha256}}});
      !s.ok()) {
    PrintError(s.ToString());
    return kExitFailed;
  }
  std::cout << "wrote " << (out / "key.pem").string() << ", cert.pem, ca.pem for node " << title << "\n"
            << (receives ? "it may receive, so it presents the certificate as a TLS server too (C-MOVE, bastion send)\n"
                         : "")
            << "certificate SHA-256: " << cert->sha256 << "\n"
            << "use with DCMTK: +tls " << (out / "key.pem").string() << " " << (out / "cert.pem").string()
            << " +cf " << (out / "ca.pem").string() << "\n";
  return kExitOk;
}

int Import(const std::filesystem::path& data, const std::vector<std::filesystem::path>& paths) {
  InitLogging("error");
  auto stack = OpenStack(data);
  if (!stack.ok()) {
    PrintError(stack.status().ToString());
    return kExitFailed;
  }
  std::vector<std::filesystem::path> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (auto it = std::filesystem::recursive_directory_iterator(p, ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file()) files.push_back(it->path());
    } else if (std::filesystem::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      PrintError(p.string() + " is not a file or folder");
      return kExitUsage;
    }
  }
  std::sort(files.begin(), files.end());
  auto who = security::Principal::LocalOperator();
  bool tty = ::isatty(STDERR_FILENO);
  int stored = 0, duplicates = 0, conflicts = 0;
  std::vector<std::pair<std::string, std::string>> rejected;
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto r = stack->archive->ImportFile(who, files[i]);
    switch (r.outcome) {
      case archive::StoreOutcome::kStored: ++stored; break;
      case archive::StoreOutcome::kDuplicate: ++duplicates; break;
      case archive::StoreOutcome::kConflict:
        if (r.warning) ++conflicts;
        else rejected.emplace_back(files[i].string(), r.status.message());
        break;
      case archive::StoreOutcome::kRejected: rejected.emplace_back(files[i].string(), r.status.message()); break;
    }
    if (tty) {
      int width = 30;
      int filled = static_cast<int>((i + 1) * width / files.size());
      std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] " << (i + 1) << "/"
                << files.size() << std::flush;
    }
  }
  if (tty && !files.empty()) std::cerr << "\n";
  std::cout << "stored " << stored << ", duplicates " << duplicates << ", rejected " << rejected.size();
  if (conflicts) std::cout << ", conflicts " << conflicts << " (different content under a known SOP Instance UID; first copy kept)";
  std::cout << "\n";
  for (const auto& [file, why] : rejected) std::cout << "rejected " << file << ": " << why << "\n";
  return rejected.empty() ? kExitOk : kExitPartial;
}

int AuditVerify(const std::filesystem::path& data) {
  DataLayout layout(data);
  auto report = audit::VerifyAuditLog(layout.audit());
  if (!report.ok()) {
    PrintError(report.status().ToString());
    return kExitFailed;
  }
  if (report->intact) {
    std::cout << "audit chain intact: " << report->records << " records\n";
    return kExitOk;
  }
  std::cout << "audit chain BROKEN at line " << report->broken_line << " (after " << report->records
            << " good records): " << report->reason << "\n";
  return kExitAuditBroken;
}

}  // namespace bastion::cli
