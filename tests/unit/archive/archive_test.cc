#include "archive/archive.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../temp_dir.h"
#include "dicom/dicom.h"
#include "util/crypto.h"

namespace bastion::archive {
namespace {

using security::Permission;
using security::Principal;
using test::kPydicomTestFiles;
using test::TempDir;

const std::filesystem::path kCtSmall = kPydicomTestFiles / "CT_small.dcm";
const std::filesystem::path kMrSmall = kPydicomTestFiles / "MR_small.dcm";
// Same SOP Instance UID as MR_small.dcm, different bytes (implicit VR).
const std::filesystem::path kMrSmallImplicit = kPydicomTestFiles / "MR_small_implicit.dcm";
const std::string kCtSopInstance = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322";
const std::string kCtImageStorage = "1.2.840.10008.5.1.4.1.1.2";

Principal Uploader() {
  Principal p;
  p.kind = security::PrincipalKind::kNode;
  p.id = "CT1";
  p.address = "10.1.2.3";
  p.permissions.Add(Permission::kEcho);
  p.permissions.Add(Permission::kStore);
  return p;
}

Principal Reader() {
  Principal p;
  p.kind = security::PrincipalKind::kNode;
  p.id = "VIEWER";
  p.address = "10.1.2.9";
  p.permissions.Add(Permission::kEcho);
  p.permissions.Add(Permission::kFind);
  p.permissions.Add(Permission::kGet);
  return p;
}

// Replaces every occurrence of `from` with `to` (same length, so no DICOM
// length field changes).
std::string ReplaceAll(std::string bytes, const std::string& from, const std::string& to) {
  EXPECT_EQ(from.size(), to.size());
  std::size_t at = 0;
  int n = 0;
  while ((at = bytes.find(from, at)) != std::string::npos) {
    bytes.replace(at, from.size(), to);
    at += to.size();
    ++n;
  }
  EXPECT_GT(n, 0) << from;
  return bytes;
}

std::string ReplaceFirst(std::string bytes, const std::string& from, const std::string& to) {
  EXPECT_EQ(from.size(), to.size());
  std::size_t at = bytes.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) bytes.replace(at, from.size(), to);
  return bytes;
}

// What Bastion stores for a Part 10 file: its own file meta, then the dataset
// exactly as received.
std::string StoredBytesOf(const std::string& file_bytes) {
  auto layout = dicom::ParsePart10Layout(file_bytes);
  EXPECT_TRUE(layout.ok()) << layout.status().ToString();
  if (!layout.ok()) return {};
  auto meta = dicom::BuildFileMeta(layout->sop_class_uid, layout->sop_instance_uid, layout->transfer_syntax_uid);
  EXPECT_TRUE(meta.ok()) << meta.status().ToString();
  if (!meta.ok()) return {};
  return *meta + file_bytes.substr(layout->dataset_offset);
}

std::string KeyOf(const std::string& bytes) { return HexEncode(Sha256::Of(bytes)); }

// The local store, with as much free space as the test says.
class FreeSpaceOverride final : public blobs::BlobStore {
 public:
  explicit FreeSpaceOverride(std::unique_ptr<blobs::BlobStore> inner) : inner_(std::move(inner)) {}
  Result<blobs::BlobKey> Put(blobs::StagedObject& staged) override { return inner_->Put(staged); }
  Status Flush() override { return inner_->Flush(); }
  Result<std::unique_ptr<blobs::BlobReader>> Open(const blobs::BlobKey& key) override { return inner_->Open(key); }
  Result<bool> Exists(const blobs::BlobKey& key) override { return inner_->Exists(key); }
  Status Remove(const blobs::BlobKey& key) override { return inner_->Remove(key); }
  Status ForEach(const std::function<Status(const blobs::BlobKey&)>& visit) override { return inner_->ForEach(visit); }
  std::optional<std::filesystem::path> LocalPath(const blobs::BlobKey& key) const override {
    return inner_->LocalPath(key);
  }
  Result<std::uint64_t> AvailableBytes() override { return available.load(); }

  std::atomic<std::uint64_t> available{0};

