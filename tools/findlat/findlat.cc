// bastion-findlat: C-FIND latency measured in-process, for benchmarks.
//
//   bastion-findlat --port P --called-ae AE [--host 127.0.0.1]
//                   [--calling-ae BENCH] [--model study|patient]
//                   [--level STUDY] [-k Keyword[=value]]... [--runs N]
//                   [--warmup W] [--timeout S] [--run-timeout S] [--json]
//
// findscu spends tens of milliseconds per process starting up (loading the
// DCMTK data dictionary) before it sends a byte, which hides a fast server's
// latency. This tool pays that once: every run opens an association, sends
// one C-FIND, counts the responses, and releases, all in one process, and
// times with std::chrono::steady_clock
//
//   find   C-FIND request about to be sent -> final response received
//          (every pending response received and decoded in between)
//   first  C-FIND request about to be sent -> first response received (for a
//          query with matches: roughly the server's search before it streams)
//   assoc  TCP connect + A-ASSOCIATE request -> accept
//   total  association + find + release (the whole run)
//
// and prints the median and p95 (nearest rank) of each over --runs timed runs
// after --warmup untimed ones, the number of matches (pending responses) and
// the final status. --json prints one JSON object instead of text.
//
// Bounded on purpose: loopback peers only (--host in 127.0.0.0/8, or
// localhost), at most 100000 runs, every network wait limited by --timeout
// (connect, ACSE and each DIMSE message; default 30 s) and every run by
// --run-timeout (default 300 s; when exceeded the tool exits with code 3).
//
// -k works like findscu's: Keyword or gggg,eeee, optionally =value; a later
// -k for the same attribute replaces an earlier one.
//
// Exit codes: 0 every run ended with a final response (Success, or a
// failure/refusal status, which is reported, not an error of the tool);
// 1 a run failed on the network (association refused, timeout, abort);
// 2 usage error; 3 a run exceeded --run-timeout.

#include "dcmtk/config/osconfig.h"  // must come first
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/diutil.h"
#include "dcmtk/dcmnet/scu.h"
#include "dcmtk/oflog/oflog.h"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

[[noreturn]] void Usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "bastion-findlat: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: bastion-findlat --port P --called-ae AE [--host 127.0.0.1] [--calling-ae BENCH]\n"
               "                       [--model study|patient] [--level STUDY] [-k Keyword[=value]]...\n"
               "                       [--runs N] [--warmup W] [--timeout S] [--run-timeout S] [--json]\n");
  std::exit(2);
}

bool ParseUnsigned(const char* s, unsigned long max, unsigned long& out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long v = std::strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || s[0] == '-' || v > max) return false;
  out = v;
  return true;
}

// The key list: (tag, value) in command-line order; a later one replaces.
struct Key {
  DcmTagKey tag;
  std::string value;
};

bool ParseKey(const std::string& arg, Key& out, std::string& err) {
  auto eq = arg.find('=');
  std::string name = arg.substr(0, eq);
  out.value = eq == std::string::npos ? "" : arg.substr(eq + 1);
  unsigned int g = 0, e = 0;
  char tail = 0;
  if (std::sscanf(name.c_str(), "%x,%x%c", &g, &e, &tail) == 2 && g <= 0xffff && e <= 0xffff) {
    out.tag = DcmTagKey(static_cast<Uint16>(g), static_cast<Uint16>(e));
    return true;
  }
  DcmTag tag;
  if (DcmTag::findTagFromName(name.c_str(), tag).bad()) {
    err = "unknown attribute keyword '" + name + "'";
    return false;
  }
  out.tag = tag.getXTag();
  return true;
}

struct Options {
  std::string host = "127.0.0.1";
  unsigned long port = 0;
  std::string called_ae;
  std::string calling_ae = "BENCH";
  std::string model = "study";
  std::string level = "STUDY";
  std::vector<Key> keys;
  unsigned long runs = 30;
  unsigned long warmup = 3;
  unsigned long timeout_s = 30;
  unsigned long run_timeout_s = 300;
  bool json = false;
};

