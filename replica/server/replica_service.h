// The gRPC faces of a replica: the client-facing Replica service and the Peer
// service that feeds consensus messages into it. Both are thin: who may call
// what is the Authorizer's decision (replica/server/authorizer.h), everything
// else is Replica's.
//
// The hot path is asynchronous: peer streams (Peer.Deliver) and SubmitBatch
// calls arrive on a completion queue that the replica's driver thread polls
// itself (GrpcEventLoop), so a frame from a peer is read and stepped, and a
// batch is proposed and answered, on one thread without hand-offs. Every other
// method is served by gRPC's synchronous thread pool.
#ifndef REPORT_REPLICA_SERVER_REPLICA_SERVICE_H_
#define REPORT_REPLICA_SERVER_REPLICA_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>

#include "proto/replica_service.grpc.pb.h"
#include "replica/server/authorizer.h"
#include "replica/server/replica.h"

namespace report {

class ReplicaServiceImpl final
    : public ReplicaService::WithAsyncMethod_SubmitBatch<
          ReplicaService::Service> {
 public:
  // Each WatchCommitted stream holds a server thread for its whole life: beyond
  // `max_watch_streams` open at once, a new one is refused with
  // RESOURCE_EXHAUSTED ("Overloaded: ...") and the watcher tries another
  // replica or later.
  ReplicaServiceImpl(report::Replica* replica, Authorizer authorizer,
                     int max_watch_streams = kDefaultMaxWatchStreams)
      : replica_(replica),
        authorizer_(authorizer),
        max_watch_streams_(max_watch_streams) {}
  static constexpr int kDefaultMaxWatchStreams = 64;

  grpc::Status Submit(grpc::ServerContext* context,
                      const SubmitRequest* request,
                      SubmitResponse* response) override;
  grpc::Status ReadStatus(grpc::ServerContext* context,
                          const ReadStatusRequest* request,
                          ReadStatusResponse* response) override;
  grpc::Status ReserveEffect(grpc::ServerContext* context,
                             const ReserveEffectRequest* request,
                             EffectResponse* response) override;
  grpc::Status ExtendLease(grpc::ServerContext* context,
                           const ExtendLeaseRequest* request,
                           EffectResponse* response) override;
  grpc::Status Complete(grpc::ServerContext* context,
                        const CompleteRequest* request,
                        EffectResponse* response) override;
  grpc::Status Cancel(grpc::ServerContext* context,
                      const CancelRequest* request,
                      EffectResponse* response) override;
  grpc::Status ListRequests(grpc::ServerContext* context,
                            const ListRequestsRequest* request,
                            ListRequestsResponse* response) override;
  grpc::Status Fail(grpc::ServerContext* context, const FailRequest* request,
                    EffectResponse* response) override;
  grpc::Status WatchCommitted(grpc::ServerContext* context,
                              const WatchRequest* request,
                              grpc::ServerWriter<WatchEvent>* writer) override;
  grpc::Status ClusterStatus(grpc::ServerContext* context,
                             const ClusterStatusRequest* request,
                             ClusterStatusResponse* response) override;

  // Who may call what; the asynchronous calls (AsyncCalls) ask it too.
  const Authorizer& authorizer() const { return authorizer_; }

 private:
  report::Replica* replica_;
  const Authorizer authorizer_;
  const int max_watch_streams_;
  std::atomic<int> watch_streams_{0};
};

// Checks every submit of `request` against the field limits and starts the
// ones that pass (StartSubmitBatch); a submit that breaks a limit is refused
// in its own outcome. `done` runs exactly once.
std::shared_ptr<PendingSubmit> StartCheckedSubmitBatch(
    Replica* replica, const SubmitBatchRequest& request,
    std::function<void(absl::StatusOr<SubmitBatchResponse>)> done);

// Serves Peer.Deliver and ReplicaService.SubmitBatch on `cq`, which the
// replica's GrpcEventLoop polls. Start() after the server is built; at
// shutdown: stop the replica, StopServing(), shut the server down, then drain
// the queue (GrpcEventLoop::Drain), which frees every call.
class AsyncCalls {
 public:
  AsyncCalls(Replica* replica, ReplicaServiceImpl* replica_service,
             Peer::AsyncService* peer_service, grpc::ServerCompletionQueue* cq)
      : replica_(replica),
        replica_service_(replica_service),
        peer_service_(peer_service),
        cq_(cq) {}
  void Start();
  void StopServing() { stopping_.store(true); }

 private:
  class DeliverCall;
  class SubmitBatchCall;

  Replica* const replica_;
  ReplicaServiceImpl* const replica_service_;
  Peer::AsyncService* const peer_service_;
  grpc::ServerCompletionQueue* const cq_;
  std::atomic<bool> stopping_{false};
};

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_REPLICA_SERVICE_H_