 private:
  std::unique_ptr<blobs::BlobStore> inner_;
};

class ArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kCtSmall)) GTEST_SKIP() << "pydicom test files not installed";
    config_.data_dir = dir_.path();
    config_.dicom.ae_title = "BASTION";
    auto audit = audit::OpenAuditLog(audit_path_);
    ASSERT_TRUE(audit.ok()) << audit.status().ToString();
    audit_ = std::move(audit).value();
    nodes_ = std::make_unique<security::NodeDirectory>(security::NodesPath(dir_.path()));
    OpenStorage();
  }

  void TearDown() override {
    if (IsSkipped()) return;
    archive_.reset();
    // Every rejected or stored object's staged file is gone.
    EXPECT_TRUE(test::FilesIn(staging_dir_).empty()) << "staging files left behind";
    auto report = audit::VerifyAuditLog(audit_path_);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->intact) << report->reason << " at line " << report->broken_line;
  }

  // A fresh catalog (in memory unless a path is given) over the blob directory.
  void OpenStorage(const std::optional<std::filesystem::path>& catalog_file = std::nullopt) {
    archive_.reset();
    auto catalog = catalog_file ? index::OpenSqliteCatalog(*catalog_file) : index::NewMemoryCatalog();
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
    blobs_ = blobs::OpenLocalBlobStore(dir_ / "blobs");
    staging_ = std::make_unique<blobs::StagingArea>(staging_dir_);
    ASSERT_TRUE(staging_->Prepare().ok());
    Rebuild();
  }

  // A new Archive over the same storage (after a config change).
  void Rebuild() {
    archive_ = std::make_unique<Archive>(
        config_, Archive::Dependencies{catalog_.get(), blobs_.get(), staging_.get(), audit_.get(), nodes_.get()});
  }

  // From now on the blob store reports `bytes` free.
  FreeSpaceOverride* OverrideFreeSpace(std::uint64_t bytes) {
    auto wrapped = std::make_unique<FreeSpaceOverride>(std::move(blobs_));
    FreeSpaceOverride* raw = wrapped.get();
    raw->available = bytes;
    blobs_ = std::move(wrapped);
    Rebuild();
    return raw;
  }

  // Sends a dataset in 4 KiB pieces, as DIMSE does.
  static void AppendAll(IncomingObject& object, const std::string& dataset) {
    for (std::size_t pos = 0; pos < dataset.size(); pos += 4096) {
      std::string_view piece = std::string_view(dataset).substr(pos, 4096);
      object.Append(piece.data(), piece.size());
    }
  }

  std::filesystem::path WriteFile(const std::string& name, const std::string& bytes) {
    auto p = dir_ / name;
    test::WriteBytes(p, bytes);
    return p;
  }

  std::vector<std::string> BlobKeys() {
    std::vector<std::string> keys;
    EXPECT_TRUE(blobs_
                    ->ForEach([&](const blobs::BlobKey& k) {
                      keys.push_back(k.hex());
                      return Status::Ok();
                    })
                    .ok());
    return keys;
  }

  std::int64_t Instances() {
    auto c = catalog_->Counts();
    EXPECT_TRUE(c.ok());
    return c.ok() ? c->instances : -1;
  }

  nlohmann::json LastAuditRecord() {
    auto lines = test::ReadLines(audit_path_);
    EXPECT_FALSE(lines.empty());
    return lines.empty() ? nlohmann::json() : nlohmann::json::parse(lines.back());
  }

  std::vector<nlohmann::json> AuditRecords() {
    std::vector<nlohmann::json> out;
    for (const auto& l : test::ReadLines(audit_path_)) out.push_back(nlohmann::json::parse(l));
    return out;
  }

  void ExpectRejected(const StoreResult& r, Code code) {
    EXPECT_EQ(r.outcome, StoreOutcome::kRejected);
    EXPECT_EQ(r.status.code(), code) << r.status.ToString();
    EXPECT_FALSE(r.warning);
  }

  // The dataset part of a Part 10 file, and the identity its meta claims.
  static std::pair<ClaimedIdentity, std::string> SplitFile(const std::string& bytes) {
    auto layout = dicom::ParsePart10Layout(bytes);
    EXPECT_TRUE(layout.ok());
    ClaimedIdentity claimed{layout->sop_class_uid, layout->sop_instance_uid, layout->transfer_syntax_uid};
    return {claimed, bytes.substr(layout->dataset_offset)};
  }

  TempDir dir_;
  std::filesystem::path audit_path_ = dir_ / "audit.log";
  std::filesystem::path staging_dir_ = dir_ / "blobs" / "staging";
  Config config_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<security::NodeDirectory> nodes_;
  std::unique_ptr<index::Catalog> catalog_;
  std::unique_ptr<blobs::BlobStore> blobs_;
  std::unique_ptr<blobs::StagingArea> staging_;
  std::unique_ptr<Archive> archive_;
};

TEST_F(ArchiveTest, ImportStoresThenDuplicate) {
  StoreResult first = archive_->ImportFile(Uploader(), kCtSmall);
  ASSERT_EQ(first.outcome, StoreOutcome::kStored) << first.status.ToString();
  EXPECT_TRUE(first.status.ok());
  EXPECT_FALSE(first.warning);
  EXPECT_EQ(first.sop_instance_uid, kCtSopInstance);
  EXPECT_EQ(first.sop_class_uid, kCtImageStorage);

  // Bit-preserving: our file meta, then the dataset exactly as it was.
  std::string expected = StoredBytesOf(test::ReadBytes(kCtSmall));
  auto key = catalog_->FindBlobKey(kCtSopInstance);
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(key->has_value());
  EXPECT_EQ(**key, KeyOf(expected));
  auto path = blobs_->LocalPath(*blobs::BlobKey::FromHex(**key));
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(test::ReadBytes(*path), expected);
  auto counts = catalog_->Counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->patients, 1);
  EXPECT_EQ(counts->studies, 1);
  EXPECT_EQ(counts->series, 1);
  EXPECT_EQ(counts->instances, 1);

  StoreResult second = archive_->ImportFile(Uploader(), kCtSmall);
  EXPECT_EQ(second.outcome, StoreOutcome::kDuplicate) << second.status.ToString();
  EXPECT_TRUE(second.status.ok());
  EXPECT_FALSE(second.warning);
  EXPECT_EQ(Instances(), 1);
  EXPECT_EQ(BlobKeys().size(), 1u);

  auto records = AuditRecords();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["type"], "instance.store");
  EXPECT_EQ(records[0]["outcome"], "success");
  EXPECT_EQ(records[0]["details"]["outcome"], "stored");
  EXPECT_EQ(records[0]["details"]["sop_instance_uid"], kCtSopInstance);
  EXPECT_EQ(records[0]["details"]["patient_id"], "1CT1");
  EXPECT_EQ(records[0]["actor"]["id"], "CT1");
  EXPECT_EQ(records[1]["details"]["outcome"], "duplicate");
  EXPECT_EQ(records[1]["outcome"], "success");
}

TEST_F(ArchiveTest, ImportSeveralStudies) {
  // Explicit VR, JPEG 2000, RLE, a waveform, deflated.
  for (const char* f : {"CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm", "waveform_ecg.dcm",
                        "image_dfl.dcm"}) {
    StoreResult r = archive_->ImportFile(Uploader(), kPydicomTestFiles / f);
    EXPECT_EQ(r.outcome, StoreOutcome::kStored) << f << ": " << r.status.ToString();
  }
  EXPECT_EQ(Instances(), 6);
  EXPECT_EQ(BlobKeys().size(), 6u);
}

TEST_F(ArchiveTest, RealFileWhoseMetaAndDatasetDisagreeIsFiledUnderTheDataset) {
  // pydicom's rtplan.dcm: Media Storage SOP Instance UID 1.2.999..., SOP Instance UID 1.2.777...
  StoreResult r = archive_->ImportFile(Uploader(), kPydicomTestFiles / "rtplan.dcm");
  ASSERT_EQ(r.outcome, StoreOutcome::kStored) << r.status.ToString();
  EXPECT_EQ(r.sop_instance_uid, "1.2.777.777.77.7.7777.7777.20030903150023");
  EXPECT_TRUE(catalog_->FindBlobKey("1.2.777.777.77.7.7777.7777.20030903150023")->has_value());
  EXPECT_FALSE(catalog_->FindBlobKey("1.2.999.999.99.9.9999.9999.20030903150023")->has_value());
}

TEST_F(ArchiveTest, TruncatedFileIsRejected) {
  std::string bytes = test::ReadBytes(kCtSmall);
  auto file = WriteFile("truncated.dcm", bytes.substr(0, bytes.size() - 1000));
  StoreResult r = archive_->ImportFile(Uploader(), file);
  ExpectRejected(r, Code::kInvalidArgument);
  EXPECT_EQ(Instances(), 0);
  EXPECT_TRUE(BlobKeys().empty());
}

