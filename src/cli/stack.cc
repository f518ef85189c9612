#include "cli/stack.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>

#include "cli/commands.h"

namespace bastion::cli {

void PrintError(const std::string& message) { std::cerr << "bastion: error: " << message << "\n"; }

int CheckDataOwner(const std::filesystem::path& data) {
  struct stat st {};
  if (::stat(data.c_str(), &st) != 0 || st.st_uid == ::geteuid()) return kExitOk;
  auto name = [](uid_t uid) {
    struct passwd* pw = ::getpwuid(uid);
    return pw ? std::string(pw->pw_name) : "uid " + std::to_string(uid);
  };
  std::string owner = name(st.st_uid);
  PrintError(data.string() + " belongs to " + owner + ", and this is " + name(::geteuid()) +
             ": what this command wrote there would not be readable by `bastion serve` running as " + owner +
             ". Run it as " + owner + ", e.g. sudo -u " + owner + " bastion ...");
  return kExitFailed;
}

Result<Stack> OpenStack(const std::filesystem::path& data) {
  std::error_code ec;
  if (!std::filesystem::exists(ConfigPath(data), ec))
    return Status(Code::kNotFound, data.string() + " is not a Bastion data directory (no bastion.toml); "
                                                   "create one with: bastion init --data " + data.string());
  DataLayout layout(data);
  Stack s;
  BASTION_ASSIGN_OR_RETURN(s.config, LoadConfig(data));
  BASTION_ASSIGN_OR_RETURN(s.catalog, index::OpenSqliteCatalog(layout.catalog()));
  s.blobs = blobs::OpenLocalBlobStore(layout.blobs());
  s.staging = std::make_unique<blobs::StagingArea>(layout.staging());
  BASTION_RETURN_IF_ERROR(s.staging->Prepare());
  BASTION_ASSIGN_OR_RETURN(s.audit, audit::OpenAuditLog(layout.audit()));
  s.nodes = std::make_unique<security::NodeDirectory>(security::NodesPath(data));
  BASTION_RETURN_IF_ERROR(s.nodes->Reload());
  s.users = std::make_unique<security::UserStore>(security::UsersPath(data), security::UsersLockPath(data));
  BASTION_RETURN_IF_ERROR(s.users->Reload());
  s.tokens = std::make_unique<security::TokenStore>(security::TokensPath(data), security::TokensLockPath(data),
                                                    *s.users);
  BASTION_RETURN_IF_ERROR(s.tokens->Reload());
  s.archive = std::make_unique<archive::Archive>(
      s.config, archive::Archive::Dependencies{s.catalog.get(), s.blobs.get(), s.staging.get(), s.audit.get(),
                                               s.nodes.get(), s.users.get(), s.tokens.get()});
  return s;
}

Result<std::unique_ptr<AdminStack>> OpenAdministration(const std::filesystem::path& data) {
  auto a = std::make_unique<AdminStack>();
  BASTION_ASSIGN_OR_RETURN(a->config, LoadConfig(data));
  BASTION_ASSIGN_OR_RETURN(a->audit, audit::OpenAuditLog(DataLayout(data).audit()));
  a->users = std::make_unique<security::UserStore>(security::UsersPath(data), security::UsersLockPath(data));
  BASTION_RETURN_IF_ERROR(a->users->Reload());
  a->tokens = std::make_unique<security::TokenStore>(security::TokensPath(data), security::TokensLockPath(data),
                                                    *a->users);
  BASTION_RETURN_IF_ERROR(a->tokens->Reload());
  a->admin = std::make_unique<archive::Administration>(a->config, *a->users, *a->tokens, *a->audit);
  return a;
}

audit::Actor Operator() {
  auto who = security::Principal::LocalOperator();
  return audit::Actor{"local-operator", who.id, ""};
}

}  // namespace bastion::cli
