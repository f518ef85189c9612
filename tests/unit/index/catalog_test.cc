// One contract suite for every Catalog implementation, then what only the
// SQLite file promises (durability across reopen, sharing between processes).
#include "index/catalog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "../temp_dir.h"
#include "util/crypto.h"

namespace bastion::index {
namespace {

using test::TempDir;

std::string Blob(const std::string& name) { return HexEncode(Sha256::Of(name)); }

InstanceRecord Record(const std::string& patient, const std::string& study, const std::string& series,
                      const std::string& sop, const std::string& blob_name) {
  InstanceRecord r;
  dicom::InstanceHeader& h = r.header;
  h.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  h.sop_instance_uid = sop;
  h.transfer_syntax_uid = "1.2.840.10008.1.2.1";
  h.patient_id = patient;
  h.patient_name = "Doe^" + patient;
  h.patient_birth_date = "19700101";
  h.patient_sex = "O";
  h.study_instance_uid = study;
  h.study_date = "20240102";
  h.study_time = "101112";
  h.accession_number = "ACC" + study.substr(study.size() - 1);
  h.series_instance_uid = series;
  h.modality = "CT";
  h.series_number = 1;
  h.instance_number = 7;
  h.rows = 512;
  h.columns = 512;
  r.blob_key = Blob(blob_name);
  r.size_bytes = 1234;
  r.received_at = "2024-01-02T10:11:12.000000Z";
  r.source = "CT1";
  return r;
}

struct CatalogFactory {
  std::string name;
  std::function<Result<std::unique_ptr<Catalog>>(const std::filesystem::path& dir)> open;
};

void PrintTo(const CatalogFactory& f, std::ostream* os) { *os << f.name; }

class CatalogContractTest : public ::testing::TestWithParam<CatalogFactory> {
 protected:
  void SetUp() override {
    auto c = GetParam().open(dir_.path());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    catalog_ = std::move(c).value();
  }

  std::vector<InsertOutcome> Insert(std::vector<InstanceRecord> records) {
    auto r = catalog_->InsertBatch(records);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    EXPECT_EQ(r->size(), records.size());
    return *r;
  }

  CatalogCounts Counts() {
    auto c = catalog_->Counts();
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : CatalogCounts{-1, -1, -1, -1};
  }