bool IsLoopback(std::string& host) {
  if (host == "localhost") host = "127.0.0.1";
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) != 1) return false;
  return (ntohl(a.s_addr) >> 24) == 127;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) -> const char* {
    if (i + 1 >= argc) Usage(std::string(argv[i]) + " wants a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    unsigned long n = 0;
    if (a == "--host") {
      o.host = value(i);
    } else if (a == "--port") {
      if (!ParseUnsigned(value(i), 65535, n) || n == 0) Usage("--port wants 1..65535");
      o.port = n;
    } else if (a == "--called-ae") {
      o.called_ae = value(i);
    } else if (a == "--calling-ae") {
      o.calling_ae = value(i);
    } else if (a == "--model") {
      o.model = value(i);
      if (o.model != "study" && o.model != "patient") Usage("--model wants study or patient");
    } else if (a == "--level") {
      o.level = value(i);
      if (o.level != "PATIENT" && o.level != "STUDY" && o.level != "SERIES" && o.level != "IMAGE")
        Usage("--level wants PATIENT, STUDY, SERIES or IMAGE");
    } else if (a == "-k" || a == "--key") {
      Key k;
      std::string err;
      if (!ParseKey(value(i), k, err)) Usage(err);
      o.keys.push_back(std::move(k));
    } else if (a == "--runs") {
      if (!ParseUnsigned(value(i), 100000, n) || n == 0) Usage("--runs wants 1..100000");
      o.runs = n;
    } else if (a == "--warmup") {
      if (!ParseUnsigned(value(i), 10000, n)) Usage("--warmup wants 0..10000");
      o.warmup = n;
    } else if (a == "--timeout") {
      if (!ParseUnsigned(value(i), 3600, n) || n == 0) Usage("--timeout wants 1..3600 seconds");
      o.timeout_s = n;
    } else if (a == "--run-timeout") {
      if (!ParseUnsigned(value(i), 86400, n) || n == 0) Usage("--run-timeout wants 1..86400 seconds");
      o.run_timeout_s = n;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "-h" || a == "--help") {
      Usage("");
    } else {
      Usage("unknown argument '" + a + "'");
    }
  }
  if (o.port == 0) Usage("--port is required");
  if (o.called_ae.empty() || o.called_ae.size() > 16) Usage("--called-ae is required (1..16 characters)");
  if (o.calling_ae.empty() || o.calling_ae.size() > 16) Usage("--calling-ae wants 1..16 characters");
  if (!IsLoopback(o.host)) Usage("--host must be a loopback IPv4 address (127.0.0.0/8) or localhost");
  return o;
}

// DcmSCU that counts the responses instead of keeping them, and notes when
// the first one arrived.
class CountingScu : public DcmSCU {
 public:
  unsigned long pending = 0;
  Uint16 final_status = 0xffff;
  bool got_final = false;
  std::optional<Clock::time_point> first;

  // Not DcmSCU's own: that logs every non-success final status as an error.
  OFCondition handleFINDResponse(const T_ASC_PresentationContextID, QRResponse* response,
                                 OFBool& wait_for_next) override {
    if (!first) first = Clock::now();
    if (response == nullptr) return DIMSE_NULLKEY;
    if (DICOM_PENDING_STATUS(response->m_status)) {
      ++pending;
      wait_for_next = OFTrue;
    } else {
      got_final = true;
      final_status = response->m_status;
      wait_for_next = OFFalse;
    }
    return EC_Normal;
  }
};

struct Run {
  bool ok = false;
  std::string error;
  double assoc_ms = 0, first_ms = 0, find_ms = 0, release_ms = 0, total_ms = 0;
  unsigned long matches = 0;
  Uint16 status = 0xffff;
};

