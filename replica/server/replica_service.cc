#include "replica/server/replica_service.h"

#include "absl/strings/str_cat.h"
#include "common/error_code.h"

namespace report {
namespace {

// Writes wait for their commit until the caller's deadline (less a margin so
// the answer still reaches it), or a bounded default when the caller set none.
absl::Time DeadlineOf(const grpc::ServerContext* context) {
  absl::Time now = absl::Now();
  absl::Time fallback = now + absl::Seconds(5);
  auto deadline = context->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return fallback;
  absl::Time caller = absl::FromChrono(deadline) - absl::Milliseconds(20);
  return std::min(caller, now + absl::Seconds(60));
}

template <typename T>
grpc::Status Answer(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ReplicaServiceImpl::Submit(grpc::ServerContext* context,
                                        const SubmitRequest* request,
                                        SubmitResponse* response) {
  return Answer(replica_->Submit(*request, DeadlineOf(context)), response);
}

grpc::Status ReplicaServiceImpl::SubmitBatch(grpc::ServerContext* context,
                                             const SubmitBatchRequest* request,
                                             SubmitBatchResponse* response) {
  return Answer(replica_->SubmitBatch(*request, DeadlineOf(context)), response);
}

grpc::Status ReplicaServiceImpl::ReadStatus(grpc::ServerContext* context,
                                            const ReadStatusRequest* request,
                                            ReadStatusResponse* response) {
  return Answer(replica_->ReadStatus(*request, DeadlineOf(context)), response);
}

grpc::Status ReplicaServiceImpl::ReserveEffect(
    grpc::ServerContext* context, const ReserveEffectRequest* request,
    EffectResponse* response) {
  return Answer(replica_->ReserveEffect(*request, DeadlineOf(context)),
                response);
}

grpc::Status ReplicaServiceImpl::ExtendLease(grpc::ServerContext* context,
                                             const ExtendLeaseRequest* request,
                                             EffectResponse* response) {
  return Answer(replica_->ExtendLease(*request, DeadlineOf(context)), response);
}

grpc::Status ReplicaServiceImpl::Complete(grpc::ServerContext* context,
                                          const CompleteRequest* request,
                                          EffectResponse* response) {
  return Answer(replica_->Complete(*request, DeadlineOf(context)), response);
}

grpc::Status ReplicaServiceImpl::Fail(grpc::ServerContext* context,
                                      const FailRequest* request,
                                      EffectResponse* response) {
  return Answer(replica_->Fail(*request, DeadlineOf(context)), response);
}

grpc::Status ReplicaServiceImpl::WatchCommitted(
    grpc::ServerContext* context, const WatchRequest* request,
    grpc::ServerWriter<WatchEvent>* writer) {
  int open = watch_streams_.load();
  do {
    if (open >= max_watch_streams_) {
      return ToGrpcStatus(
          MakeError(ErrorCode::kOverloaded,
                    absl::StrCat(open,
                                 " watch streams already open on this replica; "
                                 "watch another replica or retry later")));
    }
  } while (!watch_streams_.compare_exchange_weak(open, open + 1));
  absl::Status status = replica_->Watch(
      *request,
      [writer](const WatchEvent& event) { return writer->Write(event); },
      [context] { return context->IsCancelled(); });
  watch_streams_.fetch_sub(1);
  return ToGrpcStatus(status);
}

grpc::Status ReplicaServiceImpl::ClusterStatus(
    grpc::ServerContext* context, const ClusterStatusRequest* request,
    ClusterStatusResponse* response) {
  *response = replica_->Status();
  return grpc::Status::OK;
}

grpc::Status PeerServiceImpl::Deliver(
    grpc::ServerContext* context,
    grpc::ServerReader<consensus::MessageBatch>* reader, DeliverAck* response) {
  consensus::MessageBatch batch;
  while (reader->Read(&batch)) replica_->StepBatch(batch);
  return grpc::Status::OK;
}

}  // namespace report