  std::map<std::string, std::string> AllInstances() {
    std::map<std::string, std::string> out;
    Status s = catalog_->ForEachInstance([&](const std::string& uid, const std::string& key) {
      EXPECT_TRUE(out.emplace(uid, key).second) << uid << " visited twice";
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Catalog> catalog_;
};

void ExpectCounts(const CatalogCounts& c, std::int64_t patients, std::int64_t studies, std::int64_t series,
                  std::int64_t instances) {
  EXPECT_EQ(c.patients, patients);
  EXPECT_EQ(c.studies, studies);
  EXPECT_EQ(c.series, series);
  EXPECT_EQ(c.instances, instances);
}

TEST_P(CatalogContractTest, EmptyCatalog) {
  ExpectCounts(Counts(), 0, 0, 0, 0);
  auto found = catalog_->FindBlobKey("1.2.3");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  auto has = catalog_->HasBlobKey(Blob("a"));
  ASSERT_TRUE(has.ok());
  EXPECT_FALSE(*has);
  EXPECT_TRUE(AllInstances().empty());
  auto none = catalog_->InsertBatch({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(CatalogContractTest, InsertThenFind) {
  auto out = Insert({Record("P1", "1.1", "1.1.1", "1.1.1.1", "blob-a")});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result, InsertResult::kInserted);
  ExpectCounts(Counts(), 1, 1, 1, 1);
  auto found = catalog_->FindBlobKey("1.1.1.1");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(**found, Blob("blob-a"));
  EXPECT_TRUE(*catalog_->HasBlobKey(Blob("blob-a")));
  EXPECT_FALSE(*catalog_->HasBlobKey(Blob("blob-b")));
  EXPECT_FALSE(catalog_->FindBlobKey("1.1.1.2")->has_value());
}

TEST_P(CatalogContractTest, LookupInstancesAnswersHeldOnesInOrder) {
  InstanceRecord mr = Record("P1", "1.1", "1.1.1", "1.1.1.2", "blob-b");
  mr.header.sop_class_uid = "1.2.840.10008.5.1.4.1.1.4";
  mr.source = "MR1";
  Insert({Record("P1", "1.1", "1.1.1", "1.1.1.1", "blob-a"), mr});
  std::vector<std::string> asked = {"1.1.1.2", "9.9", "1.1.1.1", "1.1.1.1'--"};
  auto held = catalog_->LookupInstances(asked);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  ASSERT_EQ(held->size(), 2u);
  EXPECT_EQ((*held)[0].sop_instance_uid, "1.1.1.2");
  EXPECT_EQ((*held)[0].sop_class_uid, "1.2.840.10008.5.1.4.1.1.4");
  EXPECT_EQ((*held)[0].source, "MR1");
  EXPECT_EQ((*held)[1].sop_instance_uid, "1.1.1.1");
  EXPECT_EQ((*held)[1].sop_class_uid, "1.2.840.10008.5.1.4.1.1.2");
  EXPECT_EQ((*held)[1].source, "CT1");
  auto none = catalog_->LookupInstances({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  // The snapshot ends: inserts go on afterwards.
  Insert({Record("P2", "2.1", "2.1.1", "2.1.1.1", "blob-c")});
  EXPECT_EQ(catalog_->LookupInstances(std::vector<std::string>{"2.1.1.1"})->size(), 1u);
}

TEST_P(CatalogContractTest, SameSopSameBlobIsDuplicate) {
  Insert({Record("P1", "1.1", "1.1.1", "1.1.1.1", "blob-a")});
  auto out = Insert({Record("P1", "1.1", "1.1.1", "1.1.1.1", "blob-a")});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result, InsertResult::kDuplicate);
  EXPECT_EQ(out[0].existing_blob_key, Blob("blob-a"));
  ExpectCounts(Counts(), 1, 1, 1, 1);
}

TEST_P(CatalogContractTest, SameSopDifferentBlobIsConflictAndChangesNothing) {
  Insert({Record("P1", "1.1", "1.1.1", "1.1.1.1", "blob-a")});
  // The second copy even claims another patient/study/series: none of it may land.
  auto out = Insert({Record("P2", "2.1", "2.1.1", "1.1.1.1", "blob-b")});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result, InsertResult::kConflict);
  EXPECT_EQ(out[0].existing_blob_key, Blob("blob-a"));
  ExpectCounts(Counts(), 1, 1, 1, 1);
  EXPECT_EQ(**catalog_->FindBlobKey("1.1.1.1"), Blob("blob-a"));
  EXPECT_FALSE(*catalog_->HasBlobKey(Blob("blob-b")));
  auto all = AllInstances();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all["1.1.1.1"], Blob("blob-a"));
}

TEST_P(CatalogContractTest, DuplicatesAndConflictsInsideOneBatch) {
  auto out = Insert({
      Record("P1", "1.1", "1.1.1", "1.1.1.1", "blob-a"),
      Record("P1", "1.1", "1.1.1", "1.1.1.1", "blob-a"),
      Record("P1", "1.1", "1.1.1", "1.1.1.1", "blob-b"),
      Record("P1", "1.1", "1.1.1", "1.1.1.2", "blob-c"),
  });
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].result, InsertResult::kInserted);
  EXPECT_EQ(out[1].result, InsertResult::kDuplicate);
  EXPECT_EQ(out[1].existing_blob_key, Blob("blob-a"));
  EXPECT_EQ(out[2].result, InsertResult::kConflict);
  EXPECT_EQ(out[2].existing_blob_key, Blob("blob-a"));
  EXPECT_EQ(out[3].result, InsertResult::kInserted);
  ExpectCounts(Counts(), 1, 1, 1, 2);
  EXPECT_EQ(**catalog_->FindBlobKey("1.1.1.1"), Blob("blob-a"));
}

TEST_P(CatalogContractTest, HierarchyRowsAreShared) {
  // P1: study 1.1 (series 1.1.1 with 3 instances, series 1.1.2 with 1), study 1.2 (1 series, 1 instance)
  // P2: study 2.1 (1 series, 2 instances)
  auto out = Insert({
      Record("P1", "1.1", "1.1.1", "1.1.1.1", "a1"),
      Record("P1", "1.1", "1.1.1", "1.1.1.2", "a2"),
      Record("P1", "1.1", "1.1.2", "1.1.2.1", "a3"),
      Record("P2", "2.1", "2.1.1", "2.1.1.1", "b1"),
  });
  for (const auto& o : out) EXPECT_EQ(o.result, InsertResult::kInserted);
  ExpectCounts(Counts(), 2, 2, 3, 4);
  // Later batches attach to the existing rows.
  Insert({Record("P1", "1.1", "1.1.1", "1.1.1.3", "a4"), Record("P1", "1.2", "1.2.1", "1.2.1.1", "a5"),
          Record("P2", "2.1", "2.1.1", "2.1.1.2", "b2")});
  ExpectCounts(Counts(), 2, 3, 4, 7);
}

TEST_P(CatalogContractTest, SamePatientIdWithDifferentIssuersIsTwoPatients) {
  auto a = Record("P1", "1.1", "1.1.1", "1.1.1.1", "a");
  auto b = Record("P1", "2.1", "2.1.1", "2.1.1.1", "b");
  a.header.issuer_of_patient_id = "HOSPITAL_A";
  b.header.issuer_of_patient_id = "HOSPITAL_B";
  Insert({a, b});
  ExpectCounts(Counts(), 2, 2, 2, 2);
}

TEST_P(CatalogContractTest, OneBlobCanBackSeveralInstancesLookups) {
  Insert({Record("P1", "1.1", "1.1.1", "1.1.1.1", "shared"), Record("P1", "1.1", "1.1.1", "1.1.1.2", "shared")});
  EXPECT_TRUE(*catalog_->HasBlobKey(Blob("shared")));
  EXPECT_EQ(**catalog_->FindBlobKey("1.1.1.2"), Blob("shared"));
}

TEST_P(CatalogContractTest, ForEachInstanceVisitsEveryRowAcrossPages) {
  constexpr int kRows = 2503;  // more than two pages of 1000
  std::vector<InstanceRecord> batch;
  std::map<std::string, std::string> expected;
  for (int i = 0; i < kRows; ++i) {
    std::string sop = "1.2.3." + std::to_string(i + 1);
    batch.push_back(Record("P" + std::to_string(i % 7), "1." + std::to_string(i % 7 + 1),
                           "1.1." + std::to_string(i % 31 + 1), sop, "blob-" + std::to_string(i)));
    expected[sop] = Blob("blob-" + std::to_string(i));
  }
  auto out = Insert(batch);
  ASSERT_EQ(out.size(), static_cast<std::size_t>(kRows));
  EXPECT_EQ(Counts().instances, kRows);
  EXPECT_EQ(AllInstances(), expected);
}

TEST_P(CatalogContractTest, ForEachInstanceStopsAtTheFirstFailure) {
  Insert({Record("P1", "1.1", "1.1.1", "1.1.1.1", "a"), Record("P1", "1.1", "1.1.1", "1.1.1.2", "b")});
  int visits = 0;
  Status s = catalog_->ForEachInstance([&](const std::string&, const std::string&) {
    ++visits;
    return Status(Code::kCorrupt, "stop");
  });
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_EQ(visits, 1);
}

TEST_P(CatalogContractTest, VisitorMayUseTheCatalog) {
  // Recovery looks things up while visiting: the visitor must not deadlock.
  Insert({Record("P1", "1.1", "1.1.1", "1.1.1.1", "a"), Record("P1", "1.1", "1.1.1", "1.1.1.2", "b")});
  int found = 0;
  Status s = catalog_->ForEachInstance([&](const std::string& uid, const std::string& key) {
    auto k = catalog_->FindBlobKey(uid);
    if (k.ok() && k->has_value() && **k == key) ++found;
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(found, 2);
}

TEST_P(CatalogContractTest, ValuesAreBoundNotInterpolated) {
  // Quotes and SQL in values are data.
  auto r = Record("O'Brien'); DROP TABLE instances; --", "1.1", "1.1.1", "1.1.1.1", "a");
  r.header.patient_name = "O'Brien^Robert\"";
  Insert({r});
  ExpectCounts(Counts(), 1, 1, 1, 1);
  EXPECT_EQ(**catalog_->FindBlobKey("1.1.1.1"), Blob("a"));
  Insert({Record("O'Brien'); DROP TABLE instances; --", "1.1", "1.1.1", "1.1.1.2", "b")});
  ExpectCounts(Counts(), 1, 1, 1, 2);
}

TEST_P(CatalogContractTest, ConcurrentInserts) {
  constexpr int kThreads = 4;
  constexpr int kBatches = 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<InstanceRecord> batch;
        for (int i = 0; i < 5; ++i) {
          std::string sop = "9." + std::to_string(t + 1) + "." + std::to_string(b + 1) + "." + std::to_string(i + 1);
          batch.push_back(Record("P1", "9.1", "9.1." + std::to_string(t + 1), sop, sop));
        }
        auto r = catalog_->InsertBatch(batch);
        if (!r.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ExpectCounts(Counts(), 1, 1, kThreads, kThreads * kBatches * 5);
}

TEST_P(CatalogContractTest, DeferredDurabilityCommitsAtOnceAndSyncs) {
  // The ingest path's split: the batch is committed (and visible) on return,
  // and Sync() then makes it durable.
  std::vector<InstanceRecord> batch{Record("P1", "1.1", "1.1.1", "1.1.1.1", "a"),
                                    Record("P1", "1.1", "1.1.1", "1.1.1.1", "b")};
  auto out = catalog_->InsertBatch(batch, Catalog::Durability::kAfterSync);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].result, InsertResult::kInserted);
  EXPECT_EQ((*out)[1].result, InsertResult::kConflict);
  ExpectCounts(Counts(), 1, 1, 1, 1);
  Status synced = catalog_->Sync();
  EXPECT_TRUE(synced.ok()) << synced.ToString();
  EXPECT_TRUE(catalog_->Sync().ok());  // nothing new: still fine
}

TEST_P(CatalogContractTest, SyncRunsBesideInserts) {
  // The archive flushes the catalog on another thread while the next batch
  // may already be inserting.
  std::atomic<bool> done{false};
  std::atomic<int> sync_failures{0};
  std::thread syncer([&] {
    while (!done)
      if (!catalog_->Sync().ok()) ++sync_failures;
  });
  for (int b = 0; b < 20; ++b) {
    std::string sop = "7.1.1." + std::to_string(b + 1);
    auto r = catalog_->InsertBatch(std::vector<InstanceRecord>{Record("P1", "7.1", "7.1.1", sop, sop)},
                                   Catalog::Durability::kAfterSync);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  }
  done = true;
  syncer.join();
  EXPECT_EQ(sync_failures.load(), 0);
  ExpectCounts(Counts(), 1, 1, 1, 20);
}

INSTANTIATE_TEST_SUITE_P(
    AllCatalogs, CatalogContractTest,
    ::testing::Values(CatalogFactory{"Sqlite",
                                     [](const std::filesystem::path& dir) {
                                       return OpenSqliteCatalog(dir / "catalog.db");
                                     }},
                      CatalogFactory{"Memory", [](const std::filesystem::path&) { return NewMemoryCatalog(); }}),
    [](const ::testing::TestParamInfo<CatalogFactory>& info) { return info.param.name; });

// --- SQLite file specifics ---

TEST(SqliteCatalogTest, DataSurvivesReopen) {
  TempDir dir;
  auto path = dir / "catalog.db";
  {
    auto c = OpenSqliteCatalog(path);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto out = (*c)->InsertBatch(std::vector<InstanceRecord>{Record("P1", "1.1", "1.1.1", "1.1.1.1", "a"),
                                                             Record("P1", "1.1", "1.1.2", "1.1.2.1", "b")});
    ASSERT_TRUE(out.ok());
  }
  auto c = OpenSqliteCatalog(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto counts = (*c)->Counts();
  ASSERT_TRUE(counts.ok());
  ExpectCounts(*counts, 1, 1, 2, 2);
  EXPECT_EQ(**(*c)->FindBlobKey("1.1.2.1"), Blob("b"));
  auto again = (*c)->InsertBatch(std::vector<InstanceRecord>{Record("P1", "1.1", "1.1.1", "1.1.1.1", "a")});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].result, InsertResult::kDuplicate);
}

TEST(SqliteCatalogTest, TwoHandlesOnOneFileSeeEachOther) {
  // Two processes (serve and import) share the catalog.
  TempDir dir;
  auto a = OpenSqliteCatalog(dir / "catalog.db");
  auto b = OpenSqliteCatalog(dir / "catalog.db");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_TRUE((*a)->InsertBatch(std::vector<InstanceRecord>{Record("P1", "1.1", "1.1.1", "1.1.1.1", "a")}).ok());
  EXPECT_EQ(**(*b)->FindBlobKey("1.1.1.1"), Blob("a"));
  auto out = (*b)->InsertBatch(std::vector<InstanceRecord>{Record("P1", "1.1", "1.1.1", "1.1.1.1", "other")});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].result, InsertResult::kConflict);
  EXPECT_EQ((*out)[0].existing_blob_key, Blob("a"));
}

TEST(SqliteCatalogTest, DeferredCommitIsInTheFileOnceSynced) {
  // What another process (or the next start) reads is what Sync() flushed:
  // the WAL, which a second handle reads before any checkpoint.
  TempDir dir;
  auto path = dir / "catalog.db";
  auto a = OpenSqliteCatalog(path);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*a)
                  ->InsertBatch(std::vector<InstanceRecord>{Record("P1", "1.1", "1.1.1", "1.1.1.1", "a")},
                                Catalog::Durability::kAfterSync)
                  .ok());
  ASSERT_TRUE((*a)->Sync().ok());
  EXPECT_TRUE(std::filesystem::exists(path.string() + "-wal"));
  auto b = OpenSqliteCatalog(path);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(**(*b)->FindBlobKey("1.1.1.1"), Blob("a"));
}

