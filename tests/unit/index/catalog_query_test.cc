// Catalog::Find: PS3.4 C.2.2.2 matching through the catalog (SQL narrowing
// plus the exact post-filter), run against every Catalog implementation.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../temp_dir.h"
#include "index/catalog.h"
#include "util/crypto.h"

namespace bastion::index {
namespace {

using dicom::Attribute;
using dicom::Matcher;
using dicom::QueryLevel;
using test::TempDir;
using Strings = std::set<std::string>;

struct PatientData {
  std::string name, birth_date, sex;
};
struct StudyData {
  std::string patient, date, time, accession, description, referring;
};
struct SeriesData {
  std::string study, modality;
  std::int64_t number;
  std::string description;
};
struct InstanceData {
  std::string sop, series;
  std::int64_t number;
};

const std::map<std::string, PatientData> kPatients = {
    {"P1", {"Yamada^Tarou=山田^太郎=やまだ^たろう", "19700101", "M"}},
    {"P2", {"doe^jane", "19800202", "F"}},
    {"P3", {"Διονυσιος", "", "O"}},
    {"P4", {"O[B]rien%_Pat", "19900303", "M"}},
};
const std::map<std::string, StudyData> kStudies = {
    {"1.1", {"P1", "20240101", "230000", "ACC001", "CT Thorax", "smith^john"}},
    {"1.2", {"P2", "20240101", "100000", "ACC002", "Chest", ""}},
    {"1.3", {"P2", "20240102", "0900", "ACC003", "Abdomen", "Jones^Bob"}},
    {"1.4", {"P3", "20240102", "070000.5", "X[1]%_A", "50%_off", ""}},
    {"1.5", {"P4", "20231231", "", "ACC005", "Knee", ""}},
    {"1.6", {"P2", "20240102", "10:30", "ACC006", "Head", ""}},
};
const std::map<std::string, SeriesData> kSeries = {
    {"1.1.1", {"1.1", "CT", 1, "Axial"}}, {"1.1.2", {"1.1", "MR", 2, "T1"}}, {"1.2.1", {"1.2", "CT", 1, "Axial"}},
    {"1.3.1", {"1.3", "US", 1, ""}},      {"1.4.1", {"1.4", "PT", 3, "WB"}}, {"1.5.1", {"1.5", "CT", 1, ""}},
    {"1.6.1", {"1.6", "MR", 5, "DWI"}},
};
const std::vector<InstanceData> kInstances = {
    {"1.1.1.2", "1.1.1", 2}, {"1.1.1.1", "1.1.1", 1}, {"1.1.2.1", "1.1.2", 1}, {"1.2.1.1", "1.2.1", 1},
    {"1.3.1.1", "1.3.1", 1}, {"1.4.1.1", "1.4.1", 1}, {"1.5.1.1", "1.5.1", 1}, {"1.6.1.1", "1.6.1", 1},
};

std::string Blob(const std::string& name) { return HexEncode(Sha256::Of(name)); }

InstanceRecord Build(const std::string& patient_id, const PatientData& p, const std::string& study_uid,
                     const StudyData& st, const std::string& series_uid, const SeriesData& se,
                     const InstanceData& in) {
  InstanceRecord r;
  dicom::InstanceHeader& h = r.header;
  h.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  h.sop_instance_uid = in.sop;
  h.transfer_syntax_uid = in.number == 2 ? "1.2.840.10008.1.2" : "1.2.840.10008.1.2.1";
  h.specific_character_set = "ISO_IR 192";
  h.patient_id = patient_id;
  h.patient_name = p.name;
  h.patient_birth_date = p.birth_date;
  h.patient_sex = p.sex;
  h.study_instance_uid = study_uid;
  h.study_date = st.date;
  h.study_time = st.time;
  h.accession_number = st.accession;
  h.study_id = "S" + study_uid;
  h.study_description = st.description;
  h.referring_physician_name = st.referring;
  h.series_instance_uid = series_uid;
  h.modality = se.modality;
  h.series_number = se.number;
  h.series_description = se.description;
  h.body_part_examined = se.modality == "CT" ? "CHEST" : "";
  h.series_date = st.date;
  h.series_time = st.time;
  h.instance_number = in.number;
  h.rows = 512;
  h.columns = 256;
  r.blob_key = Blob(in.sop);
  r.size_bytes = 1000 + in.sop.size();
  r.received_at = "2024-01-02T10:11:12.000000Z";
  r.source = "CT1";
  return r;
}

std::vector<InstanceRecord> AllRecords() {
  std::vector<InstanceRecord> out;
  for (const auto& in : kInstances) {
    const SeriesData& se = kSeries.at(in.series);
    const StudyData& st = kStudies.at(se.study);
    out.push_back(Build(st.patient, kPatients.at(st.patient), se.study, st, in.series, se, in));
  }
  return out;
}

struct CatalogFactory {
  std::string name;
  std::function<Result<std::unique_ptr<Catalog>>(const std::filesystem::path& dir)> open;
};

void PrintTo(const CatalogFactory& f, std::ostream* os) { *os << f.name; }

class CatalogQueryTest : public ::testing::TestWithParam<CatalogFactory> {
 protected:
  void SetUp() override {
    auto c = GetParam().open(dir_.path());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    catalog_ = std::move(c).value();
    Insert(AllRecords());
  }

