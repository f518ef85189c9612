#include "util/worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

namespace bastion {
namespace {

TEST(WorkerTest, RunsOnAnotherThreadAndReturnsTheStatus) {
  Worker worker;
  std::thread::id ran_on;
  std::future<Status> ok = worker.Run([&] {
    ran_on = std::this_thread::get_id();
    return Status::Ok();
  });
  std::future<Status> failed = worker.Run([] { return Status(Code::kIo, "disk gone"); });
  EXPECT_TRUE(ok.get().ok());
  EXPECT_NE(ran_on, std::this_thread::get_id());
  Status f = failed.get();
  EXPECT_EQ(f.code(), Code::kIo);
  EXPECT_EQ(f.message(), "disk gone");
}

TEST(WorkerTest, TasksRunOneAtATimeInOrder) {
  Worker worker;
  std::vector<int> order;  // only the worker thread touches it
  std::atomic<int> running{0};
  std::atomic<int> overlaps{0};
  std::vector<std::future<Status>> results;
  for (int i = 0; i < 50; ++i) {
    results.push_back(worker.Run([&, i] {
      if (running.fetch_add(1) != 0) ++overlaps;
      order.push_back(i);
      running.fetch_sub(1);
      return Status::Ok();
    }));
  }
  for (auto& r : results) EXPECT_TRUE(r.get().ok());
  EXPECT_EQ(overlaps.load(), 0);
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

TEST(WorkerTest, DestructionRunsWhatWasHandedOver) {
  std::atomic<int> ran{0};
  std::future<Status> last;
  {
    Worker worker;
    for (int i = 0; i < 10; ++i) last = worker.Run([&] {
      ++ran;
      return Status::Ok();
    });
  }
  EXPECT_EQ(ran.load(), 10);
  EXPECT_TRUE(last.get().ok());  // not a broken promise
}

}  // namespace
}  // namespace bastion