TEST_F(ArchiveTest, DimseStoreOfATruncatedDatasetIsRejected) {
  // An association that drops mid-object must not leave a stored half.
  auto [claimed, dataset] = SplitFile(test::ReadBytes(kCtSmall));
  auto incoming = archive_->BeginStore(Uploader(), claimed);
  ASSERT_TRUE(incoming.ok());
  (*incoming)->Append(dataset.data(), dataset.size() - 1000);
  ExpectRejected(archive_->FinishStore(Uploader(), std::move(*incoming)), Code::kInvalidArgument);
  EXPECT_TRUE(BlobKeys().empty());
}

TEST_F(ArchiveTest, PrincipalWithoutStorePermissionIsRefusedAndAudited) {
  StoreResult r = archive_->ImportFile(Reader(), kCtSmall);
  ExpectRejected(r, Code::kPermissionDenied);
  EXPECT_EQ(Instances(), 0);
  EXPECT_TRUE(BlobKeys().empty());
  nlohmann::json rec = LastAuditRecord();
  EXPECT_EQ(rec["type"], "instance.store");
  EXPECT_EQ(rec["outcome"], "failure");
  EXPECT_EQ(rec["actor"]["id"], "VIEWER");
  EXPECT_EQ(rec["actor"]["kind"], "node");
  EXPECT_NE(rec["details"]["reason"].get<std::string>().find("permission_denied"), std::string::npos) << rec.dump();
}

TEST_F(ArchiveTest, ImportTrustsTheDatasetWhenTheMetaHeaderIsStale) {
  // Only the file meta's copy of the SOP Instance UID differs. Import sends
  // what storescu would: the dataset, under the dataset's own identity, with
  // a meta header Bastion rebuilds.
  std::string bytes = test::ReadBytes(kCtSmall);
  std::string stale_uid = kCtSopInstance.substr(0, kCtSopInstance.size() - 1) + "9";
  std::string stale = ReplaceFirst(bytes, kCtSopInstance, stale_uid);
  ASSERT_EQ(dicom::ParsePart10Layout(stale)->sop_instance_uid, stale_uid);
  auto file = WriteFile("stale-meta.dcm", stale);
  StoreResult r = archive_->ImportFile(Uploader(), file);
  ASSERT_EQ(r.outcome, StoreOutcome::kStored) << r.status.ToString();
  EXPECT_EQ(r.sop_instance_uid, kCtSopInstance);
  EXPECT_FALSE(catalog_->FindBlobKey(stale_uid)->has_value());
  ASSERT_TRUE(catalog_->FindBlobKey(kCtSopInstance)->has_value());
  // The stored meta carries the dataset's UID: it is the same object as the
  // clean file, so importing that is a duplicate.
  std::string stored = test::ReadBytes(*blobs_->LocalPath(*blobs::BlobKey::FromHex(**catalog_->FindBlobKey(kCtSopInstance))));
  EXPECT_EQ(dicom::ParsePart10Layout(stored)->sop_instance_uid, kCtSopInstance);
  EXPECT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kDuplicate);
  EXPECT_EQ(BlobKeys().size(), 1u);
}

TEST_F(ArchiveTest, DimseStoreWhoseDatasetUidDiffersFromTheRequestIsRejected) {
  // Over the network the C-STORE request's Affected SOP Instance UID must
  // match the dataset.
  auto [claimed, dataset] = SplitFile(test::ReadBytes(kCtSmall));
  claimed.sop_instance_uid = kCtSopInstance.substr(0, kCtSopInstance.size() - 1) + "9";
  auto incoming = archive_->BeginStore(Uploader(), claimed);
  ASSERT_TRUE(incoming.ok());
  (*incoming)->Append(dataset.data(), dataset.size());
  ExpectRejected(archive_->FinishStore(Uploader(), std::move(*incoming)), Code::kInvalidArgument);
  EXPECT_EQ(Instances(), 0);
  EXPECT_TRUE(BlobKeys().empty());
  EXPECT_EQ(LastAuditRecord()["outcome"], "failure");
}

TEST_F(ArchiveTest, OverMaxObjectBytesIsTooLarge) {
  config_.storage.max_object_bytes = 1024;
  Rebuild();
  StoreResult r = archive_->ImportFile(Uploader(), kCtSmall);
  ExpectRejected(r, Code::kTooLarge);
  EXPECT_EQ(Instances(), 0);
  EXPECT_TRUE(BlobKeys().empty());
  nlohmann::json rec = LastAuditRecord();
  EXPECT_EQ(rec["outcome"], "failure");
  EXPECT_NE(rec["details"]["reason"].get<std::string>().find("too_large"), std::string::npos);
}

TEST_F(ArchiveTest, GarbageIsRejectedAndLeavesNothing) {
  std::string garbage;
  for (int i = 0; i < 10000; ++i) garbage.push_back(static_cast<char>((i * 7919) % 256));
  auto file = WriteFile("garbage.dcm", garbage);
  StoreResult r = archive_->ImportFile(Uploader(), file);
  ExpectRejected(r, Code::kInvalidArgument);
  EXPECT_EQ(Instances(), 0);
  EXPECT_TRUE(BlobKeys().empty());
  EXPECT_TRUE(test::FilesIn(staging_dir_).empty());
  EXPECT_EQ(LastAuditRecord()["outcome"], "failure");
}

TEST_F(ArchiveTest, Part10PreambleWithGarbageDatasetIsRejected) {
  // A valid file meta followed by bytes DCMTK cannot parse as a dataset.
  auto meta = dicom::BuildFileMeta(kCtImageStorage, "1.2.3.4", "1.2.840.10008.1.2.1");
  ASSERT_TRUE(meta.ok());
  std::string garbage(5000, '\xff');
  auto file = WriteFile("bad-dataset.dcm", *meta + garbage);
  StoreResult r = archive_->ImportFile(Uploader(), file);
  EXPECT_EQ(r.outcome, StoreOutcome::kRejected);
  EXPECT_FALSE(r.status.ok());
  EXPECT_EQ(Instances(), 0);
  EXPECT_TRUE(BlobKeys().empty());
}

TEST_F(ArchiveTest, MissingFileIsRejected) {
  StoreResult r = archive_->ImportFile(Uploader(), dir_ / "nope.dcm");
  ExpectRejected(r, Code::kNotFound);
}