  void Insert(const std::vector<InstanceRecord>& records) {
    auto r = catalog_->InsertBatch(records);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (const auto& o : *r) ASSERT_EQ(o.result, InsertResult::kInserted);
  }

  // Conditions as (attribute, query value); the value is parsed with the
  // attribute's matching rules and must be valid.
  std::vector<CatalogRow> Find(QueryLevel level, const std::vector<std::pair<Attribute, std::string>>& conditions,
                               std::size_t limit = 1000) {
    CatalogQuery q;
    q.level = level;
    q.limit = limit;
    for (const auto& [a, v] : conditions) {
      auto m = Matcher::Parse(dicom::InfoOf(a).kind, v);
      EXPECT_TRUE(m.ok()) << dicom::InfoOf(a).keyword << " \"" << v << "\": " << m.status().ToString();
      if (!m.ok()) {
        parse_failed_ = true;
        return {};
      }
      q.conditions.push_back({a, *m});
    }
    auto rows = catalog_->Find(q);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok()) return {};
    EXPECT_LE(rows->size(), limit);
    return *rows;
  }

  // The unique keys of the rows a query returns.
  Strings Keys(QueryLevel level, const std::vector<std::pair<Attribute, std::string>>& conditions) {
    Strings out;
    for (const auto& row : Find(level, conditions)) {
      EXPECT_TRUE(out.insert(row.Get(dicom::UniqueKeyOf(level))).second)
          << "duplicate row " << row.Get(dicom::UniqueKeyOf(level));
    }
    return out;
  }
  Strings Studies(const std::vector<std::pair<Attribute, std::string>>& conditions) {
    return Keys(QueryLevel::kStudy, conditions);
  }
  Strings Patients(const std::vector<std::pair<Attribute, std::string>>& conditions) {
    return Keys(QueryLevel::kPatient, conditions);
  }

  const CatalogRow* RowWith(const std::vector<CatalogRow>& rows, Attribute a, const std::string& v) {
    for (const auto& r : rows)
      if (r.Get(a) == v) return &r;
    ADD_FAILURE() << "no row with " << dicom::InfoOf(a).keyword << " = " << v;
    return nullptr;
  }

