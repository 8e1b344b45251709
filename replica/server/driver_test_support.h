// In-memory stand-ins for the driver's storage and transport, so drivers run
// in unit tests with no disk and no gRPC: a MemoryLogSink over a
// consensus::MemoryLogStore, and a Router that delivers messages between
// drivers of one process (and can cut a driver off).
#ifndef REPORT_REPLICA_SERVER_DRIVER_TEST_SUPPORT_H_
#define REPORT_REPLICA_SERVER_DRIVER_TEST_SUPPORT_H_

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "replica/consensus/memory_log_store.h"
#include "replica/server/driver.h"

namespace report::testing {

// Entries count as durable as soon as they are persisted: on_durable runs
// inline, and MarkDurable appends them to the store the core reads.
class MemoryLogSink : public LogSink {
 public:
  void Persist(std::vector<consensus::Entry> entries,
               std::optional<consensus::HardState> hard_state,
               std::function<void()> on_durable) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (hard_state.has_value()) hard_state_ = *hard_state;
      if (!entries.empty()) pending_.push_back(std::move(entries));
    }
    on_durable();
  }
  void MarkDurable(const storage::LogSpan& span) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.empty()) return;
    store_.Append(pending_.front());
    pending_.pop_front();
  }
  const consensus::LogStore* store() const { return &store_; }

 private:
  std::mutex mu_;
  consensus::MemoryLogStore store_;
  std::deque<std::vector<consensus::Entry>> pending_;
  consensus::HardState hard_state_;
};

// Delivers each message to the driver it is addressed to, unless either end
// is cut off.
class Router {
 public:
  void Add(uint64_t id, Driver* driver) {
    std::lock_guard<std::mutex> lock(mu_);
    drivers_[id] = driver;
  }
  void CutOff(uint64_t id, bool cut) {
    std::lock_guard<std::mutex> lock(mu_);
    if (cut) {
      cut_.insert(id);
    } else {
      cut_.erase(id);
    }
  }
  void Deliver(std::vector<consensus::Message> messages) {
    for (consensus::Message& message : messages) {
      Driver* to = nullptr;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (cut_.count(message.from()) || cut_.count(message.to())) continue;
        auto it = drivers_.find(message.to());
        if (it == drivers_.end()) continue;
        to = it->second;
      }
      consensus::MessageBatch batch;
      batch.set_from(message.from());
      *batch.add_messages() = std::move(message);
      to->Step(batch.from(), batch);
    }
  }

 private:
  std::mutex mu_;
  std::map<uint64_t, Driver*> drivers_;
  std::set<uint64_t> cut_;
};

class RouterSink : public MessageSink {
 public:
  explicit RouterSink(Router* router) : router_(router) {}
  void Send(std::vector<consensus::Message> messages) override {
    router_->Deliver(std::move(messages));
  }

 private:
  Router* const router_;
};

// Polls `done` until it holds or `timeout` passes.
template <typename Predicate>
bool Eventually(Predicate done,
                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace report::testing

#endif  // REPORT_REPLICA_SERVER_DRIVER_TEST_SUPPORT_H_
