#include "web/qido.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace bastion::web {
namespace {

using dicom::Attribute;
using dicom::QueryLevel;

QidoPath Path(std::string_view p) {
  auto r = ParseQidoPath(p);
  EXPECT_TRUE(r.has_value()) << p;
  EXPECT_TRUE(r && r->ok()) << p;
  return r && r->ok() ? **r : QidoPath{};
}

QidoRequest Parse(std::string_view path, std::string_view query, const QidoLimits& limits = {}) {
  auto r = ParseQido(Path(path), query, limits);
  EXPECT_TRUE(r.ok()) << query << ": " << r.status().ToString();
  return r.ok() ? *r : QidoRequest{};
}

Status ParseError(std::string_view path, std::string_view query, const QidoLimits& limits = {}) {
  auto r = ParseQido(Path(path), query, limits);
  EXPECT_FALSE(r.ok()) << query;
  return r.ok() ? Status::Ok() : r.status();
}

const std::string* KeyValue(const QidoRequest& r, Attribute a) {
  for (const auto& [attribute, value] : r.query.keys)
    if (attribute == a) return &value;
  return nullptr;
}

bool Has(const std::vector<std::string>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

bool AnyContains(const std::vector<std::string>& list, std::string_view s) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& x) { return x.find(s) != std::string::npos; });
}

// --- Paths ---

TEST(QidoPathTest, Levels) {
  QidoPath p = Path("/studies");
  EXPECT_EQ(p.level, QueryLevel::kStudy);
  EXPECT_TRUE(p.study_uid.empty());
  p = Path("/studies/1.2.3/series");
  EXPECT_EQ(p.level, QueryLevel::kSeries);
  EXPECT_EQ(p.study_uid, "1.2.3");
  p = Path("/studies/1.2.3/series/1.2.3.4/instances");
  EXPECT_EQ(p.level, QueryLevel::kImage);
  EXPECT_EQ(p.series_uid, "1.2.3.4");
  p = Path("/series");
  EXPECT_EQ(p.level, QueryLevel::kSeries);
  p = Path("/instances/");
  EXPECT_EQ(p.level, QueryLevel::kImage);
  p = Path("/studies/1.2.3/instances");
  EXPECT_EQ(p.level, QueryLevel::kImage);
  EXPECT_EQ(p.study_uid, "1.2.3");
  EXPECT_TRUE(p.series_uid.empty());
}

TEST(QidoPathTest, NotQido) {
  for (const char* p : {"", "studies", "/", "/studies/1.2.3", "/studies/1.2.3/metadata", "/studies/1.2/series/1.3",
                        "/studies/1.2/series/1.3/instances/1.4", "/patients", "/studies/1.2/rendered"})
    EXPECT_FALSE(ParseQidoPath(p).has_value()) << p;
}

TEST(QidoPathTest, BadUidIs400) {
  for (const char* p : {"/studies/1.2.x/series", "/studies/../series", "/studies/1.2/series/01.2/instances",
                        "/studies//series"}) {
    auto r = ParseQidoPath(p);
    ASSERT_TRUE(r.has_value()) << p;
    ASSERT_FALSE(r->ok()) << p;
    EXPECT_EQ(r->status().code(), Code::kInvalidArgument);
  }
}

// --- Query strings ---

