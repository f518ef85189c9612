#include "web/multipart.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

namespace bastion::web {
namespace {

struct Part {
  std::vector<HeaderField> headers;
  std::string content_type;
  std::string body;
  bool ended = false;
};

// Records what the parser reports, and checks its order.
class Recorder : public MultipartHandler {
 public:
  std::vector<Part> parts;
  std::size_t data_calls = 0;
  Status fail_on_begin;  // returned from OnPartBegin when not ok

  Status OnPartBegin(const PartHeaders& headers) override {
    EXPECT_TRUE(parts.empty() || parts.back().ended) << "a part began before the last one ended";
    if (!fail_on_begin.ok()) return fail_on_begin;
    Part p;
    p.headers = headers.fields;
    if (const std::string* ct = headers.Find("content-type")) p.content_type = *ct;
    parts.push_back(std::move(p));
    return Status::Ok();
  }
  Status OnPartData(std::string_view data) override {
    EXPECT_FALSE(data.empty());
    EXPECT_FALSE(parts.empty() || parts.back().ended) << "data outside a part";
    if (!parts.empty()) parts.back().body.append(data);
    ++data_calls;
    return Status::Ok();
  }
  Status OnPartEnd() override {
    EXPECT_FALSE(parts.empty() || parts.back().ended);
    if (!parts.empty()) parts.back().ended = true;
    return Status::Ok();
  }
};

// Feeds `body` in pieces of `step` bytes (0: all at once) and finishes.
Status ParseAll(std::string_view boundary, std::string_view body, Recorder& rec, std::size_t step = 0,
                MultipartParser::Limits limits = {}) {
  MultipartParser parser(boundary, rec, limits);
  if (step == 0) step = body.size() + 1;
  for (std::size_t i = 0; i < body.size(); i += step) {
    Status s = parser.Feed(body.substr(i, step));
    if (!s.ok()) return s;
  }
  return parser.Finish();
}

constexpr char kDicomHead[] = "DICM\0\x01\x02\r\n--notit\r\n";  // a NUL, and near-delimiters
const std::string kDicomA = std::string(kDicomHead, sizeof kDicomHead - 1) + std::string(300, 'a');
const std::string kDicomB = "second\r\n-\r\n--\r\n--boundar";

// dicomweb-client's STOW body: a leading CRLF, no trailing CRLF.
std::string DicomwebClientBody() {
  return "\r\n--boundary\r\nContent-Type: application/dicom\r\n\r\n" + kDicomA +
         "\r\n--boundary\r\nContent-Type: application/dicom\r\n\r\n" + kDicomB + "\r\n--boundary--";
}

// --- BoundaryOf ---

TEST(BoundaryOfTest, QuotedOrNot) {
  auto m = ParseMediaType(R"(multipart/related; type="application/dicom"; boundary="a b:c=d")");
  ASSERT_TRUE(m.ok());
  auto b = BoundaryOf(*m);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*b, "a b:c=d");
  auto u = BoundaryOf(*ParseMediaType("multipart/related; boundary=f81d4fae-7dec-11d0-a765-00a0c91e6bf6"));
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
}

TEST(BoundaryOfTest, Rfc2046Limits) {
  auto of = [](const std::string& boundary) {
    MediaType m{"multipart", "related", {{"boundary", boundary}}};
    return BoundaryOf(m);
  };
  EXPECT_TRUE(of(std::string(70, 'x')).ok());
  EXPECT_TRUE(of("'()+_,-./:=?Az09").ok());
  for (const std::string& bad : {std::string(), std::string(71, 'x'), std::string("ends "), std::string("semi;colon"),
                                 std::string("quote\""), std::string("tab\t"), std::string("star*"),
                                 std::string("nl\n")}) {
    auto r = of(bad);
    EXPECT_FALSE(r.ok()) << "[" << bad << "]";
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    }
  }
}

