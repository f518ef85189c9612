#include "audit/audit_log.h"

#include <gtest/gtest.h>

#include <fstream>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../temp_dir.h"

namespace bastion::audit {
namespace {

using test::TempDir;

AuditEvent Event(int i, bool success = true) {
  AuditEvent e;
  e.type = "instance.store";
  e.success = success;
  e.actor = Actor{"node", "CT" + std::to_string(i % 3), "10.0.0." + std::to_string(i % 250)};
  e.details = {{"note", "record-" + std::to_string(i)}, {"sop_instance_uid", "1.2.3." + std::to_string(i)}};
  return e;
}

void WriteLines(const std::filesystem::path& path, const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  test::WriteBytes(path, out);
}

class AuditLogTest : public ::testing::Test {
 protected:
  void AppendN(AuditLog& log, int from, int n) {
    for (int i = from; i < from + n; ++i) ASSERT_TRUE(log.Append(Event(i)).ok());
  }

  void WriteLog(int n) {
    auto log = OpenAuditLog(path_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    AppendN(**log, 1, n);
  }

  VerifyReport Verify() {
    auto r = VerifyAuditLog(path_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VerifyReport{false, -1, -1, "verify failed"};
  }

  TempDir dir_;
  std::filesystem::path path_ = dir_ / "audit.log";
};

TEST_F(AuditLogTest, AppendedLogVerifies) {
  WriteLog(10);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.intact) << r.reason;
  EXPECT_EQ(r.records, 10);
  EXPECT_EQ(r.broken_line, 0);
  EXPECT_EQ(test::ReadLines(path_).size(), 10u);
}

TEST_F(AuditLogTest, RecordsAreChainedJsonLines) {
  WriteLog(3);
  auto lines = test::ReadLines(path_);
  ASSERT_EQ(lines.size(), 3u);
  std::string prev = kGenesisHash;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto rec = nlohmann::json::parse(lines[i]);
    EXPECT_EQ(rec.at("seq").get<std::int64_t>(), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(rec.at("prev").get<std::string>(), prev);
    EXPECT_EQ(rec.at("type"), "instance.store");
    EXPECT_EQ(rec.at("outcome"), "success");
    EXPECT_EQ(rec.at("actor").at("kind"), "node");
    EXPECT_EQ(rec.at("details").at("note"), "record-" + std::to_string(i + 1));
    EXPECT_TRUE(test::IsUtcTimestampWithMicros(rec.at("time").get<std::string>())) << rec.at("time");
    std::string hash = rec.at("hash").get<std::string>();
    EXPECT_EQ(hash.size(), 64u);
    rec.erase("hash");
    EXPECT_EQ(RecordHash(rec), hash);
    prev = hash;
  }
}

TEST_F(AuditLogTest, FailureOutcomeIsRecorded) {
  {
    auto log = OpenAuditLog(path_);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append(Event(1, false)).ok());
  }
  auto rec = nlohmann::json::parse(test::ReadLines(path_).at(0));
  EXPECT_EQ(rec.at("outcome"), "failure");
}

TEST_F(AuditLogTest, EmptyLogIsIntact) {
  test::WriteBytes(path_, "");
  VerifyReport r = Verify();
  EXPECT_TRUE(r.intact);
  EXPECT_EQ(r.records, 0);
}

TEST_F(AuditLogTest, MissingLogIsNotFound) {
  auto r = VerifyAuditLog(dir_ / "missing.log");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST_F(AuditLogTest, OpeningCreatesThePrivateFile) {
  auto log = OpenAuditLog(path_);
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(std::filesystem::exists(path_));
  auto perms = std::filesystem::status(path_).permissions();
  EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
            std::filesystem::perms::none);
}

TEST_F(AuditLogTest, EditedDetailsBreakTheChainAtThatLine) {
  WriteLog(9);
  auto lines = test::ReadLines(path_);
  std::string& middle = lines[4];
  std::size_t at = middle.find("record-5");
  ASSERT_NE(at, std::string::npos);
  middle[at + 7] = '6';  // one byte
  WriteLines(path_, lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.broken_line, 5);
  EXPECT_EQ(r.records, 4);
  EXPECT_FALSE(r.reason.empty());
}

TEST_F(AuditLogTest, EditedOutcomeBreaksTheChain) {
  WriteLog(5);
  auto lines = test::ReadLines(path_);
  std::size_t at = lines[2].find("\"success\"");
  ASSERT_NE(at, std::string::npos);
  lines[2].replace(at, 9, "\"failure\"");
  WriteLines(path_, lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.broken_line, 3);
}

TEST_F(AuditLogTest, RecomputedHashStillBreaksTheNextLink) {
  // An editor who also recomputes the edited record's hash breaks the next record's "prev".
  WriteLog(5);
  auto lines = test::ReadLines(path_);
  auto rec = nlohmann::json::parse(lines[1]);
  rec["details"]["note"] = "forged";
  rec.erase("hash");
  rec["hash"] = RecordHash(rec);
  lines[1] = rec.dump();
  WriteLines(path_, lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.broken_line, 3);
}

TEST_F(AuditLogTest, DeletedMiddleLineBreaksTheChain) {
  WriteLog(9);
  auto lines = test::ReadLines(path_);
  lines.erase(lines.begin() + 4);
  WriteLines(path_, lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.broken_line, 5);
  EXPECT_EQ(r.records, 4);
}

TEST_F(AuditLogTest, DeletedFirstLineBreaksTheChain) {
  WriteLog(3);
  auto lines = test::ReadLines(path_);
  lines.erase(lines.begin());
  WriteLines(path_, lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.broken_line, 1);
}

TEST_F(AuditLogTest, SwappedLinesBreakTheChain) {
  WriteLog(9);
  auto lines = test::ReadLines(path_);
  std::swap(lines[3], lines[4]);
  WriteLines(path_, lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.broken_line, 4);
}

TEST_F(AuditLogTest, DuplicatedLineBreaksTheChain) {
  WriteLog(4);
  auto lines = test::ReadLines(path_);
  lines.insert(lines.begin() + 2, lines[1]);
  WriteLines(path_, lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.broken_line, 3);
}

TEST_F(AuditLogTest, GarbageLineBreaksTheChain) {
  WriteLog(3);
  auto lines = test::ReadLines(path_);
  lines.insert(lines.begin() + 1, "not json at all");
  WriteLines(path_, lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.intact);
  EXPECT_EQ(r.broken_line, 2);
}

TEST_F(AuditLogTest, ReopenedLogContinuesTheChain) {
  WriteLog(3);
  WriteLog(2);  // a new AuditLog object on the existing file
  VerifyReport r = Verify();
  EXPECT_TRUE(r.intact) << r.reason << " at line " << r.broken_line;
  EXPECT_EQ(r.records, 5);
  auto last = nlohmann::json::parse(test::ReadLines(path_).back());
  EXPECT_EQ(last.at("seq"), 5);
}

TEST_F(AuditLogTest, TwoWritersOnOneFileInterleaved) {
  // As `serve` and a CLI command would: two logs on one file, each
  // continuing the chain from the file's real tail, not its own memory.
  auto a = OpenAuditLog(path_);
  auto b = OpenAuditLog(path_);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*a)->Append(Event(2 * i)).ok());
    ASSERT_TRUE((*b)->Append(Event(2 * i + 1)).ok());
    if (i % 3 == 0) {
      ASSERT_TRUE((*b)->Append(Event(100 + i)).ok());
    }
  }
  VerifyReport r = Verify();
  EXPECT_TRUE(r.intact) << r.reason << " at line " << r.broken_line;
  EXPECT_EQ(r.records, 24);
}