TEST(QidoParseTest, OhifStudyListVerbatim) {
  QidoRequest r = Parse("/studies",
                        "PatientName=*x*&00100020=*id*&AccessionNumber=*a*&StudyDescription=*d*"
                        "&ModalitiesInStudy=CT&StudyDate=20240101-20241231&StudyInstanceUID=u1%5Cu2"
                        "&limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060%2C00080090%2C00100030");
  EXPECT_EQ(r.query.model, dicom::InformationModel::kStudyRoot);
  EXPECT_EQ(r.query.level, QueryLevel::kStudy);
  ASSERT_EQ(r.query.keys.size(), 7u);
  EXPECT_EQ(*KeyValue(r, Attribute::kPatientName), "*x*");
  EXPECT_EQ(*KeyValue(r, Attribute::kPatientID), "*id*");
  EXPECT_EQ(*KeyValue(r, Attribute::kAccessionNumber), "*a*");
  EXPECT_EQ(*KeyValue(r, Attribute::kStudyDescription), "*d*");
  EXPECT_EQ(*KeyValue(r, Attribute::kModalitiesInStudy), "CT");  // bug 10
  EXPECT_EQ(*KeyValue(r, Attribute::kStudyDate), "20240101-20241231");
  EXPECT_EQ(*KeyValue(r, Attribute::kStudyInstanceUID), "u1\\u2");
  EXPECT_EQ(r.limit, 101);
  EXPECT_EQ(r.offset, 0);
  EXPECT_FALSE(r.fuzzy);
  EXPECT_FALSE(r.include_all);
  // 00080060 (Modality, a series attribute) is ignored in a study query, not refused.
  EXPECT_EQ(r.include, (std::vector<Attribute>{Attribute::kStudyDescription, Attribute::kReferringPhysicianName,
                                               Attribute::kPatientBirthDate}));
  EXPECT_TRUE(r.query.other_keys.empty());
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
}

TEST(QidoParseTest, OhifOpeningAStudyAndPriors) {
  QidoRequest r = Parse("/studies", "StudyInstanceUID=1.2.840.113619.2.1");
  EXPECT_EQ(*KeyValue(r, Attribute::kStudyInstanceUID), "1.2.840.113619.2.1");
  r = Parse("/studies", "00100020=PID%201");
  EXPECT_EQ(*KeyValue(r, Attribute::kPatientID), "PID 1");
  r = Parse("/studies/1.2.3/series", "");
  EXPECT_EQ(r.query.level, QueryLevel::kSeries);
  ASSERT_EQ(r.query.keys.size(), 1u);
  EXPECT_EQ(*KeyValue(r, Attribute::kStudyInstanceUID), "1.2.3");
  r = Parse("/studies/1.2.3/series/1.2.3.4/instances", "limit=10");
  EXPECT_EQ(r.query.level, QueryLevel::kImage);
  EXPECT_EQ(*KeyValue(r, Attribute::kSeriesInstanceUID), "1.2.3.4");
  EXPECT_EQ(r.limit, 10);
}

TEST(QidoParseTest, OneSidedDateRangesAndWildcards) {
  QidoRequest r = Parse("/studies", "StudyDate=19700102-20240101&PatientName=Doe*&StudyTime=-1200");
  EXPECT_EQ(*KeyValue(r, Attribute::kStudyDate), "19700102-20240101");
  EXPECT_EQ(*KeyValue(r, Attribute::kPatientName), "Doe*");
  r = Parse("/studies", "StudyDate=20240101-&PatientName=D%3Fe&AccessionNumber=*");
  EXPECT_EQ(*KeyValue(r, Attribute::kStudyDate), "20240101-");
  EXPECT_EQ(*KeyValue(r, Attribute::kPatientName), "D?e");
  EXPECT_EQ(*KeyValue(r, Attribute::kAccessionNumber), "*");
}

TEST(QidoParseTest, HexAndKeywordMix) {
  QidoRequest r = Parse("/studies/1.2/series", "00080060=CT&SeriesDescription=Axial&0020000e=1.2.3&00200011=4");
  EXPECT_EQ(*KeyValue(r, Attribute::kModality), "CT");
  EXPECT_EQ(*KeyValue(r, Attribute::kSeriesDescription), "Axial");
  EXPECT_EQ(*KeyValue(r, Attribute::kSeriesInstanceUID), "1.2.3");
  EXPECT_EQ(*KeyValue(r, Attribute::kSeriesNumber), "4");
}