Run OneRun(const Options& o, DcmDataset& query) {
  Run r;
  CountingScu scu;
  scu.setAETitle(o.calling_ae.c_str());
  scu.setPeerAETitle(o.called_ae.c_str());
  scu.setPeerHostName(o.host.c_str());
  scu.setPeerPort(static_cast<Uint16>(o.port));
  scu.setConnectionTimeout(static_cast<Sint32>(o.timeout_s));
  scu.setACSETimeout(static_cast<Uint32>(o.timeout_s));
  scu.setDIMSETimeout(static_cast<Uint32>(o.timeout_s));
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  const char* sop = o.model == "study" ? UID_FINDStudyRootQueryRetrieveInformationModel
                                       : UID_FINDPatientRootQueryRetrieveInformationModel;
  OFList<OFString> ts;
  ts.push_back(UID_LittleEndianExplicitTransferSyntax);
  ts.push_back(UID_LittleEndianImplicitTransferSyntax);
  scu.addPresentationContext(sop, ts);

  const auto t0 = Clock::now();
  OFCondition c = scu.initNetwork();
  if (c.good()) c = scu.negotiateAssociation();
  const auto t_assoc = Clock::now();
  if (c.bad()) {
    r.error = std::string("association: ") + c.text();
    return r;
  }
  T_ASC_PresentationContextID pres = scu.findPresentationContextID(sop, "");
  if (pres == 0) {
    r.error = "the peer accepted no presentation context for the C-FIND SOP class";
    (void)scu.abortAssociation();
    return r;
  }
  const auto t_send = Clock::now();
  c = scu.sendFINDRequest(pres, &query, nullptr);
  const auto t_final = Clock::now();
  if (c.bad() || !scu.got_final) {
    r.error = std::string("C-FIND: ") + (c.bad() ? c.text() : "no final response");
    (void)scu.abortAssociation();
    return r;
  }
  c = scu.releaseAssociation();
  const auto t_end = Clock::now();
  if (c.bad()) {
    r.error = std::string("release: ") + c.text();
    return r;
  }
  r.ok = true;
  r.assoc_ms = MsSince(t0, t_assoc);
  r.first_ms = MsSince(t_send, scu.first.value_or(t_final));
  r.find_ms = MsSince(t_send, t_final);
  r.release_ms = MsSince(t_final, t_end);
  r.total_ms = MsSince(t0, t_end);
  r.matches = scu.pending;
  r.status = scu.final_status;
  return r;
}

struct Stats {
  double median = 0, p95 = 0, min = 0, max = 0, mean = 0;
};

Stats Summarize(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  size_t rank = (95 * n + 99) / 100;  // nearest rank, 1-based
  s.p95 = v[std::min(n - 1, rank == 0 ? 0 : rank - 1)];
  s.min = v.front();
  s.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(n);
  return s;
}

std::string StatusText(Uint16 s) {
  if (s == 0x0000) return "Success";
  if (s == 0xfe00) return "Cancel";
  if (s == 0xa700) return "Refused: OutOfResources";
  if (s == 0xa900) return "Failed: IdentifierDoesNotMatchSOPClass";
  if (s == 0x0122) return "Failed: SOPClassNotSupported";
  if (s == 0x0124) return "Refused: NotAuthorized";
  if ((s & 0xf000) == 0xc000) return "Failed: UnableToProcess";
  if ((s & 0xf000) == 0xa000) return "Failed";
  return "Other";
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

std::string JsonStats(const char* name, const std::vector<double>& v, bool with_all) {
  Stats s = Summarize(v);
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "\"%s\": {\"median_ms\": %.3f, \"p95_ms\": %.3f, \"min_ms\": %.3f, \"max_ms\": %.3f, "
                "\"mean_ms\": %.3f",
                name, s.median, s.p95, s.min, s.max, s.mean);
  std::string out = buf;
  if (with_all) {
    out += ", \"all_ms\": [";
    for (size_t i = 0; i < v.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%s%.3f", i ? ", " : "", v[i]);
      out += buf;
    }
    out += "]";
  }
  out += "}";
  return out;
}

