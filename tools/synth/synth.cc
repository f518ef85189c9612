// bastion-synth: writes deterministic synthetic CT or MR studies as DICOM
// Part 10 files (Explicit VR Little Endian), for tests and benchmarks.
//
//   bastion-synth --out DIR [--studies N] [--series S] [--instances I]
//                 [--instances-max M] [--rows R] [--cols C]
//                 [--modality CT|MR|mix] [--seed X] [--patients P]
//                 [--names synthetic|realistic] [--first-year Y --years N]
//
// The catalog options (--instances-max, --modality mix, --names realistic,
// --first-year/--years) make a varied archive for query benchmarks: instance
// counts that differ per study, six modalities, surnames with a realistic
// spread (a common one such as SMITH is about 0.3% of patients), study dates
// over several years. Without them the output is exactly what it always was.
//
// Layout: DIR/STUDY0001/SE001_IM00001.dcm, one folder per study. The same
// arguments always give byte-identical files: every value (UIDs, names, dates,
// pixels) derives from the seed and the position of the object, never from
// the clock or a random device. Different seeds give disjoint UIDs and
// patient IDs, so several sets can go into one archive.
//
// UIDs live under 1.2.826.0.1.3680043.10.1234 and are
//   study     ROOT.1.<seed>.<study>
//   series    ROOT.2.<seed>.<study>.<series>
//   instance  ROOT.3.<seed>.<study>.<series>.<instance>
//   frame of reference ROOT.4.<seed>.<study>.<series>
// (indices 1-based), at most 59 characters for the largest accepted values.
//
// Exit codes: 0 done, 1 I/O error, 2 usage error.

#include "dcmtk/config/osconfig.h"  // must come first
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcuid.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kUidRoot = "1.2.826.0.1.3680043.10.1234";
constexpr const char* kCtImageStorage = "1.2.840.10008.5.1.4.1.1.2";
constexpr const char* kMrImageStorage = "1.2.840.10008.5.1.4.1.1.4";

// Modalities of --modality mix: the SOP class each is stored as and its share
// (per mille) of the studies.
struct ModalityInfo {
  const char* modality;
  const char* sop_class;
  const char* study_description;
  const char* body_part;
  unsigned per_mille;
};
constexpr ModalityInfo kModalities[] = {
    {"CT", kCtImageStorage, "SYNTH CT CHEST", "CHEST", 300},
    {"MR", kMrImageStorage, "SYNTH MR BRAIN", "HEAD", 250},
    {"CR", "1.2.840.10008.5.1.4.1.1.1", "SYNTH CR CHEST", "CHEST", 150},
    {"DX", "1.2.840.10008.5.1.4.1.1.1.1", "SYNTH DX HAND", "HAND", 100},
    {"US", "1.2.840.10008.5.1.4.1.1.6.1", "SYNTH US ABDOMEN", "ABDOMEN", 120},
    {"MG", "1.2.840.10008.5.1.4.1.1.1.2", "SYNTH MG BREAST", "BREAST", 80},
};
constexpr int kModalityCt = 0;
constexpr int kModalityMr = 1;

