#include "audit/audit_reader.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "../temp_dir.h"
#include "audit/audit_log.h"

namespace bastion::audit {
namespace {

using test::TempDir;

// A record line shaped as AuditLog writes it (same members, same key order:
// nlohmann sorts them), with the time and seq chosen by the test. The reader
// does not check the chain, so the hashes need not be real.
std::string Line(std::int64_t seq, const std::string& time, const std::string& type, bool success = true,
                 const std::string& actor = "admin", nlohmann::json details = nlohmann::json::object()) {
  nlohmann::json rec = {{"seq", seq},
                        {"time", time},
                        {"type", type},
                        {"outcome", success ? "success" : "failure"},
                        {"actor", {{"kind", "user"}, {"id", actor}, {"address", "127.0.0.1"}}},
                        {"details", std::move(details)},
                        {"prev", std::string(64, '0')},
                        {"hash", std::string(64, '1')}};
  return rec.dump() + "\n";
}

std::vector<std::int64_t> Seqs(const AuditPage& page) {
  std::vector<std::int64_t> out;
  for (const auto& r : page.records) out.push_back(r.at("seq").get<std::int64_t>());
  return out;
}

class AuditReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = OpenAuditLog(path_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
  }

  void Append(const std::string& type, const std::string& actor = "admin", bool success = true,
              nlohmann::json details = nlohmann::json::object()) {
    ASSERT_TRUE(log_->Append(AuditEvent{type, success, Actor{"user", actor, "127.0.0.1"}, std::move(details)}).ok());
  }

  AuditPage Read(AuditQuery q) {
    auto page = ReadAuditLog(path_, q);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    return page.ok() ? *page : AuditPage{};
  }

  // Follows next_before from the newest record to the oldest, checking that
  // every call makes progress; the records in the order seen.
  std::vector<std::int64_t> ReadAll(AuditQuery q, int* calls = nullptr, int max_calls = 100000) {
    std::vector<std::int64_t> seen;
    q.before_seq = 0;
    int n = 0;
    for (;;) {
      ++n;
      if (n > max_calls) {
        ADD_FAILURE() << "paging does not end after " << max_calls << " calls";
        break;
      }
      AuditPage page = Read(q);
      for (auto s : Seqs(page)) seen.push_back(s);
      if (page.next_before == 0) break;
      if (q.before_seq != 0 && page.next_before >= q.before_seq) {
        ADD_FAILURE() << "no progress: before " << q.before_seq << " gave next_before " << page.next_before;
        break;
      }
      q.before_seq = page.next_before;
    }
    if (calls) *calls = n;
    return seen;
  }

  // Writes `n` records shaped as AuditLog writes them, without an fsync
  // each (big logs); `make(i)` gives record i's type, actor and details.
  struct Spec {
    std::string type;
    std::string actor = "admin";
    nlohmann::json details = nlohmann::json::object();
  };
  template <typename Make>
  void WriteSynthetic(int n, Make make) {
    log_.reset();
    std::string text;
    for (int i = 1; i <= n; ++i) {
      Spec s = make(i);
      text += Line(i, "2026-11-01T00:00:00.000000Z", s.type, true, s.actor, std::move(s.details));
    }
    test::WriteBytes(path_, text);
  }

  static std::vector<std::int64_t> Descending(std::int64_t from, std::int64_t to) {
    std::vector<std::int64_t> out;
    for (auto s = from; s >= to; --s) out.push_back(s);
    return out;
  }

