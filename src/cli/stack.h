// Opens the storage and access layers over a data directory, wired into an
// Archive: what `serve` and `import` share. Data directory layout: docs/cli.md.
#pragma once

#include <filesystem>
#include <memory>

#include "archive/admin.h"
#include "archive/archive.h"
#include "audit/audit_log.h"
#include "blobs/blob_store.h"
#include "index/catalog.h"
#include "security/nodes.h"
#include "util/config.h"

namespace bastion::cli {

struct DataLayout {
  explicit DataLayout(std::filesystem::path root) : root(std::move(root)) {}
  std::filesystem::path root;
  std::filesystem::path catalog() const { return root / "catalog" / "catalog.db"; }
  std::filesystem::path blobs() const { return root / "blobs"; }
  std::filesystem::path staging() const { return root / "blobs" / "staging"; }
  std::filesystem::path audit() const { return root / "audit" / "audit.log"; }
  std::filesystem::path tls() const { return root / "tls"; }
  std::filesystem::path serve_lock() const { return root / ".serve.lock"; }
  std::filesystem::path clean_marker() const { return root / ".clean-shutdown"; }
};

struct Stack {
  Config config;
  std::unique_ptr<index::Catalog> catalog;
  std::unique_ptr<blobs::BlobStore> blobs;
  std::unique_ptr<blobs::StagingArea> staging;
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<security::NodeDirectory> nodes;
  std::unique_ptr<security::UserStore> users;
  std::unique_ptr<security::TokenStore> tokens;
  std::unique_ptr<archive::Archive> archive;
};

Result<Stack> OpenStack(const std::filesystem::path& data);

// What the change commands (`user`, `token`, `node`) work through:
// archive::Administration, the code behind the web UI's admin pages, over
// this data directory's stores and audit log (no catalog, no blobs).
struct AdminStack {
  Config config;
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<security::UserStore> users;
  std::unique_ptr<security::TokenStore> tokens;
  std::unique_ptr<archive::Administration> admin;
};

Result<std::unique_ptr<AdminStack>> OpenAdministration(const std::filesystem::path& data);

// The audit actor of every CLI change: the OS user at the shell.
audit::Actor Operator();

// Prints "bastion: error: ..." on stderr.
void PrintError(const std::string& message);

// Every command but init works on the data directory as its owner: files it
// writes there (nodes.json, users.json, certificates, catalog journals,
// objects) would otherwise belong to another user, typically root after a
// `sudo bastion ...`, and `bastion serve`, running as the owner, could not
// read them. Prints why and returns kExitFailed if this process is not the
// owner; kExitOk otherwise, or if DIR does not exist (the command says so).
int CheckDataOwner(const std::filesystem::path& data);

}  // namespace bastion::cli
