#include "client/cluster_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/backoff.h"
#include "common/error_code.h"
#include "common/validation.h"

namespace report {
namespace {

int SharedSegments(const std::string& a, const std::string& b) {
  std::vector<std::string> left = absl::StrSplit(a, '/');
  std::vector<std::string> right = absl::StrSplit(b, '/');
  int shared = 0;
  while (shared < static_cast<int>(std::min(left.size(), right.size())) &&
         left[shared] == right[shared]) {
    ++shared;
  }
  return shared;
}

// One call to one replica may take at most this long (beyond a read's wait). A
// replica that is cut off or stopped never answers; without a bound per attempt
// the caller's whole timeout would be spent waiting on it and the new leader
// (or the next replica) would never be tried. Well above a commit's latency.
constexpr absl::Duration kAttemptTimeout = absl::Seconds(1);

void SetDeadline(grpc::ClientContext* context, absl::Time deadline) {
  context->set_deadline(absl::ToChronoTime(deadline));
}

void Pause(absl::Duration backoff, absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  absl::SleepFor(std::max(absl::ZeroDuration(), std::min(backoff, left)));
}

// A transport-level failure: the replica never answered with one of our codes.
bool IsTransportFailure(const grpc::Status& status) {
  absl::Status converted = FromGrpcStatus(status);
  std::string_view message(converted.message().data(),
                           converted.message().size());
  for (ErrorCode code : {ErrorCode::kNotLeader, ErrorCode::kNoQuorum,
                         ErrorCode::kStaleRead, ErrorCode::kCommitUnknown}) {
    absl::string_view name = ErrorCodeName(code);
    if (message.rfind(std::string_view(name.data(), name.size()), 0) == 0)
      return false;
  }
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         status.error_code() == grpc::StatusCode::CANCELLED ||
         status.error_code() == grpc::StatusCode::UNKNOWN;
}

}  // namespace

ClusterClient::ClusterClient(
    const ClusterConfig& cluster, std::string domain,
    std::shared_ptr<grpc::ChannelCredentials> credentials)
    : cluster_(cluster), domain_(std::move(domain)) {
  if (credentials == nullptr) credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  for (int i = 0; i < cluster_.members_size(); ++i) {
    stubs_.push_back(ReplicaService::NewStub(grpc::CreateCustomChannel(
        cluster_.members(i).grpc_address(), credentials, args)));
    nearest_.push_back(i);
  }
  unanswered_until_.assign(stubs_.size(), absl::InfinitePast());
  std::stable_sort(nearest_.begin(), nearest_.end(), [&](size_t a, size_t b) {
    return SharedSegments(cluster_.members(a).domain(), domain_) >
           SharedSegments(cluster_.members(b).domain(), domain_);
  });
}

size_t ClusterClient::IndexOf(uint64_t member_id) const {
  for (int i = 0; i < cluster_.members_size(); ++i) {
    if (cluster_.members(i).id() == member_id) return i;
  }
  return stubs_.size();
}

std::vector<size_t> ClusterClient::ReadOrder() const {
  std::vector<size_t> order = nearest_;
  const absl::Time now = absl::Now();
  std::lock_guard<std::mutex> lock(unanswered_mu_);
  std::stable_partition(order.begin(), order.end(), [&](size_t index) {
    return unanswered_until_[index] <= now;
  });
  return order;
}

template <typename Response>
absl::StatusOr<Response> ClusterClient::CallLeader(
    absl::Duration timeout,
    const std::function<grpc::Status(ReplicaService::Stub*,
                                     grpc::ClientContext*, Response*)>& call,
    bool* may_have_landed) {
  if (may_have_landed != nullptr) *may_have_landed = false;
  if (stubs_.empty())
    return MakeError(ErrorCode::kNoQuorum, "cluster has no members");
  const absl::Time deadline = absl::Now() + timeout;
  size_t target = leader_hint_.load() % stubs_.size();
  Backoff backoff(absl::Milliseconds(10), absl::Milliseconds(100));
  bool outcome_unknown = false;
  std::string last_error = "no replica answered";
  int attempts = 0;
  while (absl::Now() < deadline) {
    ++attempts;
    grpc::ClientContext context;
    SetDeadline(&context, std::min(deadline, absl::Now() + kAttemptTimeout));
    Response response;
    grpc::Status status = call(stubs_[target].get(), &context, &response);
    if (status.ok()) {
      leader_hint_.store(target);
      return response;
    }
    absl::Status error = FromGrpcStatus(status);
    // Any attempt that did not end in a definite refusal may have been
    // appended by a leader before its answer was lost.
    if (may_have_landed != nullptr &&
        (ErrorCodeOf(error) == ErrorCode::kCommitUnknown ||
         IsTransportFailure(status))) {
      *may_have_landed = true;
    }
    last_error =
        absl::StrCat(cluster_.members(target).name(), ": ", error.message());
    ErrorCode code = ErrorCodeOf(error);
    unsigned long long leader_id = 0;
    std::string leader_address;
    if (code == ErrorCode::kNotLeader &&
        ParseLeaderHint(error, &leader_id, &leader_address) &&
        IndexOf(leader_id) < stubs_.size() && IndexOf(leader_id) != target) {
      target = IndexOf(leader_id);
      continue;  // follow the hint at once
    }
    if (code == ErrorCode::kCommitUnknown ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      // The leader may have appended it: a retry with the same id is safe, and
      // if none completes in time the honest answer is CommitUnknown.
      outcome_unknown = true;
      // No answer in time: the target may be cut off or stopped; ask the next
      // replica, which answers or points at the current leader.
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        target = (target + 1) % stubs_.size();
      }
    } else if (code == ErrorCode::kNotLeader || IsTransportFailure(status)) {
      target = (target + 1) % stubs_.size();
    } else if (code != ErrorCode::kNoQuorum) {
      return error;  // a definite answer: InvalidArgument, IdempotencyConflict,
                     // ...
    }
    Pause(backoff.Next(), deadline);
  }
  if (outcome_unknown) {
    return MakeError(
        ErrorCode::kCommitUnknown,
        absl::StrCat("commit not confirmed within ",
                     absl::FormatDuration(timeout),
                     "; the request may be accepted; retrying with the same id "
                     "is safe (last: ",
                     last_error, ")"));
  }
  return MakeError(
      ErrorCode::kNoQuorum,
      absl::StrCat("no leader with a quorum reachable within ",
                   absl::FormatDuration(timeout), " after ", attempts,
                   " attempts; nothing was accepted (last: ", last_error, ")"));
}