  TempDir dir_;
  std::unique_ptr<Catalog> catalog_;
  bool parse_failed_ = false;
};

// --- Levels and returned values ---

TEST_P(CatalogQueryTest, PatientLevelWithCounts) {
  auto rows = Find(QueryLevel::kPatient, {});
  ASSERT_EQ(rows.size(), 4u);
  const CatalogRow* p1 = RowWith(rows, Attribute::kPatientID, "P1");
  const CatalogRow* p2 = RowWith(rows, Attribute::kPatientID, "P2");
  const CatalogRow* p3 = RowWith(rows, Attribute::kPatientID, "P3");
  ASSERT_TRUE(p1 && p2 && p3);
  EXPECT_EQ(p1->Get(Attribute::kPatientName), "Yamada^Tarou=山田^太郎=やまだ^たろう");
  EXPECT_EQ(p1->Get(Attribute::kPatientBirthDate), "19700101");
  EXPECT_EQ(p1->Get(Attribute::kPatientSex), "M");
  EXPECT_EQ(p1->Get(Attribute::kNumberOfPatientRelatedStudies), "1");
  EXPECT_EQ(p1->Get(Attribute::kNumberOfPatientRelatedSeries), "2");
  EXPECT_EQ(p1->Get(Attribute::kNumberOfPatientRelatedInstances), "3");
  EXPECT_EQ(p2->Get(Attribute::kPatientName), "doe^jane");  // as stored, not upper-cased
  EXPECT_EQ(p2->Get(Attribute::kNumberOfPatientRelatedStudies), "3");
  EXPECT_EQ(p2->Get(Attribute::kNumberOfPatientRelatedSeries), "3");
  EXPECT_EQ(p2->Get(Attribute::kNumberOfPatientRelatedInstances), "3");
  EXPECT_EQ(p3->Get(Attribute::kPatientName), "Διονυσιος");
  EXPECT_EQ(p3->Get(Attribute::kPatientBirthDate), "");
  EXPECT_EQ(p3->Get(Attribute::kNumberOfPatientRelatedStudies), "1");
  // Nothing below the level is returned.
  EXPECT_EQ(p1->Get(Attribute::kStudyInstanceUID), "");
  EXPECT_EQ(p1->Get(Attribute::kModality), "");
  EXPECT_EQ(p1->blob_key, "");

  EXPECT_EQ(Patients({{Attribute::kNumberOfPatientRelatedStudies, "3"}}), Strings({"P2"}));
  EXPECT_EQ(Patients({{Attribute::kNumberOfPatientRelatedStudies, "1"}}), Strings({"P1", "P3", "P4"}));
  EXPECT_EQ(Patients({{Attribute::kNumberOfPatientRelatedInstances, "+3"}}), Strings({"P1", "P2"}));
  EXPECT_EQ(Patients({{Attribute::kNumberOfPatientRelatedSeries, "2\\3"}}), Strings({"P1", "P2"}));
  EXPECT_EQ(Patients({{Attribute::kNumberOfPatientRelatedSeries, "4"}}), Strings());
}

TEST_P(CatalogQueryTest, StudyLevelValuesAndCounts) {
  auto rows = Find(QueryLevel::kStudy, {});
  ASSERT_EQ(rows.size(), 6u);
  const CatalogRow* s = RowWith(rows, Attribute::kStudyInstanceUID, "1.1");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->Get(Attribute::kPatientID), "P1");
  EXPECT_EQ(s->Get(Attribute::kPatientName), "Yamada^Tarou=山田^太郎=やまだ^たろう");
  EXPECT_EQ(s->Get(Attribute::kStudyDate), "20240101");
  EXPECT_EQ(s->Get(Attribute::kStudyTime), "230000");
  EXPECT_EQ(s->Get(Attribute::kAccessionNumber), "ACC001");
  EXPECT_EQ(s->Get(Attribute::kStudyID), "S1.1");
  EXPECT_EQ(s->Get(Attribute::kStudyDescription), "CT Thorax");
  EXPECT_EQ(s->Get(Attribute::kReferringPhysicianName), "smith^john");
  EXPECT_EQ(s->Get(Attribute::kModalitiesInStudy), "CT\\MR");
  EXPECT_EQ(s->Get(Attribute::kNumberOfStudyRelatedSeries), "2");
  EXPECT_EQ(s->Get(Attribute::kNumberOfStudyRelatedInstances), "3");
  // Patient counts belong to PATIENT level; series values are below the level.
  EXPECT_EQ(s->Get(Attribute::kNumberOfPatientRelatedStudies), "");
  EXPECT_EQ(s->Get(Attribute::kSeriesInstanceUID), "");
  EXPECT_EQ(s->Get(Attribute::kSOPInstanceUID), "");
  const CatalogRow* s6 = RowWith(rows, Attribute::kStudyInstanceUID, "1.6");
  ASSERT_NE(s6, nullptr);
  EXPECT_EQ(s6->Get(Attribute::kModalitiesInStudy), "MR");
  EXPECT_EQ(s6->Get(Attribute::kNumberOfStudyRelatedSeries), "1");

  EXPECT_EQ(Studies({{Attribute::kNumberOfStudyRelatedSeries, "2"}}), Strings({"1.1"}));
  EXPECT_EQ(Studies({{Attribute::kNumberOfStudyRelatedSeries, "+2"}}), Strings({"1.1"}));
  EXPECT_EQ(Studies({{Attribute::kNumberOfStudyRelatedInstances, "3"}}), Strings({"1.1"}));
  EXPECT_EQ(Studies({{Attribute::kNumberOfStudyRelatedInstances, "1"}}),
            Strings({"1.2", "1.3", "1.4", "1.5", "1.6"}));
}