TEST(QidoParseTest, UidLists) {
  EXPECT_EQ(*KeyValue(Parse("/studies", "StudyInstanceUID=u1%5Cu2"), Attribute::kStudyInstanceUID), "u1\\u2");
  EXPECT_EQ(*KeyValue(Parse("/studies", "StudyInstanceUID=1.2,1.3,1.4"), Attribute::kStudyInstanceUID), "1.2\\1.3\\1.4");
  EXPECT_EQ(*KeyValue(Parse("/studies", "StudyInstanceUID=1.2%2C1.3"), Attribute::kStudyInstanceUID), "1.2\\1.3");
  EXPECT_EQ(*KeyValue(Parse("/studies", "StudyInstanceUID=1.2&StudyInstanceUID=1.3"), Attribute::kStudyInstanceUID),
            "1.2\\1.3");
  // Commas stay in other keys: a name may hold one.
  EXPECT_EQ(*KeyValue(Parse("/studies", "StudyDescription=Chest,%20PA"), Attribute::kStudyDescription), "Chest, PA");
  // A wildcard in a UID list is refused by the matcher, naming the key.
  Status s = ParseError("/studies", "StudyInstanceUID=1.2,1.*");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("StudyInstanceUID"), std::string::npos) << s.message();
}

TEST(QidoParseTest, RepeatedKeysAreLists) {
  QidoRequest r = Parse("/studies", "ModalitiesInStudy=CT&ModalitiesInStudy=MR&PatientID=&PatientID=P1");
  EXPECT_EQ(*KeyValue(r, Attribute::kModalitiesInStudy), "CT\\MR");
  EXPECT_EQ(*KeyValue(r, Attribute::kPatientID), "P1");
  // A date cannot be a list: 400 naming it.
  Status s = ParseError("/studies", "StudyDate=20240101&StudyDate=20240102");
  EXPECT_NE(s.message().find("StudyDate"), std::string::npos);
}

TEST(QidoParseTest, EmptyValueIsReturnKey) {
  QidoRequest r = Parse("/studies", "StudyDescription=&PatientSex");
  EXPECT_EQ(*KeyValue(r, Attribute::kStudyDescription), "");
  EXPECT_EQ(*KeyValue(r, Attribute::kPatientSex), "");
}

TEST(QidoParseTest, MalformedValuesNameTheParameter) {
  for (const char* q : {"StudyDate=2024-13-45", "StudyDate=yesterday", "PatientBirthDate=2024*", "StudyTime=25",
                        "00201208=many"}) {
    Status s = ParseError("/studies", q);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << q;
    std::string key = std::string(q).substr(0, std::string(q).find('='));
    if (key == "00201208") key = "NumberOfStudyRelatedInstances";
    EXPECT_NE(s.message().find("query parameter " + key), std::string::npos) << s.message();
  }
}

TEST(QidoParseTest, PercentDecoding) {
  EXPECT_EQ(*KeyValue(Parse("/studies", "PatientName=Doe%5EJohn"), Attribute::kPatientName), "Doe^John");
  EXPECT_EQ(*KeyValue(Parse("/studies", "PatientName=Doe+John"), Attribute::kPatientName), "Doe John");
  EXPECT_EQ(*KeyValue(Parse("/studies", "AccessionNumber=A%2BB"), Attribute::kAccessionNumber), "A+B");
  EXPECT_EQ(*KeyValue(Parse("/studies", "PatientName=%E5%B1%B1%E7%94%B0*"), Attribute::kPatientName), "山田*");
  EXPECT_EQ(*KeyValue(Parse("/studies", "Patient%4Eame=X"), Attribute::kPatientName), "X");
  for (const char* q : {"PatientName=%zz", "PatientName=%4", "PatientName=abc%", "PatientName=%00", "PatientName=%0A",
                        "PatientName=%FF%FE", "PatientName=%C0%AF", "Patient%GName=x"}) {
    Status s = ParseError("/studies", q);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << q;
  }
  EXPECT_NE(ParseError("/studies", "PatientName=%zz").message().find("PatientName"), std::string::npos);
}

