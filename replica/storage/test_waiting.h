// Test-only waiting helpers built on std::mutex: the system Abseil is not built
// with ThreadSanitizer, so absl::Mutex/absl::Notification would hide every
// happens-before edge from a -DREPORT_SANITIZE=thread build. Every wait has a
// deadline so a broken test fails instead of hanging.
#ifndef REPORT_REPLICA_STORAGE_TEST_WAITING_H_
#define REPORT_REPLICA_STORAGE_TEST_WAITING_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace report::storage {

// Counts events; a waiter blocks until a count is reached or the deadline
// passes.
class EventCounter {
 public:
  void Add() {
    std::lock_guard<std::mutex> lock(mu_);
    ++count_;
    changed_.notify_all();
  }
  // True when at least `count` events happened within `timeout`.
  bool WaitFor(int count,
               std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return count_ >= count; });
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int count_ = 0;
};

}  // namespace report::storage

#endif  // REPORT_REPLICA_STORAGE_TEST_WAITING_H_