TEST_F(ArchiveTest, NonStorageSopClassIsUnsupported) {
  std::string made_up = "1.2.840.10008.5.1.4.1.9.2";  // same length as CT Image Storage, not a storage class
  ASSERT_FALSE(dicom::IsStorageSopClass(made_up));
  auto file = WriteFile("not-storage.dcm", ReplaceAll(test::ReadBytes(kCtSmall), kCtImageStorage, made_up));
  StoreResult r = archive_->ImportFile(Uploader(), file);
  ExpectRejected(r, Code::kUnsupported);
  EXPECT_EQ(Instances(), 0);
  EXPECT_TRUE(BlobKeys().empty());
}

TEST_F(ArchiveTest, ConflictKeepFirstWarnsAndDropsTheSecondCopy) {
  config_.storage.on_conflict = ConflictPolicy::kKeepFirst;
  Rebuild();
  ASSERT_EQ(archive_->ImportFile(Uploader(), kMrSmall).outcome, StoreOutcome::kStored);
  std::string first_key = **catalog_->FindBlobKey(SplitFile(test::ReadBytes(kMrSmall)).first.sop_instance_uid);

  StoreResult r = archive_->ImportFile(Uploader(), kMrSmallImplicit);
  EXPECT_EQ(r.outcome, StoreOutcome::kConflict);
  EXPECT_TRUE(r.warning);
  EXPECT_EQ(r.status.code(), Code::kConflict);

  std::string second_key = KeyOf(StoredBytesOf(test::ReadBytes(kMrSmallImplicit)));
  ASSERT_NE(second_key, first_key);
  EXPECT_EQ(Instances(), 1);
  EXPECT_EQ(**catalog_->FindBlobKey(r.sop_instance_uid), first_key);
  auto keys = BlobKeys();
  ASSERT_EQ(keys.size(), 1u) << "the second copy was kept";
  EXPECT_EQ(keys[0], first_key);
  EXPECT_FALSE(*blobs_->Exists(*blobs::BlobKey::FromHex(second_key)));

  nlohmann::json rec = LastAuditRecord();
  EXPECT_EQ(rec["details"]["outcome"], "conflict");
  EXPECT_EQ(rec["details"]["kept_blob"], first_key);
  EXPECT_EQ(rec["outcome"], "success");
}

TEST_F(ArchiveTest, ConflictRejectFailsAndDropsTheSecondCopy) {
  config_.storage.on_conflict = ConflictPolicy::kReject;
  Rebuild();
  ASSERT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  std::string first_key = **catalog_->FindBlobKey(kCtSopInstance);

  // Same UIDs, one pixel byte different.
  std::string bytes = test::ReadBytes(kCtSmall);
  bytes.back() = static_cast<char>(bytes.back() ^ 0x01);
  auto file = WriteFile("ct-changed.dcm", bytes);
  StoreResult r = archive_->ImportFile(Uploader(), file);
  EXPECT_EQ(r.outcome, StoreOutcome::kConflict);
  EXPECT_FALSE(r.warning);
  EXPECT_EQ(r.status.code(), Code::kConflict);

  EXPECT_EQ(Instances(), 1);
  EXPECT_EQ(**catalog_->FindBlobKey(kCtSopInstance), first_key);
  auto keys = BlobKeys();
  ASSERT_EQ(keys.size(), 1u) << "the second copy was kept";
  EXPECT_EQ(keys[0], first_key);
  EXPECT_FALSE(*blobs_->Exists(*blobs::BlobKey::FromHex(KeyOf(StoredBytesOf(bytes)))));

  nlohmann::json rec = LastAuditRecord();
  EXPECT_EQ(rec["details"]["outcome"], "conflict");
  EXPECT_EQ(rec["outcome"], "failure");
}

TEST_F(ArchiveTest, DimseStorePathStoresTheSameBytesAsImport) {
  auto [claimed, dataset] = SplitFile(test::ReadBytes(kCtSmall));
  auto incoming = archive_->BeginStore(Uploader(), claimed);
  ASSERT_TRUE(incoming.ok()) << incoming.status().ToString();
  for (std::size_t pos = 0; pos < dataset.size(); pos += 1000) {
    std::string_view piece = std::string_view(dataset).substr(pos, 1000);
    (*incoming)->Append(piece.data(), piece.size());
  }
  EXPECT_EQ((*incoming)->dataset_bytes(), dataset.size());
  EXPECT_FALSE((*incoming)->over_limit());
  StoreResult r = archive_->FinishStore(Uploader(), std::move(*incoming));
  ASSERT_EQ(r.outcome, StoreOutcome::kStored) << r.status.ToString();
  EXPECT_EQ(**catalog_->FindBlobKey(kCtSopInstance), KeyOf(StoredBytesOf(test::ReadBytes(kCtSmall))));
  // Received over the network or imported from a file: one stored object.
  EXPECT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kDuplicate);
  EXPECT_EQ(BlobKeys().size(), 1u);
}