TEST_F(AuditLogTest, TwoWritersConcurrently) {
  auto a = OpenAuditLog(path_);
  auto b = OpenAuditLog(path_);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  std::atomic<int> failures{0};
  auto run = [&](AuditLog& log, int base) {
    for (int i = 0; i < 40; ++i)
      if (!log.Append(Event(base + i)).ok()) ++failures;
  };
  std::thread ta(run, std::ref(**a), 0);
  std::thread tb(run, std::ref(**b), 1000);
  ta.join();
  tb.join();
  EXPECT_EQ(failures.load(), 0);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.intact) << r.reason << " at line " << r.broken_line;
  EXPECT_EQ(r.records, 80);
}

TEST_F(AuditLogTest, ConcurrentAppendsFromEightThreads) {
  auto log = OpenAuditLog(path_);
  ASSERT_TRUE(log.ok());
  constexpr int kThreads = 8;
  constexpr int kEach = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i)
        if (!(*log)->Append(Event(t * 1000 + i)).ok()) ++failures;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.intact) << r.reason << " at line " << r.broken_line;
  EXPECT_EQ(r.records, kThreads * kEach);
  // Every event is there exactly once.
  std::set<std::string> notes;
  for (const auto& line : test::ReadLines(path_))
    notes.insert(nlohmann::json::parse(line).at("details").at("note").get<std::string>());
  EXPECT_EQ(notes.size(), static_cast<std::size_t>(kThreads * kEach));
}

