#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <mutex>
#include <set>

#include "index/catalog.h"
#include "index/query_sql.h"
#include "util/fs.h"
#include "util/text.h"

namespace bastion::index {
namespace {

// 2: patient_name_upper is Unicode upper case; series_modality covers study_pk.
// 3: patient_name_trigrams.
constexpr int kSchemaVersion = 3;

// Names are matched case-insensitively (PS3.4 C.2.2.2.1 leaves it to the
// implementation; radiologists expect "smith" to find "SMITH"): the upper-case
// copy (dicom::UpperCaseUtf8) is indexed.
constexpr const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS patients (
  pk INTEGER PRIMARY KEY,
  patient_id TEXT NOT NULL,
  issuer TEXT NOT NULL DEFAULT '',
  patient_name TEXT NOT NULL DEFAULT '',
  patient_name_upper TEXT NOT NULL DEFAULT '',
  birth_date TEXT NOT NULL DEFAULT '',
  sex TEXT NOT NULL DEFAULT '',
  UNIQUE (patient_id, issuer)
);
CREATE INDEX IF NOT EXISTS patients_name ON patients (patient_name_upper);
-- Every three consecutive characters of each patient's upper-case name
-- (query_sql.h TrigramText; rowid = patients.pk), for name patterns the
-- index above cannot serve: "*SMITH*" (a leading wildcard, as viewers send
-- for "contains") and ideographic or phonetic groups. Case-sensitive: the
-- text is already upper case, exactly as the matcher compares it.
CREATE VIRTUAL TABLE IF NOT EXISTS patient_name_trigrams USING fts5 (name, tokenize = 'trigram case_sensitive 1');
CREATE TABLE IF NOT EXISTS studies (
  pk INTEGER PRIMARY KEY,
  patient_pk INTEGER NOT NULL REFERENCES patients (pk),
  study_uid TEXT NOT NULL UNIQUE,
  study_date TEXT NOT NULL DEFAULT '',
  study_time TEXT NOT NULL DEFAULT '',
  accession_number TEXT NOT NULL DEFAULT '',
  study_id TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  referring_physician TEXT NOT NULL DEFAULT '',
  modalities TEXT NOT NULL DEFAULT '',
  num_series INTEGER NOT NULL DEFAULT 0,
  num_instances INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS studies_patient ON studies (patient_pk);
CREATE INDEX IF NOT EXISTS studies_date ON studies (study_date, study_time);
CREATE INDEX IF NOT EXISTS studies_accession ON studies (accession_number);
CREATE TABLE IF NOT EXISTS series (
  pk INTEGER PRIMARY KEY,
  study_pk INTEGER NOT NULL REFERENCES studies (pk),
  series_uid TEXT NOT NULL UNIQUE,
  modality TEXT NOT NULL DEFAULT '',
  series_number INTEGER,
  description TEXT NOT NULL DEFAULT '',
  body_part TEXT NOT NULL DEFAULT '',
  series_date TEXT NOT NULL DEFAULT '',
  series_time TEXT NOT NULL DEFAULT '',
  num_instances INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS series_study ON series (study_pk);
-- Covering (modality, study): ModalitiesInStudy queries find their studies
-- without reading the series rows.
CREATE INDEX IF NOT EXISTS series_modality ON series (modality, study_pk);
CREATE TABLE IF NOT EXISTS instances (
  pk INTEGER PRIMARY KEY,
  series_pk INTEGER NOT NULL REFERENCES series (pk),
  sop_uid TEXT NOT NULL UNIQUE,
  sop_class_uid TEXT NOT NULL,
  instance_number INTEGER,
  transfer_syntax_uid TEXT NOT NULL,
  specific_character_set TEXT NOT NULL DEFAULT '',
  rows INTEGER,
  columns INTEGER,
  number_of_frames INTEGER,
  blob_key TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  received_at TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS instances_series ON instances (series_pk);
CREATE INDEX IF NOT EXISTS instances_blob ON instances (blob_key);
)SQL";

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }
  bool valid() const { return stmt_ != nullptr; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets a statement on scope exit so it can be reused.
class Use {
 public:
  explicit Use(const Statement& s) : s_(s.get()) {}
  ~Use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Use& Text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Use& Int(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Use& OptInt(int i, const std::optional<std::int64_t>& v) {
    if (v) sqlite3_bind_int64(s_, i, *v);
    else sqlite3_bind_null(s_, i);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  std::int64_t ColumnInt(int i) { return sqlite3_column_int64(s_, i); }
  std::string ColumnText(int i) {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
  }

 private:
  sqlite3_stmt* s_;
};

class SqliteCatalog final : public Catalog {
 public:
  static Result<std::unique_ptr<Catalog>> Open(const std::string& path) {
    auto c = std::unique_ptr<SqliteCatalog>(new SqliteCatalog());
    BASTION_RETURN_IF_ERROR(c->Init(path));
    return std::unique_ptr<Catalog>(std::move(c));
  }

  ~SqliteCatalog() override {
    for (sqlite3* r : readers_) sqlite3_close(r);
    stmts_.clear();
    if (db_) sqlite3_close(db_);
  }

  using Catalog::InsertBatch;
  Result<std::vector<InsertOutcome>> InsertBatch(std::span<const InstanceRecord> records,
                                                 Durability durability) override {
    std::unique_lock lock(mu_);
    BASTION_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    std::vector<InsertOutcome> outcomes;
    outcomes.reserve(records.size());
    for (const auto& r : records) {
      auto o = InsertOne(r);
      if (!o.ok()) {
        (void)Exec("ROLLBACK");
        return o.status();
      }
      outcomes.push_back(*o);
    }
    Status s = Exec("COMMIT");
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
    lock.unlock();
    if (durability == Durability::kOnReturn) BASTION_RETURN_IF_ERROR(Sync());
    return outcomes;
  }

  // synchronous=NORMAL leaves each commit's WAL frames unsynced; an fdatasync
  // of the WAL file here makes them durable, which is exactly what FULL does
  // at COMMIT. (SQLite still syncs the WAL and the database around
  // checkpoints and when the WAL is reused, so NORMAL never corrupts.)
  // The file is opened each time: SQLite may delete and recreate it when the
  // last connection to the catalog closes, which can be another process's.
  Status Sync() override {
    if (path_ == ":memory:") return Status::Ok();
    std::string wal = path_ + "-wal";
    UniqueFd fd(::open(wal.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      // No WAL file: every commit was checkpointed into the database and the
      // WAL removed, which SQLite does only after syncing the database.
      if (errno == ENOENT) return Status::Ok();
      return ErrnoStatus("open catalog WAL");
    }
    if (::fdatasync(fd.get()) != 0) return ErrnoStatus("fdatasync catalog WAL");
    return Status::Ok();
  }

  Result<std::optional<std::string>> FindBlobKey(const std::string& sop_uid) override {
    std::lock_guard lock(mu_);
    Use q(*stmt("SELECT blob_key FROM instances WHERE sop_uid = ?1"));
    q.Text(1, sop_uid);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return std::optional<std::string>(q.ColumnText(0));
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    return Error("find instance");
  }

  Result<bool> HasBlobKey(const std::string& key) override {
    std::lock_guard lock(mu_);
    Use q(*stmt("SELECT 1 FROM instances WHERE blob_key = ?1 LIMIT 1"));
    q.Text(1, key);
    int rc = q.Step();
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Error("find blob");
  }

  Result<std::vector<HeldInstance>> LookupInstances(std::span<const std::string> sop_uids) override {
    Reader reader(*this);
    sqlite3* db = reader.db();
    // One snapshot for the whole list: a commit in between cannot make the
    // answer a mix of two states.
    if (sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK)
      return Status(Code::kInternal, std::string("catalog lookup: ") + sqlite3_errmsg(db));
    auto held = LookupIn(db, sop_uids);  // its statement is finalized before the snapshot ends
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    return held;
  }

  Result<CatalogCounts> Counts() override {
    std::lock_guard lock(mu_);
    Use q(*stmt("SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM studies), "
                "(SELECT count(*) FROM series), (SELECT count(*) FROM instances)"));
    if (q.Step() != SQLITE_ROW) return Error("count");
    return CatalogCounts{q.ColumnInt(0), q.ColumnInt(1), q.ColumnInt(2), q.ColumnInt(3)};
  }

  Result<std::vector<CatalogRow>> Find(const CatalogQuery& query) override {
    Reader reader(*this);
    sqlite3* db = reader.db();
    // The counts only choose the plan: a row inserted between them and the
    // query changes the speed, not the answer.
    internal::ModalityPlan plan = internal::ModalityPlan::kFromModality;
    if (auto probe = internal::BuildPlanProbe(query)) {
      // A small bound first: most queries have one side far smaller than the
      // other (a patient ID, a modality nobody has), and then the second
      // round, up to the cap, is not needed.
      const std::int64_t cap = internal::PlanProbeCap(query.limit);
      std::int64_t others = 0, modality = 0;
      for (std::int64_t bound : {std::min<std::int64_t>(internal::kPlanProbeFirstBound, cap), cap}) {
        BASTION_ASSIGN_OR_RETURN(others, Count(db, probe->others, probe->binds, probe->limit_parameter, bound));
        BASTION_ASSIGN_OR_RETURN(modality, Count(db, probe->modality, probe->binds, probe->limit_parameter,
                                                 others < bound ? others + 1 : bound));
        if (others < bound || modality < bound) break;
      }
      plan = internal::ChooseModalityPlan(others, modality, cap);
    }
    internal::SqlQuery q = internal::BuildQuerySql(query, plan);
    auto prepared = Prepare(db, q.sql, q.binds);
    if (!prepared.ok()) return prepared.status();
    sqlite3_stmt* raw = prepared->get();
    std::vector<CatalogRow> rows;
    int rc;
    while (rows.size() < query.limit && (rc = sqlite3_step(raw)) == SQLITE_ROW) {
      CatalogRow row;
      int col = 0;
      for (auto a : q.columns) {
        const unsigned char* t = sqlite3_column_text(raw, col++);
        if (t) row.Set(a) = reinterpret_cast<const char*>(t);
      }
      if (query.level == dicom::QueryLevel::kImage) {
        auto text = [&](int i) {
          const unsigned char* t = sqlite3_column_text(raw, i);
          return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
        };
        row.blob_key = text(col);
        row.transfer_syntax_uid = text(col + 1);
        row.specific_character_set = text(col + 2);
        row.size_bytes = static_cast<std::uint64_t>(sqlite3_column_int64(raw, col + 3));
      }
      if (internal::RowMatches(query, row)) rows.push_back(std::move(row));
    }
    if (rows.size() < query.limit && rc != SQLITE_DONE)
      return Status(Code::kIo, std::string("catalog query: ") + sqlite3_errmsg(db));
    return rows;
  }

  using StatementPtr = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;

  // `sql` prepared on `db` with `binds` as ?1, ?2, ...
  static Result<std::vector<HeldInstance>> LookupIn(sqlite3* db, std::span<const std::string> sop_uids) {
    BASTION_ASSIGN_OR_RETURN(StatementPtr q,
                             Prepare(db, "SELECT sop_class_uid, source FROM instances WHERE sop_uid = ?1", {}));
    std::vector<HeldInstance> held;
    for (const std::string& uid : sop_uids) {
      sqlite3_reset(q.get());
      sqlite3_bind_text(q.get(), 1, uid.data(), static_cast<int>(uid.size()), SQLITE_STATIC);
      int rc = sqlite3_step(q.get());
      if (rc == SQLITE_DONE) continue;
      if (rc != SQLITE_ROW) return Status(Code::kInternal, std::string("catalog lookup: ") + sqlite3_errmsg(db));
      auto text = [&q](int col) {
        const unsigned char* t = sqlite3_column_text(q.get(), col);
        return std::string(t ? reinterpret_cast<const char*>(t) : "");
      };
      held.push_back(HeldInstance{uid, text(0), text(1)});
    }
    return held;
  }

  static Result<StatementPtr> Prepare(sqlite3* db, const std::string& sql,
                                      const std::vector<std::variant<std::string, std::int64_t>>& binds) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
      return Status(Code::kInternal, std::string("catalog query: ") + sqlite3_errmsg(db));
    StatementPtr stmt(raw, sqlite3_finalize);
    for (std::size_t i = 0; i < binds.size(); ++i) {
      int at = static_cast<int>(i + 1);
      if (at > sqlite3_bind_parameter_count(raw)) break;
      if (auto* text = std::get_if<std::string>(&binds[i]))
        sqlite3_bind_text(raw, at, text->data(), static_cast<int>(text->size()), SQLITE_TRANSIENT);
      else
        sqlite3_bind_int64(raw, at, std::get<std::int64_t>(binds[i]));
    }
    return stmt;
  }

  // One of a PlanProbe's counts, with `limit` as parameter `limit_parameter`.
  static Result<std::int64_t> Count(sqlite3* db, const std::string& sql,
                                    const std::vector<std::variant<std::string, std::int64_t>>& binds,
                                    int limit_parameter, std::int64_t limit) {
    BASTION_ASSIGN_OR_RETURN(StatementPtr stmt, Prepare(db, sql, binds));
    sqlite3_bind_int64(stmt.get(), limit_parameter, limit);
    if (sqlite3_step(stmt.get()) != SQLITE_ROW)
      return Status(Code::kIo, std::string("catalog query: ") + sqlite3_errmsg(db));
    return sqlite3_column_int64(stmt.get(), 0);
  }

  Status ForEachInstance(
      const std::function<Status(const std::string&, const std::string&)>& visit) override {
    // Page through by primary key so the lock is not held while visiting.
    std::int64_t after = 0;
    for (;;) {
      std::vector<std::tuple<std::int64_t, std::string, std::string>> page;
      {
        std::lock_guard lock(mu_);
        Use q(*stmt("SELECT pk, sop_uid, blob_key FROM instances WHERE pk > ?1 ORDER BY pk LIMIT 1000"));
        q.Int(1, after);
        int rc;
        while ((rc = q.Step()) == SQLITE_ROW) page.emplace_back(q.ColumnInt(0), q.ColumnText(1), q.ColumnText(2));
        if (rc != SQLITE_DONE) return Error("list instances");
      }
      if (page.empty()) return Status::Ok();
      for (const auto& [pk, uid, key] : page) BASTION_RETURN_IF_ERROR(visit(uid, key));
      after = std::get<0>(page.back());
    }
  }

 private:
  SqliteCatalog() = default;

  // A read connection for queries: its own snapshot in WAL mode, so queries
  // run beside inserts. The in-memory twin has one connection (shared, locked).
  class Reader {
   public:
    explicit Reader(SqliteCatalog& c) : c_(c) {
      if (c_.path_ == ":memory:") {
        lock_ = std::unique_lock(c_.mu_);
        db_ = c_.db_;
        return;
      }
      {
        std::lock_guard lock(c_.readers_mu_);
        if (!c_.readers_.empty()) {
          db_ = c_.readers_.back();
          c_.readers_.pop_back();
        }
      }
      if (db_ == nullptr) {
        int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
        if (sqlite3_open_v2(c_.path_.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
          sqlite3_close(db_);
          db_ = nullptr;
          lock_ = std::unique_lock(c_.mu_);  // fall back to the writer's connection
          db_ = c_.db_;
          return;
        }
        sqlite3_busy_timeout(db_, 30000);
        internal::RegisterSqlFunctions(db_);
      }
      pooled_ = true;
    }
    ~Reader() {
      if (!pooled_) return;
      std::lock_guard lock(c_.readers_mu_);
      if (c_.readers_.size() < 8) c_.readers_.push_back(db_);
      else sqlite3_close(db_);
    }
    sqlite3* db() const { return db_; }

   private:
    SqliteCatalog& c_;
    std::unique_lock<std::mutex> lock_;
    sqlite3* db_ = nullptr;
    bool pooled_ = false;
  };

  Status Init(const std::string& path) {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    path_ = path;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) return Error("open catalog");
    internal::RegisterSqlFunctions(db_);
    sqlite3_busy_timeout(db_, 30000);  // other Bastion processes (import) may hold the write lock briefly
    BASTION_RETURN_IF_ERROR(Exec("PRAGMA journal_mode = WAL"));
    // NORMAL: crash-safe, and commits become durable through Sync() (see
    // there), which every writer calls before it acknowledges anything
    // (DESIGN: nothing acknowledged is lost).
    BASTION_RETURN_IF_ERROR(Exec("PRAGMA synchronous = NORMAL"));
    BASTION_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys = ON"));
    BASTION_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status s = Exec(kSchema);
    if (s.ok()) {
      Use q(*stmt("SELECT version FROM schema_version"));
      int rc = q.Step();
      if (rc == SQLITE_DONE) {
        s = Exec("INSERT INTO schema_version VALUES (" + std::to_string(kSchemaVersion) + ")");
      } else if (rc == SQLITE_ROW && q.ColumnInt(0) >= 1 && q.ColumnInt(0) < kSchemaVersion) {
        std::int64_t from = q.ColumnInt(0);
        // 1 -> 2: names were upper-cased in ASCII only.
        if (from < 2)
          s = Exec("UPDATE patients SET patient_name_upper = bastion_upper(patient_name); "
                   "DROP INDEX series_modality; CREATE INDEX series_modality ON series (modality, study_pk)");
        // 2 -> 3: the trigram index (kSchema created it empty), in this
        // transaction: a catalog is never at version 3 with names missing.
        if (s.ok() && from < 3)
          s = Exec("DELETE FROM patient_name_trigrams; "
                   "INSERT INTO patient_name_trigrams (rowid, name) "
                   "SELECT pk, bastion_trigram_text(patient_name_upper) FROM patients");
        if (s.ok()) s = Exec("UPDATE schema_version SET version = " + std::to_string(kSchemaVersion));
      } else if (rc == SQLITE_ROW && q.ColumnInt(0) != kSchemaVersion) {
        s = Status(Code::kUnsupported, "catalog schema version " + std::to_string(q.ColumnInt(0)) +
                                           " is not the one this Bastion knows (" +
                                           std::to_string(kSchemaVersion) + ")");
      }
    }
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
    BASTION_RETURN_IF_ERROR(Exec("COMMIT"));
    return Sync();
  }

  Status Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown";
      sqlite3_free(err);
      return Status(Code::kIo, "catalog: " + msg);
    }
    return Status::Ok();
  }

  Status Error(const char* what) { return Status(Code::kIo, std::string("catalog ") + what + ": " + sqlite3_errmsg(db_)); }

  Statement* stmt(const char* sql) {
    auto it = stmts_.find(sql);
    if (it == stmts_.end()) it = stmts_.emplace(sql, std::make_unique<Statement>(db_, sql)).first;
    return it->second.get();
  }

  // Returns the pk of the row matched by `select`, inserting with `insert` first if needed.
  Result<std::pair<std::int64_t, bool>> Upsert(const char* select, const std::function<void(Use&)>& bind_select,
                                              const char* insert, const std::function<void(Use&)>& bind_insert) {
    {
      Use q(*stmt(select));
      bind_select(q);
      int rc = q.Step();
      if (rc == SQLITE_ROW) return std::pair<std::int64_t, bool>(q.ColumnInt(0), false);
      if (rc != SQLITE_DONE) return Error("select");
    }
    Use ins(*stmt(insert));
    bind_insert(ins);
    if (ins.Step() != SQLITE_DONE) return Error("insert");
    return std::pair<std::int64_t, bool>(sqlite3_last_insert_rowid(db_), true);
  }

  Result<InsertOutcome> InsertOne(const InstanceRecord& r) {
    const dicom::InstanceHeader& h = r.header;
    {
      Use q(*stmt("SELECT blob_key FROM instances WHERE sop_uid = ?1"));
      q.Text(1, h.sop_instance_uid);
      int rc = q.Step();
      if (rc == SQLITE_ROW) {
        std::string existing = q.ColumnText(0);
        return InsertOutcome{existing == r.blob_key ? InsertResult::kDuplicate : InsertResult::kConflict, existing};
      }
      if (rc != SQLITE_DONE) return Error("find instance");
    }
    BASTION_ASSIGN_OR_RETURN(
        auto patient,
        Upsert("SELECT pk FROM patients WHERE patient_id = ?1 AND issuer = ?2",
               [&](Use& q) { q.Text(1, h.patient_id).Text(2, h.issuer_of_patient_id); },
               "INSERT INTO patients (patient_id, issuer, patient_name, patient_name_upper, birth_date, sex) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
               [&](Use& q) {
                 q.Text(1, h.patient_id).Text(2, h.issuer_of_patient_id).Text(3, h.patient_name);
                 q.Text(4, dicom::UpperCaseUtf8(h.patient_name)).Text(5, Date(h.patient_birth_date)).Text(6, h.patient_sex);
               }));
    if (patient.second) {
      Use q(*stmt("INSERT INTO patient_name_trigrams (rowid, name) VALUES (?1, ?2)"));
      q.Int(1, patient.first).Text(2, internal::TrigramText(dicom::UpperCaseUtf8(h.patient_name)));
      if (q.Step() != SQLITE_DONE) return Error("insert patient name trigrams");
    }
    BASTION_ASSIGN_OR_RETURN(
        auto study,
        Upsert("SELECT pk FROM studies WHERE study_uid = ?1", [&](Use& q) { q.Text(1, h.study_instance_uid); },
               "INSERT INTO studies (patient_pk, study_uid, study_date, study_time, accession_number, study_id, "
               "description, referring_physician, created_at, updated_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
               [&](Use& q) {
                 q.Int(1, patient.first).Text(2, h.study_instance_uid).Text(3, Date(h.study_date)).Text(4, h.study_time);
                 q.Text(5, h.accession_number).Text(6, h.study_id).Text(7, h.study_description);
                 q.Text(8, h.referring_physician_name).Text(9, r.received_at);
               }));
    BASTION_ASSIGN_OR_RETURN(
        auto series,
        Upsert("SELECT pk FROM series WHERE series_uid = ?1", [&](Use& q) { q.Text(1, h.series_instance_uid); },
               "INSERT INTO series (study_pk, series_uid, modality, series_number, description, body_part, "
               "series_date, series_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
               [&](Use& q) {
                 q.Int(1, study.first).Text(2, h.series_instance_uid).Text(3, h.modality).OptInt(4, h.series_number);
                 q.Text(5, h.series_description).Text(6, h.body_part_examined).Text(7, Date(h.series_date));
                 q.Text(8, h.series_time);
               }));
    {
      Use q(*stmt("INSERT INTO instances (series_pk, sop_uid, sop_class_uid, instance_number, "
                  "transfer_syntax_uid, specific_character_set, rows, columns, number_of_frames, blob_key, "
                  "size_bytes, received_at, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"));
      q.Int(1, series.first).Text(2, h.sop_instance_uid).Text(3, h.sop_class_uid).OptInt(4, h.instance_number);
      q.Text(5, h.transfer_syntax_uid).Text(6, h.specific_character_set).OptInt(7, h.rows).OptInt(8, h.columns);
      q.OptInt(9, h.number_of_frames).Text(10, r.blob_key).Int(11, static_cast<std::int64_t>(r.size_bytes));
      q.Text(12, r.received_at).Text(13, r.source);
      if (q.Step() != SQLITE_DONE) return Error("insert instance");
    }
    {
      Use q(*stmt("UPDATE series SET num_instances = num_instances + 1 WHERE pk = ?1"));
      q.Int(1, series.first);
      if (q.Step() != SQLITE_DONE) return Error("update series");
    }
    std::string modalities;
    if (series.second) {
      Use q(*stmt("SELECT modalities FROM studies WHERE pk = ?1"));
      q.Int(1, study.first);
      if (q.Step() != SQLITE_ROW) return Error("read study");
      modalities = MergeModality(q.ColumnText(0), h.modality);
    }
    {
      Use q(*stmt("UPDATE studies SET num_instances = num_instances + 1, num_series = num_series + ?2, "
                  "modalities = CASE WHEN ?2 = 1 THEN ?3 ELSE modalities END, updated_at = ?4 WHERE pk = ?1"));
      q.Int(1, study.first).Int(2, series.second ? 1 : 0).Text(3, modalities).Text(4, r.received_at);
      if (q.Step() != SQLITE_DONE) return Error("update study");
    }
    return InsertOutcome{InsertResult::kInserted, {}};
  }

  // DA as YYYYMMDD (the ACR-NEMA "YYYY.MM.DD" rewritten), so that date
  // ranges compare as text through the index; anything else as it came.
  static std::string Date(const std::string& da) {
    std::string norm = dicom::NormalizeDate(da);
    return norm.empty() ? da : norm;
  }

  // ModalitiesInStudy as a sorted, backslash-separated set.
  static std::string MergeModality(const std::string& current, const std::string& modality) {
    std::set<std::string> all;
    for (auto& m : Split(current, '\\')) all.insert(m);
    if (!modality.empty()) all.insert(modality);
    std::string out;
    for (const auto& m : all) {
      if (!out.empty()) out += '\\';
      out += m;
    }
    return out;
  }

  std::string path_;
  std::mutex mu_;
  sqlite3* db_ = nullptr;                                       // guarded by mu_
  std::mutex readers_mu_;
  std::vector<sqlite3*> readers_;                               // idle read connections; guarded by readers_mu_
  std::map<std::string, std::unique_ptr<Statement>> stmts_;    // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::filesystem::path& path) {
  return SqliteCatalog::Open(path.string());
}

Result<std::unique_ptr<Catalog>> NewMemoryCatalog() { return SqliteCatalog::Open(":memory:"); }

}  // namespace bastion::index
