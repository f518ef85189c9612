#include "web/sessions.h"

#include "util/crypto.h"

namespace bastion::web {

namespace {
std::string KeyOf(std::string_view id) { return HexEncode(Sha256::Of(id)); }
}  // namespace

SessionStore::SessionStore(SessionOptions options, Clock clock) : options_(options), clock_(std::move(clock)) {}

bool SessionStore::Expired(const Session& s, std::chrono::steady_clock::time_point now) const {
  return now - s.last_seen >= options_.idle || now - s.created >= options_.lifetime;
}

SessionStore::Created SessionStore::Create(std::string_view user, std::string_view address) {
  Created c;
  c.id = RandomHex(32);
  auto now = clock_();
  c.session.user = std::string(user);
  c.session.csrf_token = RandomHex(32);
  c.session.address = std::string(address);
  c.session.created = c.session.last_seen = now;
  c.session.created_wall = std::chrono::system_clock::now();
  std::lock_guard lock(mu_);
  if (sessions_.size() >= options_.max_sessions) {
    // Drop what has expired; if that is not enough, the least recently used.
    for (auto it = sessions_.begin(); it != sessions_.end();)
      it = Expired(it->second, now) ? sessions_.erase(it) : std::next(it);
    while (sessions_.size() >= options_.max_sessions) {
      auto oldest = sessions_.begin();
      for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
        if (it->second.last_seen < oldest->second.last_seen) oldest = it;
      sessions_.erase(oldest);
    }
  }
  sessions_.emplace(KeyOf(c.id), c.session);
  return c;
}

std::optional<Session> SessionStore::Touch(std::string_view id, bool* expired) {
  if (expired) *expired = false;
  if (!IsLowerHex(id, 64)) return std::nullopt;
  auto now = clock_();
  std::lock_guard lock(mu_);
  auto it = sessions_.find(KeyOf(id));
  if (it == sessions_.end()) return std::nullopt;
  if (Expired(it->second, now)) {
    if (expired) *expired = true;
    sessions_.erase(it);
    return std::nullopt;
  }
  it->second.last_seen = now;
  return it->second;
}

void SessionStore::End(std::string_view id) {
  std::lock_guard lock(mu_);
  sessions_.erase(KeyOf(id));
}

std::size_t SessionStore::size() {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace bastion::web