TEST(BoundaryOfTest, MissingTwoOrNotMultipart) {
  EXPECT_EQ(BoundaryOf(*ParseMediaType("multipart/related; type=application/dicom")).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(BoundaryOf(*ParseMediaType("multipart/related; boundary=a; boundary=b")).status().code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(BoundaryOf(*ParseMediaType("multipart/related; boundary=a; boundary=\"a\"")).ok());
  EXPECT_EQ(BoundaryOf(*ParseMediaType("application/dicom; boundary=a")).status().code(), Code::kUnsupported);
}

// --- MultipartParser ---

TEST(MultipartParserTest, DicomwebClientBody) {
  Recorder rec;
  ASSERT_TRUE(ParseAll("boundary", DicomwebClientBody(), rec).ok());
  ASSERT_EQ(rec.parts.size(), 2u);
  EXPECT_EQ(rec.parts[0].content_type, "application/dicom");
  EXPECT_EQ(rec.parts[0].body, kDicomA);
  EXPECT_EQ(rec.parts[1].body, kDicomB);
  EXPECT_TRUE(rec.parts[1].ended);
}

TEST(MultipartParserTest, OneByteAtATime) {
  Recorder rec;
  ASSERT_TRUE(ParseAll("boundary", DicomwebClientBody(), rec, 1).ok());
  ASSERT_EQ(rec.parts.size(), 2u);
  EXPECT_EQ(rec.parts[0].body, kDicomA);
  EXPECT_EQ(rec.parts[1].body, kDicomB);
}

TEST(MultipartParserTest, EverySplitPoint) {
  // A body full of near-delimiters, cut in two at every position (and in three).
  const std::string body = "pre\r\n--b\r\nContent-Type: a/b\r\n\r\n\r\r\n\r\n-\r\n--\r\n--x--b\r\n"
                           "\r\n--b \t\r\nX-A: 1\r\n\r\n\r\n--b--\r\nepilogue --b";
  Recorder whole;
  ASSERT_TRUE(ParseAll("b", body, whole).ok());
  ASSERT_EQ(whole.parts.size(), 2u);
  EXPECT_EQ(whole.parts[0].body, "\r\r\n\r\n-\r\n--\r\n--x--b\r\n");
  EXPECT_EQ(whole.parts[1].body, "");
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    for (std::size_t cut2 = cut; cut2 <= body.size(); cut2 += 3) {
      Recorder rec;
      MultipartParser parser("b", rec);
      ASSERT_TRUE(parser.Feed(std::string_view(body).substr(0, cut)).ok()) << cut;
      ASSERT_TRUE(parser.Feed(std::string_view(body).substr(cut, cut2 - cut)).ok()) << cut;
      ASSERT_TRUE(parser.Feed(std::string_view(body).substr(cut2)).ok()) << cut;
      ASSERT_TRUE(parser.Finish().ok()) << cut;
      ASSERT_EQ(rec.parts.size(), 2u) << cut;
      EXPECT_EQ(rec.parts[0].body, whole.parts[0].body) << cut << "," << cut2;
      EXPECT_EQ(rec.parts[1].body, "") << cut;
    }
  }
}

TEST(MultipartParserTest, EveryChunkSizeOnAStowBody) {
  const std::string body = DicomwebClientBody();
  for (std::size_t step = 1; step <= body.size(); ++step) {
    Recorder rec;
    ASSERT_TRUE(ParseAll("boundary", body, rec, step).ok()) << step;
    ASSERT_EQ(rec.parts.size(), 2u) << step;
    EXPECT_EQ(rec.parts[0].body, kDicomA) << step;
    EXPECT_EQ(rec.parts[1].body, kDicomB) << step;
  }
}

TEST(MultipartParserTest, HeadersParsed) {
  Recorder rec;
  std::string body =
      "--b\r\ncontent-TYPE:application/dicom; transfer-syntax=1.2.840.10008.1.2.1  \r\nX-Long: one\r\n  two\r\n"
      "Content-Location: /x\r\n\r\nDATA\r\n--b--";
  ASSERT_TRUE(ParseAll("b", body, rec).ok());
  ASSERT_EQ(rec.parts.size(), 1u);
  ASSERT_EQ(rec.parts[0].headers.size(), 3u);
  EXPECT_EQ(rec.parts[0].headers[0].name, "content-TYPE");
  EXPECT_EQ(rec.parts[0].content_type, "application/dicom; transfer-syntax=1.2.840.10008.1.2.1");
  EXPECT_EQ(rec.parts[0].headers[1].value, "one two");
  EXPECT_EQ(rec.parts[0].body, "DATA");
}

TEST(MultipartParserTest, NoHeadersEmptyBodiesAndTrailingCrlf) {
  Recorder rec;
  ASSERT_TRUE(ParseAll("b", "--b\r\n\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n", rec).ok());
  ASSERT_EQ(rec.parts.size(), 2u);
  EXPECT_TRUE(rec.parts[0].headers.empty());
  EXPECT_EQ(rec.parts[0].body, "");
  EXPECT_EQ(rec.parts[1].body, "x");
}

TEST(MultipartParserTest, PreambleAndEpilogueIgnored) {
  Recorder rec;
  ASSERT_TRUE(ParseAll("b", "This is a preamble.\r\n--b\r\n\r\nx\r\n--b--\r\nand an epilogue\r\n--b\r\n", rec).ok());
  ASSERT_EQ(rec.parts.size(), 1u);
  EXPECT_EQ(rec.parts[0].body, "x");
}

TEST(MultipartParserTest, TransportPadding) {
  Recorder rec;
  ASSERT_TRUE(ParseAll("b", "--b  \t\r\n\r\nx\r\n--b\t\r\n\r\ny\r\n--b--  ", rec).ok());
  ASSERT_EQ(rec.parts.size(), 2u);
  EXPECT_EQ(rec.parts[1].body, "y");
}

TEST(MultipartParserTest, ZeroParts) {
  Recorder rec;
  MultipartParser parser("b", rec);
  ASSERT_TRUE(parser.Feed("--b--").ok());
  ASSERT_TRUE(parser.Finish().ok());
  EXPECT_EQ(parser.parts(), 0u);
  EXPECT_TRUE(parser.complete());
}

TEST(MultipartParserTest, TruncatedInput) {
  for (const char* body : {"--b\r\n\r\nxyz", "--b\r\n\r\nxyz\r\n--b", "--b\r\n\r\nxyz\r\n--b-", "--b\r\nContent-Type: a",
                           "--b", "--b\r\n\r\nxyz\r\n--b\r\n"}) {
    Recorder rec;
    Status s = ParseAll("b", body, rec);
    ASSERT_FALSE(s.ok()) << body;
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
  }
}

TEST(MultipartParserTest, MissingFirstBoundary) {
  for (const char* body : {"", "no boundary here", "--other\r\n\r\nx\r\n--other--", "-b\r\n\r\n"}) {
    Recorder rec;
    Status s = ParseAll("b", body, rec);
    ASSERT_FALSE(s.ok()) << body;
    EXPECT_NE(s.message().find("no boundary delimiter"), std::string::npos) << s.message();
    EXPECT_TRUE(rec.parts.empty());
  }
}

TEST(MultipartParserTest, GarbageRefused) {
  for (const char* body : {"--bX\r\n\r\nx\r\n--b--",        // a longer boundary
                           "--b\r\n\r\nx\r\n--bad\r\n--b--",  // the delimiter inside data, not on its own
                           "--b \r x\r\n\r\n",                // bare CR in padding
                           "--b\nContent-Type: a\n\n",        // LF only
                           "--b\r\nno colon here\r\n\r\nx\r\n--b--",
                           "--b\r\n: empty name\r\n\r\nx\r\n--b--",
                           "--b\r\n folded first\r\n\r\nx\r\n--b--",
                           "--b\r\nBad Name: x\r\n\r\nx\r\n--b--",
                           "--b\r\nA: x\ny\r\n\r\nx\r\n--b--"}) {
    Recorder rec;
    Status s = ParseAll("b", body, rec, 1);
    ASSERT_FALSE(s.ok()) << body;
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << body;
  }
}

TEST(MultipartParserTest, PreambleLimit) {
  MultipartParser::Limits limits;
  limits.max_preamble_bytes = 10;
  Recorder ok_rec;
  EXPECT_TRUE(ParseAll("b", "1234\r\n--b\r\n\r\nx\r\n--b--", ok_rec, 0, limits).ok());
  Recorder rec;
  Status s = ParseAll("b", std::string(1000, 'z') + "\r\n--b\r\n\r\nx\r\n--b--", rec, 7, limits);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
}

TEST(MultipartParserTest, HeaderBlockLimit) {
  MultipartParser::Limits limits;
  limits.max_header_bytes = 64;
  std::string big = "--b\r\nX: " + std::string(100, 'v') + "\r\n\r\nx\r\n--b--";
  Recorder rec;
  Status s = ParseAll("b", big, rec, 5, limits);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kTooLarge);
  // 16 KiB by default: a header line that never ends fails there, not later.
  Recorder rec2;
  MultipartParser parser("b", rec2);
  ASSERT_TRUE(parser.Feed("--b\r\nX: ").ok());
  Status fed = Status::Ok();
  std::size_t sent = 0;
  while (fed.ok() && sent < 100000) {
    fed = parser.Feed(std::string(1000, 'h'));
    sent += 1000;
  }
  EXPECT_EQ(fed.code(), Code::kTooLarge);
  EXPECT_LE(sent, 17000u);
}