absl::StatusOr<Receipt> ClusterClient::Submit(
    const ReportSubmission& submission, const std::string& ingress_domain,
    absl::Duration timeout) {
  SubmitRequest request;
  *request.mutable_submission() = submission;
  request.set_ingress_domain(ingress_domain);
  bool may_have_landed = false;
  auto response = CallLeader<SubmitResponse>(
      timeout,
      [&](ReplicaService::Stub* stub, grpc::ClientContext* context,
          SubmitResponse* out) { return stub->Submit(context, request, out); },
      &may_have_landed);
  if (!response.ok()) return response.status();
  // The duplicate is our own earlier attempt: to the caller this is the first
  // answer to its submit. (A genuine replay whose first attempt here was also
  // lost is answered as fresh too; the receipt is the same original one.)
  if (may_have_landed) response->mutable_receipt()->set_duplicate(false);
  return response->receipt();
}

absl::StatusOr<SubmitBatchResponse> ClusterClient::SubmitBatch(
    const SubmitBatchRequest& request, absl::Duration timeout) {
  bool may_have_landed = false;
  auto response = CallLeader<SubmitBatchResponse>(
      timeout,
      [&](ReplicaService::Stub* stub, grpc::ClientContext* context,
          SubmitBatchResponse* out) {
        return stub->SubmitBatch(context, request, out);
      },
      &may_have_landed);
  if (response.ok() && may_have_landed) {
    for (SubmitOutcome& outcome : *response->mutable_outcomes()) {
      if (outcome.has_receipt())
        outcome.mutable_receipt()->set_duplicate(false);
    }
  }
  return response;
}

