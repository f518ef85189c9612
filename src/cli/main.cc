// bastion: the command line. Parsing only; the work is in commands.cc.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "cli/stack.h"
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
  init_cmd->add_option("--https-port", init.https_port, "HTTPS port (web UI, DICOMweb)")->capture_default_str();
  init_cmd->add_option("--https-bind", init.https_bind, "address for HTTPS")->capture_default_str();

  auto* serve_cmd =
      app.add_subcommand("serve", "run the server until SIGTERM/SIGINT (SIGHUP reloads nodes and TLS files)");
  add_data(serve_cmd);

  auto* node_cmd = app.add_subcommand("node", "the registry of DICOM nodes allowed to associate");
  node_cmd->require_subcommand(1);
  cli::NodeAddOptions node;
  auto* node_add = node_cmd->add_subcommand("add", "register a node");
  add_data(node_add);
  node_add->add_option("--ae", node.ae, "its AE title")->required();
  node_add->add_option("--host", node.hosts, "ADDR[,ADDR...]: IP addresses or CIDR ranges it connects from")
      ->required();
  node_add->add_option("--port", node.port, "port it listens on (C-MOVE destination, Storage Commitment reports)");
  node_add->add_option("--tls-cert-sha256", node.tls_cert_sha256,
                       "pin its client certificate (SHA-256 of the DER); implies --tls-only");
  node_add->add_flag("--tls-only", node.tls_only, "refuse this node on the plain DICOM port");
  node_add->add_flag("--require-user", node.require_user,
                     "associations must identify a person (user + password over TLS, or an API token)");
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

  // People and API tokens (docs/cli.md).
  auto* user_cmd = app.add_subcommand("user", "people: accounts, roles and passwords");
  user_cmd->require_subcommand(1);
  cli::UserAddOptions user;
  std::string user_name;
  bool password_stdin = false;
  auto* user_add = user_cmd->add_subcommand("add", "create a user; prints a generated password once");
  add_data(user_add);
  user_add->add_option("name", user.name, "user name: 1-64 letters, digits, . _ - @")->required();
  user_add->add_option("--role", user.role, "admin, reader, uploader or auditor")->required();
  user_add->add_flag("--password-stdin", user.password_stdin, "read the password from stdin instead");
  auto* user_list = user_cmd->add_subcommand("list", "list users (never passwords)");
  add_data(user_list);
  user_list->add_flag("--json", json, "machine-readable output");
  auto* user_disable = user_cmd->add_subcommand("disable", "refuse a user's logins and tokens");
  add_data(user_disable);
  user_disable->add_option("name", user_name, "user name")->required();
  auto* user_enable = user_cmd->add_subcommand("enable", "allow a disabled user again");
  add_data(user_enable);
  user_enable->add_option("name", user_name, "user name")->required();
  auto* user_passwd = user_cmd->add_subcommand("passwd", "set a new password; prints a generated one once");
  add_data(user_passwd);
  user_passwd->add_option("name", user_name, "user name")->required();
  user_passwd->add_flag("--password-stdin", password_stdin, "read the new password from stdin instead");
  std::string new_role;
  auto* user_role = user_cmd->add_subcommand("role", "give a user another role (their sessions end)");
  add_data(user_role);
  user_role->add_option("name", user_name, "user name")->required();
  user_role->add_option("role", new_role, "admin, reader, uploader or auditor")->required();
  bool totp_disable = false;
  auto* user_totp = user_cmd->add_subcommand(
      "totp", "turn on (or re-key) a one-time-code second factor for web logins; prints the secret and an "
              "otpauth:// URI once on stdout. Ends the user's sessions");
  add_data(user_totp);
  user_totp->add_option("name", user_name, "user name")->required();
  user_totp->add_flag("--disable", totp_disable, "remove the second factor instead (the password alone works again)");
  auto* token_cmd = app.add_subcommand("token", "API tokens for scripts");
  token_cmd->require_subcommand(1);
  cli::TokenCreateOptions token;
  auto* token_create = token_cmd->add_subcommand("create", "create a token; prints it, alone, once on stdout");
  add_data(token_create);
  token_create->add_option("--user", token.user, "the user it acts for (with that user's role)")->required();
  token_create->add_option("--expires", token.expires, "lifetime: 12h, 30d, 8w (at most 365d)")->required();
  token_create->add_option("--note", token.note, "what it is for");
  auto* token_list = token_cmd->add_subcommand("list", "list tokens (never secrets)");
  add_data(token_list);
  token_list->add_flag("--json", json, "machine-readable output");
  std::string token_id;
  auto* token_revoke = token_cmd->add_subcommand("revoke", "revoke a token");
  add_data(token_revoke);
  token_revoke->add_option("--id", token_id, "its id (from token list)")->required();

  std::vector<std::string> paths;
  auto* import_cmd = app.add_subcommand("import", "import DICOM files and folders through the archive");
  add_data(import_cmd);
  import_cmd->add_option("paths", paths, "files or folders (recursive)")->required();

  std::string send_to;
  std::vector<std::string> send_studies;
  auto* send_cmd = app.add_subcommand("send", "send stored studies to a registered node (C-STORE)");
  add_data(send_cmd);
  send_cmd->add_option("--to", send_to, "AE title of a node registered with --port and --allow receive")->required();
  send_cmd->add_option("studies", send_studies, "Study Instance UIDs")->required();

  cli::QueryOptions query;
  auto* query_cmd = app.add_subcommand("query", "query a registered node (C-FIND)");
  add_data(query_cmd);
  query_cmd->add_option("--remote", query.remote, "AE title of a node registered with --port")->required();
  query_cmd->add_option("--level", query.level, "PATIENT, STUDY, SERIES or IMAGE")->capture_default_str();
  query_cmd->add_option("--model", query.model, "study (Study Root) or patient (Patient Root)")->capture_default_str();
  query_cmd->add_option("-k,--key", query.keys, "Keyword=value to match, or Keyword alone to have it returned");
  query_cmd->add_option("--max", query.max_results, "stop (C-CANCEL) after this many matches")->capture_default_str();
  query_cmd->add_flag("--json", query.json, "machine-readable output");

  auto* audit_cmd = app.add_subcommand("audit", "the audit trail");
  audit_cmd->require_subcommand(1);
  auto* audit_verify = audit_cmd->add_subcommand("verify", "check the audit log's hash chain");
  add_data(audit_verify);

  auto* tls_cmd = app.add_subcommand("tls", "the server's TLS certificate: show it, renew it from the local CA");
  tls_cmd->require_subcommand(1);
  auto* tls_show = tls_cmd->add_subcommand("show", "the server certificate and client CA: names, SHA-256, expiry");
  add_data(tls_show);
  tls_show->add_flag("--json", json, "machine-readable output");
  cli::TlsRenewOptions renew;
  auto* tls_renew = tls_cmd->add_subcommand(
      "renew", "issue the server certificate again from the local CA; a running server takes it up");
  add_data(tls_renew);
  tls_renew->add_option("--days", renew.days, "validity in days, 1 to 825")->capture_default_str();
  tls_renew->add_option("--add-host", renew.add_hosts, "NAME|ADDR[,...]: more DNS names or IP addresses for it")
      ->delimiter(',');
  tls_renew->add_flag("--new-key", renew.new_key, "with a new private key instead of the current one");

  auto* web_cmd = app.add_subcommand("web", "the HTTPS front end");
  web_cmd->require_subcommand(1);
  auto* web_routes = web_cmd->add_subcommand("routes", "every route and who may use it (the one route table)");
  web_routes->add_flag("--json", json, "machine-readable output");

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
  if (const std::string& dir = !data.empty() ? data : scan.data; !dir.empty())
    if (int rc = cli::CheckDataOwner(dir); rc != cli::kExitOk) return rc;
  if (*serve_cmd) return cli::Serve(data);
  if (*node_add) return cli::NodeAdd(data, node);
  if (*node_list) return cli::NodeList(data, json);
  if (*node_remove) return cli::NodeRemove(data, ae);
  if (*node_cert) return cli::NodeCert(data, ae, out);
  if (*user_add) return cli::UserAdd(data, user);
  if (*user_list) return cli::UserList(data, json);
  if (*user_disable) return cli::UserSetDisabled(data, user_name, true);
  if (*user_enable) return cli::UserSetDisabled(data, user_name, false);
  if (*user_passwd) return cli::UserPasswd(data, user_name, password_stdin);
  if (*user_totp) return cli::UserTotp(data, user_name, totp_disable);
  if (*user_role) return cli::UserRole(data, user_name, new_role);
  if (*token_create) return cli::TokenCreate(data, token);
  if (*token_list) return cli::TokenList(data, json);
  if (*token_revoke) return cli::TokenRevoke(data, token_id);
  if (*import_cmd) {
    std::vector<std::filesystem::path> p(paths.begin(), paths.end());
    return cli::Import(data, p);
  }
  if (*audit_verify) return cli::AuditVerify(data);
  if (*send_cmd) return cli::Send(data, send_to, send_studies);
  if (*query_cmd) return cli::Query(data, query);
  if (*scan_cmd) return cli::Scan(scan);
  if (*web_routes) return cli::WebRoutes(json);
  if (*tls_show) return cli::TlsShow(data, json);
  if (*tls_renew) return cli::TlsRenew(data, renew);
  std::cerr << app.help();
  return cli::kExitUsage;
}
