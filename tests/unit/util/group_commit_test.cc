#include "util/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace bastion {
namespace {

TEST(GroupCommitTest, SingleSubmitGetsItsOutcome) {
  int calls = 0;
  GroupCommit<int, std::string> gc(
      [&](std::vector<int>& batch) {
        ++calls;
        std::vector<std::string> out;
        for (int i : batch) out.push_back("item " + std::to_string(i));
        return out;
      },
      16);
  EXPECT_EQ(gc.Submit(7), "item 7");
  EXPECT_EQ(gc.Submit(8), "item 8");
  EXPECT_EQ(calls, 2);
}

// Many threads: each gets the outcome for its own item, every item is
// committed exactly once, and the commit function never overlaps itself.
TEST(GroupCommitTest, ConcurrentSubmittersEachGetTheirOwnOutcome) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 300;
  std::atomic<bool> in_commit{false};
  std::atomic<int> overlaps{0};
  std::mutex seen_mu;
  std::multiset<int> seen;
  GroupCommit<int, long> gc(
      [&](std::vector<int>& batch) {
        if (in_commit.exchange(true)) ++overlaps;
        std::vector<long> out;
        {
          std::lock_guard lock(seen_mu);
          for (int i : batch) {
            seen.insert(i);
            out.push_back(static_cast<long>(i) * 3 + 1);
          }
        }
        in_commit.store(false);
        return out;
      },
      64);

  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kPerThread; ++k) {
        int item = t * kPerThread + k;
        if (gc.Submit(item) != static_cast<long>(item) * 3 + 1) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(overlaps.load(), 0) << "the commit function ran concurrently with itself";
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (int i = 0; i < kThreads * kPerThread; ++i) EXPECT_EQ(seen.count(i), 1u) << "item " << i;
}

// An item that reports when it is moved into the queue. Submit moves it into
// its queue entry while holding the queue lock, so once every item has
// reported, every submitter is queued (or committed) — no sleeps needed.
struct Tracker {
  std::mutex mu;
  std::condition_variable cv;
  std::set<int> queued;
  void Report(int v) {
    std::lock_guard lock(mu);
    queued.insert(v);
    cv.notify_all();
  }
  void WaitFor(std::size_t n) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return queued.size() >= n; });
  }
};

struct TrackedItem {
  int value = 0;
  Tracker* tracker = nullptr;
  TrackedItem(int v, Tracker* t) : value(v), tracker(t) {}
  TrackedItem(TrackedItem&& o) noexcept : value(o.value), tracker(o.tracker) { tracker->Report(value); }
  TrackedItem& operator=(TrackedItem&& o) noexcept {
    value = o.value;
    tracker = o.tracker;
    tracker->Report(value);
    return *this;
  }
};

// Holds the first commit until `others` more submitters are queued behind
// it, then records every batch size.
struct GatedCommit {
  Tracker tracker;
  std::promise<void> first_entered;
  std::size_t wait_for = 0;
  bool first = true;
  std::mutex sizes_mu;
  std::vector<std::size_t> batch_sizes;
  std::vector<int> order;

  std::vector<int> operator()(std::vector<TrackedItem>& batch) {
    if (first) {
      first = false;  // the commit function is never concurrent, so no lock needed
      first_entered.set_value();
      tracker.WaitFor(wait_for);
    }
    std::vector<int> out;
    std::lock_guard lock(sizes_mu);
    batch_sizes.push_back(batch.size());
    for (auto& item : batch) {
      out.push_back(item.value * 10);
      order.push_back(item.value);
    }
    return out;
  }
};

TEST(GroupCommitTest, WaitingSubmittersShareOneCommit) {
  constexpr int kOthers = 12;
  GatedCommit gate;
  gate.wait_for = kOthers + 1;  // item 0 reports too
  GroupCommit<TrackedItem, int> gc([&](std::vector<TrackedItem>& b) { return gate(b); }, 256);

  std::vector<int> results(kOthers + 1, -1);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { results[0] = gc.Submit(TrackedItem(0, &gate.tracker)); });
  gate.first_entered.get_future().wait();  // item 0's commit is running and blocked
  for (int i = 1; i <= kOthers; ++i)
    threads.emplace_back([&, i] { results[i] = gc.Submit(TrackedItem(i, &gate.tracker)); });
  for (auto& t : threads) t.join();

  for (int i = 0; i <= kOthers; ++i) EXPECT_EQ(results[i], i * 10) << "submitter " << i;
  ASSERT_EQ(gate.batch_sizes.size(), 2u) << "the queued submitters should have been committed together";
  EXPECT_EQ(gate.batch_sizes[0], 1u);
  EXPECT_EQ(gate.batch_sizes[1], static_cast<std::size_t>(kOthers));
}

TEST(GroupCommitTest, BatchesRespectMaxBatch) {
  constexpr int kOthers = 10;
  constexpr std::size_t kMaxBatch = 3;
  GatedCommit gate;
  gate.wait_for = kOthers + 1;
  GroupCommit<TrackedItem, int> gc([&](std::vector<TrackedItem>& b) { return gate(b); }, kMaxBatch);

  std::vector<int> results(kOthers + 1, -1);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { results[0] = gc.Submit(TrackedItem(0, &gate.tracker)); });
  gate.first_entered.get_future().wait();
  for (int i = 1; i <= kOthers; ++i)
    threads.emplace_back([&, i] { results[i] = gc.Submit(TrackedItem(i, &gate.tracker)); });
  for (auto& t : threads) t.join();

  for (int i = 0; i <= kOthers; ++i) EXPECT_EQ(results[i], i * 10) << "submitter " << i;
  std::size_t total = 0;
  for (std::size_t s : gate.batch_sizes) {
    EXPECT_GE(s, 1u);
    EXPECT_LE(s, kMaxBatch);
    total += s;
  }
  EXPECT_EQ(total, static_cast<std::size_t>(kOthers + 1));
  // 10 queued items with a limit of 3: 3 + 3 + 3 + 1 after the first.
  ASSERT_EQ(gate.batch_sizes.size(), 5u);
  EXPECT_EQ(gate.batch_sizes[1], kMaxBatch);
  // Each item committed exactly once.
  std::multiset<int> committed(gate.order.begin(), gate.order.end());
  for (int i = 0; i <= kOthers; ++i) EXPECT_EQ(committed.count(i), 1u);
}

TEST(GroupCommitTest, MoveOnlyOutcomes) {
  GroupCommit<int, std::unique_ptr<int>> gc(
      [](std::vector<int>& batch) {
        std::vector<std::unique_ptr<int>> out;
        for (int i : batch) out.push_back(std::make_unique<int>(i + 1));
        return out;
      },
      4);
  auto r = gc.Submit(41);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(*r, 42);
}

}  // namespace
}  // namespace bastion