TEST_P(CatalogQueryTest, SeriesLevel) {
  auto rows = Find(QueryLevel::kSeries, {{Attribute::kStudyInstanceUID, "1.1"}});
  ASSERT_EQ(rows.size(), 2u);
  const CatalogRow* mr = RowWith(rows, Attribute::kSeriesInstanceUID, "1.1.2");
  ASSERT_NE(mr, nullptr);
  EXPECT_EQ(mr->Get(Attribute::kModality), "MR");
  EXPECT_EQ(mr->Get(Attribute::kSeriesNumber), "2");
  EXPECT_EQ(mr->Get(Attribute::kSeriesDescription), "T1");
  EXPECT_EQ(mr->Get(Attribute::kNumberOfSeriesRelatedInstances), "1");
  EXPECT_EQ(mr->Get(Attribute::kStudyInstanceUID), "1.1");
  EXPECT_EQ(mr->Get(Attribute::kPatientID), "P1");
  EXPECT_EQ(mr->Get(Attribute::kSOPInstanceUID), "");
  const CatalogRow* ct = RowWith(rows, Attribute::kSeriesInstanceUID, "1.1.1");
  ASSERT_NE(ct, nullptr);
  EXPECT_EQ(ct->Get(Attribute::kNumberOfSeriesRelatedInstances), "2");
  EXPECT_EQ(ct->Get(Attribute::kBodyPartExamined), "CHEST");

  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kModality, "CT"}}), Strings({"1.1.1", "1.2.1", "1.5.1"}));
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kModality, "ct"}}), Strings());
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kModality, "MR\\US"}}), Strings({"1.1.2", "1.3.1", "1.6.1"}));
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kModality, "?T"}}), Strings({"1.1.1", "1.2.1", "1.4.1", "1.5.1"}));
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kSeriesNumber, "+5"}}), Strings({"1.6.1"}));
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kSeriesNumber, "2\\3"}}), Strings({"1.1.2", "1.4.1"}));
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kNumberOfSeriesRelatedInstances, "2"}}), Strings({"1.1.1"}));
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kSeriesDescription, "Ax*"}}), Strings({"1.1.1", "1.2.1"}));
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kBodyPartExamined, "CHEST"}, {Attribute::kPatientID, "P2"}}),
            Strings({"1.2.1"}));
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kSeriesDate, "20240102"}}), Strings({"1.3.1", "1.4.1", "1.6.1"}));
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kSeriesTime, "10"}}), Strings({"1.2.1", "1.6.1"}));
  // Study-level and patient-level keys narrow series too.
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kModality, "CT"}, {Attribute::kStudyDate, "20240101-"}}),
            Strings({"1.1.1", "1.2.1"}));
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kModalitiesInStudy, "MR"}, {Attribute::kModality, "CT"}}),
            Strings({"1.1.1"}));
}

TEST_P(CatalogQueryTest, ImageLevel) {
  auto rows = Find(QueryLevel::kImage, {{Attribute::kSeriesInstanceUID, "1.1.1"}});
  ASSERT_EQ(rows.size(), 2u);
  const CatalogRow* i2 = RowWith(rows, Attribute::kSOPInstanceUID, "1.1.1.2");
  ASSERT_NE(i2, nullptr);
  EXPECT_EQ(i2->blob_key, Blob("1.1.1.2"));
  EXPECT_EQ(i2->transfer_syntax_uid, "1.2.840.10008.1.2");
  EXPECT_EQ(i2->specific_character_set, "ISO_IR 192");
  EXPECT_EQ(i2->size_bytes, 1000u + 7u);
  EXPECT_EQ(i2->Get(Attribute::kSOPClassUID), "1.2.840.10008.5.1.4.1.1.2");
  EXPECT_EQ(i2->Get(Attribute::kInstanceNumber), "2");
  EXPECT_EQ(i2->Get(Attribute::kRows), "512");
  EXPECT_EQ(i2->Get(Attribute::kColumns), "256");
  EXPECT_EQ(i2->Get(Attribute::kNumberOfFrames), "");
  EXPECT_EQ(i2->Get(Attribute::kSeriesInstanceUID), "1.1.1");
  EXPECT_EQ(i2->Get(Attribute::kStudyInstanceUID), "1.1");
  EXPECT_EQ(i2->Get(Attribute::kPatientID), "P1");
  const CatalogRow* i1 = RowWith(rows, Attribute::kSOPInstanceUID, "1.1.1.1");
  ASSERT_NE(i1, nullptr);
  EXPECT_EQ(i1->transfer_syntax_uid, "1.2.840.10008.1.2.1");
  EXPECT_EQ(i1->blob_key, Blob("1.1.1.1"));

  EXPECT_EQ(Find(QueryLevel::kImage, {}).size(), kInstances.size());
  EXPECT_EQ(Keys(QueryLevel::kImage, {{Attribute::kInstanceNumber, "+2"}}), Strings({"1.1.1.2"}));
  EXPECT_EQ(Keys(QueryLevel::kImage, {{Attribute::kSOPInstanceUID, "1.4.1.1\\1.1.2.1\\9.9"}}),
            Strings({"1.4.1.1", "1.1.2.1"}));
  EXPECT_EQ(Keys(QueryLevel::kImage, {{Attribute::kRows, "512"}, {Attribute::kStudyInstanceUID, "1.3"}}),
            Strings({"1.3.1.1"}));
  EXPECT_EQ(Keys(QueryLevel::kImage, {{Attribute::kRows, "256"}}), Strings());
  EXPECT_EQ(Keys(QueryLevel::kImage, {{Attribute::kSOPClassUID, "1.2.840.10008.5.1.4.1.1.4"}}), Strings());
  EXPECT_EQ(Keys(QueryLevel::kImage, {{Attribute::kPatientName, "doe*"}}), Strings({"1.2.1.1", "1.3.1.1", "1.6.1.1"}));
}

// --- Matching rules through Find ---

