#include "web/media_type.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bastion::web {
namespace {

constexpr const char* kJpegBaseline = "1.2.840.10008.1.2.4.50";
constexpr const char* kJpegLossless = "1.2.840.10008.1.2.4.70";

std::vector<MediaRange> Accept(std::string_view header) {
  auto r = ParseAccept(header);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<MediaRange>{};
}

// --- ParseMediaType ---

TEST(ParseMediaTypeTest, TypeSubtypeAndParameters) {
  auto m = ParseMediaType(R"(Multipart/Related; Type="application/dicom";  boundary=abc ; a = b; c="d e")");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->type, "multipart");
  EXPECT_EQ(m->subtype, "related");
  EXPECT_EQ(m->Essence(), "multipart/related");
  ASSERT_EQ(m->parameters.size(), 4u);
  EXPECT_EQ(m->parameters[0].name, "type");
  EXPECT_EQ(m->parameters[0].value, "application/dicom");
  ASSERT_NE(m->Find("BOUNDARY"), nullptr);
  EXPECT_EQ(*m->Find("boundary"), "abc");
  EXPECT_EQ(*m->Find("a"), "b");
  EXPECT_EQ(*m->Find("c"), "d e");
  EXPECT_EQ(m->Find("missing"), nullptr);
}

TEST(ParseMediaTypeTest, QuotedStringEscapes) {
  auto m = ParseMediaType(R"(text/plain; x="a\"b\\c;d,e")");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m->Find("x"), R"(a"b\c;d,e)");
}

TEST(ParseMediaTypeTest, ValuesKeepTheirCase) {
  auto m = ParseMediaType("application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.50; Foo=BaR");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m->Find("foo"), "BaR");
}

TEST(ParseMediaTypeTest, DuplicateParametersKept) {
  auto m = ParseMediaType("multipart/related; type=application/octet-stream; transfer-syntax=*; transfer-syntax=1.2.840.10008.1.2.1");
  ASSERT_TRUE(m.ok());
  auto all = m->FindAll("transfer-syntax");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], "*");
  EXPECT_EQ(all[1], "1.2.840.10008.1.2.1");
}

TEST(ParseMediaTypeTest, LenientSeparators) {
  auto m = ParseMediaType("application/dicom;;transfer-syntax=1.2.840.10008.1.2.1;");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->parameters.size(), 1u);
  // Unquoted boundaries with characters that are not token characters.
  auto b = ParseMediaType("multipart/related; boundary=----=_Part_1/2");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b->Find("boundary"), "----=_Part_1/2");
}

TEST(ParseMediaTypeTest, Refusals) {
  for (const char* bad : {"", "application", "application/", "/json", "*/*", "text/*", "a/b; x", "a/b; x=",
                          "a/b; x=\"unterminated", "a/b c", "a/b; =v", "a/b; x=\"a\x01\""}) {
    auto m = ParseMediaType(bad);
    EXPECT_FALSE(m.ok()) << bad;
    if (!m.ok()) {
      EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
    }
  }
}

// --- ParseAccept ---

TEST(ParseAcceptTest, MergedHeaderIsAList) {  // DICOMWEB.md bug 1
  auto a = Accept(R"(application/dicom+json, multipart/related; type="application/dicom")");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].media.Essence(), "application/dicom+json");
  EXPECT_EQ(a[1].media.Essence(), "multipart/related");
  EXPECT_EQ(*a[1].media.Find("type"), "application/dicom");
}

TEST(ParseAcceptTest, CommaInsideQuotesDoesNotSplit) {
  auto a = Accept(R"(multipart/related; type="a,b"; q=0.5, image/jpeg)");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(*a[0].media.Find("type"), "a,b");
  EXPECT_EQ(a[0].quality, 500);
  EXPECT_EQ(a[1].quality, 1000);
}

TEST(ParseAcceptTest, QualityValues) {
  auto a = Accept("a/b;q=0, c/d;q=1.000, e/f;q=0.123, g/h; Q=.2, */*;q=1");
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(a[0].quality, 0);
  EXPECT_EQ(a[1].quality, 1000);
  EXPECT_EQ(a[2].quality, 123);
  EXPECT_EQ(a[3].quality, 200);
  EXPECT_EQ(a[4].quality, 1000);
  EXPECT_EQ(a[0].media.Find("q"), nullptr) << "q is not a media type parameter";
}