// --names realistic: 30% of patients carry one of these common surnames
// (uniformly, so each is ~0.3% of patients), the rest a generated one made of
// syllables that cannot spell any of them (no "SM", "TH", "J", "W", ...).
constexpr const char* kSurnames[] = {
    "SMITH",    "JOHNSON",  "WILLIAMS", "BROWN",    "JONES",    "GARCIA",    "MILLER",   "DAVIS",
    "RODRIGUEZ", "MARTINEZ", "HERNANDEZ", "LOPEZ",  "GONZALEZ", "WILSON",    "ANDERSON", "THOMAS",
    "TAYLOR",   "MOORE",    "JACKSON",  "MARTIN",   "LEE",      "PEREZ",     "THOMPSON", "WHITE",
    "HARRIS",   "SANCHEZ",  "CLARK",    "RAMIREZ",  "LEWIS",    "ROBINSON",  "WALKER",   "YOUNG",
    "ALLEN",    "KING",     "WRIGHT",   "SCOTT",    "TORRES",   "NGUYEN",    "HILL",     "FLORES",
    "GREEN",    "ADAMS",    "NELSON",   "BAKER",    "HALL",     "RIVERA",    "CAMPBELL", "MITCHELL",
    "CARTER",   "ROBERTS",  "MUELLER",  "SCHMIDT",  "SCHNEIDER", "FISCHER",  "WEBER",    "MEYER",
    "WAGNER",   "BECKER",   "SCHULZ",   "HOFFMANN", "DUBOIS",   "DURAND",    "LEROY",    "MOREAU",
    "LAURENT",  "ROSSI",    "RUSSO",    "FERRARI",  "ESPOSITO", "BIANCHI",   "ROMANO",   "COLOMBO",
    "JANSSEN",  "DEJONG",   "DEVRIES",  "VANDENBERG", "BAKKER", "VISSER",    "SMIT",     "MEIJER",
    "NOWAK",    "KOWALSKI", "WISNIEWSKI", "KOWALCZYK", "IVANOV", "PETROV",   "SILVA",    "SANTOS",
    "FERREIRA", "PEREIRA",  "OLIVEIRA", "COSTA",    "MURPHY",   "KELLY",     "OBRIEN",   "BYRNE",
    "SATO",     "SUZUKI",   "TANAKA",   "WATANABE",
};
constexpr const char* kSyllables[] = {"BA", "BE", "BO", "DA", "DE", "DO", "FA", "FE", "GA", "GO",
                                      "KA", "KE", "KO", "LA", "LE", "LO", "MA", "ME", "MO", "NA",
                                      "NE", "NO", "PA", "PE", "RA", "RE", "RO", "TA", "TE", "VA"};
constexpr const char* kGivenNames[] = {
    "JAMES", "MARY",    "JOHN",   "PATRICIA", "ROBERT", "JENNIFER", "MICHAEL", "LINDA",  "DAVID",
    "ELIZABETH", "WILLIAM", "BARBARA", "RICHARD", "SUSAN", "JOSEPH", "JESSICA", "THOMAS", "SARAH",
    "CHARLES", "KAREN", "ANNA",   "PETER",    "MARIA",  "PAUL",     "EMMA",    "LUCAS",  "SOPHIE",
    "HANS",  "CLAIRE",  "MARCO",  "GIULIA",   "PIET",   "ANNEKE",   "PIOTR",   "ZOFIA",  "OLGA",
    "JOAO",  "ANA",     "SEAN",   "AOIFE",    "HIROSHI", "YUKI",
};

struct Options {
  std::string out;
  uint32_t studies = 1;
  uint32_t series = 1;
  uint32_t instances = 10;
  uint32_t rows = 512;
  uint32_t cols = 512;
  bool mr = false;
  bool modality_mix = false;  // --modality mix: per study, from kModalities
  uint32_t seed = 1;
  uint32_t patients = 0;  // 0: one patient per study
  uint32_t instances_max = 0;  // 0: every series has `instances`
  bool realistic_names = false;
  uint32_t first_year = 0;  // 0: the historical 2020-01-01 + ~1500 days
  uint32_t years = 0;
};

constexpr const char* kUsage =
    "usage: bastion-synth --out DIR [--studies N] [--series S] [--instances I]\n"
    "                     [--instances-max M] [--rows R] [--cols C]\n"
    "                     [--modality CT|MR|mix] [--seed X] [--patients P]\n"
    "                     [--names synthetic|realistic] [--first-year Y --years N]\n"
    "\n"
    "Writes N studies of S series of I instances each (16-bit MONOCHROME2,\n"
    "Explicit VR Little Endian) under DIR, one folder per study. Output is\n"
    "deterministic for a given seed.\n"
    "\n"
    "  --out DIR        output directory (created if missing)\n"
    "  --studies N      studies (default 1, max 999999)\n"
    "  --series S       series per study (default 1, max 9999)\n"
    "  --instances I    instances per series (default 10, max 999999)\n"
    "  --instances-max M  vary instances per series between I and M, per study\n"
    "  --rows R         image rows (default 512, 1..8192)\n"
    "  --cols C         image columns (default 512, 1..8192)\n"
    "  --modality M     CT (default), MR, or mix: per study one of CT 30%, MR 25%,\n"
    "                   CR 15%, US 12%, DX 10%, MG 8% (each with its SOP class)\n"
    "  --seed X         0..4294967295 (default 1); different seeds, disjoint UIDs\n"
    "  --patients P     number of distinct patients the studies are spread over\n"
    "                   (default: one per study)\n"
    "  --names K        synthetic (default: SYNTH^PATIENT0001, ...) or realistic:\n"
    "                   SURNAME^GIVEN, 30% from 100 common surnames (~0.3% each,\n"
    "                   SMITH among them), the rest generated and unique-ish\n"
    "  --first-year Y   study dates spread uniformly over Y-01-01 .. (Y+N)-01-01\n"
    "  --years N        (both or neither; default: 2020-01-01 + up to 1500 days)\n";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "bastion-synth: %s\n\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