TEST_P(CatalogQueryTest, UniversalMatching) {
  EXPECT_EQ(Studies({{Attribute::kPatientName, ""}}).size(), 6u);
  EXPECT_EQ(Studies({{Attribute::kPatientName, "*"}, {Attribute::kStudyDate, ""}, {Attribute::kAccessionNumber, "*"}})
                .size(),
            6u);
  // Universal keys match empty stored values too (P3 has no birth date).
  EXPECT_EQ(Patients({{Attribute::kPatientBirthDate, ""}}).size(), 4u);
}

TEST_P(CatalogQueryTest, PersonNamesCaseInsensitive) {
  EXPECT_EQ(Patients({{Attribute::kPatientName, "DOE^JANE"}}), Strings({"P2"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "doe^jane"}}), Strings({"P2"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "Doe*"}}), Strings({"P2"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "d?e^j*"}}), Strings({"P2"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "*JANE"}}), Strings({"P2"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "DOE"}}), Strings());
  // Greek: stored mixed case, queried in lower and upper case.
  EXPECT_EQ(Patients({{Attribute::kPatientName, "διονυσιος"}}), Strings({"P3"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "ΔΙΟΝΥΣΙΟΣ"}}), Strings({"P3"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "διο*"}}), Strings({"P3"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "?ΙΟΝΥΣΙΟ?"}}), Strings({"P3"}));
  // The referring physician's name is a person name too.
  EXPECT_EQ(Studies({{Attribute::kReferringPhysicianName, "SMITH*"}}), Strings({"1.1"}));
  EXPECT_EQ(Studies({{Attribute::kReferringPhysicianName, "jones^bob"}}), Strings({"1.3"}));
  EXPECT_EQ(Studies({{Attribute::kReferringPhysicianName, "?*"}}), Strings({"1.1", "1.3"}));
}

TEST_P(CatalogQueryTest, PersonNameComponentGroups) {
  EXPECT_EQ(Patients({{Attribute::kPatientName, "山田^太郎"}}), Strings({"P1"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "山田*"}}), Strings({"P1"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "やまだ^たろう"}}), Strings({"P1"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "*^太郎"}}), Strings({"P1"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "yamada^tarou"}}), Strings({"P1"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "YAMA*"}}), Strings({"P1"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "Yamada^Tarou=山田^太郎=やまだ^たろう"}}), Strings({"P1"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "山田"}}), Strings());
  EXPECT_EQ(Patients({{Attribute::kPatientName, "太郎*"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kPatientName, "山田*"}}), Strings({"1.1"}));
}

// dicom::Matcher matches "??^??" against the ideographic group "山田^太郎"
// ('?' is one code point); the catalog must return what the matcher accepts.
TEST_P(CatalogQueryTest, AsciiWildcardPatternMatchingAnIdeographicGroup) {
  ASSERT_TRUE(Matcher::Parse(dicom::ValueKind::kPersonName, "??^??")->Matches(kPatients.at("P1").name));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "??^??"}}), Strings({"P1"}));
  EXPECT_EQ(Studies({{Attribute::kPatientName, "???^???"}}), Strings({"1.1"}));  // やまだ^たろう
}

TEST_P(CatalogQueryTest, NameListAnyOneMatches) {
  EXPECT_EQ(Patients({{Attribute::kPatientName, "doe*\\山田^太郎"}}), Strings({"P1", "P2"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "NOBODY\\διονυσιος"}}), Strings({"P3"}));
}

TEST_P(CatalogQueryTest, SqlSpecialCharactersAreLiteral) {
  // '[' '%' '_' stored literally in a name.
  EXPECT_EQ(Patients({{Attribute::kPatientName, "O[B]rien%_Pat"}}), Strings({"P4"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "o[b]*"}}), Strings({"P4"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "O[B]RIEN%_*"}}), Strings({"P4"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "*%_*"}}), Strings({"P4"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "O?B?RIEN???AT"}}), Strings({"P4"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "[O]*"}}), Strings());   // not a GLOB class
  EXPECT_EQ(Patients({{Attribute::kPatientName, "[A-Z]*"}}), Strings());
  EXPECT_EQ(Patients({{Attribute::kPatientName, "%"}}), Strings());      // not LIKE
  EXPECT_EQ(Patients({{Attribute::kPatientName, "D_E*"}}), Strings());
  EXPECT_EQ(Patients({{Attribute::kPatientName, "O[B]RIEN"}}), Strings());
  EXPECT_EQ(Patients({{Attribute::kPatientName, "OBRIEN*"}}), Strings());
  // And in other text.
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "X[1]%_A"}}), Strings({"1.4"}));
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "X[1]*"}}), Strings({"1.4"}));
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "X?1?%_A"}}), Strings({"1.4"}));
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "X[1]"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "X1*"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "ACC00_"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "ACC%"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "[AX]*"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kStudyDescription, "50%_off"}}), Strings({"1.4"}));
  EXPECT_EQ(Studies({{Attribute::kStudyDescription, "50%*"}}), Strings({"1.4"}));
  EXPECT_EQ(Studies({{Attribute::kStudyDescription, "5_%_off"}}), Strings());
}

