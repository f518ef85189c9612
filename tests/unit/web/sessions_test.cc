#include "web/sessions.h"

#include <gtest/gtest.h>

#include <set>

#include "web/app.h"
#include "web/http.h"

namespace bastion::web {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::steady_clock::time_point{} + 1000h};
  SessionStore::Clock fn() {
    return [this] { return now; };
  }
};

TEST(SessionStoreTest, CreatesRandomIdsAndCsrfTokens) {
  FakeClock clock;
  SessionStore store(SessionOptions{900s, 43200s, 100}, clock.fn());
  auto a = store.Create("alice", "10.0.0.1");
  auto b = store.Create("alice", "10.0.0.1");
  EXPECT_EQ(a.id.size(), 64u);
  EXPECT_NE(a.id, b.id);
  EXPECT_NE(a.session.csrf_token, b.session.csrf_token);
  EXPECT_NE(a.id, a.session.csrf_token);
  auto s = store.Touch(a.id);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->user, "alice");
  EXPECT_EQ(s->csrf_token, a.session.csrf_token);
}

TEST(SessionStoreTest, IdleTimeoutIsRestartedByUse) {
  FakeClock clock;
  SessionStore store(SessionOptions{900s, 43200s, 100}, clock.fn());
  auto a = store.Create("alice", "");
  clock.now += 899s;
  EXPECT_TRUE(store.Touch(a.id));
  clock.now += 899s;
  EXPECT_TRUE(store.Touch(a.id));
  clock.now += 900s;
  bool expired = false;
  EXPECT_FALSE(store.Touch(a.id, &expired));
  EXPECT_TRUE(expired);
  expired = false;
  EXPECT_FALSE(store.Touch(a.id, &expired)) << "an expired session came back";
  EXPECT_FALSE(expired) << "it is forgotten once expired";
}

TEST(SessionStoreTest, AbsoluteLifetimeEndsABusySession) {
  FakeClock clock;
  SessionStore store(SessionOptions{900s, 3600s, 100}, clock.fn());
  auto a = store.Create("alice", "");
  for (int i = 1; i <= 7; ++i) {  // busy every 500 s, up to 3500 s
    clock.now += 500s;
    EXPECT_TRUE(store.Touch(a.id)) << i;
  }
  clock.now += 100s;  // 3600 s after creation
  EXPECT_FALSE(store.Touch(a.id));
}

TEST(SessionStoreTest, UnknownMalformedAndEndedIdsAreRefused) {
  FakeClock clock;
  SessionStore store(SessionOptions{}, clock.fn());
  auto a = store.Create("alice", "");
  EXPECT_FALSE(store.Touch(""));
  EXPECT_FALSE(store.Touch("../../etc/passwd"));
  EXPECT_FALSE(store.Touch(std::string(64, 'A'))) << "upper-case hex is not one of ours";
  EXPECT_FALSE(store.Touch(std::string(64, '0')));
  store.End(a.id);
  EXPECT_FALSE(store.Touch(a.id));
}

TEST(SessionStoreTest, BoundedCountDropsTheLeastRecentlyUsed) {
  FakeClock clock;
  SessionStore store(SessionOptions{900s, 43200s, 3}, clock.fn());
  auto a = store.Create("a", "");
  clock.now += 1s;
  auto b = store.Create("b", "");
  clock.now += 1s;
  auto c = store.Create("c", "");
  clock.now += 1s;
  EXPECT_TRUE(store.Touch(a.id));  // a is now more recent than b
  auto d = store.Create("d", "");
  EXPECT_EQ(store.size(), 3u);
  EXPECT_TRUE(store.Touch(a.id));
  EXPECT_FALSE(store.Touch(b.id));
  EXPECT_TRUE(store.Touch(c.id));
  EXPECT_TRUE(store.Touch(d.id));
}

TEST(PercentDecodeTest, DecodesAndRefusesMalformedEscapes) {
  EXPECT_EQ(PercentDecode("a%2Fb%5c"), "a/b\\");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_FALSE(PercentDecode("%"));
  EXPECT_FALSE(PercentDecode("%2"));
  EXPECT_FALSE(PercentDecode("%zz"));
  EXPECT_EQ(PercentDecode("%00"), std::string(1, '\0'));
}

// The route table: one entry per method and pattern; public routes are the
// login page and its assets only; DICOMweb routes each need a permission.
TEST(RouteTableTest, IsClassifiedAndClosedByDefault) {
  std::set<std::string> seen;
  for (const auto& r : Routes()) {
    std::string key = std::string(r.method) + " " + std::string(r.pattern);
    EXPECT_TRUE(seen.insert(key).second) << "duplicate route " << key;
    EXPECT_EQ(r.pattern.front(), '/') << key;
    EXPECT_NE(r.handler, nullptr) << key;
    if (r.access == Access::kPublic) {
      EXPECT_TRUE(r.pattern == "/" || r.pattern == "/login" || r.pattern == "/api/login" ||
                  r.pattern.starts_with("/static/"))
          << "public route beyond the login page: " << key;
      EXPECT_FALSE(r.pattern.starts_with("/dicom-web")) << key;
    }
    if (r.pattern.starts_with("/dicom-web") || r.pattern == "/wado") {
      EXPECT_EQ(r.access, Access::kPermission) << key;
      security::Permission expected = r.method == "POST" ? security::Permission::kStore
                                      : r.summary.starts_with("QIDO") ? security::Permission::kFind
                                                                      : security::Permission::kView;
      EXPECT_EQ(r.permission, expected) << key;
    }
    if (r.body == BodyMode::kStreamed) {
      EXPECT_EQ(r.method, "POST") << key;
    }
  }
}

}  // namespace
}  // namespace bastion::web