TEST(QidoParseTest, IncludeField) {
  QidoRequest r = Parse("/studies", "includefield=StudyDescription&includefield=00080090,PatientBirthDate");
  EXPECT_EQ(r.include, (std::vector<Attribute>{Attribute::kStudyDescription, Attribute::kReferringPhysicianName,
                                               Attribute::kPatientBirthDate}));
  r = Parse("/studies", "includefield=all");
  EXPECT_TRUE(r.include_all);
  r = Parse("/studies", "includefield=StudyDescription&includefield=StudyDescription,0008103E,SOPClassUID");
  EXPECT_EQ(r.include, (std::vector<Attribute>{Attribute::kStudyDescription}));
  EXPECT_TRUE(r.warnings.empty());
  r = Parse("/studies", "includefield=00081032,InstitutionName,not%20a%20name");
  EXPECT_TRUE(r.include.empty());
  EXPECT_TRUE(AnyContains(r.warnings, "includefield 00081032"));
  EXPECT_TRUE(AnyContains(r.warnings, "includefield InstitutionName"));
  EXPECT_FALSE(AnyContains(r.warnings, "not a name"));
  // A series query can return series and study attributes.
  r = Parse("/studies/1.2/series", "includefield=00080060,00081030,00080018");
  EXPECT_EQ(r.include, (std::vector<Attribute>{Attribute::kModality, Attribute::kStudyDescription}));
}

TEST(QidoParseTest, LimitAndOffset) {
  QidoLimits limits;
  limits.default_limit = 50;
  limits.max_limit = 500;
  limits.max_offset = 10000;
  QidoRequest r = Parse("/studies", "", limits);
  EXPECT_EQ(r.limit, 50);
  EXPECT_EQ(r.offset, 0);
  r = Parse("/studies", "limit=500&offset=10000", limits);
  EXPECT_EQ(r.limit, 500);
  EXPECT_EQ(r.offset, 10000);
  EXPECT_FALSE(r.limit_clamped);
  r = Parse("/studies", "limit=99999999999999999999999", limits);
  EXPECT_EQ(r.limit, 500);
  EXPECT_TRUE(r.limit_clamped);
  EXPECT_TRUE(AnyContains(r.warnings, "limit"));
  for (const char* q : {"limit=0", "limit=-1", "limit=", "limit=ten", "limit=1.5", "limit=%2B5", "limit=0x10",
                        "offset=-1", "offset=", "offset=10001", "offset=99999999999999999999", "offset=1e3"}) {
    Status s = ParseError("/studies", q, limits);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << q;
    EXPECT_NE(s.message().find(std::string(q).substr(0, std::string(q).find('='))), std::string::npos) << s.message();
  }
}

TEST(QidoParseTest, FuzzyMatching) {
  EXPECT_FALSE(Parse("/studies", "fuzzymatching=false").fuzzy);
  QidoRequest r = Parse("/studies", "fuzzymatching=TRUE");
  EXPECT_TRUE(r.fuzzy);
  EXPECT_TRUE(AnyContains(r.warnings, "fuzzymatching"));
  EXPECT_EQ(ParseError("/studies", "fuzzymatching=yes").code(), Code::kInvalidArgument);
}

TEST(QidoParseTest, UnknownAndUnsupportedKeys) {
  QidoRequest r = Parse("/studies", "InstitutionName=X&00081032=Y&_=1700000000&ReferencedStudySequence.ReferencedSOPClassUID=1.2"
                                    "&SpecificCharacterSet=ISO_IR%20192");
  EXPECT_TRUE(r.query.keys.empty());
  EXPECT_TRUE(Has(r.query.other_keys, "InstitutionName"));
  EXPECT_TRUE(Has(r.query.other_keys, "00081032"));
  EXPECT_TRUE(Has(r.query.other_keys, "ReferencedStudySequence.ReferencedSOPClassUID"));
  EXPECT_EQ(r.query.other_keys.size(), 3u);
  EXPECT_TRUE(AnyContains(r.warnings, "InstitutionName"));
  EXPECT_TRUE(AnyContains(r.warnings, "sequence"));
  EXPECT_TRUE(AnyContains(r.warnings, "not an attribute"));
  EXPECT_FALSE(AnyContains(r.warnings, "SpecificCharacterSet"));
  // Keywords are case-sensitive (PS3.6); a wrongly cased one is not matched.
  r = Parse("/studies", "patientname=X");
  EXPECT_TRUE(r.query.keys.empty());
  EXPECT_TRUE(Has(r.query.other_keys, "patientname"));
}

