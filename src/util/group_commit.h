// Group commit: many threads submit items; one of them at a time (the leader)
// commits everything queued so far in one call, so concurrent writers share
// one transaction and one fsync instead of paying one each.
//
// Thread-safe. The commit function runs on a submitting thread, never under
// the queue lock, and is never called concurrently with itself.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace bastion {

template <typename Item, typename Outcome>
class GroupCommit {
 public:
  // Must return exactly one outcome per item, in order.
  using CommitFn = std::function<std::vector<Outcome>(std::vector<Item>& batch)>;

  GroupCommit(CommitFn commit, std::size_t max_batch) : commit_(std::move(commit)), max_batch_(max_batch) {}

  // Blocks until the batch holding `item` is committed; returns its outcome.
  Outcome Submit(Item item) {
    Slot slot;
    std::unique_lock lock(mu_);
    queue_.push_back(Pending{std::move(item), &slot});
    while (!slot.outcome.has_value()) {
      if (leader_active_) {
        cv_.wait(lock);
        continue;
      }
      leader_active_ = true;
      std::vector<Pending> batch;
      std::size_t n = std::min(queue_.size(), max_batch_);
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) batch.push_back(std::move(queue_[i]));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      lock.unlock();
      std::vector<Item> items;
      items.reserve(n);
      for (auto& p : batch) items.push_back(std::move(p.item));
      std::vector<Outcome> outcomes = commit_(items);
      lock.lock();
      for (std::size_t i = 0; i < batch.size(); ++i) batch[i].slot->outcome = std::move(outcomes.at(i));
      leader_active_ = false;
      cv_.notify_all();
    }
    return std::move(*slot.outcome);
  }

 private:
  struct Slot {
    std::optional<Outcome> outcome;
  };
  struct Pending {
    Item item;
    Slot* slot;
  };

  const CommitFn commit_;
  const std::size_t max_batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> queue_;  // guarded by mu_
  bool leader_active_ = false;  // guarded by mu_
};

}  // namespace bastion
