// bastion: the command line. Parsing only; the work is in commands.cc.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "dicom/dicom.h"

int main(int argc, char** argv) {
  using namespace bastion;
  CLI::App app{"Bastion: a secure-by-default PACS. See docs/cli.md."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bastion 0.1.0");
  std::string data;
  auto add_data = [&](CLI::App* cmd) {
    cmd->add_option("--data", data, "data directory (made by `bastion init`)")->required();
  };

  InitOptions init;
  auto* init_cmd = app.add_subcommand("init", "create a data directory, configuration and local CA");
  add_data(init_cmd);
  init_cmd->add_option("--ae", init.ae_title, "our AE title")->capture_default_str();
  init_cmd->add_option("--tls-port", init.tls_port, "DICOM over TLS port")->capture_default_str();
  init_cmd->add_option("--plain-port", init.plain_port, "plain DICOM port")->capture_default_str();
  init_cmd->add_option("--tls-bind", init.tls_bind, "address for DICOM over TLS")->capture_default_str();
  init_cmd->add_option("--plain-bind", init.plain_bind, "address for plain DICOM (keep it loopback)")
      ->capture_default_str();

  auto* serve_cmd = app.add_subcommand("serve", "run the server until SIGTERM/SIGINT (SIGHUP reloads nodes)");
  add_data(serve_cmd);

  auto* node_cmd = app.add_subcommand("node", "the registry of DICOM nodes allowed to associate");
  node_cmd->require_subcommand(1);
  cli::NodeAddOptions node;
  auto* node_add = node_cmd->add_subcommand("add", "register a node");
  add_data(node_add);
  node_add->add_option("--ae", node.ae, "its AE title")->required();
  node_add->add_option("--host", node.hosts, "ADDR[,ADDR...]: IP addresses or CIDR ranges it connects from")
      ->required();
  node_add->add_option("--port", node.port, "port it listens on (C-MOVE destination)");
  node_add->add_option("--tls-cert-sha256", node.tls_cert_sha256,
                       "pin its client certificate (SHA-256 of the DER); implies --tls-only");
  node_add->add_flag("--tls-only", node.tls_only, "refuse this node on the plain DICOM port");
  node_add->add_option("--allow", node.allow, "SERVICE[,SERVICE...]: echo,store,find,move,get")->required();
  bool json = false;
  auto* node_list = node_cmd->add_subcommand("list", "list registered nodes");
  add_data(node_list);
  node_list->add_flag("--json", json, "machine-readable output");
  std::string ae;
  auto* node_remove = node_cmd->add_subcommand("remove", "remove a node");
  add_data(node_remove);
  node_remove->add_option("--ae", ae, "its AE title")->required();
  std::string out;
  auto* node_cert = node_cmd->add_subcommand("cert", "issue a client certificate for a node from the local CA");
  add_data(node_cert);
  node_cert->add_option("--ae", ae, "its AE title")->required();
  node_cert->add_option("--out", out, "directory for key.pem, cert.pem, ca.pem")->required();

  std::vector<std::string> paths;
  auto* import_cmd = app.add_subcommand("import", "import DICOM files and folders through the archive");
  add_data(import_cmd);
  import_cmd->add_option("paths", paths, "files or folders (recursive)")->required();

  auto* audit_cmd = app.add_subcommand("audit", "the audit trail");
  audit_cmd->require_subcommand(1);
  auto* audit_verify = audit_cmd->add_subcommand("verify", "check the audit log's hash chain");
  add_data(audit_verify);

  cli::ScanArgs scan;
  auto* scan_cmd = app.add_subcommand("scan", "check a PACS (any vendor's) for open doors: see docs/scan.md");
  scan_cmd->add_option("targets", scan.targets, "host names, addresses or CIDR ranges of your own network");
  scan_cmd->add_option("--ports", scan.ports, "DICOM ports to try (default 104,11112,4242,2761,2762)");
  scan_cmd->add_option("--ae", scan.ae, "the server's AE title (called AE), if you know it");
  scan_cmd->add_option("--known-ae", scan.known_ae, "AE[@HOST]: a calling AE the server has registered (for HOST)");
  scan_cmd->add_option("--web", scan.web, "base URLs of web front ends (http://host:8042 ...)");
  scan_cmd->add_option("--canary", scan.canary, "Study Instance UID of a canary study for the retrieve proofs");
  scan_cmd->add_flag("--allow-write", scan.allow_write, "send a synthetic, clearly marked instance (C-STORE, STOW)");
  scan_cmd->add_option("--format", scan.format, "text|json|html|sarif")->capture_default_str();
  scan_cmd->add_option("--out", scan.out, "write the report to FILE instead of stdout");
  scan_cmd->add_flag("--self", scan.self, "check this Bastion's own configuration (with --data) and listeners");
  scan_cmd->add_option("--data", scan.data, "data directory for --self");
  scan_cmd->add_option("--max-hosts", scan.max_hosts, "refuse target ranges with more addresses (at most 4096)")
      ->capture_default_str();
  scan_cmd->add_option("--rate", scan.rate, "connection attempts per second at most")->capture_default_str();
  scan_cmd->add_option("--timeout", scan.timeout, "seconds to wait for an answer")->capture_default_str();
  scan_cmd->add_option("--move-ae", scan.move_ae, "AE title of the scanner's own C-MOVE destination")
      ->capture_default_str();
  scan_cmd->add_option("--move-port", scan.move_port, "port of the scanner's own C-MOVE destination (default: any)");
  scan_cmd->add_option("--ca", scan.ca, "CA certificates (PEM) to verify servers' certificates against");
  scan_cmd->add_option("--tls-cert", scan.tls_cert, "client certificate (PEM) for DICOM TLS ports that require one");
  scan_cmd->add_option("--tls-key", scan.tls_key, "its private key (PEM, unencrypted)");
  scan_cmd->add_option("--compare", scan.compare, "FIRST.json SECOND.json: two JSON reports side by side")
      ->expected(2);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : cli::kExitUsage;
  }

  dicom::QuietToolkitLogs();
  if (*init_cmd) return cli::Init(data, init);
  if (*serve_cmd) return cli::Serve(data);
  if (*node_add) return cli::NodeAdd(data, node);
  if (*node_list) return cli::NodeList(data, json);
  if (*node_remove) return cli::NodeRemove(data, ae);
  if (*node_cert) return cli::NodeCert(data, ae, out);
  if (*import_cmd) {
    std::vector<std::filesystem::path> p(paths.begin(), paths.end());
    return cli::Import(data, p);
  }
  if (*audit_verify) return cli::AuditVerify(data);
  if (*scan_cmd) return cli::Scan(scan);
  std::cerr << app.help();
  return cli::kExitUsage;
}
