#include "replica/server/replica_service.h"

#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/validation.h"
#include "glog/logging.h"
#include "replica/server/grpc_event_loop.h"
#include "replica/server/submit_rules.h"

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

std::shared_ptr<PendingSubmit> StartCheckedSubmitBatch(
    Replica* replica, const SubmitBatchRequest& request,
    std::function<void(absl::StatusOr<SubmitBatchResponse>)> done) {
  if (absl::Status invalid = ValidateSubmitBatchSize(request.requests_size());
      !invalid.ok()) {
    done(invalid);
    return nullptr;
  }
  // A submit that breaks a limit is refused in its own outcome, as the
  // replica refuses other bad submits; the rest go on.
  auto answer = std::make_shared<SubmitBatchResponse>();
  std::vector<int> passed_items;
  for (int i = 0; i < request.requests_size(); ++i) {
    SubmitOutcome* outcome = answer->add_outcomes();
    if (absl::Status invalid = ValidateSubmitRequest(request.requests(i));
        !invalid.ok()) {
      SetOutcomeError(invalid, outcome);
      continue;
    }
    passed_items.push_back(i);
  }
  if (passed_items.size() == static_cast<size_t>(request.requests_size())) {
    return replica->StartSubmitBatch(request, std::move(done));
  }
  if (passed_items.empty()) {
    done(std::move(*answer));
    return nullptr;
  }
  SubmitBatchRequest passed;
  for (int i : passed_items) *passed.add_requests() = request.requests(i);
  return replica->StartSubmitBatch(
      passed, [answer, passed_items, done = std::move(done)](
                  absl::StatusOr<SubmitBatchResponse> replied) {
        if (!replied.ok()) {
          done(replied.status());
          return;
        }
        for (size_t k = 0; k < passed_items.size(); ++k) {
          *answer->mutable_outcomes(passed_items[k]) =
              std::move(*replied->mutable_outcomes(static_cast<int>(k)));
        }
        done(std::move(*answer));
      });
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

grpc::Status ReplicaServiceImpl::Cancel(grpc::ServerContext* context,
                                        const CancelRequest* request,
                                        EffectResponse* response) {
  RETURN_IF_INVALID(ValidateCancelRequest(*request));
  // A cancel is a write for the request's owner: the same callers as submits.
  RETURN_IF_REFUSED(authorizer_.CheckCall(*context, ReplicaOperation::kSubmit,
                                          request->ingress_domain()));
  return Answer(replica_->Cancel(*request, DeadlineOf(context)), response);
}

grpc::Status ReplicaServiceImpl::ListRequests(
    grpc::ServerContext* context, const ListRequestsRequest* request,
    ListRequestsResponse* response) {
  RETURN_IF_INVALID(ValidateListRequestsRequest(*request));
  RETURN_IF_REFUSED(
      authorizer_.CheckCall(*context, ReplicaOperation::kRead, ""));
  return Answer(replica_->ListRequests(*request, DeadlineOf(context)),
                response);
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
  // Tells the watcher at once that its stream is open (its readiness), even
  // when there is nothing to send yet.
  context->AddInitialMetadata(kWatchOpenMetadata, "1");
  writer->SendInitialMetadata();
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

// One incoming peer stream: read a frame, step it, read the next, all on the
// thread polling the queue.
class AsyncCalls::DeliverCall : public CqHandler {
 public:
  explicit DeliverCall(AsyncCalls* owner) : owner_(owner), reader_(&context_) {
    owner_->peer_service_->RequestDeliver(&context_, &reader_, owner_->cq_,
                                          owner_->cq_, this);
  }

  void Proceed(bool ok) override {
    if (owner_->stopping_.load()) {
      delete this;  // draining: no new operations on the queue
      return;
    }
    switch (state_) {
      case State::kWaitingForCall:
        if (!ok) {
          delete this;
          return;
        }
        new DeliverCall(owner_);  // the next stream
        // The certificate names one member; every batch on this stream must
        // come from it (0: a plaintext cluster, `from` is taken as sent).
        if (absl::StatusOr<uint64_t> sender =
                owner_->replica_service_->authorizer().ConsensusSenderOfCall(
                    context_);
            sender.ok()) {
          sender_ = *sender;
        } else {
          Refuse(sender.status());
          return;
        }
        state_ = State::kReading;
        reader_.Read(&batch_, this);
        return;
      case State::kReading:
        if (ok && sender_ != 0 && batch_.from() != sender_) {
          Refuse(MakeError(ErrorCode::kPermissionDenied,
                           absl::StrCat("this certificate speaks for member ",
                                        sender_, ", not ", batch_.from())));
          return;
        }
        if (ok) {
          owner_->replica_->StepBatch(batch_);
          batch_.Clear();
          reader_.Read(&batch_, this);
          return;
        }
        state_ = State::kFinishing;  // the peer closed the stream
        reader_.Finish(ack_, grpc::Status::OK, this);
        return;
      case State::kFinishing:
        delete this;
        return;
    }
  }

 private:
  enum class State { kWaitingForCall, kReading, kFinishing };

  void Refuse(const absl::Status& refusal) {
    LOG_EVERY_N(WARNING, 100) << "refused a consensus stream from "
                              << context_.peer() << ": " << refusal;
    state_ = State::kFinishing;
    reader_.Finish(ack_, ToGrpcStatus(refusal), this);
  }

  AsyncCalls* const owner_;
  uint64_t sender_ = 0;
  grpc::ServerContext context_;
  grpc::ServerAsyncReader<DeliverAck, consensus::MessageBatch> reader_;
  consensus::MessageBatch batch_;
  DeliverAck ack_;
  State state_ = State::kWaitingForCall;
};

// One SubmitBatch call: started on the polling thread, answered by whichever
// thread finishes its batch (the driver's, applying it) or by an alarm at the
// caller's deadline. Freed once its answer is sent and its alarm is done.
class AsyncCalls::SubmitBatchCall {
 public:
  explicit SubmitBatchCall(AsyncCalls* owner)
      : owner_(owner), responder_(&context_) {
    outstanding_ = 1;
    owner_->replica_service_->RequestSubmitBatch(&context_, &request_,
                                                 &responder_, owner_->cq_,
                                                 owner_->cq_, &request_tag_);
  }

 private:
  // Each outstanding operation has its own tag.
  class Tag : public CqHandler {
   public:
    Tag(SubmitBatchCall* call, void (SubmitBatchCall::*on)(bool))
        : call_(call), on_(on) {}
    void Proceed(bool ok) override { (call_->*on_)(ok); }

   private:
    SubmitBatchCall* const call_;
    void (SubmitBatchCall::*on_)(bool);
  };

  void OnCall(bool ok) {
    if (!ok || owner_->stopping_.load()) {
      Release();
      return;
    }
    new SubmitBatchCall(owner_);  // the next call
    if (absl::Status refused = Authorize(); !refused.ok()) {
      Reply(refused);
      std::lock_guard<std::mutex> lock(mu_);
      --outstanding_;  // the call's own reference, now held by the reply
      return;
    }
    const absl::Time deadline = DeadlineOf(&context_);
    std::shared_ptr<PendingSubmit> pending = StartCheckedSubmitBatch(
        owner_->replica_, request_,
        [this](absl::StatusOr<SubmitBatchResponse> answer) {
          Reply(std::move(answer));
        });
    std::lock_guard<std::mutex> lock(mu_);
    if (replied_ || pending == nullptr) {
      --outstanding_;  // the call's own reference, now held by the reply
      return;
    }
    pending_ = std::move(pending);
    alarm_.Set(owner_->cq_, absl::ToChronoTime(deadline), &alarm_tag_);
    // The request tag's reference passes to the alarm.
  }

  // Only a gateway in an ingress domain submits, and only for its own domain
  // (a gateway never sends another; a call that does is refused whole). A
  // request that is malformed is not judged here: it gets its own
  // InvalidArgument outcome, as a single Submit is validated before it is
  // authorized.
  absl::Status Authorize() {
    const Authorizer& authorizer = owner_->replica_service_->authorizer();
    if (authorizer.allows_all()) return absl::OkStatus();
    absl::StatusOr<ProcessIdentity> caller = authorizer.CallerOf(context_);
    if (!caller.ok()) return caller.status();
    if (absl::Status allowed = authorizer.Check(
            *caller, ReplicaOperation::kSubmit, caller->domain());
        !allowed.ok()) {
      return allowed;
    }
    for (const SubmitRequest& submit : request_.requests()) {
      if (!ValidateSubmitRequest(submit).ok()) continue;
      if (submit.ingress_domain() != caller->domain()) {
        return authorizer.Check(*caller, ReplicaOperation::kSubmit,
                                submit.ingress_domain());
      }
    }
    return absl::OkStatus();
  }

  void OnDeadline(bool fired) {
    std::shared_ptr<PendingSubmit> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending = std::move(pending_);
    }
    // Answers now (CommitUnknown for what is not applied) unless answered.
    if (fired && pending != nullptr) pending->Expire();
    Release();
  }

  void Reply(absl::StatusOr<SubmitBatchResponse> answer) {
    std::lock_guard<std::mutex> lock(mu_);
    if (replied_) return;
    replied_ = true;
    ++outstanding_;
    if (answer.ok()) {
      responder_.Finish(*answer, grpc::Status::OK, &finish_tag_);
    } else {
      responder_.FinishWithError(ToGrpcStatus(answer.status()), &finish_tag_);
    }
    if (pending_ != nullptr) alarm_.Cancel();
  }

  void OnFinished(bool) { Release(); }

  void Release() {
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      last = --outstanding_ == 0;
    }
    if (last) delete this;
  }

  AsyncCalls* const owner_;
  grpc::ServerContext context_;
  SubmitBatchRequest request_;
  grpc::ServerAsyncResponseWriter<SubmitBatchResponse> responder_;
  Tag request_tag_{this, &SubmitBatchCall::OnCall};
  Tag alarm_tag_{this, &SubmitBatchCall::OnDeadline};
  Tag finish_tag_{this, &SubmitBatchCall::OnFinished};
  grpc::Alarm alarm_;

  std::mutex mu_;
  int outstanding_ = 0;  // operations on the queue not yet completed
  bool replied_ = false;
  std::shared_ptr<PendingSubmit> pending_;
};

void AsyncCalls::Start() {
  new DeliverCall(this);
  new SubmitBatchCall(this);
}

}  // namespace report
