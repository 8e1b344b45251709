// Coalesces submits into SubmitBatch calls. Sender threads (one by default:
// measured best, see docs/PERFORMANCE.md) each take everything queued when
// they come free, up to a batch limit, and make one call: under
// load the batch grows with the number of submits in flight, while one submit
// alone leaves at once. A failure of the whole call (retried by the cluster
// client until the deadline) reaches every submit of the batch still waiting;
// otherwise each gets its own receipt or refusal.
//
// Every submit keeps its own deadline: a call may take as long as the latest
// deadline of its batch, and a submit whose own deadline passes first is
// answered then, alone (CommitUnknown once sent, Overloaded while still
// queued), so one nearly expired submit never cuts the others' wait short.
// The queue is bounded (max_queued): beyond it a submit is refused at once.
#ifndef REPORT_CLIENT_SUBMIT_BATCHER_H_
#define REPORT_CLIENT_SUBMIT_BATCHER_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/replica_service.pb.h"

namespace report {

struct SubmitBatcherOptions {
  int max_batch = 512;  // submits per call, at most 1024 (the replica's limit)
  int senders = 1;      // calls in flight at once
  // Submits waiting for a sender; beyond it a submit is refused at once with
  // Overloaded (nothing was sent).
  int max_queued = 4096;
};

class SubmitBatcher {
 public:
  // Makes one SubmitBatch call; ClusterClient::SubmitBatch in production.
  using SendFn = std::function<absl::StatusOr<SubmitBatchResponse>(
      const SubmitBatchRequest&, absl::Duration timeout)>;
  using Done = std::function<void(absl::StatusOr<Receipt>)>;

  SubmitBatcher(SendFn send, SubmitBatcherOptions options = {});
  // Submits still queued fail at once with NoQuorum (nothing was sent, so
  // nothing was accepted); then waits for the calls in flight.
  ~SubmitBatcher();
  // What the destructor does, for an owner that must know every `done` has
  // run before it tears down what they use (a server's reactors). Idempotent;
  // later Submits fail at once with NoQuorum.
  void Stop();
  SubmitBatcher(const SubmitBatcher&) = delete;
  SubmitBatcher& operator=(const SubmitBatcher&) = delete;

  // `done` runs exactly once, on a sender or deadline thread (inline when
  // refused), at the latest shortly after `timeout`.
  void Submit(SubmitRequest request, absl::Duration timeout, Done done);

 private:
  struct Item {
    SubmitRequest request;
    absl::Time deadline;
    Done done;          // guarded by mu_; empty once answered
    bool sent = false;  // guarded by mu_
  };
  struct LaterDeadline {
    bool operator()(const std::shared_ptr<Item>& a,
                    const std::shared_ptr<Item>& b) const {
      return a->deadline > b->deadline;
    }
  };
  void SenderLoop();
  void Send(const std::vector<std::shared_ptr<Item>>& batch);
  // Answers each submit whose deadline passes before its call's answer.
  void DeadlineLoop();

  const SendFn send_;
  const SubmitBatcherOptions options_;
  std::mutex mu_;
  std::condition_variable queued_;
  std::condition_variable deadline_changed_;
  // Guarded by mu_. queue_ may still hold submits answered at their deadline;
  // queued_count_ counts those not yet answered.
  std::deque<std::shared_ptr<Item>> queue_;
  size_t queued_count_ = 0;
  // Guarded by mu_: every submit not yet past its deadline, earliest on top.
  std::priority_queue<std::shared_ptr<Item>, std::vector<std::shared_ptr<Item>>,
                      LaterDeadline>
      deadlines_;
  bool stopping_ = false;         // guarded by mu_
  bool senders_stopped_ = false;  // guarded by mu_
  std::vector<std::thread> senders_;
  std::thread deadline_watcher_;
};

}  // namespace report

#endif  // REPORT_CLIENT_SUBMIT_BATCHER_H_
