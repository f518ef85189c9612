// STOW-RS (PS3.18 10.5): a multipart/related body of Part 10 objects,
// streamed part by part into the archive's ingest (the same validation,
// durability and audit as C-STORE). Nothing is held whole in memory: each
// part's bytes go to the staged object as they arrive.
#include <spdlog/spdlog.h>

#include "dicom/dicom.h"
#include "util/error_codes.h"
#include "web/app.h"
#include "web/media_type.h"
#include "web/multipart.h"

namespace bastion::web {

namespace {

// Up to this much of a part is held while its file meta group is parsed.
constexpr std::size_t kMaxMetaBytes = 1 << 20;

nlohmann::json Element(std::string_view vr, nlohmann::json value) {
  nlohmann::json e = {{"vr", vr}};
  if (!value.is_null()) e["Value"] = nlohmann::json::array({std::move(value)});
  return e;
}

class StowParts final : public MultipartHandler {
 public:
  StowParts(archive::Archive& archive, const security::Principal& who, std::string study)
      : archive_(archive), who_(who), study_(std::move(study)) {}

  Status OnPartBegin(const PartHeaders& headers) override {
    head_.clear();
    object_.reset();
    skip_ = false;
    const std::string* type = headers.Find("Content-Type");
    if (type != nullptr) {
      auto media = ParseMediaType(*type);
      if (!media.ok() || media->Essence() != "application/dicom") {
        Refuse(Status(Code::kUnsupported, "a part is not application/dicom"));
        skip_ = true;
      }
    }
    return Status::Ok();
  }

  Status OnPartData(std::string_view data) override {
    if (skip_) return Status::Ok();
    if (object_) return Append(data);
    head_.append(data);
    if (head_.size() < 132) return Status::Ok();
    if (head_.compare(128, 4, "DICM") != 0) {
      Refuse(Status(Code::kInvalidArgument, "a part is not a DICOM Part 10 object"));
      skip_ = true;
      return Status::Ok();
    }
    TryBegin(/*final=*/head_.size() >= kMaxMetaBytes);
    return Status::Ok();
  }

  Status OnPartEnd() override {
    if (!skip_ && !object_) TryBegin(/*final=*/true);
    if (object_) Record(archive_.FinishStore(who_, std::move(object_)));
    head_.clear();
    return Status::Ok();
  }

  const nlohmann::json& referenced() const { return referenced_; }
  const nlohmann::json& failed() const { return failed_; }
  int stored() const { return stored_; }
  int warnings() const { return warnings_; }

 private:
  // Once the file meta group is complete: opens the staged object and hands
  // it what followed the meta group. `final`: no more bytes will come for
  // the meta group (the part ended, or it is implausibly large).
  void TryBegin(bool final) {
    auto layout = dicom::ParsePart10Layout(head_);
    if (!layout.ok()) {
      if (final) {
        Refuse(Status(Code::kInvalidArgument, "a part is not a DICOM Part 10 object"));
        skip_ = true;
      }
      return;
    }
    archive::ClaimedIdentity claimed{layout->sop_class_uid, layout->sop_instance_uid, layout->transfer_syntax_uid,
                                     study_};
    auto begun = archive_.BeginStore(who_, claimed);
    if (!begun.ok()) {
      Fail(begun.status(), layout->sop_class_uid, layout->sop_instance_uid);
      skip_ = true;
      return;
    }
    object_ = std::move(*begun);
    std::string rest = head_.substr(static_cast<std::size_t>(layout->dataset_offset));
    head_.clear();
    (void)Append(rest);
  }

  Status Append(std::string_view data) {
    // Bytes over the limit, or that the disk refuses, are counted and dropped
    // by the archive; FinishStore refuses (and audits) the object.
    object_->Append(data.data(), data.size());
    return Status::Ok();
  }

  // A part refused before it reached the archive (so not yet audited there).
  void Refuse(const Status& why) {
    archive_.RecordAccessEvent("instance.store", false, archive::Archive::ActorOf(who_),
                               {{"channel", "stow-rs"}, {"reason", why.ToString()}});
    Fail(why);
  }

  void Fail(const Status& why, const std::string& sop_class = {}, const std::string& sop_instance = {}) {
    nlohmann::json item = nlohmann::json::object();
    if (!sop_class.empty()) item["00081150"] = Element("UI", sop_class);
    if (!sop_instance.empty()) item["00081155"] = Element("UI", sop_instance);
    item["00081197"] = Element("US", InfoFor(why.code()).dimse_status);
    failed_.push_back(std::move(item));
    spdlog::info("stow: a part was not stored: {}", why.message());
  }