TEST_F(AuditLogTest, AppendAllKeepsACallersRecordsTogetherAndInOrder) {
  // The ingest commit writes a batch's records with one fsync; other writers
  // append at the same time, and the chain must still verify.
  auto log = OpenAuditLog(path_);
  ASSERT_TRUE(log.ok());
  constexpr int kThreads = 4;
  constexpr int kCalls = 20;
  constexpr int kPerCall = 5;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int c = 0; c < kCalls; ++c) {
        std::vector<AuditEvent> events;
        for (int i = 0; i < kPerCall; ++i) events.push_back(Event((t * 100 + c) * 10 + i));
        if (!(*log)->AppendAll(std::move(events)).ok()) ++failures;
        if (!(*log)->Append(Event(900000 + t * 100 + c)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE((*log)->AppendAll({}).ok());  // nothing to write is not an error
  VerifyReport r = Verify();
  EXPECT_TRUE(r.intact) << r.reason << " at line " << r.broken_line;
  EXPECT_EQ(r.records, kThreads * kCalls * (kPerCall + 1));
  std::vector<int> notes;
  for (const auto& line : test::ReadLines(path_))
    notes.push_back(std::stoi(nlohmann::json::parse(line).at("details").at("note").get<std::string>().substr(7)));
  for (std::size_t i = 0; i < notes.size(); ++i) {
    if (notes[i] >= 900000 || notes[i] % 10 != 0) continue;
    // The start of an AppendAll: its other records follow at once, in order.
    ASSERT_LE(i + kPerCall, notes.size());
    for (int k = 1; k < kPerCall; ++k) EXPECT_EQ(notes[i + k], notes[i] + k) << "at line " << i + 1 + k;
  }
}

TEST_F(AuditLogTest, NonAsciiAndInvalidUtf8Details) {
  // PHI may carry any repertoire; a name that could not be converted to
  // UTF-8 arrives as raw bytes. The log must still verify.
  {
    auto log = OpenAuditLog(path_);
    ASSERT_TRUE(log.ok());
    AuditEvent e = Event(1);
    e.details["patient_name"] = "M\xc3\xbcller^J\xc3\xbcrgen";
    ASSERT_TRUE((*log)->Append(e).ok());
    AuditEvent raw = Event(2);
    raw.details["patient_name"] = "M\xfcller^J\xfcrgen";  // ISO 8859-1, not UTF-8
    ASSERT_TRUE((*log)->Append(raw).ok());
    ASSERT_TRUE((*log)->Append(Event(3)).ok());
  }
  VerifyReport r = Verify();
  EXPECT_TRUE(r.intact) << r.reason << " at line " << r.broken_line;
  EXPECT_EQ(r.records, 3);
}

TEST_F(AuditLogTest, AppendAfterATornTailFailsRatherThanForking) {
  // A crash mid-write leaves a partial last line; appending must not start a
  // new chain silently on top of it.
  WriteLog(2);
  {
    std::ofstream out(path_, std::ios::app | std::ios::binary);
    out << "{\"seq\":3,\"ti";
  }
  auto log = OpenAuditLog(path_);
  ASSERT_TRUE(log.ok());
  Status s = (*log)->Append(Event(9));
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kCorrupt);
}

TEST_F(AuditLogTest, ChainContinuesAfterALongRecord) {
  // A record longer than any fixed read-back window (e.g. an export that
  // lists many UIDs) must not stop the next process from appending.
  {
    auto log = OpenAuditLog(path_);
    ASSERT_TRUE(log.ok());
    AuditEvent big = Event(1);
    nlohmann::json uids = nlohmann::json::array();
    for (int i = 0; i < 3000; ++i) uids.push_back("1.2.826.0.1.3680043.8.498." + std::to_string(100000 + i));
    big.details["sop_instance_uids"] = uids;
    ASSERT_TRUE((*log)->Append(big).ok());
  }
  ASSERT_GT(std::filesystem::file_size(path_), 65536u);
  auto log = OpenAuditLog(path_);
  ASSERT_TRUE(log.ok());
  Status s = (*log)->Append(Event(2));
  EXPECT_TRUE(s.ok()) << s.ToString();
  VerifyReport r = Verify();
  EXPECT_TRUE(r.intact) << r.reason << " at line " << r.broken_line;
  EXPECT_EQ(r.records, 2);
}

TEST(RecordHashTest, Deterministic) {
  nlohmann::json rec = {{"seq", 1}, {"prev", kGenesisHash}, {"type", "node.add"}, {"details", {{"ae", "CT1"}}}};
  std::string h1 = RecordHash(rec);
  std::string h2 = RecordHash(rec);
  EXPECT_EQ(h1, h2);
  EXPECT_EQ(h1.size(), 64u);
  for (char c : h1) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));

  // Member order does not matter: the JSON is canonical.
  nlohmann::json reordered = nlohmann::json::object();
  reordered["details"] = {{"ae", "CT1"}};
  reordered["type"] = "node.add";
  reordered["prev"] = kGenesisHash;
  reordered["seq"] = 1;
  EXPECT_EQ(RecordHash(reordered), h1);
}

