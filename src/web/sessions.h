// Browser sessions: a random identifier in an HttpOnly cookie, held in
// memory only (a restart logs everyone out, which is the safe direction).
// Each session ends after `idle` without a request (HIPAA automatic logoff)
// and after `lifetime` however busy it is, and carries its own CSRF token.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace bastion::web {

struct Session {
  std::string user;
  std::string csrf_token;  // 64 hex digits; sent back in X-CSRF-Token on every state-changing request
  std::string address;     // where it was created (for the audit record)
  std::chrono::steady_clock::time_point created, last_seen;
  std::chrono::system_clock::time_point created_wall;
};

struct SessionOptions {
  std::chrono::seconds idle{900};
  std::chrono::seconds lifetime{43200};
  std::size_t max_sessions = 10000;  // past it the oldest idle one is dropped
};

// Thread-safe. Only SHA-256 of each session identifier is kept, so a memory
// dump or a log line of the table does not hand out live cookies.
class SessionStore {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit SessionStore(SessionOptions options, Clock clock = std::chrono::steady_clock::now);

  struct Created {
    std::string id;  // the cookie value: 64 hex digits, shown to the browser only
    Session session;
  };
  Created Create(std::string_view user, std::string_view address);

  // The session for a cookie value, touched (idle timer restarted); nullopt
  // when unknown, idle too long or past its lifetime (and then forgotten).
  // `expired`, if given, says whether it existed but had timed out.
  std::optional<Session> Touch(std::string_view id, bool* expired = nullptr);
  void End(std::string_view id);
  std::size_t size();

 private:
  bool Expired(const Session& s, std::chrono::steady_clock::time_point now) const;

  const SessionOptions options_;
  const Clock clock_;
  std::mutex mu_;
  std::map<std::string, Session, std::less<>> sessions_;  // by SHA-256 of the id; guarded by mu_
};

}  // namespace bastion::web
