#include "security/login_throttle.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace bastion::security {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
  LoginThrottle::Clock fn() {
    return [this] { return now; };
  }
};

LoginThrottleOptions Small() {
  LoginThrottleOptions o;
  o.window = 60s;
  o.failures_before_slowdown = 2;
  o.first_delay = 100ms;
  o.max_delay = 400ms;
  o.failures_before_lockout = 5;
  o.lockout = 300s;
  o.max_keys = 4;
  return o;
}

TEST(LoginThrottleTest, SlowsDownThenLocksOut) {
  FakeClock clock;
  LoginThrottle t(Small(), clock.fn());
  EXPECT_FALSE(t.Check("alice").locked);
  EXPECT_EQ(t.RecordFailure("alice").delay, 0ms);
  auto second = t.RecordFailure("alice");
  EXPECT_EQ(second.delay, 100ms);
  EXPECT_EQ(t.RecordFailure("alice").delay, 200ms);
  EXPECT_EQ(t.RecordFailure("alice").delay, 400ms);
  EXPECT_FALSE(t.Check("alice").locked);
  auto fifth = t.RecordFailure("alice");
  EXPECT_TRUE(fifth.locked_now);
  auto v = t.Check("alice");
  EXPECT_TRUE(v.locked);
  EXPECT_EQ(v.retry_after, 300s);
  EXPECT_FALSE(t.Check("bob").locked);  // per key
}

TEST(LoginThrottleTest, LockoutEndsAfterTheCoolDownAndIsNotLiftedEarly) {
  FakeClock clock;
  LoginThrottle t(Small(), clock.fn());
  for (int i = 0; i < 5; ++i) (void)t.RecordFailure("alice");
  ASSERT_TRUE(t.Check("alice").locked);
  t.RecordSuccess("alice");  // even the right password does not lift it
  clock.now += 299s;
  auto v = t.Check("alice");
  EXPECT_TRUE(v.locked);
  EXPECT_EQ(v.retry_after, 1s);
  auto during = t.RecordFailure("alice");  // attempts during the lockout do not extend it
  EXPECT_FALSE(during.locked_now);
  clock.now += 1s;
  EXPECT_FALSE(t.Check("alice").locked);
  EXPECT_EQ(t.RecordFailure("alice").delay, 0ms);  // a fresh start
}

TEST(LoginThrottleTest, OldFailuresAreForgotten) {
  FakeClock clock;
  LoginThrottle t(Small(), clock.fn());
  for (int i = 0; i < 4; ++i) (void)t.RecordFailure("alice");
  clock.now += 61s;
  EXPECT_EQ(t.RecordFailure("alice").delay, 0ms);
  EXPECT_FALSE(t.RecordFailure("alice").locked_now);
}

TEST(LoginThrottleTest, SuccessClearsFailures) {
  FakeClock clock;
  LoginThrottle t(Small(), clock.fn());
  for (int i = 0; i < 4; ++i) (void)t.RecordFailure("alice");
  t.RecordSuccess("alice");
  EXPECT_EQ(t.RecordFailure("alice").delay, 0ms);
}

TEST(LoginThrottleTest, MemoryIsBoundedAndLockoutsAreKept) {
  FakeClock clock;
  LoginThrottle t(Small(), clock.fn());
  for (int i = 0; i < 5; ++i) (void)t.RecordFailure("victim");
  ASSERT_TRUE(t.Check("victim").locked);
  for (int i = 0; i < 50; ++i) {
    clock.now += 1ms;
    (void)t.RecordFailure("spray" + std::to_string(i));
  }
  EXPECT_LE(t.tracked_keys(), 4u);
  EXPECT_TRUE(t.Check("victim").locked);
}

TEST(LoginThrottleTest, ConcurrentUseIsSafe) {
  LoginThrottleOptions o = Small();
  o.max_keys = 1000;
  LoginThrottle t(o);
  std::vector<std::thread> threads;
  for (int n = 0; n < 4; ++n)
    threads.emplace_back([&, n] {
      for (int i = 0; i < 200; ++i) {
        std::string key = "k" + std::to_string((i + n) % 7);
        (void)t.Check(key);
        (void)t.RecordFailure(key);
        if (i % 5 == 0) t.RecordSuccess(key);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_LE(t.tracked_keys(), 7u);
}

}  // namespace
}  // namespace bastion::security
