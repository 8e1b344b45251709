// The gRPC faces of a replica: the client-facing Replica service and the Peer
// service that feeds consensus messages into it. Both are thin: who may call
// what is the Authorizer's decision, everything else is Replica's.
#ifndef REPORT_REPLICA_SERVER_REPLICA_SERVICE_H_
#define REPORT_REPLICA_SERVER_REPLICA_SERVICE_H_

#include <atomic>

#include "proto/replica_service.grpc.pb.h"
#include "replica/server/authorizer.h"
#include "replica/server/replica.h"

namespace report {

class ReplicaServiceImpl final : public ReplicaService::Service {
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
  grpc::Status SubmitBatch(grpc::ServerContext* context,
                           const SubmitBatchRequest* request,
                           SubmitBatchResponse* response) override;
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
  grpc::Status Fail(grpc::ServerContext* context, const FailRequest* request,
                    EffectResponse* response) override;
  grpc::Status WatchCommitted(grpc::ServerContext* context,
                              const WatchRequest* request,
                              grpc::ServerWriter<WatchEvent>* writer) override;
  grpc::Status ClusterStatus(grpc::ServerContext* context,
                             const ClusterStatusRequest* request,
                             ClusterStatusResponse* response) override;

 private:
  report::Replica* replica_;
  const Authorizer authorizer_;
  const int max_watch_streams_;
  std::atomic<int> watch_streams_{0};
};

class PeerServiceImpl final : public Peer::Service {
 public:
  PeerServiceImpl(report::Replica* replica, Authorizer authorizer)
      : replica_(replica), authorizer_(authorizer) {}
  grpc::Status Deliver(grpc::ServerContext* context,
                       grpc::ServerReader<consensus::MessageBatch>* reader,
                       DeliverAck* response) override;

 private:
  report::Replica* replica_;
  const Authorizer authorizer_;
};

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_REPLICA_SERVICE_H_