TEST(MultipartParserTest, MaxParts) {
  MultipartParser::Limits limits;
  limits.max_parts = 2;
  std::string two = "--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b--";
  std::string three = "--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b\r\n\r\n3\r\n--b--";
  Recorder a, b;
  EXPECT_TRUE(ParseAll("b", two, a, 0, limits).ok());
  Status s = ParseAll("b", three, b, 0, limits);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kTooLarge);
  EXPECT_EQ(b.parts.size(), 2u);
}

TEST(MultipartParserTest, ErrorIsSticky) {
  Recorder rec;
  MultipartParser parser("b", rec);
  Status s = parser.Feed("--b!");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(parser.Feed("\r\n\r\nx\r\n--b--").message(), s.message());
  EXPECT_EQ(parser.Finish().message(), s.message());
}

TEST(MultipartParserTest, HandlerErrorStops) {
  Recorder rec;
  rec.fail_on_begin = Status(Code::kUnsupported, "not application/dicom");
  Status s = ParseAll("b", "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", rec);
  EXPECT_EQ(s.code(), Code::kUnsupported);
  EXPECT_EQ(s.message(), "not application/dicom");
}

// Streams a big body and checks the parser passes data through in pieces
// as they come (it never holds a part back), with a realistic boundary.
TEST(MultipartParserTest, StreamsWithoutHoldingTheBody) {
  const std::string boundary = NewBoundary();
  Recorder rec;
  MultipartParser parser(boundary, rec);
  ASSERT_TRUE(parser.Feed("\r\n--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n").ok());
  std::string chunk(64 * 1024, '\0');
  for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>(i * 31 + (i >> 8));
  std::uint64_t total = 0;
  for (int i = 0; i < 64; ++i) {  // 4 MiB
    ASSERT_TRUE(parser.Feed(chunk).ok());
    total += chunk.size();
    // Everything but at most a delimiter's length has been handed on.
    ASSERT_GE(rec.parts[0].body.size() + boundary.size() + 4, total);
    rec.parts[0].body.clear();  // the handler would write it out
    total = 0;
  }
  ASSERT_TRUE(parser.Feed("\r\n--" + boundary + "--").ok());
  ASSERT_TRUE(parser.Finish().ok());
  EXPECT_TRUE(rec.parts[0].ended);
}

