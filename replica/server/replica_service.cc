#include "replica/server/replica_service.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/validation.h"
#include "glog/logging.h"

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

// Every field is checked against its limit (common/validation.h) before the
// replica sees the request, so an oversized field never reaches the log.
// A call the caller's certificate does not allow is refused before the
// replica sees it (replica/server/authorizer.h); malformed input is refused
// first, the same for everyone.
#define RETURN_IF_REFUSED(check) RETURN_IF_INVALID(check)
#define RETURN_IF_INVALID(check)                       \
  do {                                                 \
    if (absl::Status invalid = (check); !invalid.ok()) \
      return ToGrpcStatus(invalid);                    \
  } while (0)

}  // namespace

grpc::Status ReplicaServiceImpl::Submit(grpc::ServerContext* context,
                                        const SubmitRequest* request,
                                        SubmitResponse* response) {
  RETURN_IF_INVALID(ValidateSubmitRequest(*request));
  RETURN_IF_REFUSED(authorizer_.CheckCall(*context, ReplicaOperation::kSubmit,
                                          request->ingress_domain()));
  return Answer(replica_->Submit(*request, DeadlineOf(context)), response);
}

grpc::Status ReplicaServiceImpl::SubmitBatch(grpc::ServerContext* context,
                                             const SubmitBatchRequest* request,
                                             SubmitBatchResponse* response) {
  RETURN_IF_INVALID(ValidateSubmitBatchSize(request->requests_size()));
  // The caller must be a gateway allowed to submit at all; each submit's
  // claimed domain is then judged in its own outcome.
  std::optional<ProcessIdentity> caller;
  if (!authorizer_.allows_all()) {
    absl::StatusOr<ProcessIdentity> identity = authorizer_.CallerOf(*context);
    if (!identity.ok()) return ToGrpcStatus(identity.status());
    RETURN_IF_REFUSED(authorizer_.Check(*identity, ReplicaOperation::kSubmit,
                                        identity->domain()));
    caller = *std::move(identity);
  }
  // A submit that breaks a limit is refused in its own outcome, as the
  // replica refuses other bad submits; the rest go on.
  SubmitBatchResponse answer;
  SubmitBatchRequest passed;
  std::vector<int> passed_items;
  for (int i = 0; i < request->requests_size(); ++i) {
    SubmitOutcome* outcome = answer.add_outcomes();
    if (absl::Status invalid = ValidateSubmitRequest(request->requests(i));
        !invalid.ok()) {
      SetOutcomeError(invalid, outcome);
      continue;
    }
    if (caller.has_value()) {
      if (absl::Status refused =
              authorizer_.Check(*caller, ReplicaOperation::kSubmit,
                                request->requests(i).ingress_domain());
          !refused.ok()) {
        SetOutcomeError(refused, outcome);
        continue;
      }
    }
    passed_items.push_back(i);
  }
  const absl::Time deadline = DeadlineOf(context);
  if (passed_items.size() == static_cast<size_t>(request->requests_size())) {
    return Answer(replica_->SubmitBatch(*request, deadline), response);
  }
  if (!passed_items.empty()) {
    for (int i : passed_items) *passed.add_requests() = request->requests(i);
    absl::StatusOr<SubmitBatchResponse> replied =
        replica_->SubmitBatch(passed, deadline);
    if (!replied.ok()) return ToGrpcStatus(replied.status());
    for (size_t k = 0; k < passed_items.size(); ++k) {
      *answer.mutable_outcomes(passed_items[k]) =
          std::move(*replied->mutable_outcomes(static_cast<int>(k)));
    }
  }
  *response = std::move(answer);
  return grpc::Status::OK;
}

grpc::Status ReplicaServiceImpl::ReadStatus(grpc::ServerContext* context,
                                            const ReadStatusRequest* request,
                                            ReadStatusResponse* response) {
  RETURN_IF_INVALID(ValidateReadStatusRequest(*request));
  RETURN_IF_REFUSED(
      authorizer_.CheckCall(*context, ReplicaOperation::kRead, ""));
  return Answer(replica_->ReadStatus(*request, DeadlineOf(context)), response);
}