absl::StatusOr<ReadStatusResponse> ClusterClient::ReadStatus(
    const std::string& request_id, uint64_t min_offset, absl::Duration wait,
    ReadConsistency consistency) {
  ReadStatusRequest request;
  request.set_request_id(request_id);
  request.set_min_offset(min_offset);
  request.set_wait_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(wait)));
  request.set_consistency(consistency);
  if (consistency == LINEARIZABLE) {
    return CallLeader<ReadStatusResponse>(
        wait + absl::Seconds(2),
        [&](ReplicaService::Stub* stub, grpc::ClientContext* context,
            ReadStatusResponse* out) {
          return stub->ReadStatus(context, request, out);
        });
  }
  // Nearest first; a replica that cannot be reached hands the read to the next
  // one. A replica that answers StaleRead has spent the caller's wait: that is
  // the answer. One that does not answer at all (cut off or stopped) is given
  // the wait plus one attempt timeout; the next one gets what is left of the
  // wait, and the silent one is asked last for kUnansweredMemory.
  const absl::Time wait_until = absl::Now() + wait;
  const absl::Time deadline = wait_until + absl::Seconds(2);
  absl::Status last = MakeError(ErrorCode::kNoQuorum, "no replica reachable");
  for (size_t index : ReadOrder()) {
    grpc::ClientContext context;
    const absl::Time now = absl::Now();
    request.set_wait_ms(static_cast<uint64_t>(
        std::max<int64_t>(0, absl::ToInt64Milliseconds(wait_until - now))));
    SetDeadline(&context, std::min(deadline, std::max(now, wait_until) +
                                                 kAttemptTimeout));
    ReadStatusResponse response;
    grpc::Status status =
        stubs_[index]->ReadStatus(&context, request, &response);
    const bool answered = !IsTransportFailure(status);
    {
      std::lock_guard<std::mutex> lock(unanswered_mu_);
      unanswered_until_[index] =
          answered ? absl::InfinitePast() : absl::Now() + kUnansweredMemory;
    }
    if (status.ok()) return response;
    last = FromGrpcStatus(status);
    if (answered) return last;
    unanswered_reads_.fetch_add(1);
    if (absl::Now() >= deadline) break;
  }
  return MakeError(
      ErrorCode::kStaleRead,
      absl::StrCat("no replica could serve the read: ", last.message()));
}

absl::StatusOr<ListRequestsResponse> ClusterClient::ListRequests(
    const ListRequestsRequest& list, absl::Duration wait) {
  ListRequestsRequest request = list;
  request.set_wait_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(wait)));
  if (request.consistency() == LINEARIZABLE) {
    return CallLeader<ListRequestsResponse>(
        wait + absl::Seconds(2),
        [&](ReplicaService::Stub* stub, grpc::ClientContext* context,
            ListRequestsResponse* out) {
          return stub->ListRequests(context, request, out);
        });
  }
  // As ReadStatus: nearest first, the next one only when a replica does not
  // answer at all.
  const absl::Time wait_until = absl::Now() + wait;
  const absl::Time deadline = wait_until + absl::Seconds(2);
  absl::Status last = MakeError(ErrorCode::kNoQuorum, "no replica reachable");
  for (size_t index : ReadOrder()) {
    grpc::ClientContext context;
    const absl::Time now = absl::Now();
    request.set_wait_ms(static_cast<uint64_t>(
        std::max<int64_t>(0, absl::ToInt64Milliseconds(wait_until - now))));
    SetDeadline(&context, std::min(deadline, std::max(now, wait_until) +
                                                 kAttemptTimeout));
    ListRequestsResponse response;
    grpc::Status status =
        stubs_[index]->ListRequests(&context, request, &response);
    const bool answered = !IsTransportFailure(status);
    {
      std::lock_guard<std::mutex> lock(unanswered_mu_);
      unanswered_until_[index] =
          answered ? absl::InfinitePast() : absl::Now() + kUnansweredMemory;
    }
    if (status.ok()) return response;
    last = FromGrpcStatus(status);
    if (answered) return last;
    unanswered_reads_.fetch_add(1);
    if (absl::Now() >= deadline) break;
  }
  return MakeError(
      ErrorCode::kStaleRead,
      absl::StrCat("no replica could serve the list: ", last.message()));
}

