#include "client/submit_batcher.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"

namespace report {

SubmitBatcher::SubmitBatcher(SendFn send, SubmitBatcherOptions options)
    : send_(std::move(send)), options_(options) {
  const int senders = std::max(1, options_.senders);
  for (int i = 0; i < senders; ++i) {
    senders_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "batch-sender");
      SenderLoop();
    });
  }
}

SubmitBatcher::~SubmitBatcher() { Stop(); }

void SubmitBatcher::Stop() {
  std::deque<Item> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    left.swap(queue_);
  }
  queued_.notify_all();
  for (Item& item : left) {
    item.done(MakeError(ErrorCode::kNoQuorum,
                        "gateway shutting down; the submit was not sent"));
  }
  for (std::thread& sender : senders_) sender.join();
}

void SubmitBatcher::Submit(SubmitRequest request, absl::Duration timeout,
                           Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(
          Item{std::move(request), absl::Now() + timeout, std::move(done)});
      queued_.notify_one();
      return;
    }
  }
  done(MakeError(ErrorCode::kNoQuorum,
                 "gateway shutting down; the submit was not sent"));
}

void SubmitBatcher::SenderLoop() {
  const size_t max_batch =
      static_cast<size_t>(std::clamp(options_.max_batch, 1, 1024));
  std::vector<Item> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      while (!queue_.empty() && batch.size() < max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      // More left: another sender may take it now.
      if (!queue_.empty()) queued_.notify_one();
    }
    Send(batch);
    batch.clear();
  }
}

void SubmitBatcher::Send(std::vector<Item>& batch) {
  SubmitBatchRequest request;
  absl::Time deadline = absl::InfiniteFuture();
  for (Item& item : batch) {
    *request.add_requests() = std::move(item.request);
    deadline = std::min(deadline, item.deadline);
  }
  absl::StatusOr<SubmitBatchResponse> response =
      send_(request, std::max(absl::ZeroDuration(), deadline - absl::Now()));
  if (response.ok() &&
      response->outcomes_size() != static_cast<int>(batch.size())) {
    response = MakeError(
        ErrorCode::kCommitUnknown,
        absl::StrCat("the leader answered ", response->outcomes_size(),
                     " outcomes for ", batch.size(),
                     " submits; retrying with the same ids is safe"));
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!response.ok()) {
      batch[i].done(response.status());
      continue;
    }
    batch[i].done(OutcomeResult(response->outcomes(static_cast<int>(i))));
  }
}

}  // namespace report