TEST(SqliteCatalogTest, SyncReportsAWalItCannotOpen) {
  TempDir dir;
  auto path = dir / "catalog.db";
  auto c = OpenSqliteCatalog(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE((*c)->InsertBatch(std::vector<InstanceRecord>{Record("P1", "1.1", "1.1.1", "1.1.1.1", "a")}).ok());
  // A WAL that cannot be opened is an error, never silently "durable". (A
  // symbolic link loop: file permissions would not stop root.)
  std::filesystem::path wal = path.string() + "-wal";
  std::filesystem::path saved = path.string() + "-wal.saved";
  ASSERT_TRUE(std::filesystem::exists(wal));
  std::filesystem::rename(wal, saved);
  std::filesystem::create_symlink(wal.filename(), wal);
  Status s = (*c)->Sync();
  std::filesystem::remove(wal);
  std::filesystem::rename(saved, wal);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("catalog WAL"), std::string::npos) << s.ToString();
  EXPECT_TRUE((*c)->Sync().ok());
}

TEST(SqliteCatalogTest, UnopenablePathFails) {
  TempDir dir;
  auto c = OpenSqliteCatalog(dir / "no" / "such" / "dir" / "catalog.db");
  EXPECT_FALSE(c.ok());
}

TEST(MemoryCatalogTest, InstancesAreIndependent) {
  auto a = NewMemoryCatalog();
  auto b = NewMemoryCatalog();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*a)->InsertBatch(std::vector<InstanceRecord>{Record("P1", "1.1", "1.1.1", "1.1.1.1", "a")}).ok());
  EXPECT_EQ((*b)->Counts()->instances, 0);
}

}  // namespace
}  // namespace bastion::index