  void Record(const archive::StoreResult& r) {
    using archive::StoreOutcome;
    if (r.outcome == StoreOutcome::kRejected ||
        (r.outcome == StoreOutcome::kConflict && !r.warning)) {
      Fail(r.status, r.sop_class_uid, r.sop_instance_uid);
      return;
    }
    nlohmann::json item = {{"00081150", Element("UI", r.sop_class_uid)},
                           {"00081155", Element("UI", r.sop_instance_uid)}};
    if (!r.study_instance_uid.empty() && !r.series_instance_uid.empty())
      item["00081190"] = Element("UR", "/dicom-web/studies/" + r.study_instance_uid + "/series/" +
                                           r.series_instance_uid + "/instances/" + r.sop_instance_uid);
    if (r.warning) {
      item["00081196"] = Element("US", 0xB006);  // elements discarded: the copy already held was kept
      ++warnings_;
    }
    referenced_.push_back(std::move(item));
    ++stored_;
  }

  archive::Archive& archive_;
  const security::Principal& who_;
  const std::string study_;
  std::string head_;
  std::unique_ptr<archive::IncomingObject> object_;
  bool skip_ = false;
  nlohmann::json referenced_ = nlohmann::json::array();
  nlohmann::json failed_ = nlohmann::json::array();
  int stored_ = 0, warnings_ = 0;
};

}  // namespace

Response WebApp::Store(Request& request) {
  std::string study(request.Param("study"));
  if (!study.empty() && !dicom::IsValidUid(study))
    return Response::Problem(400, "Bad Request", "the study UID in the path is not a valid UID");
  auto type = ParseMediaType(request.headers.Get("Content-Type").value_or(""));
  if (!type.ok() || type->Essence() != "multipart/related")
    return Response::Problem(415, "Unsupported Media Type",
                             "send multipart/related; type=\"application/dicom\" with Part 10 objects");
  if (const std::string* part_type = type->Find("type"); part_type != nullptr) {
    auto inner = ParseMediaType(*part_type);
    if (!inner.ok() || inner->Essence() != "application/dicom")
      return Response::Problem(415, "Unsupported Media Type",
                               "only application/dicom parts are accepted (not DICOM JSON/XML with bulk data)");
  }
  auto boundary = BoundaryOf(*type);
  if (!boundary.ok()) return Response::FromStatus(boundary.status());
  const Offer offers[] = {{"application/dicom+json", "", "", false}, {"application/json", "", "", false}};
  const std::vector<std::string> accept_headers = request.headers.All("Accept");
  auto accept = ParseAccept(std::span<const std::string>(accept_headers));
  if (!accept.ok()) return Response::FromStatus(accept.status());
  auto choice = Negotiate(*accept, offers);
  if (!choice) return Response::Problem(406, "Not Acceptable", "the STOW-RS response is application/dicom+json");

  StowParts parts(archive_, *request.principal, study);
  MultipartParser parser(*boundary, parts);
  std::vector<char> buffer(1 << 16);
  Status body_status;
  for (;;) {
    auto n = request.body_reader->Read(buffer.data(), buffer.size());
    if (!n.ok()) {
      body_status = n.status();
      break;
    }
    if (*n == 0) {
      body_status = parser.Finish();
      break;
    }
    if (Status s = parser.Feed(std::string_view(buffer.data(), *n)); !s.ok()) {
      body_status = s;
      break;
    }
  }
  if (!body_status.ok() && parts.stored() == 0 && parts.failed().empty()) {
    // Nothing arrived that could be stored: the body itself is the problem.
    return Response::FromStatus(body_status.code() == Code::kTooLarge ? body_status
                                                                       : Status(Code::kInvalidArgument,
                                                                                body_status.message()));
  }
  nlohmann::json answer = nlohmann::json::object();
  if (!study.empty()) answer["00081190"] = Element("UR", "/dicom-web/studies/" + study);
  if (!parts.referenced().empty()) answer["00081199"] = {{"vr", "SQ"}, {"Value", parts.referenced()}};
  if (!parts.failed().empty()) answer["00081198"] = {{"vr", "SQ"}, {"Value", parts.failed()}};
  int status = 200;
  if (parts.stored() == 0) status = 409;
  else if (!parts.failed().empty() || parts.warnings() > 0 || !body_status.ok()) status = 202;
  Response r = Response::Json(status, answer, offers[choice->index].media_type);
  if (!body_status.ok())
    r.headers.Add("Warning", "299 Bastion \"the body ended early or is malformed; the parts listed were handled\"");
  return r;
}

}  // namespace bastion::web