grpc::Status ReplicaServiceImpl::ReserveEffect(
    grpc::ServerContext* context, const ReserveEffectRequest* request,
    EffectResponse* response) {
  RETURN_IF_INVALID(ValidateReserveEffectRequest(*request));
  RETURN_IF_REFUSED(authorizer_.CheckCall(*context, ReplicaOperation::kEffect,
                                          request->worker_domain()));
  return Answer(replica_->ReserveEffect(*request, DeadlineOf(context)),
                response);
}

grpc::Status ReplicaServiceImpl::ExtendLease(grpc::ServerContext* context,
                                             const ExtendLeaseRequest* request,
                                             EffectResponse* response) {
  RETURN_IF_INVALID(ValidateExtendLeaseRequest(*request));
  RETURN_IF_REFUSED(authorizer_.CheckCall(*context, ReplicaOperation::kEffect,
                                          request->worker_domain()));
  return Answer(replica_->ExtendLease(*request, DeadlineOf(context)), response);
}

grpc::Status ReplicaServiceImpl::Complete(grpc::ServerContext* context,
                                          const CompleteRequest* request,
                                          EffectResponse* response) {
  RETURN_IF_INVALID(ValidateCompleteRequest(*request));
  RETURN_IF_REFUSED(authorizer_.CheckCall(*context, ReplicaOperation::kEffect,
                                          request->worker_domain()));
  return Answer(replica_->Complete(*request, DeadlineOf(context)), response);
}

grpc::Status ReplicaServiceImpl::Fail(grpc::ServerContext* context,
                                      const FailRequest* request,
                                      EffectResponse* response) {
  RETURN_IF_INVALID(ValidateFailRequest(*request));
  RETURN_IF_REFUSED(authorizer_.CheckCall(*context, ReplicaOperation::kEffect,
                                          request->worker_domain()));
  return Answer(replica_->Fail(*request, DeadlineOf(context)), response);
}

grpc::Status ReplicaServiceImpl::WatchCommitted(
    grpc::ServerContext* context, const WatchRequest* request,
    grpc::ServerWriter<WatchEvent>* writer) {
  RETURN_IF_INVALID(ValidateWatchRequest(*request));
  RETURN_IF_REFUSED(authorizer_.CheckCall(*context, ReplicaOperation::kWatch,
                                          request->worker_domain()));
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
  RETURN_IF_REFUSED(
      authorizer_.CheckCall(*context, ReplicaOperation::kRead, ""));
  *response = replica_->Status();
  return grpc::Status::OK;
}

grpc::Status PeerServiceImpl::Deliver(
    grpc::ServerContext* context,
    grpc::ServerReader<consensus::MessageBatch>* reader, DeliverAck* response) {
  // The certificate names one member; every batch on this stream must come
  // from it (0: a plaintext cluster, where `from` is taken as sent).
  absl::StatusOr<uint64_t> sender = authorizer_.ConsensusSenderOfCall(*context);
  if (!sender.ok()) {
    LOG_EVERY_N(WARNING, 100) << "refused a consensus stream from "
                              << context->peer() << ": " << sender.status();
    return ToGrpcStatus(sender.status());
  }
  consensus::MessageBatch batch;
  while (reader->Read(&batch)) {
    if (*sender != 0 && batch.from() != *sender) {
      LOG_EVERY_N(WARNING, 100)
          << "refused a consensus batch claiming to come from member "
          << batch.from() << " over member " << *sender << "'s certificate";
      return ToGrpcStatus(
          MakeError(ErrorCode::kPermissionDenied,
                    absl::StrCat("this certificate speaks for member ", *sender,
                                 ", not ", batch.from())));
    }
    replica_->StepBatch(batch);
  }
  return grpc::Status::OK;
}

}  // namespace report