// Exits the process when a run takes longer than --run-timeout (a server
// that trickles responses slower than the per-message timeout).
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit) : limit_(limit), thread_([this] { Loop(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Arm() {
    std::lock_guard<std::mutex> l(m_);
    deadline_ = Clock::now() + limit_;
    armed_ = true;
    cv_.notify_all();
  }
  void Disarm() {
    std::lock_guard<std::mutex> l(m_);
    armed_ = false;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> l(m_);
    while (!stop_) {
      if (armed_ && Clock::now() >= deadline_) {
        std::fprintf(stderr, "bastion-findlat: a run exceeded --run-timeout (%lld s)\n",
                     static_cast<long long>(limit_.count()));
        std::fflush(stderr);
        std::_Exit(3);
      }
      if (armed_)
        cv_.wait_until(l, deadline_);
      else
        cv_.wait(l);
    }
  }
  std::chrono::seconds limit_;
  std::mutex m_;
  std::condition_variable cv_;
  Clock::time_point deadline_{};
  bool armed_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  setenv("TCP_NODELAY", "1", 1);
  OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
  Options o = ParseArgs(argc, argv);
  if (!dcmDataDict.isDictionaryLoaded()) {
    std::fprintf(stderr, "bastion-findlat: no DICOM data dictionary loaded (DCMDICTPATH?)\n");
    return 2;
  }

  DcmDataset query;
  (void)query.putAndInsertString(DCM_QueryRetrieveLevel, o.level.c_str());
  for (const auto& k : o.keys) {
    OFCondition c = query.putAndInsertString(k.tag, k.value.c_str());
    if (c.bad()) Usage("cannot set " + std::string(DcmTag(k.tag).getTagName()) + ": " + c.text());
  }

  Watchdog dog{std::chrono::seconds(o.run_timeout_s)};
  std::vector<double> assoc, first, find, release, total;
  std::vector<unsigned long> matches;
  std::vector<Uint16> statuses;
  const unsigned long all = o.warmup + o.runs;
  for (unsigned long i = 0; i < all; ++i) {
    dog.Arm();
    Run r = OneRun(o, query);
    dog.Disarm();
    if (!r.ok) {
      std::fprintf(stderr, "bastion-findlat: run %lu of %lu (%s): %s\n", i + 1, all,
                   i < o.warmup ? "warm-up" : "timed", r.error.c_str());
      if (o.json)
        std::printf("{\"error\": \"%s\", \"run\": %lu}\n", JsonEscape(r.error).c_str(), i + 1);
      return 1;
    }
    if (i < o.warmup) continue;
    assoc.push_back(r.assoc_ms);
    first.push_back(r.first_ms);
    find.push_back(r.find_ms);
    release.push_back(r.release_ms);
    total.push_back(r.total_ms);
    matches.push_back(r.matches);
    statuses.push_back(r.status);
  }

  const unsigned long m = matches.back();
  const Uint16 st = statuses.back();
  const bool consistent = std::all_of(matches.begin(), matches.end(), [&](unsigned long x) { return x == m; }) &&
                          std::all_of(statuses.begin(), statuses.end(), [&](Uint16 x) { return x == st; });
  char status_hex[8];
  std::snprintf(status_hex, sizeof status_hex, "0x%04X", st);

  if (o.json) {
    std::string out = "{";
    out += "\"runs\": " + std::to_string(o.runs) + ", \"warmup\": " + std::to_string(o.warmup);
    out += ", \"matches\": " + std::to_string(m);
    out += ", \"final_status\": \"" + StatusText(st) + "\", \"final_status_code\": \"" + status_hex + "\"";
    out += std::string(", \"consistent\": ") + (consistent ? "true" : "false");
    out += ", " + JsonStats("find", find, true);
    out += ", " + JsonStats("first", first, false);
    out += ", " + JsonStats("assoc", assoc, false);
    out += ", " + JsonStats("release", release, false);
    out += ", " + JsonStats("total", total, true);
    out += "}\n";
    std::fputs(out.c_str(), stdout);
  } else {
    auto line = [](const char* name, const std::vector<double>& v) {
      Stats s = Summarize(v);
      std::printf("%-7s median %9.3f ms  p95 %9.3f ms  min %9.3f  max %9.3f\n", name, s.median, s.p95, s.min,
                  s.max);
    };
    std::printf("%lu runs after %lu warm-ups: %lu matches, final status %s (%s)%s\n", o.runs, o.warmup, m,
                status_hex, StatusText(st).c_str(), consistent ? "" : " [varied between runs]");
    line("find", find);
    line("first", first);
    line("assoc", assoc);
    line("release", release);
    line("total", total);
  }
  return 0;
}
