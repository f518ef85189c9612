// `bastion send` and `bastion query`: Bastion as a DICOM client towards a
// registered node, for the operator moving studies between sites.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/stack.h"
#include "dimse/scu.h"
#include "util/text.h"

namespace bastion::cli {
namespace {

std::string HexStatus(std::uint16_t status) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04x", status);
  return buf;
}

}  // namespace

int Send(const std::filesystem::path& data, const std::string& to, const std::vector<std::string>& study_uids) {
  auto stack = OpenStack(data);
  if (!stack.ok()) {
    PrintError(stack.status().ToString());
    return kExitFailed;
  }
  archive::QueryRequest request;
  request.model = dicom::InformationModel::kStudyRoot;
  request.level = dicom::QueryLevel::kStudy;
  std::string list;
  for (const auto& uid : study_uids) list += (list.empty() ? "" : "\\") + std::string(Trim(uid));
  request.keys.emplace_back(dicom::Attribute::kStudyInstanceUID, list);
  auto plan = stack->archive->PlanRetrieve(security::Principal::LocalOperator(), archive::RetrieveKind::kMove, request, to);
  if (!plan.ok()) {
    PrintError(plan.status().message() + (plan.status().code() == Code::kNotFound
                                              ? " (register it: bastion node add --ae " + to +
                                                    " --host ADDR --port PORT --allow receive,...)"
                                              : ""));
    return plan.status().code() == Code::kInvalidArgument ? kExitUsage : kExitFailed;
  }
  if (plan->instances.empty()) {
    PrintError("no instances of those studies are stored here");
    stack->archive->RecordRetrieve(security::Principal::LocalOperator(), *plan, {});
    return kExitFailed;
  }
  std::vector<std::pair<std::string, std::string>> kinds;
  for (const auto& row : plan->instances)
    kinds.emplace_back(row.Get(dicom::Attribute::kSOPClassUID), row.transfer_syntax_uid);
  const auto& d = *plan->destination;
  archive::RetrieveOutcome outcome;
  auto assoc = dimse::ClientAssociation::OpenForStore(
      stack->config, dimse::RemoteNode{d.ae_title, d.endpoint, d.tls, d.tls_cert_sha256}, kinds);
  if (!assoc.ok()) {
    outcome.error = assoc.status().message();
    outcome.failed = static_cast<int>(plan->instances.size());
    stack->archive->RecordRetrieve(security::Principal::LocalOperator(), *plan, outcome);
    PrintError(assoc.status().message());
    return kExitFailed;
  }
  for (const auto& row : plan->instances) {
    dimse::OutgoingObject object;
    object.sop_class_uid = row.Get(dicom::Attribute::kSOPClassUID);
    object.sop_instance_uid = row.Get(dicom::Attribute::kSOPInstanceUID);
    object.transfer_syntax_uid = row.transfer_syntax_uid;
    dimse::SendResult sent;
    auto path = stack->archive->LocalObjectPath(row);
    if (path.ok()) {
      object.file = *path;
      sent = (*assoc)->Store(object);
    } else {
      sent.error = path.status().message();
    }
    if (sent.ok && sent.status == 0) {
      ++outcome.completed;
      outcome.sent_uids.push_back(object.sop_instance_uid);
    } else if (sent.ok && (sent.status & 0xF000) == 0xB000) {
      ++outcome.warning;
      outcome.sent_uids.push_back(object.sop_instance_uid);
    } else {
      ++outcome.failed;
      outcome.failed_uids.push_back(object.sop_instance_uid);
      std::cerr << "bastion: instance " << object.sop_instance_uid << " not sent: "
                << (sent.ok ? "status 0x" + HexStatus(sent.status) : sent.error) << "\n";
    }
  }
  (*assoc)->Release();
  stack->archive->RecordRetrieve(security::Principal::LocalOperator(), *plan, outcome);
  std::cout << "sent " << outcome.completed << " instances to " << d.ae_title << " (" << d.endpoint.ToString()
            << ")";
  if (outcome.warning) std::cout << ", " << outcome.warning << " with warnings";
  if (outcome.failed) std::cout << ", " << outcome.failed << " failed";
  std::cout << "\n";
  return outcome.failed == 0 ? kExitOk : kExitPartial;
}

