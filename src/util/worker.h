// A background thread that runs the tasks handed to it, one at a time, and
// lets the caller wait for each result. For overlapping two blocking waits
// (two fsyncs of different files) without starting a thread for each.
//
// Thread-safe. The destructor runs the tasks already handed over, then joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "util/status.h"

namespace bastion {

class Worker {
 public:
  Worker() : thread_([this] { Loop(); }) {}
  ~Worker() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  std::future<Status> Run(std::function<Status()> task) {
    std::packaged_task<Status()> packaged(std::move(task));
    std::future<Status> result = packaged.get_future();
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(packaged));
    }
    cv_.notify_one();
    return result;
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and nothing left to run
      std::packaged_task<Status()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<Status()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                           // guarded by mu_
  std::thread thread_;                              // last: starts after the members it uses
};

}  // namespace bastion