TEST_F(ArchiveTest, DimseStoreRefusedWithoutPermission) {
  auto [claimed, dataset] = SplitFile(test::ReadBytes(kCtSmall));
  auto incoming = archive_->BeginStore(Reader(), claimed);
  ASSERT_FALSE(incoming.ok());
  EXPECT_EQ(incoming.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(LastAuditRecord()["outcome"], "failure");
}

TEST_F(ArchiveTest, DimseStoreOverTheLimitIsDrainedAndRefused) {
  config_.storage.max_object_bytes = 1024;
  Rebuild();
  auto [claimed, dataset] = SplitFile(test::ReadBytes(kCtSmall));
  auto incoming = archive_->BeginStore(Uploader(), claimed);
  ASSERT_TRUE(incoming.ok());
  AppendAll(**incoming, dataset);
  EXPECT_TRUE((*incoming)->over_limit());
  EXPECT_EQ((*incoming)->dataset_bytes(), dataset.size());
  StoreResult r = archive_->FinishStore(Uploader(), std::move(*incoming));
  ExpectRejected(r, Code::kTooLarge);
  EXPECT_TRUE(BlobKeys().empty());
}

TEST_F(ArchiveTest, StoreUnderTheFreeSpaceReserveIsRefusedAndAudited) {
  config_.storage.min_free_mib = 1024;
  FreeSpaceOverride* space = OverrideFreeSpace(1000ull << 20);
  auto [claimed, dataset] = SplitFile(test::ReadBytes(kCtSmall));
  auto incoming = archive_->BeginStore(Uploader(), claimed);
  ASSERT_FALSE(incoming.ok());
  EXPECT_EQ(incoming.status().code(), Code::kNoSpace);
  const std::string& why = incoming.status().message();
  EXPECT_NE(why.find("1000 MiB free"), std::string::npos) << why;
  EXPECT_NE(why.find("min_free_mib"), std::string::npos) << why;
  // A modality shows 64 characters of it (Error Comment): they say what is wrong.
  EXPECT_NE(why.substr(0, 64).find("disk nearly full"), std::string::npos) << why;
  nlohmann::json rec = LastAuditRecord();
  EXPECT_EQ(rec["type"], "instance.store");
  EXPECT_EQ(rec["outcome"], "failure");
  EXPECT_EQ(rec["details"]["sop_instance_uid"], kCtSopInstance);
  EXPECT_NE(rec["details"]["reason"].get<std::string>().find("insufficient_storage"), std::string::npos);
  ExpectRejected(archive_->ImportFile(Uploader(), kCtSmall), Code::kNoSpace);
  EXPECT_TRUE(BlobKeys().empty());
  EXPECT_EQ(Instances(), 0);

  // Just over the reserve is not enough once short: no flipping at the edge.
  space->available = 1100ull << 20;
  ExpectRejected(archive_->ImportFile(Uploader(), kCtSmall), Code::kNoSpace);
  // An eighth more than the reserve was freed: objects are taken again, without a restart.
  space->available = 1152ull << 20;
  EXPECT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  // And while not short, the reserve itself is the line.
  space->available = 1024ull << 20;
  EXPECT_EQ(archive_->ImportFile(Uploader(), kMrSmall).outcome, StoreOutcome::kStored);
}

TEST_F(ArchiveTest, ObjectThatLeavesLessThanTheReserveIsRefusedOnceReceived) {
  config_.storage.min_free_mib = 1024;
  FreeSpaceOverride* space = OverrideFreeSpace(2048ull << 20);
  auto [claimed, dataset] = SplitFile(test::ReadBytes(kCtSmall));
  auto incoming = archive_->BeginStore(Uploader(), claimed);
  ASSERT_TRUE(incoming.ok()) << incoming.status().ToString();
  AppendAll(**incoming, dataset);
  space->available = 1023ull << 20;  // its bytes (and others') took the disk under the reserve
  ExpectRejected(archive_->FinishStore(Uploader(), std::move(*incoming)), Code::kNoSpace);
  EXPECT_TRUE(BlobKeys().empty());
  EXPECT_EQ(Instances(), 0);
  EXPECT_EQ(LastAuditRecord()["outcome"], "failure");
}

TEST_F(ArchiveTest, NoReserveWhenMinFreeIsZero) {
  config_.storage.min_free_mib = 0;
  OverrideFreeSpace(0);
  EXPECT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
}

// A write that fails while the bytes arrive (a full disk: ENOSPC; here the
// file size limit's EFBIG) is no reason to abort the association: the rest
// is drained, the sender gets a refusal, and nothing is left behind.
TEST_F(ArchiveTest, AWriteFailureWhileReceivingIsDrainedAndRefused) {
  auto [claimed, dataset] = SplitFile(test::ReadBytes(kCtSmall));
  ASSERT_GT(dataset.size(), 32768u);
  auto incoming = archive_->BeginStore(Uploader(), claimed);
  ASSERT_TRUE(incoming.ok()) << incoming.status().ToString();
  {
    test::FileSizeLimit limit(16384);
    AppendAll(**incoming, dataset);
  }
  EXPECT_FALSE((*incoming)->write_error().ok());
  EXPECT_EQ((*incoming)->dataset_bytes(), dataset.size());
  StoreResult r = archive_->FinishStore(Uploader(), std::move(*incoming));
  ExpectRejected(r, Code::kIo);
  EXPECT_NE(r.status.message().find("receiving the object"), std::string::npos) << r.status.ToString();
  EXPECT_TRUE(BlobKeys().empty());
  EXPECT_EQ(Instances(), 0);
  EXPECT_EQ(LastAuditRecord()["outcome"], "failure");

  // Sent again with room, it is stored whole.
  auto again = archive_->BeginStore(Uploader(), claimed);
  ASSERT_TRUE(again.ok());
  AppendAll(**again, dataset);
  ASSERT_EQ(archive_->FinishStore(Uploader(), std::move(*again)).outcome, StoreOutcome::kStored);
  std::string expected = StoredBytesOf(test::ReadBytes(kCtSmall));
  EXPECT_EQ(BlobKeys(), std::vector<std::string>{KeyOf(expected)});
}

TEST_F(ArchiveTest, DimseStoreWithAClaimThatDoesNotMatchTheDataset) {
  auto [claimed, dataset] = SplitFile(test::ReadBytes(kCtSmall));
  claimed.sop_class_uid = "1.2.840.10008.5.1.4.1.1.4";  // says MR, sends CT
  auto incoming = archive_->BeginStore(Uploader(), claimed);
  ASSERT_TRUE(incoming.ok());
  (*incoming)->Append(dataset.data(), dataset.size());
  ExpectRejected(archive_->FinishStore(Uploader(), std::move(*incoming)), Code::kInvalidArgument);
  EXPECT_TRUE(BlobKeys().empty());
}

TEST_F(ArchiveTest, DimseStoreWithAMalformedClaimedUid) {
  auto [claimed, dataset] = SplitFile(test::ReadBytes(kCtSmall));
  claimed.sop_instance_uid = "1.2.03";
  auto incoming = archive_->BeginStore(Uploader(), claimed);
  ASSERT_TRUE(incoming.ok());
  (*incoming)->Append(dataset.data(), dataset.size());
  ExpectRejected(archive_->FinishStore(Uploader(), std::move(*incoming)), Code::kInvalidArgument);
}

TEST_F(ArchiveTest, DimseStoreOfAnEmptyDataset) {
  auto [claimed, dataset] = SplitFile(test::ReadBytes(kCtSmall));
  auto incoming = archive_->BeginStore(Uploader(), claimed);
  ASSERT_TRUE(incoming.ok());
  ExpectRejected(archive_->FinishStore(Uploader(), std::move(*incoming)), Code::kInvalidArgument);
}

TEST_F(ArchiveTest, ConcurrentStoresShareCommits) {
  // 24 distinct instances (SOP Instance UID rewritten in meta and dataset).
  std::string bytes = test::ReadBytes(kCtSmall);
  std::vector<std::filesystem::path> files;
  for (int i = 0; i < 24; ++i) {
    std::string suffix = std::to_string(10000 + i);
    std::string uid = kCtSopInstance.substr(0, kCtSopInstance.size() - suffix.size()) + suffix;
    files.push_back(WriteFile("ct" + std::to_string(i) + ".dcm", ReplaceAll(bytes, kCtSopInstance, uid)));
  }
  std::atomic<int> stored{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = static_cast<std::size_t>(t); i < files.size(); i += 4)
        if (archive_->ImportFile(Uploader(), files[i]).outcome == StoreOutcome::kStored) ++stored;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(stored.load(), 24);
  EXPECT_EQ(Instances(), 24);
  auto counts = catalog_->Counts();
  EXPECT_EQ(counts->series, 1);
  EXPECT_EQ(BlobKeys().size(), 24u);
  EXPECT_EQ(AuditRecords().size(), 24u);
}

TEST_F(ArchiveTest, InMemoryStores) {
  auto catalog = index::NewMemoryCatalog();
  ASSERT_TRUE(catalog.ok());
  catalog_ = std::move(catalog).value();
  blobs_ = blobs::NewMemoryBlobStore();
  Rebuild();
  ASSERT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  EXPECT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kDuplicate);
  std::string expected = StoredBytesOf(test::ReadBytes(kCtSmall));
  auto reader = blobs_->Open(*blobs::BlobKey::FromHex(KeyOf(expected)));
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::string got;
  std::vector<char> buf(8192);
  for (;;) {
    auto n = (*reader)->Read(buf);
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    got.append(buf.data(), *n);
  }
  EXPECT_EQ(got, expected);
}