uint32_t parse_uint(std::string_view name, std::string_view text, uint64_t lo, uint64_t hi) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < lo || v > hi) {
    usage_error(std::string(name) + " wants an integer in " + std::to_string(lo) + ".." +
                std::to_string(hi) + ", got '" + std::string(text) + "'");
  }
  return static_cast<uint32_t>(v);
}

Options parse_args(int argc, char** argv) {
  Options o;
  bool have_out = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    std::string_view name = arg;
    std::string_view value;
    bool inline_value = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    auto need_value = [&]() -> std::string_view {
      if (inline_value) return value;
      if (i + 1 >= argc) usage_error(std::string(name) + " needs a value");
      return argv[++i];
    };
    if (name == "--out") {
      o.out = std::string(need_value());
      have_out = !o.out.empty();
    } else if (name == "--studies") {
      o.studies = parse_uint(name, need_value(), 1, 999999);
    } else if (name == "--series") {
      o.series = parse_uint(name, need_value(), 1, 9999);
    } else if (name == "--instances") {
      o.instances = parse_uint(name, need_value(), 1, 999999);
    } else if (name == "--rows") {
      o.rows = parse_uint(name, need_value(), 1, 8192);
    } else if (name == "--cols") {
      o.cols = parse_uint(name, need_value(), 1, 8192);
    } else if (name == "--seed") {
      o.seed = parse_uint(name, need_value(), 0, 4294967295ULL);
    } else if (name == "--patients") {
      o.patients = parse_uint(name, need_value(), 1, 999999);
    } else if (name == "--instances-max") {
      o.instances_max = parse_uint(name, need_value(), 1, 999999);
    } else if (name == "--first-year") {
      o.first_year = parse_uint(name, need_value(), 1900, 2100);
    } else if (name == "--years") {
      o.years = parse_uint(name, need_value(), 1, 100);
    } else if (name == "--names") {
      std::string_view k = need_value();
      if (k == "synthetic") {
        o.realistic_names = false;
      } else if (k == "realistic") {
        o.realistic_names = true;
      } else {
        usage_error("--names wants synthetic or realistic, got '" + std::string(k) + "'");
      }
    } else if (name == "--modality") {
      std::string_view m = need_value();
      if (m == "CT" || m == "ct") {
        o.mr = false;
        o.modality_mix = false;
      } else if (m == "MR" || m == "mr") {
        o.mr = true;
        o.modality_mix = false;
      } else if (m == "mix") {
        o.modality_mix = true;
      } else {
        usage_error("--modality wants CT, MR or mix, got '" + std::string(m) + "'");
      }
    } else {
      usage_error("unknown option '" + std::string(arg) + "'");
    }
  }
  if (!have_out) usage_error("--out DIR is required");
  if (o.patients == 0 || o.patients > o.studies) o.patients = o.studies;
  if (o.instances_max != 0 && o.instances_max < o.instances)
    usage_error("--instances-max must be at least --instances");
  if ((o.first_year == 0) != (o.years == 0)) usage_error("--first-year and --years go together");
  return o;
}