// Random bodies over an alphabet of delimiter pieces, random chunking: what
// comes out is what went in.
TEST(MultipartParserTest, RandomBodiesRandomChunks) {
  std::mt19937 rng(20261122);
  const std::string alphabet = "\r\n-bx";
  const std::string delimiter = "\r\n--b";
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::string> bodies(1 + rng() % 4);
    for (auto& b : bodies) {
      do {
        b.clear();
        for (std::size_t n = rng() % 24; n > 0; --n) b += alphabet[rng() % alphabet.size()];
        // The first delimiter after a body must be the one that ends it (RFC 2046).
      } while ((b + delimiter).find(delimiter) != b.size());
    }
    MultipartWriter w("b");
    std::string out = rng() % 2 ? "\r\n" : "";
    for (const auto& b : bodies) out += w.BeginPart("a/b") + b;
    out += w.Close();
    Recorder rec;
    MultipartParser parser("b", rec);
    for (std::size_t i = 0; i < out.size();) {
      std::size_t n = 1 + rng() % 7;
      ASSERT_TRUE(parser.Feed(std::string_view(out).substr(i, n)).ok()) << round;
      i += n;
    }
    ASSERT_TRUE(parser.Finish().ok()) << round;
    ASSERT_EQ(rec.parts.size(), bodies.size()) << round;
    for (std::size_t i = 0; i < bodies.size(); ++i) ASSERT_EQ(rec.parts[i].body, bodies[i]) << round;
  }
}

// --- Writer ---

TEST(NewBoundaryTest, RandomAndValid) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string b = NewBoundary();
    EXPECT_GE(b.size(), 32u);
    EXPECT_LE(b.size(), 70u);
    MediaType m{"multipart", "related", {{"boundary", b}}};
    EXPECT_TRUE(BoundaryOf(m).ok()) << b;
    seen.insert(b);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(MultipartWriterTest, ExactBytes) {
  MultipartWriter w("b1");
  std::string out = w.BeginPart("application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.70");
  out += "FRAME1";
  out += w.BeginPart("application/dicom", {{"Content-Location", "/x\r\nInjected: 1"}});
  out += "OBJ";
  out += w.Close();
  EXPECT_EQ(out,
            "--b1\r\nContent-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.70\r\n\r\n"
            "FRAME1"
            "\r\n--b1\r\nContent-Type: application/dicom\r\nContent-Location: /x  Injected: 1\r\n\r\n"
            "OBJ"
            "\r\n--b1--");
  // Cornerstone's reading: the first line is the delimiter.
  EXPECT_EQ(out.substr(0, out.find("\r\n")), "--b1");
  EXPECT_EQ(MultipartWriter("b").Close(), "--b--");
}

TEST(MultipartWriterTest, RoundTrip) {
  MultipartWriter w(NewBoundary());
  std::vector<std::string> bodies = {kDicomA, kDicomB, "", std::string(5000, '-')};
  std::string out;
  for (const auto& b : bodies) out += w.BeginPart("application/dicom") + b;
  out += w.Close();
  Recorder rec;
  ASSERT_TRUE(ParseAll(w.boundary(), out, rec, 13).ok());
  ASSERT_EQ(rec.parts.size(), bodies.size());
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_EQ(rec.parts[i].body, bodies[i]);
    EXPECT_EQ(rec.parts[i].content_type, "application/dicom");
  }
}

}  // namespace
}  // namespace bastion::web