  TempDir dir_;
  std::filesystem::path path_ = dir_ / "audit.log";
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditReaderTest, NewestFirst) {
  for (int i = 0; i < 10; ++i) Append("instance.store", "CT1", true, {{"n", i}});
  AuditPage page = Read(AuditQuery{});
  EXPECT_EQ(Seqs(page), Descending(10, 1));
  EXPECT_EQ(page.records.front()["details"]["n"], 9);
  EXPECT_EQ(page.next_before, 0) << "the whole log fit: nothing older";
  EXPECT_FALSE(page.scan_limited);
  // AuditLog::Read is the same reader.
  auto through_log = log_->Read(AuditQuery{});
  ASSERT_TRUE(through_log.ok());
  EXPECT_EQ(Seqs(*through_log), Descending(10, 1));
}

TEST_F(AuditReaderTest, LimitAndBeforeCursor) {
  for (int i = 0; i < 10; ++i) Append("instance.store");
  AuditQuery q;
  q.limit = 3;
  AuditPage page = Read(q);
  EXPECT_EQ(Seqs(page), (std::vector<std::int64_t>{10, 9, 8}));
  EXPECT_EQ(page.next_before, 8);
  q.before_seq = page.next_before;
  page = Read(q);
  EXPECT_EQ(Seqs(page), (std::vector<std::int64_t>{7, 6, 5}));
  q.before_seq = 3;
  page = Read(q);
  EXPECT_EQ(Seqs(page), (std::vector<std::int64_t>{2, 1}));
  EXPECT_EQ(page.next_before, 0);
  q.before_seq = 1;
  page = Read(q);
  EXPECT_TRUE(page.records.empty());
  EXPECT_EQ(page.next_before, 0);
  // A cursor past the newest record is the whole log.
  q.before_seq = 1000;
  q.limit = 100;
  EXPECT_EQ(Seqs(Read(q)), Descending(10, 1));
}

TEST_F(AuditReaderTest, TypeFilterExactOrPrefixEndingInDot) {
  Append("user.add");           // 1
  Append("user.disable");       // 2
  Append("user.totp.enable");   // 3
  Append("userx.add");          // 4
  Append("node.add");           // 5
  Append("user");               // 6
  AuditQuery q;
  q.type = "user.";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{3, 2, 1}));
  q.type = "user.add";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{1}));
  q.type = "user";  // no dot: exact, not a prefix
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{6}));
  q.type = "user.totp.";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{3}));
  q.type = "use";
  EXPECT_TRUE(Read(q).records.empty());
}

TEST_F(AuditReaderTest, ActorFilterIsExact) {
  Append("login", "alice");
  Append("login", "alice2");
  Append("login", "bob");
  Append("login", "Alice");
  AuditQuery q;
  q.actor = "alice";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{1}));
  q.actor = "bob";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{3}));
  q.actor = "nobody";
  EXPECT_TRUE(Read(q).records.empty());
}

TEST_F(AuditReaderTest, TextFilterMatchesInsideDetails) {
  Append("instance.store", "CT1", true, {{"patient", {{"id", "PAT-0042"}, {"name", "DOE^JANE"}}}});
  Append("instance.store", "CT1", true, {{"patient", {{"id", "PAT-0043"}, {"name", "ROE^RICHARD"}}}});
  Append("query", "VIEWER", true, {{"keys", nlohmann::json::array({"PatientID=PAT-0042"})}});
  Append("note", "admin", true, {{"note", "say \"hello\" to C:\\scans"}});
  AuditQuery q;
  q.text = "PAT-0042";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{3, 1}));
  q.text = "doe^jane";  // case-sensitive
  EXPECT_TRUE(Read(q).records.empty());
  q.text = "ROE^";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{2}));
  // Text the log stores escaped (quotes, backslashes) is found as typed.
  q.text = "\"hello\"";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{4}));
  q.text = "C:\\scans";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{4}));
  // Combined with the other filters.
  q.text = "PAT-0042";
  q.type = "query";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{3}));
  q.type.clear();
  q.actor = "CT1";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{1}));
}

TEST_F(AuditReaderTest, FailuresOnly) {
  Append("login", "a", true);
  Append("login", "b", false);
  Append("association", "C", false);
  Append("login", "d", true);
  AuditQuery q;
  q.failures_only = true;
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{3, 2}));
  q.type = "login";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{2}));
}

TEST_F(AuditReaderTest, SinceInclusiveUntilExclusive) {
  log_.reset();
  std::string text;
  text += Line(1, "2026-10-31T23:59:59.999999Z", "a");
  text += Line(2, "2026-11-01T00:00:00.000000Z", "a");
  text += Line(3, "2026-11-01T08:00:00.000000Z", "a");
  text += Line(4, "2026-11-01T08:00:00.500000Z", "a");
  text += Line(5, "2026-11-01T08:00:01.000000Z", "a");
  text += Line(6, "2026-11-02T00:00:00.000000Z", "a");
  test::WriteBytes(path_, text);
  AuditQuery q;
  q.since = "2026-11-01";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{6, 5, 4, 3, 2}));
  q.until = "2026-11-02";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{5, 4, 3, 2}));
  q.since.clear();
  q.until = "2026-11-01";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{1}));
  // A time to the second, with its Z: the records within that second are
  // at or after it (since) and not before it (until).
  q.since = "2026-11-01T08:00:00Z";
  q.until = "2026-11-01T08:00:01Z";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{4, 3}));
  q.since = "2026-11-01T08:00:00";
  q.until = "2026-11-01T08:00:01";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{4, 3}));
  q.since = "2026-11-01T08:00:00.5Z";
  q.until.clear();
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{6, 5, 4}));
}