// SplitMix64: a tiny, well-mixed, portable hash for deterministic values.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
uint64_t mix(uint64_t a, uint64_t b, uint64_t c = 0) { return mix(mix(mix(a) ^ b) ^ c); }

std::string uid(std::initializer_list<uint64_t> parts) {
  std::string s(kUidRoot);
  for (uint64_t p : parts) {
    s += '.';
    s += std::to_string(p);  // decimal, so never a leading zero
  }
  if (s.size() > 64) {
    std::fprintf(stderr, "bastion-synth: internal error: UID too long: %s\n", s.c_str());
    std::exit(1);
  }
  return s;
}

// Proleptic Gregorian date from days since 1970-01-01 (H. Hinnant's algorithm).
std::string da_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d", static_cast<int>(y), static_cast<int>(m),
                static_cast<int>(d));
  return buf;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string fmt(const char* f, auto... args) {
  char buf[128];
  std::snprintf(buf, sizeof buf, f, args...);
  return buf;
}

std::string fmt_double(double v) {
  // DS allows 16 characters; %.6g stays well inside. No "-0".
  if (v == 0.0) v = 0.0;
  return fmt("%.6g", v);
}

class Writer {
 public:
  explicit Writer(const Options& o) : o_(o), pixels_(size_t(o.rows) * o.cols) {}

  // Returns false on I/O error (already reported).
  bool write_all() {
    std::error_code ec;
    fs::create_directories(o_.out, ec);
    if (ec) {
      std::fprintf(stderr, "bastion-synth: cannot create %s: %s\n", o_.out.c_str(),
                   ec.message().c_str());
      return false;
    }
    for (uint32_t st = 1; st <= o_.studies; ++st) {
      fs::path dir = fs::path(o_.out) / fmt("STUDY%04u", st);
      fs::create_directories(dir, ec);
      if (ec) {
        std::fprintf(stderr, "bastion-synth: cannot create %s: %s\n", dir.c_str(),
                     ec.message().c_str());
        return false;
      }
      uint32_t per_series = o_.instances;
      if (o_.instances_max > o_.instances)
        per_series += static_cast<uint32_t>(mix(o_.seed, 0x4e494e5354ULL, st) % (o_.instances_max - o_.instances + 1));
      for (uint32_t se = 1; se <= o_.series; ++se) {
        for (uint32_t in = 1; in <= per_series; ++in) {
          fs::path file = dir / fmt("SE%03u_IM%05u.dcm", se, in);
          if (!write_one(file, st, se, in)) return false;
        }
      }
    }
    return true;
  }

  uint64_t files() const { return files_; }
  uint64_t bytes() const { return bytes_; }

 private:
  // Fills pixels_ with a cheap phantom: an elliptic "body" with a texture, a
  // bright disc that moves with the slice, air around it. Stored values stay
  // within 12 bits.
  void fill_pixels(uint32_t st, uint32_t se, uint32_t in) {
    const uint32_t rows = o_.rows, cols = o_.cols;
    const double cy = rows / 2.0, cx = cols / 2.0;
    const double ry = rows * 0.40, rx = cols * 0.46;
    const uint32_t salt = static_cast<uint32_t>(mix(o_.seed, st, se)) & 0xff;
    const double bone_r = std::max(1.0, std::min(rows, cols) * (0.06 + 0.04 * ((in % 16) / 16.0)));
    const double bone_cy = cy - ry * 0.5;
    for (uint32_t y = 0; y < rows; ++y) {
      uint16_t* row = &pixels_[size_t(y) * cols];
      const double dy = (y + 0.5 - cy) / ry;
      uint32_t x0 = cols, x1 = cols;  // body span [x0, x1)
      if (dy * dy < 1.0) {
        const double half = rx * std::sqrt(1.0 - dy * dy);
        x0 = static_cast<uint32_t>(std::max(0.0, cx - half));
        x1 = static_cast<uint32_t>(std::min<double>(cols, cx + half));
      }
      uint32_t b0 = cols, b1 = cols;  // bone span
      const double by = y + 0.5 - bone_cy;
      if (by * by < bone_r * bone_r) {
        const double half = std::sqrt(bone_r * bone_r - by * by);
        b0 = static_cast<uint32_t>(std::max(0.0, cx - half));
        b1 = static_cast<uint32_t>(std::min<double>(cols, cx + half));
      }
      const uint32_t tex_row = (y * 5u + in * 11u + salt) & 0x3f;
      for (uint32_t x = 0; x < cols; ++x) {
        uint16_t v;
        if (x >= b0 && x < b1) {
          v = static_cast<uint16_t>(2200 + ((x ^ y) & 0xff));
        } else if (x >= x0 && x < x1) {
          v = static_cast<uint16_t>(1000 + ((x * 3u + tex_row) & 0x3f));
        } else {
          v = static_cast<uint16_t>((x + y) & 0x7);  // air with a little noise
        }
        row[x] = v;
      }
    }
  }