TEST(RecordHashTest, CoversEveryFieldAndThePreviousHash) {
  nlohmann::json rec = {{"seq", 1}, {"prev", kGenesisHash}, {"type", "node.add"}, {"details", {{"ae", "CT1"}}}};
  std::string h = RecordHash(rec);
  auto changed = rec;
  changed["details"]["ae"] = "CT2";
  EXPECT_NE(RecordHash(changed), h);
  changed = rec;
  changed["seq"] = 2;
  EXPECT_NE(RecordHash(changed), h);
  changed = rec;
  changed["prev"] = std::string(64, '1');
  EXPECT_NE(RecordHash(changed), h);
  changed = rec;
  changed["extra"] = true;
  EXPECT_NE(RecordHash(changed), h);
}

// A full disk takes part of a batch: the log is cut back to its last whole
// record, and appends go on once there is room, the chain unbroken.
TEST_F(AuditLogTest, AFailedWriteLeavesTheChainWhole) {
  auto log = OpenAuditLog(path_);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  AppendN(**log, 1, 3);
  const auto before = std::filesystem::file_size(path_);
  {
    test::FileSizeLimit limit(before + 100);  // room for part of a record only
    std::vector<AuditEvent> batch;
    for (int i = 4; i < 8; ++i) batch.push_back(Event(i));
    Status s = (*log)->AppendAll(std::move(batch));
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(std::filesystem::file_size(path_), before) << "a partial record was left in the log";
  }
  AppendN(**log, 8, 2);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.intact) << r.reason << " at line " << r.broken_line;
  EXPECT_EQ(r.records, 5);
  // A second writer (another process) continues the same chain.
  auto other = OpenAuditLog(path_);
  ASSERT_TRUE(other.ok());
  AppendN(**other, 10, 1);
  EXPECT_TRUE(Verify().intact);
}

}  // namespace
}  // namespace bastion::audit