TEST_F(AuditReaderTest, PagingVisitsEveryRecordExactlyOnce) {
  WriteSynthetic(1500, [](int i) {
    return Spec{i % 3 == 0 ? "user.add" : "instance.store", "CT" + std::to_string(i % 4)};
  });
  AuditQuery q;
  q.limit = 7;
  int calls = 0;
  EXPECT_EQ(ReadAll(q, &calls), Descending(1500, 1));
  EXPECT_GE(calls, 1500 / 7);
  // With a filter, every matching record once, in order.
  q.type = "user.";
  q.limit = 11;
  std::vector<std::int64_t> expected;
  for (int i = 1500; i >= 1; --i)
    if (i % 3 == 0) expected.push_back(i);
  EXPECT_EQ(ReadAll(q), expected);
  q.type.clear();
  q.actor = "CT1";
  q.limit = 1000;
  expected.clear();
  for (int i = 1500; i >= 1; --i)
    if (i % 4 == 1) expected.push_back(i);
  EXPECT_EQ(ReadAll(q), expected);
}

TEST_F(AuditReaderTest, RecordsLongerThanTheBlock) {
  const std::size_t kMiB = 1 << 20;
  Append("small", "a", true, {{"n", 1}});
  Append("big", "a", true, {{"blob", std::string(kMiB + kMiB / 2, 'x')}, {"tail", "MARK-1"}});
  Append("small", "a", true, {{"n", 3}});
  Append("big", "a", true, {{"blob", std::string(3 * kMiB + 17, 'y')}, {"tail", "MARK-2"}});
  Append("big", "a", true, {{"blob", std::string(kMiB - 100, 'z')}, {"tail", "MARK-3"}});
  Append("small", "a", true, {{"n", 6}});
  AuditPage page = Read(AuditQuery{});
  ASSERT_EQ(Seqs(page), Descending(6, 1));
  EXPECT_EQ(page.records[1]["details"]["tail"], "MARK-3");
  EXPECT_EQ(page.records[2]["details"]["blob"].get<std::string>().size(), 3 * kMiB + 17);
  EXPECT_EQ(page.records[2]["details"]["tail"], "MARK-2");
  EXPECT_EQ(page.records[4]["details"]["blob"].get<std::string>().size(), kMiB + kMiB / 2);
  AuditQuery q;
  q.text = "MARK-2";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{4}));
  q.text.clear();
  q.type = "big";
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{5, 4, 2}));
  q.type.clear();
  q.limit = 1;
  EXPECT_EQ(ReadAll(q), Descending(6, 1));
}

// A log of a few MiB read with a small scan bound: each call stops after
// about max_scan_bytes, says so, and the cursor continues where it stopped,
// from wherever in the log that is.
TEST_F(AuditReaderTest, ScanBoundContinuesWithoutLosingOrRepeatingRecords) {
  const int kRecords = 5000;  // ~1 KiB each: ~5 MiB
  std::vector<std::int64_t> rare;
  auto is_rare = [&](int i) { return i % 397 == 0 || i == 1 || i == kRecords - 1; };
  for (int i = kRecords; i >= 1; --i)
    if (is_rare(i)) rare.push_back(i);
  // The details have a member called "seq": the reader must not take it for
  // the record's own when it skips a record without parsing it.
  WriteSynthetic(kRecords, [&](int i) {
    return Spec{is_rare(i) ? "rare.event" : "instance.store", "CT1",
                {{"seq", 999999999}, {"padding", std::string(900, 'p')}, {"id", is_rare(i) ? "RARE" : "common"}}};
  });
  ASSERT_GT(std::filesystem::file_size(path_), 4u << 20);

  AuditQuery q;
  q.max_scan_bytes = 256 << 10;
  q.text = "RARE";
  int calls = 0;
  EXPECT_EQ(ReadAll(q, &calls), rare);
  EXPECT_GT(calls, 4) << "a 5 MiB log in 256 KiB steps takes many calls";

  // The first call stops early and says so.
  q.before_seq = 0;
  AuditPage first = Read(q);
  EXPECT_TRUE(first.scan_limited);
  EXPECT_GT(first.next_before, 1);
  EXPECT_LT(first.next_before, kRecords);

  // Deep in the log, a bounded call still reaches records before the cursor.
  q.before_seq = 400;
  q.text.clear();
  q.type = "rare.";
  AuditPage deep = Read(q);
  EXPECT_EQ(Seqs(deep), (std::vector<std::int64_t>{397, 1}));
  EXPECT_FALSE(deep.scan_limited);
  EXPECT_EQ(deep.next_before, 0);

  // No filter: every record exactly once.
  q.type.clear();
  q.limit = 1000;
  q.max_scan_bytes = 100 << 10;
  EXPECT_EQ(ReadAll(q), Descending(kRecords, 1));
  // Filters on parsed members (not the text prefilter) page the same way.
  q.type = "rare.";
  q.limit = 2;
  EXPECT_EQ(ReadAll(q), rare);
}

