// Coalesces submits into SubmitBatch calls. Sender threads (one by default:
// measured best, see docs/PERFORMANCE.md) each take everything queued when
// they come free, up to a batch limit, and make one call: under
// load the batch grows with the number of submits in flight, while one submit
// alone leaves at once. A failure of the whole call (retried by the cluster
// client until the deadline) reaches every submit of the batch; otherwise
// each gets its own receipt or refusal.
#ifndef REPORT_CLIENT_SUBMIT_BATCHER_H_
#define REPORT_CLIENT_SUBMIT_BATCHER_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/replica_service.pb.h"

namespace report {

struct SubmitBatcherOptions {
  int max_batch = 512;  // submits per call, at most 1024 (the replica's limit)
  int senders = 1;      // calls in flight at once
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

  // `done` runs exactly once, on a sender thread (or inline when stopping).
  void Submit(SubmitRequest request, absl::Duration timeout, Done done);

 private:
  struct Item {
    SubmitRequest request;
    absl::Time deadline;
    Done done;
  };
  void SenderLoop();
  void Send(std::vector<Item>& batch);

  const SendFn send_;
  const SubmitBatcherOptions options_;
  std::mutex mu_;
  std::condition_variable queued_;
  std::deque<Item> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::vector<std::thread> senders_;
};

}  // namespace report

#endif  // REPORT_CLIENT_SUBMIT_BATCHER_H_