TEST(QidoParseTest, KeyBelowTheLevelKeptButWarned) {
  QidoRequest r = Parse("/studies", "Modality=CT");
  EXPECT_EQ(*KeyValue(r, Attribute::kModality), "CT");
  EXPECT_TRUE(AnyContains(r.warnings, "Modality is a series attribute"));
}

TEST(QidoParseTest, AcceptAndCharsetParameters) {
  QidoRequest r = Parse("/studies", "accept=application%2Fdicom%2Bjson&charset=utf-8");
  EXPECT_EQ(r.accept, (std::vector<std::string>{"application/dicom+json"}));
  EXPECT_EQ(r.charset, (std::vector<std::string>{"utf-8"}));
}

TEST(QidoParseTest, PathAndQueryUid) {
  // Redundant: the same UID (or a list holding it) is dropped.
  QidoRequest r = Parse("/studies/1.2.3/series", "StudyInstanceUID=1.2.3");
  ASSERT_EQ(r.query.keys.size(), 1u);
  EXPECT_EQ(r.query.keys[0].second, "1.2.3");
  r = Parse("/studies/1.2.3/series/1.2.3.4/instances", "StudyInstanceUID=1.9,1.2.3&SeriesInstanceUID=1.2.3.4");
  EXPECT_EQ(r.query.keys.size(), 2u);
  // Conflicting: 400.
  Status s = ParseError("/studies/1.2.3/series", "StudyInstanceUID=1.2.4");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("path"), std::string::npos);
  s = ParseError("/studies/1.2.3/series/1.2.3.4/instances", "0020000E=1.2.3.5");
  EXPECT_NE(s.message().find("SeriesInstanceUID"), std::string::npos);
}

TEST(QidoParseTest, Bounds) {
  QidoLimits limits;
  limits.max_query_bytes = 100;
  limits.max_parameters = 3;
  EXPECT_EQ(ParseError("/studies", std::string(101, 'a'), limits).code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseError("/studies", "a=1&b=2&c=3&d=4", limits).code(), Code::kInvalidArgument);
  Parse("/studies", "a=1&&&b=2&c=3", limits);
}

// --- JSON ---

index::CatalogRow StudyRow() {
  index::CatalogRow row;
  row.Set(Attribute::kPatientName) = "Yamada^Tarou=山田^太郎=やまだ^たろう";
  row.Set(Attribute::kPatientID) = "P1";
  row.Set(Attribute::kPatientBirthDate) = "19700101";
  row.Set(Attribute::kPatientSex) = "";
  row.Set(Attribute::kStudyInstanceUID) = "1.2.3";
  row.Set(Attribute::kStudyDate) = "20240102";
  row.Set(Attribute::kStudyTime) = "101010";
  row.Set(Attribute::kAccessionNumber) = "";
  row.Set(Attribute::kStudyID) = "S1 ";
  row.Set(Attribute::kStudyDescription) = "Chest";
  row.Set(Attribute::kReferringPhysicianName) = "";
  row.Set(Attribute::kModalitiesInStudy) = "CT\\MR";
  row.Set(Attribute::kNumberOfStudyRelatedSeries) = "2";
  row.Set(Attribute::kNumberOfStudyRelatedInstances) = "120";
  return row;
}

index::CatalogRow InstanceRow() {
  index::CatalogRow row = StudyRow();
  row.Set(Attribute::kSeriesInstanceUID) = "1.2.3.4";
  row.Set(Attribute::kModality) = "CT";
  row.Set(Attribute::kSeriesNumber) = "3";
  row.Set(Attribute::kSeriesDescription) = "Axial";
  row.Set(Attribute::kNumberOfSeriesRelatedInstances) = "60";
  row.Set(Attribute::kSOPInstanceUID) = "1.2.3.4.5";
  row.Set(Attribute::kSOPClassUID) = "1.2.840.10008.5.1.4.1.1.2";
  row.Set(Attribute::kInstanceNumber) = "7";
  row.Set(Attribute::kRows) = "512";
  row.Set(Attribute::kColumns) = "512";
  row.Set(Attribute::kNumberOfFrames) = "";
  return row;
}

