// Slows down, then locks out, repeated failed logins per key: an account name
// (password guessing against one user) or an address (spraying many users).
// In memory only: a restart forgets it, which is acceptable because the
// cool-down is short and every failure and lockout is also an audit record.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace bastion::security {

struct LoginThrottleOptions {
  // Failures counted within this window (older ones are forgotten).
  std::chrono::seconds window{15 * 60};
  // From the Nth failure in the window on, each further attempt waits a delay
  // that doubles from first_delay up to max_delay: guessing gets slow fast,
  // while a person mistyping twice notices nothing.
  int failures_before_slowdown = 3;
  std::chrono::milliseconds first_delay{1000};
  std::chrono::milliseconds max_delay{16000};
  // At this many failures in the window the key is locked for `lockout`:
  // every attempt is refused without checking the password.
  int failures_before_lockout = 10;
  std::chrono::seconds lockout{15 * 60};
  // Memory bound: beyond this many keys, the ones with the oldest activity
  // that are not locked out are forgotten first.
  std::size_t max_keys = 100000;
};

// Thread-safe. The clock is injectable for tests.
class LoginThrottle {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit LoginThrottle(LoginThrottleOptions options = {}, Clock clock = std::chrono::steady_clock::now);

  struct Verdict {
    bool locked = false;                  // refuse without checking the password
    std::chrono::seconds retry_after{0};  // when locked: how long the lockout still lasts (rounded up)
  };
  // Before checking a password for `key`.
  Verdict Check(std::string_view key);

  struct FailureResult {
    bool locked_now = false;             // this failure started a lockout (audit it)
    std::chrono::milliseconds delay{0};  // wait this long before answering the failure
  };
  FailureResult RecordFailure(std::string_view key);
  // A successful login clears the key's failures (not an active lockout: a
  // lockout is never lifted early, even by the right password).
  void RecordSuccess(std::string_view key);

  std::size_t tracked_keys();

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Entry {
    std::vector<TimePoint> failures;  // within the window, oldest first; at most failures_before_lockout
    TimePoint locked_until{};
    TimePoint last_seen{};
  };
  void Prune(Entry& e, TimePoint now) const;
  std::chrono::milliseconds DelayFor(std::size_t failures) const;
  void MakeRoom(TimePoint now);

  const LoginThrottleOptions options_;
  const Clock clock_;
  std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;  // guarded by mu_
};

}  // namespace bastion::security