absl::StatusOr<EffectResponse> ClusterClient::Cancel(
    const CancelRequest& request, absl::Duration timeout) {
  return CallLeader<EffectResponse>(
      timeout,
      [&](ReplicaService::Stub* stub, grpc::ClientContext* context,
          EffectResponse* out) { return stub->Cancel(context, request, out); });
}

absl::StatusOr<EffectResponse> ClusterClient::ReserveEffect(
    const ReserveEffectRequest& request, absl::Duration timeout) {
  return CallLeader<EffectResponse>(
      timeout, [&](ReplicaService::Stub* stub, grpc::ClientContext* context,
                   EffectResponse* out) {
        return stub->ReserveEffect(context, request, out);
      });
}

absl::StatusOr<EffectResponse> ClusterClient::ExtendLease(
    const ExtendLeaseRequest& request, absl::Duration timeout) {
  return CallLeader<EffectResponse>(
      timeout, [&](ReplicaService::Stub* stub, grpc::ClientContext* context,
                   EffectResponse* out) {
        return stub->ExtendLease(context, request, out);
      });
}

absl::StatusOr<EffectResponse> ClusterClient::Complete(
    const CompleteRequest& request, absl::Duration timeout) {
  return CallLeader<EffectResponse>(
      timeout, [&](ReplicaService::Stub* stub, grpc::ClientContext* context,
                   EffectResponse* out) {
        return stub->Complete(context, request, out);
      });
}

absl::StatusOr<EffectResponse> ClusterClient::Fail(const FailRequest& request,
                                                   absl::Duration timeout) {
  return CallLeader<EffectResponse>(
      timeout,
      [&](ReplicaService::Stub* stub, grpc::ClientContext* context,
          EffectResponse* out) { return stub->Fail(context, request, out); });
}

absl::Status ClusterClient::Watch(
    const WatchRequest& request,
    const std::function<void(const WatchEvent&)>& on_event,
    const std::atomic<bool>& cancelled, std::atomic<bool>* open) {
  if (stubs_.empty())
    return MakeError(ErrorCode::kNoQuorum, "cluster has no members");
  size_t position = watch_cursor_.load() % nearest_.size();
  size_t index = nearest_[position];
  grpc::ClientContext context;
  std::atomic<bool> finished{false};
  // Cancellation is polled: the stream's reads block, so a watcher thread
  // cancels it.
  std::thread canceller([&] {
    while (!finished.load()) {
      if (cancelled.load()) {
        context.TryCancel();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto reader = stubs_[index]->WatchCommitted(&context, request);
  if (open != nullptr) {
    // A replica that takes the stream says so at once in its initial metadata
    // (a failed call has none).
    reader->WaitForInitialMetadata();
    if (context.GetServerInitialMetadata().count(kWatchOpenMetadata) > 0) {
      open->store(true);
    }
  }
  WatchEvent event;
  bool received = false;
  while (reader->Read(&event)) {
    received = true;
    on_event(event);
  }
  if (open != nullptr) open->store(false);
  grpc::Status status = reader->Finish();
  finished.store(true);
  canceller.join();
  if (!received || !status.ok()) {
    // Next call tries the next replica in nearness order; after a healthy
    // stream we stay on the nearest one.
    watch_cursor_.store(position + 1);
  } else {
    watch_cursor_.store(0);
  }
  if (cancelled.load()) return absl::OkStatus();
  absl::Status converted = FromGrpcStatus(status);
  if (converted.ok()) {
    return MakeError(ErrorCode::kNoQuorum,
                     absl::StrCat("watch stream from ",
                                  cluster_.members(index).name(), " ended"));
  }
  return converted;
}

std::vector<std::pair<Member, absl::StatusOr<ClusterStatusResponse>>>
ClusterClient::ClusterStatus(absl::Duration timeout) {
  std::vector<std::pair<Member, absl::StatusOr<ClusterStatusResponse>>> out;
  for (size_t i = 0; i < stubs_.size(); ++i) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Now() + timeout);
    ClusterStatusResponse response;
    grpc::Status status =
        stubs_[i]->ClusterStatus(&context, ClusterStatusRequest(), &response);
    if (status.ok()) {
      out.emplace_back(cluster_.members(i), response);
    } else {
      out.emplace_back(cluster_.members(i), FromGrpcStatus(status));
    }
  }
  return out;
}

}  // namespace report