  bool put(DcmDataset* ds, const DcmTagKey& tag, const std::string& value) {
    OFCondition c = ds->putAndInsertString(tag, value.c_str());
    if (c.bad()) {
      std::fprintf(stderr, "bastion-synth: cannot set %s: %s\n", DcmTag(tag).getTagName(),
                   c.text());
      return false;
    }
    return true;
  }
  bool put16(DcmDataset* ds, const DcmTagKey& tag, uint16_t value) {
    OFCondition c = ds->putAndInsertUint16(tag, value);
    if (c.bad()) {
      std::fprintf(stderr, "bastion-synth: cannot set %s: %s\n", DcmTag(tag).getTagName(),
                   c.text());
      return false;
    }
    return true;
  }

  int modality_of(uint32_t st) const {
    if (!o_.modality_mix) return o_.mr ? kModalityMr : kModalityCt;
    unsigned r = static_cast<unsigned>(mix(o_.seed, 0x4d4f44414cULL, st) % 1000);
    for (int m = 0; m < static_cast<int>(std::size(kModalities)); ++m) {
      if (r < kModalities[m].per_mille) return m;
      r -= kModalities[m].per_mille;
    }
    return kModalityCt;
  }

  std::string patient_name(uint32_t pat) const {
    if (!o_.realistic_names) return fmt("SYNTH^PATIENT%04u", pat);
    const uint64_t h = mix(o_.seed, 0x4e414d45ULL, pat);
    std::string surname;
    if (h % 1000 < 300) {
      surname = kSurnames[(h >> 10) % std::size(kSurnames)];
    } else {
      uint64_t r = h >> 10;
      const unsigned n = 2 + static_cast<unsigned>(r % 3);  // 2..4 syllables
      r /= 3;
      for (unsigned i = 0; i < n; ++i, r /= std::size(kSyllables)) surname += kSyllables[r % std::size(kSyllables)];
    }
    return surname + "^" + kGivenNames[(h >> 44) % std::size(kGivenNames)];
  }

