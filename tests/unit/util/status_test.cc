#include "util/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

#include "util/error_codes.h"

namespace bastion {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "ok");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status s(Code::kNotFound, "no such study");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "no such study");
  EXPECT_EQ(s.ToString(), "not_found: no such study");
}

TEST(StatusTest, AnnotatePrependsContextAndKeepsCode) {
  Status s = Status(Code::kIo, "disk full").Annotate("writing object");
  EXPECT_EQ(s.code(), Code::kIo);
  EXPECT_EQ(s.message(), "writing object: disk full");
  Status twice = s.Annotate("import");
  EXPECT_EQ(twice.message(), "import: writing object: disk full");
  EXPECT_EQ(twice.code(), Code::kIo);
}

TEST(StatusTest, AnnotateOnOkStaysOk) {
  Status s = Status::Ok().Annotate("context");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
}

TEST(ResultTest, HoldsValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
}

TEST(ResultTest, HoldsError) {
  Result<std::string> r = Status(Code::kPermissionDenied, "not allowed");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(r.status().message(), "not allowed");
}

TEST(ResultTest, MoveOnlyValueAndArrow) {
  Result<std::unique_ptr<std::string>> r = std::make_unique<std::string>("abc");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->size(), 3u);
  std::unique_ptr<std::string> taken = std::move(r).value();
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, "abc");

  Result<std::string> s = std::string("hello");
  EXPECT_EQ(s->size(), 5u);
}

Result<int> ParsePositive(int v) {
  if (v <= 0) return Status(Code::kInvalidArgument, "not positive");
  return v;
}

Result<int> DoubledPositive(int v, int* reached_end) {
  BASTION_ASSIGN_OR_RETURN(int x, ParsePositive(v));
  *reached_end += 1;
  return 2 * x;
}

Result<std::unique_ptr<int>> MakeBox(int v) {
  if (v < 0) return Status(Code::kTooLarge, "negative");
  return std::make_unique<int>(v);
}

Result<int> Unbox(int v) {
  BASTION_ASSIGN_OR_RETURN(std::unique_ptr<int> box, MakeBox(v));
  BASTION_ASSIGN_OR_RETURN(auto second, MakeBox(v + 1));  // two on one function: distinct temporaries
  return *box + *second;
}

TEST(ResultTest, AssignOrReturnPassesValueThrough) {
  int reached = 0;
  Result<int> r = DoubledPositive(21, &reached);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(reached, 1);
}

TEST(ResultTest, AssignOrReturnReturnsEarlyWithTheStatus) {
  int reached = 0;
  Result<int> r = DoubledPositive(-1, &reached);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "not positive");
  EXPECT_EQ(reached, 0);
}

TEST(ResultTest, AssignOrReturnWithMoveOnlyTypes) {
  Result<int> ok = Unbox(3);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 7);
  Result<int> bad = Unbox(-5);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kTooLarge);
}

Status FailIfOdd(int v) {
  if (v % 2 != 0) return Status(Code::kConflict, "odd");
  return Status::Ok();
}

Status CheckBoth(int a, int b, int* reached) {
  BASTION_RETURN_IF_ERROR(FailIfOdd(a));
  *reached += 1;
  BASTION_RETURN_IF_ERROR(FailIfOdd(b));
  *reached += 1;
  return Status::Ok();
}

TEST(StatusTest, ReturnIfError) {
  int reached = 0;
  EXPECT_TRUE(CheckBoth(2, 4, &reached).ok());
  EXPECT_EQ(reached, 2);
  reached = 0;
  Status s = CheckBoth(2, 3, &reached);
  EXPECT_EQ(s.code(), Code::kConflict);
  EXPECT_EQ(reached, 1);
  reached = 0;
  EXPECT_EQ(CheckBoth(1, 2, &reached).code(), Code::kConflict);
  EXPECT_EQ(reached, 0);
}

// --- the error catalogue ---

constexpr int kNumCodes = static_cast<int>(Code::kInternal) + 1;

TEST(ErrorCatalogueTest, EveryCodeAppearsExactlyOnce) {
  ASSERT_EQ(std::size(kCodeCatalogue), static_cast<std::size_t>(kNumCodes));
  std::set<int> seen;
  for (const auto& info : kCodeCatalogue) EXPECT_TRUE(seen.insert(static_cast<int>(info.code)).second);
  for (int c = 0; c < kNumCodes; ++c) {
    EXPECT_TRUE(seen.contains(c)) << "code " << c << " missing from the catalogue";
    EXPECT_EQ(static_cast<int>(InfoFor(static_cast<Code>(c)).code), c) << "InfoFor(" << c << ")";
  }
}

TEST(ErrorCatalogueTest, NamesAreDistinctAndNonEmpty) {
  std::set<std::string_view> names;
  for (const auto& info : kCodeCatalogue) {
    EXPECT_FALSE(info.name.empty());
    EXPECT_TRUE(names.insert(info.name).second) << "duplicate name " << info.name;
    for (char c : info.name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << info.name;
  }
}

TEST(ErrorCatalogueTest, HttpStatusesAreInRange) {
  for (const auto& info : kCodeCatalogue) {
    EXPECT_GE(info.http_status, 200) << info.name;
    EXPECT_LE(info.http_status, 599) << info.name;
    if (info.code == Code::kOk) {
      EXPECT_EQ(info.http_status, 200);
      EXPECT_EQ(info.dimse_status, 0x0000);
    } else {
      EXPECT_GE(info.http_status, 400) << info.name << " is a failure and must not map to a 2xx/3xx";
      EXPECT_NE(info.dimse_status, 0x0000) << info.name << " is a failure and must not map to DIMSE success";
    }
  }
}

TEST(ErrorCatalogueTest, SpecificMappings) {
  EXPECT_EQ(InfoFor(Code::kPermissionDenied).dimse_status, 0x0124);
  EXPECT_EQ(InfoFor(Code::kPermissionDenied).http_status, 403);
  EXPECT_EQ(InfoFor(Code::kUnauthenticated).http_status, 401);
  EXPECT_EQ(InfoFor(Code::kNotFound).http_status, 404);
  EXPECT_EQ(InfoFor(Code::kConflict).http_status, 409);
  EXPECT_EQ(InfoFor(Code::kConflict).dimse_status, 0x0111);
  EXPECT_EQ(InfoFor(Code::kTooLarge).http_status, 413);
  EXPECT_EQ(InfoFor(Code::kTooLarge).dimse_status, 0xA700);
  EXPECT_EQ(InfoFor(Code::kUnsupported).http_status, 415);
  EXPECT_EQ(InfoFor(Code::kUnsupported).dimse_status, 0x0122);
  EXPECT_EQ(InfoFor(Code::kUnavailable).http_status, 503);
  EXPECT_EQ(InfoFor(Code::kNoSpace).http_status, 507);
  EXPECT_EQ(InfoFor(Code::kNoSpace).dimse_status, 0xA700);  // refused: out of resources
  EXPECT_EQ(InfoFor(Code::kInvalidArgument).http_status, 400);
  EXPECT_EQ(InfoFor(Code::kInternal).http_status, 500);
  EXPECT_EQ(InfoFor(Code::kOk).name, "ok");
  EXPECT_EQ(InfoFor(Code::kIo).name, "io_error");
}

TEST(ErrorCatalogueTest, ToStringUsesCatalogueName) {
  for (const auto& info : kCodeCatalogue) {
    if (info.code == Code::kOk) continue;
    Status s(info.code, "m");
    EXPECT_EQ(s.ToString(), std::string(info.name) + ": m");
  }
}

}  // namespace
}  // namespace bastion
