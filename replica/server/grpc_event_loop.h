// The driver's event loop over a gRPC completion queue: the driver thread polls
// the queue itself and runs each event's handler (a peer stream's read, a
// SubmitBatch call) inline. Every tag on the queue is a CqHandler.
#ifndef REPORT_REPLICA_SERVER_GRPC_EVENT_LOOP_H_
#define REPORT_REPLICA_SERVER_GRPC_EVENT_LOOP_H_

#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>

#include <atomic>
#include <thread>

#include "replica/server/event_loop.h"

namespace report {

// A completion-queue tag: Proceed() runs when its operation completes (`ok`
// as gRPC reports it).
class CqHandler {
 public:
  virtual ~CqHandler() = default;
  virtual void Proceed(bool ok) = 0;
};

class GrpcEventLoop : public EventLoop {
 public:
  // `cq` must outlive the loop.
  explicit GrpcEventLoop(grpc::CompletionQueue* cq) : cq_(cq) {}

  void RunOnce(std::chrono::steady_clock::time_point deadline) override;
  void Wake() override;

  // After the server has shut down and the driver stopped: shuts the queue
  // down and runs every remaining event's handler with ok=false, so each call
  // object can free itself. Call once, from any one thread.
  void Drain();

 private:
  class WakeTag : public CqHandler {
   public:
    explicit WakeTag(std::atomic<bool>* armed) : armed_(armed) {}
    void Proceed(bool) override { armed_->store(false); }

   private:
    std::atomic<bool>* armed_;
  };

  grpc::CompletionQueue* const cq_;
  std::atomic<bool> armed_{false};
  WakeTag wake_tag_{&armed_};
  grpc::Alarm alarm_;
  std::atomic<std::thread::id> polling_thread_{};
};

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_GRPC_EVENT_LOOP_H_