TEST_F(AuditReaderTest, ScanBoundSmallerThanOneRecordStillProgresses) {
  const std::size_t kMiB = 1 << 20;
  Append("small");
  Append("big", "a", true, {{"blob", std::string(2 * kMiB, 'q')}});
  Append("small");
  Append("big", "a", true, {{"blob", std::string(3 * kMiB, 'q')}});
  AuditQuery q;
  q.max_scan_bytes = 4096;
  q.type = "small";
  EXPECT_EQ(ReadAll(q), (std::vector<std::int64_t>{3, 1}));
  q.type.clear();
  EXPECT_EQ(ReadAll(q), Descending(4, 1));
}

TEST_F(AuditReaderTest, EmptyAndMissingLog) {
  AuditPage page = Read(AuditQuery{});  // opened, nothing appended: an empty file
  EXPECT_TRUE(page.records.empty());
  EXPECT_EQ(page.next_before, 0);
  EXPECT_FALSE(page.scan_limited);
  auto missing = ReadAuditLog(dir_ / "no-such.log", AuditQuery{});
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_TRUE(missing->records.empty());
  EXPECT_EQ(missing->next_before, 0);
}

TEST_F(AuditReaderTest, DamagedLinesAreSkippedNotFatal) {
  log_.reset();
  std::string text = Line(1, "2026-11-01T00:00:00.000000Z", "a");
  text += "not json at all\n";
  text += R"({"seq": 3, "type": 5, "time": 7, "actor": "x", "outcome": null})" "\n";
  text += Line(4, "2026-11-01T00:00:01.000000Z", "a");
  text += R"({"seq": 5, "time": "2026-11-01T00:00:02.000000Z", "ty)";  // torn last write
  test::WriteBytes(path_, text);
  AuditQuery q;
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{4, 3, 1}));
  q.type = "a";
  q.actor = "admin";
  q.since = "2026-01-01";
  q.failures_only = false;
  EXPECT_EQ(Seqs(Read(q)), (std::vector<std::int64_t>{4, 1}));
}

TEST(AuditQueryTest, ValidateNamesTheField) {
  EXPECT_TRUE(ValidateAuditQuery(AuditQuery{}).ok());
  auto bad = [](auto change, const std::string& field) {
    AuditQuery q;
    change(q);
    Status s = ValidateAuditQuery(q);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << field;
    EXPECT_NE(s.message().find(field), std::string::npos) << s.message();
    // ReadAuditLog refuses it the same way, before touching the file.
    auto page = ReadAuditLog("/nonexistent/audit.log", q);
    EXPECT_EQ(page.status().code(), Code::kInvalidArgument) << field;
  };
  bad([](AuditQuery& q) { q.limit = 0; }, "limit");
  bad([](AuditQuery& q) { q.limit = 1001; }, "limit");
  bad([](AuditQuery& q) { q.limit = -5; }, "limit");
  bad([](AuditQuery& q) { q.before_seq = -1; }, "before");
  bad([](AuditQuery& q) { q.since = "yesterday"; }, "since");
  bad([](AuditQuery& q) { q.since = "2026/11/01"; }, "since");
  bad([](AuditQuery& q) { q.until = "01-11-2026"; }, "until");
  bad([](AuditQuery& q) { q.until = "2026-11-01T08:00:00+01:00"; }, "until");
  bad([](AuditQuery& q) { q.type = std::string(65, 'a'); }, "filter");
  bad([](AuditQuery& q) { q.actor = std::string(129, 'a'); }, "filter");
  bad([](AuditQuery& q) { q.text = std::string(257, 'a'); }, "filter");
  AuditQuery edge;
  edge.limit = 1000;
  edge.type = std::string(64, 'a');
  edge.actor = std::string(128, 'a');
  edge.text = std::string(256, 'a');
  edge.since = "2026-11-01";
  edge.until = "2026-11-01T08:00:00.123456Z";
  EXPECT_TRUE(ValidateAuditQuery(edge).ok());
}

}  // namespace
}  // namespace bastion::audit