TEST_F(ArchiveTest, RecoverReindexesObjectsMissingFromTheCatalog) {
  ASSERT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  ASSERT_EQ(archive_->ImportFile(Uploader(), kMrSmall).outcome, StoreOutcome::kStored);
  std::string ct_key = **catalog_->FindBlobKey(kCtSopInstance);

  // A crash after the objects were placed but before their rows committed:
  // the same blob directory under a catalog that has never seen them.
  OpenStorage();
  ASSERT_EQ(Instances(), 0);
  test::WriteBytes(staging_dir_ / "0123456789abcdef01234567.part", "left by a process that died");

  auto report = archive_->Recover(/*full_scan=*/true);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->full_scan);
  EXPECT_EQ(report->staging_leftovers_removed, 1);
  EXPECT_EQ(report->objects_reindexed, 2);
  EXPECT_EQ(report->objects_removed, 0);
  EXPECT_EQ(report->catalog_rows_missing_blob, 0);
  EXPECT_EQ(Instances(), 2);
  EXPECT_EQ(**catalog_->FindBlobKey(kCtSopInstance), ct_key);
  EXPECT_TRUE(test::FilesIn(staging_dir_).empty());

  // Idempotent.
  auto again = archive_->Recover(true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->objects_reindexed, 0);
  EXPECT_EQ(Instances(), 2);
  // The re-indexed instance is now a duplicate, not a new store.
  EXPECT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kDuplicate);

  nlohmann::json rec = LastAuditRecord();
  EXPECT_EQ(rec["type"], "instance.store");  // the duplicate import
  bool saw_recovery = false;
  for (const auto& r : AuditRecords())
    if (r["type"] == "recovery") saw_recovery = true;
  EXPECT_TRUE(saw_recovery);
}

TEST_F(ArchiveTest, RecoverLeavesAnObjectWhoseBytesDoNotMatchItsKey) {
  // A crash between the link and the flush can leave a name over bytes that
  // never all reached the disk. Recovery must not index such an object.
  ASSERT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  std::string ct_key = **catalog_->FindBlobKey(kCtSopInstance);
  auto path = *blobs_->LocalPath(*blobs::BlobKey::FromHex(ct_key));
  std::string bytes = test::ReadBytes(path);
  // A block of pixel data that never reached the disk: still a well-formed
  // object (CT_small.dcm ends with 32 KB of pixels and 126 bytes of padding).
  bytes.replace(bytes.size() - 5000, 4096, 4096, '\0');
  test::WriteBytes(path, bytes);
  ASSERT_TRUE(dicom::ReadHeader(path).ok());
  OpenStorage();
  ASSERT_EQ(Instances(), 0);

  auto report = archive_->Recover(/*full_scan=*/true);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->objects_reindexed, 0);
  EXPECT_EQ(Instances(), 0);
  EXPECT_TRUE(std::filesystem::exists(path));  // left for an operator to look at
}

TEST_F(ArchiveTest, RecoverIntoASqliteCatalogSurvivesReopen) {
  ASSERT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  OpenStorage(dir_ / "catalog.db");
  auto report = archive_->Recover(true);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->objects_reindexed, 1);
  OpenStorage(dir_ / "catalog.db");
  EXPECT_EQ(Instances(), 1);
}

TEST_F(ArchiveTest, QuickRecoverOnlyRemovesStagingLeftovers) {
  ASSERT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  OpenStorage();
  auto leftover = staging_dir_ / "fedcba9876543210fedcba98.part";
  test::WriteBytes(leftover, "partial");
  // A store in progress in another process: its staged file is locked.
  auto live = staging_->Create();
  ASSERT_TRUE(live.ok());
  auto report = archive_->Recover(/*full_scan=*/false);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->full_scan);
  EXPECT_EQ(report->staging_leftovers_removed, 1);
  EXPECT_EQ(report->objects_reindexed, 0);
  EXPECT_FALSE(std::filesystem::exists(leftover));
  EXPECT_TRUE(std::filesystem::exists((*live)->path()));
  EXPECT_EQ(Instances(), 0);  // no scan
}

TEST_F(ArchiveTest, RecoverRemovesAnUnkeptConflictingCopy) {
  // keep-first: a crash between placing a conflicting second copy and
  // removing it leaves an orphan the catalog must never point at.
  ASSERT_EQ(archive_->ImportFile(Uploader(), kMrSmall).outcome, StoreOutcome::kStored);
  auto [claimed, dataset] = SplitFile(test::ReadBytes(kMrSmall));
  std::string first_key = **catalog_->FindBlobKey(claimed.sop_instance_uid);

  std::string orphan = StoredBytesOf(test::ReadBytes(kMrSmallImplicit));
  {
    auto staged = staging_->Create();
    ASSERT_TRUE(staged.ok());
    ASSERT_TRUE((*staged)->Append(orphan.data(), orphan.size()).ok());
    ASSERT_TRUE(blobs_->Put(**staged).ok());
  }
  ASSERT_EQ(BlobKeys().size(), 2u);

  auto report = archive_->Recover(true);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->objects_removed, 1);
  EXPECT_EQ(report->objects_reindexed, 0);
  auto keys = BlobKeys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0], first_key);
  EXPECT_EQ(**catalog_->FindBlobKey(claimed.sop_instance_uid), first_key);
}