TEST_P(CatalogQueryTest, OtherTextIsCaseSensitive) {
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "ACC001"}}), Strings({"1.1"}));
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "acc001"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "ACC00?"}}), Strings({"1.1", "1.2", "1.3", "1.5", "1.6"}));
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "ACC*"}}), Strings({"1.1", "1.2", "1.3", "1.5", "1.6"}));
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "ACC001\\ACC003\\NOPE"}}), Strings({"1.1", "1.3"}));
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "ACC00"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kStudyDescription, "CT*"}}), Strings({"1.1"}));
  EXPECT_EQ(Studies({{Attribute::kStudyDescription, "ct*"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kStudyDescription, "*Thorax"}}), Strings({"1.1"}));
  EXPECT_EQ(Studies({{Attribute::kStudyID, "S1.2"}}), Strings({"1.2"}));
  EXPECT_EQ(Patients({{Attribute::kPatientSex, "F"}}), Strings({"P2"}));
  EXPECT_EQ(Patients({{Attribute::kPatientSex, "f"}}), Strings());
  EXPECT_EQ(Patients({{Attribute::kPatientSex, "M\\O"}}), Strings({"P1", "P3", "P4"}));
  EXPECT_EQ(Patients({{Attribute::kPatientID, "P?"}}), Strings({"P1", "P2", "P3", "P4"}));
  EXPECT_EQ(Patients({{Attribute::kPatientID, "p1"}}), Strings());
}

TEST_P(CatalogQueryTest, UidSingleAndLists) {
  EXPECT_EQ(Studies({{Attribute::kStudyInstanceUID, "1.3"}}), Strings({"1.3"}));
  EXPECT_EQ(Studies({{Attribute::kStudyInstanceUID, "1.1\\1.4\\9.9"}}), Strings({"1.1", "1.4"}));
  EXPECT_EQ(Studies({{Attribute::kStudyInstanceUID, "9.9\\9.8"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kStudyInstanceUID, "1"}}), Strings());  // not a prefix match
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kSeriesInstanceUID, "1.1.1\\1.6.1"}}), Strings({"1.1.1", "1.6.1"}));
  EXPECT_EQ(Keys(QueryLevel::kSeries,
                 {{Attribute::kStudyInstanceUID, "1.1\\1.2"}, {Attribute::kSeriesInstanceUID, "1.1.1\\1.6.1"}}),
            Strings({"1.1.1"}));
}

TEST_P(CatalogQueryTest, DatesSingleAndRanges) {
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "20240101"}}), Strings({"1.1", "1.2"}));
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "2024.01.02"}}), Strings({"1.3", "1.4", "1.6"}));
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "20240101-20240102"}}), Strings({"1.1", "1.2", "1.3", "1.4", "1.6"}));
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "-20240101"}}), Strings({"1.1", "1.2", "1.5"}));
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "20240102-"}}), Strings({"1.3", "1.4", "1.6"}));
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "20231231-20231231"}}), Strings({"1.5"}));
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "19000101-20231230"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "20240103-"}}), Strings());
  EXPECT_EQ(Patients({{Attribute::kPatientBirthDate, "19750101-"}}), Strings({"P2", "P4"}));
  EXPECT_EQ(Patients({{Attribute::kPatientBirthDate, "-19850101"}}), Strings({"P1", "P2"}));  // not P3 (empty)
}

// PS3.5 allows the legacy "YYYY.MM.DD" form in stored values, and
// dicom::NormalizeDate (so the Matcher) accepts it.
TEST_P(CatalogQueryTest, StoredLegacyDateFormatMatches) {
  InstanceData in{"1.7.1.1", "1.7.1", 1};
  StudyData st{"P5", "2023.12.30", "120000", "ACC007", "Old", ""};
  SeriesData se{"1.7", "CR", 1, ""};
  Insert({Build("P5", {"Legacy^Pat", "1950.05.05", "F"}, "1.7", st, "1.7.1", se, in)});
  ASSERT_TRUE(Matcher::Parse(dicom::ValueKind::kDate, "20231230")->Matches("2023.12.30"));
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "20231230"}}), Strings({"1.7"}));
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "20231201-20231231"}}), Strings({"1.5", "1.7"}));
  EXPECT_EQ(Patients({{Attribute::kPatientBirthDate, "19500505"}}), Strings({"P5"}));
}