int Query(const std::filesystem::path& data, const QueryOptions& options) {
  auto stack = OpenStack(data);
  if (!stack.ok()) {
    PrintError(stack.status().ToString());
    return kExitFailed;
  }
  auto level = dicom::ParseQueryLevel(ToUpper(options.level));
  if (!level) {
    PrintError("--level must be PATIENT, STUDY, SERIES or IMAGE");
    return kExitUsage;
  }
  dicom::InformationModel model;
  if (options.model == "study") model = dicom::InformationModel::kStudyRoot;
  else if (options.model == "patient") model = dicom::InformationModel::kPatientRoot;
  else {
    PrintError("--model must be study or patient");
    return kExitUsage;
  }
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& k : options.keys) {
    auto eq = k.find('=');
    keys.emplace_back(std::string(Trim(k.substr(0, eq))), eq == std::string::npos ? "" : k.substr(eq + 1));
  }
  auto node = stack->nodes->Find(options.remote);
  if (!node) {
    PrintError("'" + Printable(options.remote) + "' is not a registered node (bastion node list)");
    return kExitUsage;
  }
  std::optional<archive::Destination> to = archive::DestinationOf(*node);
  if (!to) {
    PrintError("node " + node->ae_title + " has no single address and port registered");
    return kExitUsage;
  }
  nlohmann::json asked = nlohmann::json::object();
  for (const auto& [k, v] : keys) asked[k] = v;
  nlohmann::json details = {{"remote", node->ae_title},
                            {"level", dicom::QueryLevelName(*level)},
                            {"keys", asked}};
  auto assoc = dimse::ClientAssociation::OpenForFind(
      stack->config,
      dimse::RemoteNode{to->ae_title, to->endpoint, to->tls, to->tls_cert_sha256}, model);
  if (!assoc.ok()) {
    details["error"] = assoc.status().message();
    (void)stack->audit->Append(audit::AuditEvent{"remote.query", false, Operator(), details});
    PrintError(assoc.status().message());
    return kExitFailed;
  }
  auto answer = (*assoc)->Find(model, *level, keys, options.max_results);
  (*assoc)->Release();
  if (!answer.ok()) {
    details["error"] = answer.status().message();
    (void)stack->audit->Append(audit::AuditEvent{"remote.query", false, Operator(), details});
    PrintError(answer.status().message());
    return answer.status().code() == Code::kInvalidArgument ? kExitUsage : kExitFailed;
  }
  details["matches"] = answer->matches.size();
  details["status"] = "0x" + HexStatus(answer->final_status);
  // What the operator is shown is recorded first (it is PHI from another site).
  if (Status s = stack->audit->Append(audit::AuditEvent{"remote.query", true, Operator(), details}); !s.ok()) {
    PrintError("not shown: the audit log cannot be written: " + s.ToString());
    return kExitFailed;
  }
  if (options.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& m : answer->matches) {
      nlohmann::json row = nlohmann::json::object();
      for (const auto& [k, v] : m) row[k] = v;
      out.push_back(row);
    }
    std::cout << out.dump(2) << "\n";
  } else {
    for (std::size_t i = 0; i < answer->matches.size(); ++i) {
      std::cout << "# match " << (i + 1) << "\n";
      for (const auto& [k, v] : answer->matches[i]) std::cout << "  " << k << " = " << v << "\n";
    }
    std::cout << answer->matches.size() << " matches";
  }
  bool ok = answer->final_status == 0 || answer->final_status == 0xFE00;
  if (!options.json) {
    std::cout << " (final status 0x" << HexStatus(answer->final_status);
    if (!answer->error_comment.empty()) std::cout << ": " << answer->error_comment;
    std::cout << ")\n";
  }
  return ok ? kExitOk : kExitPartial;
}

}  // namespace bastion::cli