TEST_F(ArchiveTest, RecoverReportsRowsWhoseObjectIsMissing) {
  ASSERT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  std::string key = **catalog_->FindBlobKey(kCtSopInstance);
  ASSERT_TRUE(blobs_->Remove(*blobs::BlobKey::FromHex(key)).ok());
  auto report = archive_->Recover(true);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->catalog_rows_missing_blob, 1);
  nlohmann::json rec = LastAuditRecord();
  EXPECT_EQ(rec["type"], "recovery");
  EXPECT_EQ(rec["outcome"], "failure");
  EXPECT_EQ(rec["details"]["catalog_rows_missing_blob"], 1);
}

TEST_F(ArchiveTest, RecoverLeavesUnparsableObjectsInPlace) {
  {
    auto staged = staging_->Create();
    ASSERT_TRUE(staged.ok());
    ASSERT_TRUE((*staged)->Append("not dicom", 9).ok());
    ASSERT_TRUE(blobs_->Put(**staged).ok());
  }
  auto report = archive_->Recover(true);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->objects_reindexed, 0);
  EXPECT_EQ(Instances(), 0);
  EXPECT_EQ(BlobKeys().size(), 1u);
}

// --- associations ---

TEST_F(ArchiveTest, AdmitAssociationDecidesAndAudits) {
  test::WriteBytes(security::NodesPath(dir_.path()),
                   R"({"version": 1, "nodes": [{"ae_title": "CT1", "hosts": ["10.1.2.3"], "allow": ["echo", "store"]}]})");
  security::AssociationRequest req;
  req.called_ae = "BASTION";
  req.calling_ae = "CT1";
  req.peer = *IpAddress::Parse("10.1.2.3");
  req.transport = security::Transport::kPlain;
  Admission a = archive_->AdmitAssociation(req);
  ASSERT_TRUE(a.decision.accept) << a.decision.why;
  EXPECT_EQ(a.principal.id, "CT1");
  EXPECT_EQ(a.principal.address, "10.1.2.3");
  EXPECT_TRUE(a.principal.May(Permission::kStore));
  EXPECT_FALSE(a.principal.May(Permission::kFind));
  nlohmann::json rec = LastAuditRecord();
  EXPECT_EQ(rec["type"], "association");
  EXPECT_EQ(rec["outcome"], "success");
  EXPECT_EQ(rec["details"]["decision"], "accepted");

  req.peer = *IpAddress::Parse("10.1.2.4");
  Admission refused = archive_->AdmitAssociation(req);
  EXPECT_FALSE(refused.decision.accept);
  EXPECT_TRUE(refused.principal.permissions.empty());
  rec = LastAuditRecord();
  EXPECT_EQ(rec["type"], "association");
  EXPECT_EQ(rec["outcome"], "failure");
  EXPECT_EQ(rec["actor"]["address"], "10.1.2.4");
}

class FailingAuditLog final : public audit::AuditLog {
 public:
  Status Append(audit::AuditEvent) override { return Status(Code::kIo, "disk full"); }
};

TEST_F(ArchiveTest, NoAssociationWhileTheAuditLogCannotBeWritten) {
  test::WriteBytes(security::NodesPath(dir_.path()),
                   R"({"version": 1, "nodes": [{"ae_title": "CT1", "hosts": ["10.1.2.3"], "allow": ["echo", "store"]}]})");
  security::AssociationRequest req;
  req.called_ae = "BASTION";
  req.calling_ae = "CT1";
  req.peer = *IpAddress::Parse("10.1.2.3");
  req.transport = security::Transport::kPlain;
  auto real = std::move(audit_);
  audit_ = std::make_unique<FailingAuditLog>();
  Rebuild();
  Admission a = archive_->AdmitAssociation(req);
  EXPECT_FALSE(a.decision.accept);
  EXPECT_EQ(a.decision.reason, security::RejectReason::kCallingAeNotRecognized);
  EXPECT_EQ(a.decision.why, "the audit log cannot be written");
  EXPECT_TRUE(a.principal.permissions.empty());
  archive_.reset();
  audit_ = std::move(real);
  Rebuild();
}

TEST_F(ArchiveTest, SecurityEventsAreAudited) {
  archive_->RecordSecurityEvent("association.lockout", audit::Actor{"anonymous", "", "203.0.113.7"},
                                {{"failures", 20}});
  nlohmann::json rec = LastAuditRecord();
  EXPECT_EQ(rec["type"], "association.lockout");
  EXPECT_EQ(rec["outcome"], "failure");
  EXPECT_EQ(rec["actor"]["address"], "203.0.113.7");
  EXPECT_EQ(rec["details"]["failures"], 20);
}


// --- Storage Commitment ---

CommitmentRequest Commitment(std::vector<CommitmentRequest::Reference> refs) {
  return CommitmentRequest{"1.2.826.0.1.3680043.2.1143.777", std::move(refs)};
}

std::uint16_t ReasonOf(const CommitmentAnswer& a, const std::string& sop_instance_uid) {
  for (const auto& f : a.failed)
    if (f.reference.sop_instance_uid == sop_instance_uid) return static_cast<std::uint16_t>(f.reason);
  return 0;
}