TEST(ParseAcceptTest, WildcardsAndJavaBareStar) {
  auto a = Accept("text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2");
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(a[3].media.Essence(), "*/*");
  EXPECT_EQ(a[3].quality, 200);
  auto t = Accept("image/*");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].media.subtype, "*");
}

TEST(ParseAcceptTest, BadElementsDroppedButNotAllOfThem) {
  auto a = Accept("garbage, application/dicom+json, x/y;q=2");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].media.Essence(), "application/dicom+json");
  auto bad = ParseAccept("garbage, ;;;");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

TEST(ParseAcceptTest, EmptyIsEmptyList) {
  EXPECT_TRUE(Accept("").empty());
  EXPECT_TRUE(Accept(" , ").empty());
}

TEST(ParseAcceptTest, SeveralHeadersAreOneList) {
  std::vector<std::string> headers = {"application/dicom+json", R"(multipart/related; type="application/dicom")"};
  auto a = ParseAccept(headers);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[1].media.Essence(), "multipart/related");
}

// --- Negotiate ---

// What a frame request can be answered with, for an object stored as JPEG
// Lossless that Bastion can also decode to Explicit VR Little Endian.
std::vector<Offer> FrameOffers() {
  return {
      {"multipart/related", "application/octet-stream", kJpegLossless, true},
      {"multipart/related", "application/octet-stream", std::string(kExplicitVrLittleEndian), false},
      {"application/octet-stream", "", kJpegLossless, true},
  };
}

std::optional<std::size_t> Pick(std::string_view accept, const std::vector<Offer>& offers) {
  auto ranges = Accept(accept);
  auto c = Negotiate(ranges, offers);
  if (!c) return std::nullopt;
  return c->index;
}

TEST(NegotiateTest, OhifFramesTransferSyntaxAnyPrefersAsStored) {
  auto offers = FrameOffers();
  EXPECT_EQ(Pick(R"(multipart/related; type="application/octet-stream"; transfer-syntax=*)", offers), 0u);
}

TEST(NegotiateTest, QuotedAndUnquotedTypeAndTransferSyntax) {  // bug 2
  auto offers = FrameOffers();
  EXPECT_EQ(Pick("multipart/related; type=application/octet-stream; transfer-syntax=*", offers), 0u);
  EXPECT_EQ(Pick(R"(multipart/related; type="application/octet-stream"; transfer-syntax="1.2.840.10008.1.2.1")",
                 offers),
            1u);
  EXPECT_EQ(Pick("multipart/related; type=application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", offers),
            1u);
  EXPECT_EQ(Pick(R"(multipart/related; type="Application/Octet-Stream"; transfer-syntax=1.2.840.10008.1.2.4.70)",
                 offers),
            0u);
}

TEST(NegotiateTest, TwoTransferSyntaxParameters) {
  auto offers = FrameOffers();
  // Either is fine: the one needing no transcoding wins.
  EXPECT_EQ(Pick("multipart/related; type=application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1; "
                 "transfer-syntax=1.2.840.10008.1.2.4.70",
                 offers),
            0u);
  EXPECT_EQ(Pick("multipart/related; type=application/octet-stream; transfer-syntax=*; transfer-syntax=*", offers), 0u);
  // Neither offered.
  EXPECT_EQ(Pick("multipart/related; type=application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.50; "
                 "transfer-syntax=1.2.840.10008.1.2.4.90",
                 offers),
            std::nullopt);
}

TEST(NegotiateTest, StarSlashStarAndMissingAccept) {  // bug 7
  auto offers = FrameOffers();
  EXPECT_EQ(Pick("*/*", offers), 0u);
  EXPECT_EQ(Pick("", offers), 0u);
  EXPECT_EQ(Negotiate({}, offers)->index, 0u);
  EXPECT_EQ(Pick("application/*", offers), 2u);
}

TEST(NegotiateTest, NoTransferSyntaxMeansExplicitLittleEndianWhenOffered) {
  auto offers = FrameOffers();
  EXPECT_EQ(Pick(R"(multipart/related; type="application/octet-stream")", offers), 1u);
  // Nothing in the default offered: as stored (the part says what it is).
  std::vector<Offer> stored_only = {offers[0]};
  EXPECT_EQ(Pick(R"(multipart/related; type="application/octet-stream")", stored_only), 0u);
  // A single-part frame without a transfer-syntax: the as-stored one is all there is.
  EXPECT_EQ(Pick("application/octet-stream", offers), 2u);
}