TEST_P(CatalogQueryTest, TimesSingleAndRanges) {
  // Stored: 1.1 "230000", 1.2 "100000", 1.3 "0900", 1.4 "070000.5", 1.5 "", 1.6 "10:30".
  EXPECT_EQ(Studies({{Attribute::kStudyTime, "10"}}), Strings({"1.2", "1.6"}));
  EXPECT_EQ(Studies({{Attribute::kStudyTime, "1030"}}), Strings({"1.6"}));
  EXPECT_EQ(Studies({{Attribute::kStudyTime, "10:30"}}), Strings({"1.6"}));
  EXPECT_EQ(Studies({{Attribute::kStudyTime, "09"}}), Strings({"1.3"}));
  EXPECT_EQ(Studies({{Attribute::kStudyTime, "070000.5"}}), Strings({"1.4"}));
  EXPECT_EQ(Studies({{Attribute::kStudyTime, "070000"}}), Strings({"1.4"}));
  EXPECT_EQ(Studies({{Attribute::kStudyTime, "070000.4"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kStudyTime, "0800-1000"}}), Strings({"1.2", "1.3"}));
  EXPECT_EQ(Studies({{Attribute::kStudyTime, "-0900"}}), Strings({"1.3", "1.4"}));
  EXPECT_EQ(Studies({{Attribute::kStudyTime, "1030-"}}), Strings({"1.1", "1.6"}));
  EXPECT_EQ(Studies({{Attribute::kStudyTime, "-2359"}}), Strings({"1.1", "1.2", "1.3", "1.4", "1.6"}));  // not 1.5
  EXPECT_EQ(Studies({{Attribute::kStudyTime, "12-13"}}), Strings());
}

TEST_P(CatalogQueryTest, StudyDateAndTimeCombined) {
  // 2024-01-01 08:00 .. 2024-01-02 09:30: one range (C.2.2.2.5.1), not two
  // independent conditions (which would give only 1.3).
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "20240101-20240102"}, {Attribute::kStudyTime, "0800-0930"}}),
            Strings({"1.1", "1.2", "1.3", "1.4"}));
  // One day, from 08:00.
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "20240102"}, {Attribute::kStudyTime, "0800-"}}), Strings({"1.3", "1.6"}));
  // One day, up to 09:00:59.
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "20240102"}, {Attribute::kStudyTime, "-0900"}}), Strings({"1.3", "1.4"}));
  // A universal time leaves the date alone.
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "20240101"}, {Attribute::kStudyTime, ""}}), Strings({"1.1", "1.2"}));
  // A universal date leaves the time alone.
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "*"}, {Attribute::kStudyTime, "10"}}), Strings({"1.2", "1.6"}));
}

// The example of the brief (and of C.2.2.2.5.1's overnight use): from
// 2024-01-01 17:00 to 2024-01-02 08:00. The time range "1700-0800" has its
// start after its end, which is only meaningful combined with the dates.
TEST_P(CatalogQueryTest, StudyDateAndTimeCombinedOvernight) {
  auto rows = Studies({{Attribute::kStudyDate, "20240101-20240102"}, {Attribute::kStudyTime, "1700-0800"}});
  ASSERT_FALSE(parse_failed_) << "StudyTime \"1700-0800\" cannot be parsed, so the combined range cannot be asked";
  EXPECT_EQ(rows, Strings({"1.1", "1.4"}));  // 20240101 2300 and 20240102 0700; not 20240101 1000, 20240102 0900
}

TEST_P(CatalogQueryTest, ModalitiesInStudy) {
  EXPECT_EQ(Studies({{Attribute::kModalitiesInStudy, "MR"}}), Strings({"1.1", "1.6"}));
  EXPECT_EQ(Studies({{Attribute::kModalitiesInStudy, "CT"}}), Strings({"1.1", "1.2", "1.5"}));
  EXPECT_EQ(Studies({{Attribute::kModalitiesInStudy, "CT\\PT"}}), Strings({"1.1", "1.2", "1.4", "1.5"}));
  EXPECT_EQ(Studies({{Attribute::kModalitiesInStudy, "US\\XA"}}), Strings({"1.3"}));
  EXPECT_EQ(Studies({{Attribute::kModalitiesInStudy, "M?"}}), Strings({"1.1", "1.6"}));
  EXPECT_EQ(Studies({{Attribute::kModalitiesInStudy, "*T"}}), Strings({"1.1", "1.2", "1.4", "1.5"}));
  EXPECT_EQ(Studies({{Attribute::kModalitiesInStudy, "XA"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kModalitiesInStudy, "mr"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kModalitiesInStudy, "CT\\MR"}, {Attribute::kPatientID, "P2"}}),
            Strings({"1.2", "1.6"}));
  EXPECT_EQ(Patients({{Attribute::kPatientName, "doe*"}}), Strings({"P2"}));
}