TEST_F(ArchiveTest, StorageCommitmentCommitsWhatIsHeldAndNamesEveryFailure) {
  ASSERT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  // Imported as CT1 would have sent it: the catalog's source is the principal's id.
  auto answer = archive_->CommitStorage(Uploader(), Commitment({{kCtImageStorage, kCtSopInstance},
                                                                {kCtImageStorage, "1.2.3.4.5"},
                                                                {"1.2.840.10008.5.1.4.1.1.4", kCtSopInstance},
                                                                {kCtImageStorage, "not a uid"}}));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  ASSERT_EQ(answer->committed.size(), 1u);
  EXPECT_EQ(answer->committed[0].sop_instance_uid, kCtSopInstance);
  ASSERT_EQ(answer->failed.size(), 3u);
  EXPECT_EQ(ReasonOf(*answer, "1.2.3.4.5"), 0x0112);
  EXPECT_EQ(ReasonOf(*answer, "not a uid"), 0x0112);
  EXPECT_EQ(answer->failed[1].reference.sop_class_uid, "1.2.840.10008.5.1.4.1.1.4");
  EXPECT_EQ(static_cast<std::uint16_t>(answer->failed[1].reason), 0x0119);
  EXPECT_FALSE(answer->report_to.has_value());  // CT1 is not registered with a port

  nlohmann::json rec = LastAuditRecord();
  EXPECT_EQ(rec["type"], "storage.commit");
  EXPECT_EQ(rec["outcome"], "success");
  EXPECT_EQ(rec["details"]["transaction_uid"], "1.2.826.0.1.3680043.2.1143.777");
  EXPECT_EQ(rec["details"]["requested"], 4);
  EXPECT_EQ(rec["details"]["committed"], 1);
  EXPECT_EQ(rec["details"]["failed"], 3);
  ASSERT_EQ(rec["details"]["failed_instances"].size(), 3u);
  EXPECT_EQ(rec["details"]["failed_instances"][0]["reason"], "no such object instance");
  EXPECT_EQ(rec["details"]["failed_instances"][1]["reason"], "class/instance conflict");
}

TEST_F(ArchiveTest, StorageCommitmentTellsAStoreOnlyNodeOnlyOfWhatItSent) {
  ASSERT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  Principal other = Uploader();
  other.id = "CT2";
  auto answer = archive_->CommitStorage(other, Commitment({{kCtImageStorage, kCtSopInstance}}));
  ASSERT_TRUE(answer.ok());
  EXPECT_TRUE(answer->committed.empty());
  EXPECT_EQ(ReasonOf(*answer, kCtSopInstance), 0x0112);  // the same answer as for an instance nobody sent
  // A node that may find sees the whole archive anyway.
  other.permissions.Add(Permission::kFind);
  answer = archive_->CommitStorage(other, Commitment({{kCtImageStorage, kCtSopInstance}}));
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->committed.size(), 1u);
}

TEST_F(ArchiveTest, StorageCommitmentRefusesWhoMayNotStoreAndMalformedRequests) {
  ASSERT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  auto refused = archive_->CommitStorage(Reader(), Commitment({{kCtImageStorage, kCtSopInstance}}));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kPermissionDenied);
  nlohmann::json rec = LastAuditRecord();
  EXPECT_EQ(rec["type"], "storage.commit");
  EXPECT_EQ(rec["outcome"], "failure");
  EXPECT_EQ(rec["actor"]["id"], "VIEWER");

  CommitmentRequest no_transaction = Commitment({{kCtImageStorage, kCtSopInstance}});
  no_transaction.transaction_uid.clear();
  CommitmentRequest bad_transaction = no_transaction;
  bad_transaction.transaction_uid = "1.2.abc";
  CommitmentRequest huge_transaction = no_transaction;
  huge_transaction.transaction_uid = std::string(100000, '1');
  CommitmentRequest unreadable = Commitment({{kCtImageStorage, kCtSopInstance}});
  unreadable.malformed = "action type is not 1 (request commitment)";
  for (const CommitmentRequest& bad :
       {no_transaction, bad_transaction, huge_transaction, Commitment({}), unreadable}) {
    auto r = archive_->CommitStorage(Uploader(), bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(LastAuditRecord()["outcome"], "failure");
    EXPECT_FALSE(LastAuditRecord()["details"]["error"].get<std::string>().empty());
    EXPECT_LE(LastAuditRecord()["details"]["transaction_uid"].get<std::string>().size(), 64u);  // a bounded record
  }
  EXPECT_EQ(LastAuditRecord()["details"]["error"], "action type is not 1 (request commitment)");
}

TEST_F(ArchiveTest, StorageCommitmentReportGoesToTheNodesRegisteredPortAndIsAudited) {
  security::Node node;
  node.ae_title = "CT1";
  node.hosts = {*IpRange::Parse("10.1.2.3"), *IpRange::Parse("10.9.0.0/16")};
  node.port = 104;
  node.tls_only = true;
  node.permissions = *security::PermissionSet::Parse("store");
  ASSERT_TRUE(security::SaveNodes(security::NodesPath(dir_.path()), {node}).ok());
  ASSERT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  auto answer = archive_->CommitStorage(Uploader(), Commitment({{kCtImageStorage, kCtSopInstance}}));
  ASSERT_TRUE(answer.ok());
  ASSERT_TRUE(answer->report_to.has_value());
  EXPECT_EQ(answer->report_to->ae_title, "CT1");
  EXPECT_EQ(answer->report_to->endpoint.ToString(), "10.1.2.3:104");
  EXPECT_TRUE(answer->report_to->tls);

  archive_->RecordCommitmentReport(Uploader(), "1.2.3", CommitmentReportOutcome{false, "", "connection refused"});
  nlohmann::json rec = LastAuditRecord();
  EXPECT_EQ(rec["type"], "storage.commit.report");
  EXPECT_EQ(rec["outcome"], "failure");
  EXPECT_EQ(rec["details"]["error"], "connection refused");
  archive_->RecordCommitmentReport(Uploader(), "1.2.3", CommitmentReportOutcome{true, "same association", ""});
  EXPECT_EQ(LastAuditRecord()["outcome"], "success");
  EXPECT_EQ(LastAuditRecord()["details"]["how"], "same association");
}

TEST_F(ArchiveTest, StorageCommitmentBeyondTheLimitFailsTheRestForResources) {
  ASSERT_EQ(archive_->ImportFile(Uploader(), kCtSmall).outcome, StoreOutcome::kStored);
  std::vector<CommitmentRequest::Reference> refs(kMaxCommitmentReferences, {kCtImageStorage, "1.2.3"});
  refs.push_back({kCtImageStorage, kCtSopInstance});
  auto answer = archive_->CommitStorage(Uploader(), Commitment(refs));
  ASSERT_TRUE(answer.ok());
  EXPECT_TRUE(answer->committed.empty());
  ASSERT_EQ(answer->failed.size(), kMaxCommitmentReferences + 1);
  EXPECT_EQ(static_cast<std::uint16_t>(answer->failed.back().reason), 0x0213);
  EXPECT_EQ(LastAuditRecord()["details"]["failed_instances"].size(), 200u);  // a bounded record
}

}  // namespace
}  // namespace bastion::archive