TEST(QidoJsonTest, StudyDefaultsShape) {
  QidoRequest req = Parse("/studies", "");
  nlohmann::json j = QidoResultJson(StudyRow(), req);
  // Keys: 8 upper-case hex digits, ascending.
  std::string last;
  for (const auto& [key, value] : j.items()) {
    EXPECT_EQ(key.size(), 8u);
    EXPECT_EQ(key.find_first_not_of("0123456789ABCDEF"), std::string::npos) << key;
    EXPECT_GT(key, last);
    last = key;
    EXPECT_TRUE(value.contains("vr")) << key;
    if (value.contains("Value")) {
      EXPECT_TRUE(value["Value"].is_array()) << key;
      EXPECT_FALSE(value["Value"].empty()) << key;
      EXPECT_NE(value["Value"], nlohmann::json::array({""})) << key;
    }
  }
  // The attributes OHIF reads from a study list.
  for (const char* tag : {"0020000D", "00080020", "00080030", "00080050", "00100010", "00100020", "00100030",
                          "00201208", "00080061", "00080090", "00201206", "00200010", "00100040", "00080005",
                          "00080056"})
    EXPECT_TRUE(j.contains(tag)) << tag;
  EXPECT_FALSE(j.contains("00081030")) << "StudyDescription only when asked for";
  EXPECT_FALSE(j.contains("00081190")) << "RetrieveURL only with a base URL";
  EXPECT_EQ(j["0020000D"], (nlohmann::json{{"vr", "UI"}, {"Value", {"1.2.3"}}}));
  EXPECT_EQ(j["00080050"], (nlohmann::json{{"vr", "SH"}})) << "empty: no Value";
  EXPECT_EQ(j["00080090"], (nlohmann::json{{"vr", "PN"}}));
  EXPECT_EQ(j["00080061"]["Value"], (nlohmann::json{"CT", "MR"})) << "multi-valued: an array";
  EXPECT_EQ(j["00201208"], (nlohmann::json{{"vr", "IS"}, {"Value", {120}}})) << "a number";
  EXPECT_TRUE(j["00201206"]["Value"][0].is_number_integer());
  EXPECT_EQ(j["00200010"]["Value"][0], "S1") << "padding trimmed";
  EXPECT_EQ(j["00080005"], (nlohmann::json{{"vr", "CS"}, {"Value", {"ISO_IR 192"}}}));
  EXPECT_EQ(j["00100010"]["Value"][0],
            (nlohmann::json{{"Alphabetic", "Yamada^Tarou"}, {"Ideographic", "山田^太郎"}, {"Phonetic", "やまだ^たろう"}}));
  // Serializes (valid UTF-8) and says nothing twice.
  EXPECT_NO_THROW((void)j.dump());
  EXPECT_EQ(j.dump().find("\"Value\":[\"\"]"), std::string::npos);
}

TEST(QidoJsonTest, IncludeFieldMatchingKeysAndAll) {
  QidoRequest req = Parse("/studies", "StudyDescription=Ch*&includefield=00081030,00080060,IssuerOfPatientID");
  nlohmann::json j = QidoResultJson(StudyRow(), req);
  EXPECT_EQ(j["00081030"]["Value"][0], "Chest");
  EXPECT_EQ(j["00100021"], (nlohmann::json{{"vr", "LO"}}));
  EXPECT_FALSE(j.contains("00080060")) << "a series attribute in a study answer";
  req = Parse("/studies", "includefield=all");
  j = QidoResultJson(StudyRow(), req);
  EXPECT_TRUE(j.contains("00081030"));
  EXPECT_TRUE(j.contains("00100021"));
  EXPECT_FALSE(j.contains("00201200")) << "patient counts are not computed at study level";
  EXPECT_FALSE(j.contains("0020000E"));
}

