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
  deadline_watcher_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "batch-deadline");
    DeadlineLoop();
  });
}

SubmitBatcher::~SubmitBatcher() { Stop(); }

void SubmitBatcher::Stop() {
  std::vector<Done> refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (std::shared_ptr<Item>& item : queue_) {
      if (item->done) refused.push_back(std::move(item->done));
    }
    queue_.clear();
    queued_count_ = 0;
  }
  queued_.notify_all();
  for (Done& done : refused) {
    done(MakeError(ErrorCode::kNoQuorum,
                   "gateway shutting down; the submit was not sent"));
  }
  // The calls in flight end (their submits answered by the sender, or at their
  // deadline by the watcher); only then may the watcher go.
  for (std::thread& sender : senders_) sender.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    senders_stopped_ = true;
  }
  deadline_changed_.notify_all();
  deadline_watcher_.join();
}

void SubmitBatcher::Submit(SubmitRequest request, absl::Duration timeout,
                           Done done) {
  absl::Status refusal;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      refusal = MakeError(ErrorCode::kNoQuorum,
                          "gateway shutting down; the submit was not sent");
    } else if (queued_count_ >=
               static_cast<size_t>(std::max(1, options_.max_queued))) {
      refusal = MakeError(
          ErrorCode::kOverloaded,
          absl::StrCat("gateway overloaded: ", queued_count_,
                       " submits already wait for the leader; nothing was "
                       "sent, retry after Retry-After"));
    } else {
      auto item = std::make_shared<Item>();
      item->request = std::move(request);
      item->deadline = absl::Now() + timeout;
      item->done = std::move(done);
      const bool earliest =
          deadlines_.empty() || item->deadline < deadlines_.top()->deadline;
      deadlines_.push(item);
      queue_.push_back(std::move(item));
      ++queued_count_;
      queued_.notify_one();
      if (earliest) deadline_changed_.notify_all();
      return;
    }
  }
  done(std::move(refusal));
}

void SubmitBatcher::SenderLoop() {
  const size_t max_batch =
      static_cast<size_t>(std::clamp(options_.max_batch, 1, 1024));
  std::vector<std::shared_ptr<Item>> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      while (!queue_.empty() && batch.size() < max_batch) {
        std::shared_ptr<Item> item = std::move(queue_.front());
        queue_.pop_front();
        if (!item->done) continue;  // expired while queued: already answered
        --queued_count_;
        item->sent = true;
        batch.push_back(std::move(item));
      }
      // More left: another sender may take it now.
      if (!queue_.empty()) queued_.notify_one();
    }
    if (!batch.empty()) Send(batch);
    batch.clear();
  }
}

void SubmitBatcher::Send(const std::vector<std::shared_ptr<Item>>& batch) {
  SubmitBatchRequest request;
  // The call may take as long as its most patient submit may wait: a submit
  // about to expire must not cut the others' wait short. It gets its own
  // answer at its own deadline (DeadlineLoop).
  absl::Time deadline = absl::InfinitePast();
  for (const std::shared_ptr<Item>& item : batch) {
    *request.add_requests() = std::move(item->request);
    deadline = std::max(deadline, item->deadline);
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
    Done done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done = std::move(batch[i]->done);
      batch[i]->done = nullptr;
    }
    if (!done) continue;  // answered at its own deadline
    if (!response.ok()) {
      done(response.status());
    } else {
      done(OutcomeResult(response->outcomes(static_cast<int>(i))));
    }
  }
}

void SubmitBatcher::DeadlineLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    // Drop what was answered already; answer what has expired.
    const absl::Time now = absl::Now();
    std::vector<std::pair<Done, absl::Status>> expired;
    while (!deadlines_.empty() &&
           (!deadlines_.top()->done || deadlines_.top()->deadline <= now)) {
      std::shared_ptr<Item> item = deadlines_.top();
      deadlines_.pop();
      if (!item->done) continue;
      Done done = std::move(item->done);
      item->done = nullptr;
      if (item->sent) {
        expired.emplace_back(
            std::move(done),
            MakeError(ErrorCode::kCommitUnknown,
                      "commit not confirmed before the submit's deadline; "
                      "the request may be accepted; retrying with the same "
                      "id is safe"));
      } else {
        --queued_count_;
        expired.emplace_back(
            std::move(done),
            MakeError(ErrorCode::kOverloaded,
                      "gateway overloaded: the submit waited for the leader "
                      "until its deadline; nothing was sent, retry after "
                      "Retry-After"));
      }
    }
    if (!expired.empty()) {
      lock.unlock();
      for (auto& [done, status] : expired) done(std::move(status));
      lock.lock();
      continue;
    }
    if (senders_stopped_) return;
    if (deadlines_.empty()) {
      deadline_changed_.wait(lock);
    } else {
      deadline_changed_.wait_until(
          lock, absl::ToChronoTime(deadlines_.top()->deadline));
    }
  }
}

}  // namespace report