TEST(NegotiateTest, MultipartWithoutTypeParameterMatchesAnyPartType) {
  auto offers = FrameOffers();
  EXPECT_EQ(Pick("multipart/related; transfer-syntax=*", offers), 0u);
}

TEST(NegotiateTest, WrongPartTypeIsNotAcceptable) {
  auto offers = FrameOffers();
  EXPECT_EQ(Pick(R"(multipart/related; type="application/dicom")", offers), std::nullopt);
  EXPECT_EQ(Pick("application/dicom+json", offers), std::nullopt);
  EXPECT_EQ(Pick("text/html", offers), std::nullopt);
}

TEST(NegotiateTest, MergedAcceptForSearchAndRetrieve) {  // bug 1
  std::vector<Offer> json = {{"application/dicom+json", "", "", false}};
  EXPECT_EQ(Pick(R"(application/dicom+json, multipart/related; type="application/dicom")", json), 0u);
  std::vector<Offer> instances = {{"multipart/related", "application/dicom", kJpegLossless, true},
                                  {"multipart/related", "application/dicom", std::string(kExplicitVrLittleEndian), false}};
  EXPECT_EQ(Pick(R"(application/dicom+json, multipart/related; type="application/dicom")", instances), 1u);
  EXPECT_EQ(Pick(R"(application/dicom+json, multipart/related; type="application/dicom"; transfer-syntax=*)", instances),
            0u);
}

TEST(NegotiateTest, RenderedJpeg) {
  std::vector<Offer> rendered = {{"image/jpeg", "", "", false}, {"image/png", "", "", false}};
  EXPECT_EQ(Pick("image/jpeg", rendered), 0u);
  EXPECT_EQ(Pick("image/png, image/jpeg;q=0.9", rendered), 1u);
  EXPECT_EQ(Pick("image/*", rendered), 0u);
  EXPECT_EQ(Pick("image/gif", rendered), std::nullopt);
  // image/jpeg names its own transfer syntax: no default to enforce.
  std::vector<Offer> frame_jpeg = {{"image/jpeg", "", kJpegBaseline, true}};
  EXPECT_EQ(Pick("image/jpeg", frame_jpeg), 0u);
}

TEST(NegotiateTest, QZeroExcludes) {
  std::vector<Offer> rendered = {{"image/jpeg", "", "", false}, {"image/png", "", "", false}};
  EXPECT_EQ(Pick("*/*, image/jpeg;q=0", rendered), 1u);
  EXPECT_EQ(Pick("image/jpeg;q=0", rendered), std::nullopt);
  EXPECT_EQ(Pick("*/*;q=0", rendered), std::nullopt);
  // The most specific range decides, even against a broader q=1.
  auto offers = FrameOffers();
  EXPECT_EQ(Pick("multipart/related; type=application/octet-stream; transfer-syntax=*, "
                 "multipart/related; type=application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.70; q=0",
                 offers),
            1u);
}

TEST(NegotiateTest, HigherQualityWinsOverOrder) {
  auto offers = FrameOffers();
  EXPECT_EQ(Pick("multipart/related; type=application/octet-stream; transfer-syntax=*; q=0.5, "
                 "application/octet-stream",
                 offers),
            2u);
  auto c = Negotiate(Accept("multipart/related; type=application/octet-stream; transfer-syntax=*; q=0.5"), offers);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->quality, 500);
}

TEST(NegotiateTest, NothingOffered) {
  EXPECT_EQ(Negotiate(Accept("*/*"), {}), std::nullopt);
}

TEST(ContentTypeTest, OfOfferAndPart) {
  Offer o{"multipart/related", "application/octet-stream", kJpegLossless, true};
  EXPECT_EQ(ContentTypeOf(o, "b1"),
            R"(multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.4.70; boundary=b1)");
  EXPECT_EQ(PartContentTypeOf(o), "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.70");
  Offer json{"application/dicom+json", "", "", false};
  EXPECT_EQ(ContentTypeOf(json), "application/dicom+json");
  // What we write parses back to what we meant.
  auto back = ParseMediaType(ContentTypeOf(o, "b1"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back->Find("type"), "application/octet-stream");
  EXPECT_EQ(*back->Find("transfer-syntax"), kJpegLossless);
}

}  // namespace
}  // namespace bastion::web
