#include "replica/server/watch_hub.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "common/error_code.h"
#include "replica/server/steady_deadline.h"

namespace report {

WatchHub::WatchHub(uint64_t applied, size_t ring_size)
    : ring_size_(std::max<size_t>(ring_size, 1)),
      applied_(applied),
      recent_from_(applied + 1) {}

void WatchHub::Publish(const std::vector<AppliedCommand>& applied,
                       uint64_t applied_index) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const AppliedCommand& command : applied) {
    if (command.result.record().request_id().empty()) continue;
    WatchEvent& event = recent_.emplace_back();
    event.set_offset(command.index);
    *event.mutable_record() = command.result.record();
    if (recent_.size() > ring_size_) {
      recent_from_ = recent_.front().offset() + 1;
      recent_.pop_front();
    }
  }
  applied_ = std::max(applied_, applied_index);
  cv_.notify_all();
}

void WatchHub::Reset(uint64_t applied_index) {
  std::lock_guard<std::mutex> lock(mu_);
  recent_.clear();
  applied_ = std::max(applied_, applied_index);
  recent_from_ = applied_ + 1;
  cv_.notify_all();
}

void WatchHub::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  cv_.notify_all();
}

uint64_t WatchHub::applied() const {
  std::lock_guard<std::mutex> lock(mu_);
  return applied_;
}

uint64_t WatchHub::WaitApplied(uint64_t min_offset, absl::Time deadline) const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, SteadyDeadline(deadline),
                 [&] { return stopped_ || applied_ >= min_offset; });
  return applied_;
}

absl::Status WatchHub::Follow(
    uint64_t after, const std::function<bool(const WatchEvent&)>& send,
    const std::function<bool()>& cancelled, absl::Duration poll) const {
  uint64_t next = after + 1;
  while (true) {
    std::vector<WatchEvent> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, absl::ToChronoNanoseconds(poll),
                   [&] { return stopped_ || applied_ >= next; });
      if (stopped_)
        return MakeError(ErrorCode::kNoQuorum, "replica shutting down");
      if (cancelled()) return absl::OkStatus();
      if (applied_ < next) continue;
      if (next < recent_from_) {
        return absl::AbortedError(
            "watch fell behind the replica's recent changes; restart it");
      }
      auto it = std::lower_bound(recent_.begin(), recent_.end(), next,
                                 [](const WatchEvent& event, uint64_t offset) {
                                   return event.offset() < offset;
                                 });
      batch.assign(it, recent_.end());
      next = applied_ + 1;
    }
    for (WatchEvent& event : batch) {
      event.set_applied_offset(next - 1);
      if (!send(event) || cancelled()) return absl::OkStatus();
    }
  }
}

}  // namespace report