TEST_P(CatalogQueryTest, CombinedConditionsMustAllMatch) {
  EXPECT_EQ(Studies({{Attribute::kPatientID, "P2"}, {Attribute::kStudyDate, "20240102"}}), Strings({"1.3", "1.6"}));
  EXPECT_EQ(Studies({{Attribute::kPatientID, "P2"}, {Attribute::kStudyDate, "20240102"},
                     {Attribute::kModalitiesInStudy, "US"}}),
            Strings({"1.3"}));
  EXPECT_EQ(Studies({{Attribute::kPatientName, "山田*"}, {Attribute::kAccessionNumber, "ACC002"}}), Strings());
}

TEST_P(CatalogQueryTest, Limit) {
  auto two = Find(QueryLevel::kStudy, {}, 2);
  EXPECT_EQ(two.size(), 2u);
  auto one = Find(QueryLevel::kImage, {{Attribute::kStudyInstanceUID, "1.1"}}, 1);
  EXPECT_EQ(one.size(), 1u);
  // The limit counts matches, not candidate rows the SQL narrowed to.
  auto names = Find(QueryLevel::kPatient, {{Attribute::kPatientName, "*A*"}}, 2);
  EXPECT_EQ(names.size(), 2u);
  auto times = Find(QueryLevel::kStudy, {{Attribute::kStudyTime, "-1000"}}, 2);
  ASSERT_EQ(times.size(), 2u);
  for (const auto& r : times) EXPECT_NE(r.Get(Attribute::kStudyInstanceUID), "1.1");
  auto combined =
      Find(QueryLevel::kStudy, {{Attribute::kStudyDate, "20240101-20240102"}, {Attribute::kStudyTime, "0800-0930"}}, 3);
  EXPECT_EQ(combined.size(), 3u);
  // Fewer matches than the limit: all of them.
  EXPECT_EQ(Find(QueryLevel::kStudy, {{Attribute::kPatientID, "P2"}}, 10).size(), 3u);
  EXPECT_EQ(Find(QueryLevel::kStudy, {{Attribute::kPatientID, "P2"}}, 3).size(), 3u);
  EXPECT_EQ(Find(QueryLevel::kStudy, {}, 0).size(), 0u);
}

TEST_P(CatalogQueryTest, QueriesThatReturnNothing) {
  EXPECT_EQ(Patients({{Attribute::kPatientID, "NOPE"}}), Strings());
  EXPECT_EQ(Patients({{Attribute::kIssuerOfPatientID, "X"}}), Strings());
  EXPECT_EQ(Patients({{Attribute::kPatientName, "?"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kStudyDate, "19000101"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kStudyInstanceUID, "9.9.9"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kAccessionNumber, "ACC001"}, {Attribute::kPatientID, "P2"}}), Strings());
  EXPECT_EQ(Studies({{Attribute::kNumberOfStudyRelatedSeries, "0"}}), Strings());
  EXPECT_EQ(Keys(QueryLevel::kSeries, {{Attribute::kModality, "XA"}}), Strings());
  EXPECT_EQ(Keys(QueryLevel::kImage, {{Attribute::kSOPInstanceUID, "1.1.1"}}), Strings());
}

TEST_P(CatalogQueryTest, EmptyCatalogFindsNothing) {
  TempDir other;
  auto c = GetParam().open(other.path());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  for (auto level : {QueryLevel::kPatient, QueryLevel::kStudy, QueryLevel::kSeries, QueryLevel::kImage}) {
    CatalogQuery q;
    q.level = level;
    auto rows = (*c)->Find(q);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    EXPECT_TRUE(rows->empty());
  }
}

TEST_P(CatalogQueryTest, FindSeesLaterInserts) {
  EXPECT_EQ(Patients({{Attribute::kPatientName, "NEW*"}}), Strings());
  InstanceData in{"1.8.1.1", "1.8.1", 1};
  Insert({Build("P8", {"New^Person", "", ""}, "1.8", {"P8", "20250101", "", "", "", ""}, "1.8.1",
                {"1.8", "CT", 1, ""}, in)});
  EXPECT_EQ(Patients({{Attribute::kPatientName, "NEW*"}}), Strings({"P8"}));
  EXPECT_EQ(Studies({{Attribute::kModalitiesInStudy, "CT"}, {Attribute::kStudyDate, "2025.01.01"}}),
            Strings({"1.8"}));
}

INSTANTIATE_TEST_SUITE_P(
    AllCatalogs, CatalogQueryTest,
    ::testing::Values(CatalogFactory{"Sqlite",
                                     [](const std::filesystem::path& dir) {
                                       return OpenSqliteCatalog(dir / "catalog.db");
                                     }},
                      CatalogFactory{"Memory", [](const std::filesystem::path&) { return NewMemoryCatalog(); }}),
    [](const ::testing::TestParamInfo<CatalogFactory>& info) { return info.param.name; });

}  // namespace
}  // namespace bastion::index
