// The SQL formulations that Catalog::Find chooses between (ModalitiesInStudy
// from series_modality or probed per study; PatientName through the trigram
// index) return exactly the matches: a randomized differential test against a
// brute-force filter of every study, on a catalog with names in several
// scripts, invalid UTF-8, SQL and FTS5 special characters.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "../temp_dir.h"
#include "index/catalog.h"
#include "index/query_sql.h"
#include "util/crypto.h"

namespace bastion::index {
namespace {

using dicom::Attribute;
using dicom::Matcher;
using dicom::QueryLevel;
using internal::ModalityPlan;
using test::TempDir;
using Strings = std::set<std::string>;

const std::vector<std::string> kNames = {
    "SMITH^JOHN", "smith^jane", "SMYTHE^ANNA", "JOHNSON^MARY", "O\"BRIEN^PAT", "Yamada^Tarou=山田^太郎=やまだ^たろう",
    "müller^jürgen", "Διονυσιος^Νικος", "ANDERSON", "Smith-Jones^Ann", "MA[R]TIN^X", "BAD\xC3NAME\xE9SMITH",
    "\x80SMITH\xC3", "NOT^AND^OR", "^SMITH", "STRAßE^ÉLISE", "GOLDSMITH^Ö", "",
};
const std::vector<std::string> kModalities = {"CT", "MR", "MR", "CT", "US", "CR", "SR", "PT"};

InstanceRecord Record(int patient, int study, int series, const std::string& modality, int date) {
  InstanceRecord r;
  dicom::InstanceHeader& h = r.header;
  std::string st = "1.2." + std::to_string(study), se = st + "." + std::to_string(series);
  h.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  h.sop_instance_uid = se + ".1";
  h.transfer_syntax_uid = "1.2.840.10008.1.2.1";
  h.patient_id = "PID" + std::to_string(patient);
  h.patient_name = kNames[static_cast<std::size_t>(patient) % kNames.size()];
  h.study_instance_uid = st;
  h.study_date = std::to_string(20230101 + date);
  h.accession_number = "ACC" + std::to_string(study);
  h.series_instance_uid = se;
  h.modality = modality;
  r.blob_key = HexEncode(Sha256::Of(h.sop_instance_uid));
  r.size_bytes = 1;
  r.received_at = "2024-01-02T10:11:12.000000Z";
  return r;
}

class CatalogPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 random(31);
    std::vector<InstanceRecord> records;
    for (int study = 0; study < 160; ++study) {
      int patient = static_cast<int>(random() % 40);
      int date = static_cast<int>(random() % 28);
      int series = 1 + static_cast<int>(random() % 3);
      for (int k = 0; k < series; ++k)
        records.push_back(Record(patient, study, k, kModalities[random() % kModalities.size()], date));
    }
    auto c = OpenSqliteCatalog(dir_ / "catalog.db");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    catalog_ = std::move(c).value();
    auto out = catalog_->InsertBatch(records);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    all_ = *catalog_->Find(Query({}, 100000));
    ASSERT_EQ(all_.size(), 160u);
    ASSERT_EQ(sqlite3_open_v2((dir_ / "catalog.db").c_str(), &db_, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    internal::RegisterSqlFunctions(db_);
  }
  void TearDown() override { sqlite3_close(db_); }

  static CatalogQuery Query(const std::vector<std::pair<Attribute, std::string>>& conditions, std::size_t limit) {
    CatalogQuery q;
    q.level = QueryLevel::kStudy;
    q.limit = limit;
    for (const auto& [a, v] : conditions) {
      auto m = Matcher::Parse(dicom::InfoOf(a).kind, v);
      EXPECT_TRUE(m.ok()) << v;
      if (m.ok()) q.conditions.push_back({a, *m});
    }
    return q;
  }

  Strings Expected(const CatalogQuery& q) {
    Strings out;
    for (const auto& row : all_) {
      bool match = true;
      for (const auto& c : q.conditions) match = match && c.matcher.Matches(row.Get(c.attribute));
      if (match) out.insert(row.Get(Attribute::kStudyInstanceUID));
    }
    return out;
  }

  // One formulation run directly, with the exact post-filter, as Find does.
  Strings Run(const CatalogQuery& q, ModalityPlan plan) {
    internal::SqlQuery sql = internal::BuildQuerySql(q, plan);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    for (std::size_t i = 0; i < sql.binds.size(); ++i) {
      int at = static_cast<int>(i + 1);
      if (at > sqlite3_bind_parameter_count(stmt)) break;
      if (auto* text = std::get_if<std::string>(&sql.binds[i]))
        sqlite3_bind_text(stmt, at, text->data(), static_cast<int>(text->size()), SQLITE_TRANSIENT);
      else
        sqlite3_bind_int64(stmt, at, std::get<std::int64_t>(sql.binds[i]));
    }
    Strings out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      CatalogRow row;
      int col = 0;
      for (auto a : sql.columns) {
        const unsigned char* t = sqlite3_column_text(stmt, col++);
        if (t) row.Set(a) = reinterpret_cast<const char*>(t);
      }
      if (internal::RowMatches(q, row)) {
        EXPECT_TRUE(out.insert(row.Get(Attribute::kStudyInstanceUID)).second) << "duplicate row: " << sql.sql;
      }
    }
    sqlite3_finalize(stmt);
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Catalog> catalog_;
  std::vector<CatalogRow> all_;
  sqlite3* db_ = nullptr;
};

TEST_F(CatalogPlanTest, EveryFormulationReturnsExactlyTheMatches) {
  const std::vector<std::string> modalities = {"CT", "MR", "PT", "XA", "SR", "MR\\CT", "PT\\XA", "US\\CR\\SR", "CT*"};
  const std::vector<std::string> dates = {"20230105", "20230103-20230110", "20230101-20231231", "-20230104",
                                          "20230120-", "20230115-20230115"};
  const std::vector<std::string> names = {
      "*SMITH*", "SMITH*", "*smi?h*", "*JOHN*", "*山田*", "*山田^太郎*", "山田^太郎", "*ÜLLER*", "*O\"BRIEN*",
      "*A[R]T*", "*NAME*SMITH*", "*AN*", "*ZZZ*", "*SMITH*\\*JOHNSON*", "*SMITH*\\AN*", "*NOT^AND^OR*",
      "?MITH*", "*STRASSE*", "*straße*", "*Ö", "*ÉLISE", "*^SMITH*", "*\"*", "*SMITH", "*SMI*TH*", "*ΝΙΚΟΣ*",
      "*やまだ*", "山田*", "*MITH^J*"};
  std::mt19937 random(7);
  auto pick = [&](const std::vector<std::string>& from) { return from[random() % from.size()]; };
  int checked = 0, nonempty = 0;
  for (int i = 0; i < 600; ++i) {
    std::vector<std::pair<Attribute, std::string>> conditions;
    if (random() % 4 != 0) conditions.push_back({Attribute::kModalitiesInStudy, pick(modalities)});
    if (random() % 2 == 0) conditions.push_back({Attribute::kStudyDate, pick(dates)});
    if (random() % 5 == 0) conditions.push_back({Attribute::kPatientID, "PID" + std::to_string(random() % 45)});
    if (random() % 8 == 0) conditions.push_back({Attribute::kPatientID, "PID1*"});
    if (random() % 2 == 0) conditions.push_back({Attribute::kPatientName, pick(names)});
    if (random() % 10 == 0) conditions.push_back({Attribute::kAccessionNumber, "ACC" + std::to_string(random() % 170)});
    CatalogQuery q = Query(conditions, 100000);
    Strings expected = Expected(q);
    std::string what;
    for (const auto& [a, v] : conditions) what += std::string(dicom::InfoOf(a).keyword) + "=" + v + " ";
    for (auto plan : {ModalityPlan::kFromModality, ModalityPlan::kCheckEachStudy})
      EXPECT_EQ(Run(q, plan), expected) << what << (plan == ModalityPlan::kFromModality ? "(from modality)" : "(each study)");
    // Through the catalog, with its own choice of plan, all and the first few.
    auto rows = catalog_->Find(q);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    Strings found;
    for (const auto& r : *rows) EXPECT_TRUE(found.insert(r.Get(Attribute::kStudyInstanceUID)).second) << what;
    EXPECT_EQ(found, expected) << what;
    auto few = catalog_->Find(Query(conditions, 3));
    ASSERT_TRUE(few.ok());
    EXPECT_EQ(few->size(), std::min<std::size_t>(3, expected.size())) << what;
    for (const auto& r : *few) EXPECT_TRUE(expected.count(r.Get(Attribute::kStudyInstanceUID))) << what;
    ++checked;
    nonempty += expected.empty() ? 0 : 1;
  }
  EXPECT_EQ(checked, 600);
  EXPECT_GT(nonempty, 150);  // the shapes are not all empty
}

TEST_F(CatalogPlanTest, NameTrigramMatch) {
  auto match = [](const std::string& v) {
    return internal::NameTrigramMatch(*Matcher::Parse(dicom::ValueKind::kPersonName, v));
  };
  EXPECT_EQ(match("*smith*"), "(\"SMITH\")");
  EXPECT_EQ(match("*SM?TH*JOHN"), "(\"JOHN\")");
  EXPECT_EQ(match("*O\"BRIEN*"), "(\"O\"\"BRIEN\")");
  EXPECT_EQ(match("*SMITH*\\*JONES*"), "(\"SMITH\") OR (\"JONES\")");
  EXPECT_EQ(match("*SMITH*\\AN*"), "");  // an alternative without three literal characters
  EXPECT_EQ(match("*AN*"), "");
  EXPECT_EQ(match("SMITH*"), "");  // the name index serves a prefix better
  EXPECT_EQ(match("山田^太郎"), "(\"山田^太郎\")");
  EXPECT_EQ(match("*\xC3NAME*"), "");  // not valid UTF-8: left to the scan
}

TEST_F(CatalogPlanTest, PlanFollowsTheCounts) {
  using internal::ChooseModalityPlan;
  const std::int64_t cap = internal::PlanProbeCap(101);
  EXPECT_EQ(cap, 5000);
  EXPECT_EQ(internal::PlanProbeCap(1001), 20020);
  EXPECT_EQ(internal::PlanProbeCap(1000000), 100000);
  EXPECT_EQ(ChooseModalityPlan(3, 4, cap), ModalityPlan::kCheckEachStudy);    // patient ID, common modality
  EXPECT_EQ(ChooseModalityPlan(872, 0, cap), ModalityPlan::kFromModality);    // modality nobody has
  EXPECT_EQ(ChooseModalityPlan(872, 500, cap), ModalityPlan::kFromModality);  // rarer than the date range
  EXPECT_EQ(ChooseModalityPlan(cap, cap + 1, cap), ModalityPlan::kFromModality);  // both large
  auto q = Query({{Attribute::kModalitiesInStudy, "MR"}}, 10);
  EXPECT_FALSE(internal::BuildPlanProbe(q).has_value());  // nothing else finds studies
  q = Query({{Attribute::kModalitiesInStudy, "MR"}, {Attribute::kStudyDescription, "X*"}}, 10);
  EXPECT_FALSE(internal::BuildPlanProbe(q).has_value());  // not indexed
  q = Query({{Attribute::kModalitiesInStudy, "MR"}, {Attribute::kPatientName, "*SMITH*"}}, 10);
  EXPECT_TRUE(internal::BuildPlanProbe(q).has_value());  // the trigram index
  q = Query({{Attribute::kModalitiesInStudy, "MR"}, {Attribute::kStudyDate, "20230101-20230131"}}, 10);
  EXPECT_TRUE(internal::BuildPlanProbe(q).has_value());
  EXPECT_NE(internal::BuildQuerySql(q, ModalityPlan::kCheckEachStudy).sql.find("EXISTS"), std::string::npos);
  EXPECT_NE(internal::BuildQuerySql(q, ModalityPlan::kFromModality).sql.find("CROSS JOIN"), std::string::npos);
}

TEST(CatalogMigrationTest, Version2CatalogGetsItsNameTrigrams) {
  TempDir dir;
  auto path = dir / "catalog.db";
  {
    auto c = OpenSqliteCatalog(path);
    ASSERT_TRUE(c.ok());
    std::vector<InstanceRecord> records;
    for (int i = 0; i < 20; ++i) records.push_back(Record(i, i, 0, "CT", i));
    ASSERT_TRUE((*c)->InsertBatch(records).ok());
  }
  {
    // What a version 2 catalog looks like: no trigram table.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, "DROP TABLE patient_name_trigrams; UPDATE schema_version SET version = 2", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto c = OpenSqliteCatalog(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  CatalogQuery q;
  q.conditions.push_back({Attribute::kPatientName, *Matcher::Parse(dicom::ValueKind::kPersonName, "*SMITH*")});
  auto rows = (*c)->Find(q);
  ASSERT_TRUE(rows.ok());
  Strings found;
  for (const auto& r : *rows) found.insert(r.Get(Attribute::kPatientID));
  // SMITH^JOHN, smith^jane (twice each), Smith-Jones, BAD..SMITH, \x80SMITH, ^SMITH, GOLDSMITH
  EXPECT_EQ(found, (Strings{"PID0", "PID1", "PID9", "PID11", "PID12", "PID14", "PID16", "PID18", "PID19"}));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT (SELECT version FROM schema_version), (SELECT count(*) FROM "
                                   "patient_name_trigrams)", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 3);
  EXPECT_EQ(sqlite3_column_int(stmt, 1), 20);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace
}  // namespace bastion::index