  bool write_one(const fs::path& file, uint32_t st, uint32_t se, uint32_t in) {
    const uint32_t pat = (st - 1) % o_.patients + 1;
    const uint64_t ph = mix(o_.seed, 0x5041544945ULL, pat);  // patient hash
    const uint64_t sh = mix(o_.seed, 0x5354554459ULL, st);   // study hash
    const ModalityInfo& mod = kModalities[modality_of(st)];
    const bool is_mr = &mod == &kModalities[kModalityMr];
    const bool is_ct = &mod == &kModalities[kModalityCt];

    // Study on a day in 2020-01-01 .. about 2024-02 (or over --years from
    // --first-year), a patient born 1930..2009.
    int64_t study_day = 18262 + static_cast<int64_t>(sh % 1500);
    if (o_.first_year != 0) {
      const int64_t from = days_from_civil(o_.first_year, 1, 1);
      const int64_t to = days_from_civil(static_cast<int64_t>(o_.first_year) + o_.years, 1, 1);
      study_day = from + static_cast<int64_t>(sh % static_cast<uint64_t>(to - from));
    }
    const int64_t birth_day = -14610 + static_cast<int64_t>(ph % 29200);
    const uint32_t secs = static_cast<uint32_t>((sh >> 16) % (10 * 3600)) + 7 * 3600;
    const std::string study_time =
        fmt("%02u%02u%02u", secs / 3600, (secs / 60) % 60, secs % 60);
    const uint32_t acq = secs + (se - 1) * 300 + (in - 1) / 4;
    const std::string acq_time =
        fmt("%02u%02u%02u", (acq / 3600) % 24, (acq / 60) % 60, acq % 60);

    const double spacing = is_mr ? 0.9375 : 0.703125;
    const double thickness = is_mr ? 5.0 : 1.25;
    const double z = -static_cast<double>(in - 1) * thickness;

    DcmFileFormat ff;
    DcmDataset* ds = ff.getDataset();
    bool ok = true;
    // SOP Common
    ok &= put(ds, DCM_SOPClassUID, mod.sop_class);
    ok &= put(ds, DCM_SOPInstanceUID, uid({3, o_.seed, st, se, in}));
    ok &= put(ds, DCM_InstanceCreationDate, da_from_days(study_day));
    ok &= put(ds, DCM_InstanceCreationTime, acq_time);
    // Patient
    ok &= put(ds, DCM_PatientName, patient_name(pat));
    ok &= put(ds, DCM_PatientID, fmt("SYN%u-%06u", o_.seed, pat));
    ok &= put(ds, DCM_PatientBirthDate, da_from_days(birth_day));
    ok &= put(ds, DCM_PatientSex, (ph >> 40) & 1 ? "F" : "M");
    // General Study
    ok &= put(ds, DCM_StudyInstanceUID, uid({1, o_.seed, st}));
    ok &= put(ds, DCM_StudyDate, da_from_days(study_day));
    ok &= put(ds, DCM_StudyTime, study_time);
    ok &= put(ds, DCM_ReferringPhysicianName, "SYNTH^REFERRER");
    ok &= put(ds, DCM_StudyID, fmt("%u", st));
    ok &= put(ds, DCM_AccessionNumber, fmt("A%012llu", static_cast<unsigned long long>(
                                                           mix(sh) % 1000000000000ULL)));
    ok &= put(ds, DCM_StudyDescription, mod.study_description);
    // General Series
    ok &= put(ds, DCM_Modality, mod.modality);
    ok &= put(ds, DCM_SeriesInstanceUID, uid({2, o_.seed, st, se}));
    ok &= put(ds, DCM_SeriesNumber, fmt("%u", se));
    ok &= put(ds, DCM_SeriesDate, da_from_days(study_day));
    ok &= put(ds, DCM_SeriesDescription, fmt("SYNTH SERIES %u", se));
    ok &= put(ds, DCM_BodyPartExamined, mod.body_part);
    ok &= put(ds, DCM_PatientPosition, "HFS");
    // Frame of Reference
    ok &= put(ds, DCM_FrameOfReferenceUID, uid({4, o_.seed, st, se}));
    ok &= put(ds, DCM_PositionReferenceIndicator, "");
    // General Equipment
    ok &= put(ds, DCM_Manufacturer, "BASTION SYNTH");
    ok &= put(ds, DCM_ManufacturerModelName, "bastion-synth");
    ok &= put(ds, DCM_StationName, "SYNTH01");
    // General Image / Acquisition
    ok &= put(ds, DCM_InstanceNumber, fmt("%u", in));
    ok &= put(ds, DCM_PatientOrientation, "");
    ok &= put(ds, DCM_ContentDate, da_from_days(study_day));
    ok &= put(ds, DCM_ContentTime, acq_time);
    ok &= put(ds, DCM_AcquisitionNumber, "1");
    ok &= put(ds, DCM_AcquisitionDate, da_from_days(study_day));
    ok &= put(ds, DCM_AcquisitionTime, acq_time);
    // Image Plane
    ok &= put(ds, DCM_PixelSpacing, fmt_double(spacing) + "\\" + fmt_double(spacing));
    ok &= put(ds, DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
    ok &= put(ds, DCM_ImagePositionPatient, fmt_double(-spacing * o_.cols / 2) + "\\" +
                                                fmt_double(-spacing * o_.rows / 2) + "\\" +
                                                fmt_double(z));
    ok &= put(ds, DCM_SliceThickness, fmt_double(thickness));
    ok &= put(ds, DCM_SliceLocation, fmt_double(z));
    // Image Pixel
    ok &= put16(ds, DCM_SamplesPerPixel, 1);
    ok &= put(ds, DCM_PhotometricInterpretation, "MONOCHROME2");
    ok &= put16(ds, DCM_Rows, static_cast<uint16_t>(o_.rows));
    ok &= put16(ds, DCM_Columns, static_cast<uint16_t>(o_.cols));
    ok &= put16(ds, DCM_BitsAllocated, 16);
    ok &= put16(ds, DCM_BitsStored, 12);
    ok &= put16(ds, DCM_HighBit, 11);
    ok &= put16(ds, DCM_PixelRepresentation, 0);
    if (is_mr) {
      ok &= put(ds, DCM_ImageType, "ORIGINAL\\PRIMARY\\OTHER");
      ok &= put(ds, DCM_ScanningSequence, "SE");
      ok &= put(ds, DCM_SequenceVariant, "NONE");
      ok &= put(ds, DCM_ScanOptions, "");
      ok &= put(ds, DCM_MRAcquisitionType, "2D");
      ok &= put(ds, DCM_RepetitionTime, "500");
      ok &= put(ds, DCM_EchoTime, "20");
      ok &= put(ds, DCM_EchoTrainLength, "1");
      ok &= put(ds, DCM_MagneticFieldStrength, "1.5");
      ok &= put(ds, DCM_ImagedNucleus, "1H");
      ok &= put(ds, DCM_WindowCenter, "1100");
      ok &= put(ds, DCM_WindowWidth, "1600");
    } else if (is_ct) {
      ok &= put(ds, DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
      ok &= put(ds, DCM_KVP, "120");
      ok &= put(ds, DCM_RescaleIntercept, "-1024");
      ok &= put(ds, DCM_RescaleSlope, "1");
      ok &= put(ds, DCM_RescaleType, "HU");
      ok &= put(ds, DCM_WindowCenter, "40");
      ok &= put(ds, DCM_WindowWidth, "400");
    } else {
      ok &= put(ds, DCM_ImageType, "ORIGINAL\\PRIMARY");
      ok &= put(ds, DCM_WindowCenter, "1100");
      ok &= put(ds, DCM_WindowWidth, "1600");
    }
    if (!ok) return false;

    fill_pixels(st, se, in);
    auto* px = new DcmPixelData(DCM_PixelData);
    Uint16* words = nullptr;
    OFCondition c = px->createUint16Array(static_cast<Uint32>(pixels_.size()), words);
    if (c.good()) {
      std::memcpy(words, pixels_.data(), pixels_.size() * sizeof(uint16_t));
      c = ds->insert(px, true);
    } else {
      delete px;
    }
    if (c.bad()) {
      std::fprintf(stderr, "bastion-synth: cannot set Pixel Data: %s\n", c.text());
      return false;
    }

    c = ff.saveFile(file.c_str(), EXS_LittleEndianExplicit, EET_ExplicitLength, EGL_recalcGL,
                    EPD_noChange, 0, 0, EWM_createNewMeta);
    if (c.bad()) {
      std::fprintf(stderr, "bastion-synth: cannot write %s: %s\n", file.c_str(), c.text());
      return false;
    }
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec) {
      std::fprintf(stderr, "bastion-synth: cannot stat %s: %s\n", file.c_str(),
                   ec.message().c_str());
      return false;
    }
    ++files_;
    bytes_ += size;
    return true;
  }

  const Options& o_;
  std::vector<uint16_t> pixels_;
  uint64_t files_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  const auto t0 = std::chrono::steady_clock::now();
  Writer w(o);
  const bool ok = w.write_all();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("bastion-synth: %s %llu files, %llu bytes (%.1f MB) in %.2f s to %s\n",
              ok ? "wrote" : "FAILED after", static_cast<unsigned long long>(w.files()),
              static_cast<unsigned long long>(w.bytes()), w.bytes() / 1e6, secs, o.out.c_str());
  return ok ? 0 : 1;
}
