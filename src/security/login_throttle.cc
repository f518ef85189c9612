#include "security/login_throttle.h"

#include <algorithm>

namespace bastion::security {

LoginThrottle::LoginThrottle(LoginThrottleOptions options, Clock clock)
    : options_(options), clock_(std::move(clock)) {}

void LoginThrottle::Prune(Entry& e, TimePoint now) const {
  auto horizon = now - options_.window;
  std::erase_if(e.failures, [&](TimePoint t) { return t <= horizon; });
}

std::chrono::milliseconds LoginThrottle::DelayFor(std::size_t failures) const {
  if (options_.failures_before_slowdown <= 0 ||
      failures < static_cast<std::size_t>(options_.failures_before_slowdown))
    return std::chrono::milliseconds(0);
  std::size_t doublings = failures - static_cast<std::size_t>(options_.failures_before_slowdown);
  auto delay = options_.first_delay;
  for (std::size_t i = 0; i < doublings && delay < options_.max_delay; ++i) delay *= 2;
  return std::min(delay, options_.max_delay);
}

LoginThrottle::Verdict LoginThrottle::Check(std::string_view key) {
  auto now = clock_();
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.locked_until <= now) return Verdict{};
  auto left = std::chrono::ceil<std::chrono::seconds>(it->second.locked_until - now);
  return Verdict{true, left};
}

void LoginThrottle::MakeRoom(TimePoint now) {
  // Forget what has nothing left to say, then the oldest unlocked keys.
  for (auto it = entries_.begin(); it != entries_.end();) {
    Prune(it->second, now);
    if (it->second.failures.empty() && it->second.locked_until <= now) it = entries_.erase(it);
    else ++it;
  }
  while (entries_.size() >= options_.max_keys) {
    auto oldest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.locked_until > now) continue;  // a lockout is never forgotten early
      if (oldest == entries_.end() || it->second.last_seen < oldest->second.last_seen) oldest = it;
    }
    if (oldest == entries_.end()) return;  // all locked: track no more (the map stays bounded)
    entries_.erase(oldest);
  }
}

LoginThrottle::FailureResult LoginThrottle::RecordFailure(std::string_view key) {
  auto now = clock_();
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= options_.max_keys) MakeRoom(now);
    if (entries_.size() >= options_.max_keys) return FailureResult{false, options_.max_delay};
    it = entries_.emplace(std::string(key), Entry{}).first;
  }
  Entry& e = it->second;
  e.last_seen = now;
  if (e.locked_until > now) return FailureResult{false, std::chrono::milliseconds(0)};
  Prune(e, now);
  e.failures.push_back(now);
  FailureResult result;
  result.delay = DelayFor(e.failures.size());
  if (options_.failures_before_lockout > 0 &&
      e.failures.size() >= static_cast<std::size_t>(options_.failures_before_lockout)) {
    e.locked_until = now + options_.lockout;
    e.failures.clear();
    result.locked_now = true;
  }
  return result;
}

void LoginThrottle::RecordSuccess(std::string_view key) {
  auto now = clock_();
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (it->second.locked_until > now) return;  // never lifted early
  entries_.erase(it);
}

std::size_t LoginThrottle::tracked_keys() {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace bastion::security