TEST(QidoJsonTest, PersonNames) {
  index::CatalogRow row = StudyRow();
  row.Set(Attribute::kPatientName) = "Doe^John";
  row.Set(Attribute::kReferringPhysicianName) = "=山田^太郎";
  nlohmann::json j = QidoResultJson(row, Parse("/studies", ""));
  EXPECT_EQ(j["00100010"]["Value"], nlohmann::json::array({{{"Alphabetic", "Doe^John"}}}));
  EXPECT_EQ(j["00080090"]["Value"], nlohmann::json::array({{{"Ideographic", "山田^太郎"}}}));
  row.Set(Attribute::kReferringPhysicianName) = "A^B\\C^D";
  j = QidoResultJson(row, Parse("/studies", ""));
  EXPECT_EQ(j["00080090"]["Value"].size(), 2u);
  EXPECT_EQ(j["00080090"]["Value"][1]["Alphabetic"], "C^D");
  row.Set(Attribute::kReferringPhysicianName) = "==";
  j = QidoResultJson(row, Parse("/studies", ""));
  EXPECT_FALSE(j["00080090"].contains("Value"));
}

TEST(QidoJsonTest, OddStoredValues) {
  index::CatalogRow row = StudyRow();
  row.Set(Attribute::kModalitiesInStudy) = "CT\\\\MR";   // an empty value in a list: null
  row.Set(Attribute::kNumberOfStudyRelatedSeries) = "x";  // not a number: never a string
  row.Set(Attribute::kStudyDescription) = "bad \xFF byte";
  row.Set(Attribute::kAccessionNumber) = "   ";
  nlohmann::json j = QidoResultJson(row, Parse("/studies", "includefield=StudyDescription"));
  EXPECT_EQ(j["00080061"]["Value"], (nlohmann::json{"CT", nullptr, "MR"}));
  EXPECT_FALSE(j["00201206"].contains("Value"));
  EXPECT_EQ(j["00081030"]["Value"][0], "bad \xEF\xBF\xBD byte");
  EXPECT_FALSE(j["00080050"].contains("Value"));
  EXPECT_NO_THROW((void)j.dump());
}

TEST(QidoJsonTest, SeriesOfAStudy) {
  nlohmann::json j = QidoResultJson(InstanceRow(), Parse("/studies/1.2.3/series", ""));
  for (const char* tag : {"0020000D", "0020000E", "00080060", "00200011", "0008103E", "00201209"})
    EXPECT_TRUE(j.contains(tag)) << tag;
  EXPECT_FALSE(j.contains("00100010")) << "study attributes only in a relational query";
  EXPECT_EQ(j["00200011"]["Value"][0], 3);
  EXPECT_FALSE(j.contains("00080018"));
}

TEST(QidoJsonTest, RelationalSeriesAndInstances) {
  nlohmann::json j = QidoResultJson(InstanceRow(), Parse("/series", ""));
  EXPECT_TRUE(j.contains("00100010"));
  EXPECT_TRUE(j.contains("00080061"));
  EXPECT_TRUE(j.contains("0020000E"));
  j = QidoResultJson(InstanceRow(), Parse("/studies/1.2.3/series/1.2.3.4/instances", ""));
  for (const char* tag : {"0020000D", "0020000E", "00080018", "00080016", "00200013", "00280010", "00280011", "00280008"})
    EXPECT_TRUE(j.contains(tag)) << tag;
  EXPECT_FALSE(j["00280008"].contains("Value"));
  EXPECT_EQ(j["00280010"], (nlohmann::json{{"vr", "US"}, {"Value", {512}}}));
  EXPECT_FALSE(j.contains("00080060")) << "series attributes only when the series is not in the path";
  j = QidoResultJson(InstanceRow(), Parse("/studies/1.2.3/instances", ""));
  EXPECT_TRUE(j.contains("00080060"));
  EXPECT_FALSE(j.contains("00100010"));
}

TEST(QidoJsonTest, RetrieveUrl) {
  nlohmann::json j = QidoResultJson(InstanceRow(), Parse("/studies", ""), "https://pacs.example/dicomweb/");
  EXPECT_EQ(j["00081190"], (nlohmann::json{{"vr", "UR"}, {"Value", {"https://pacs.example/dicomweb/studies/1.2.3"}}}));
  j = QidoResultJson(InstanceRow(), Parse("/instances", ""), "/dicomweb");
  EXPECT_EQ(j["00081190"]["Value"][0], "/dicomweb/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5");
}

}  // namespace
}  // namespace bastion::web
