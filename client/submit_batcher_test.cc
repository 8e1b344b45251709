#include "client/submit_batcher.h"

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "gtest/gtest.h"

namespace report {
namespace {

SubmitRequest RequestFor(const std::string& id) {
  SubmitRequest request;
  request.mutable_submission()->set_request_id(id);
  return request;
}

// A leader stand-in: records every call's ids; holds calls while `held`.
class FakeLeader {
 public:
  absl::StatusOr<SubmitBatchResponse> Send(const SubmitBatchRequest& request,
                                           absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    std::vector<std::string> ids;
    for (const SubmitRequest& submit : request.requests())
      ids.push_back(submit.submission().request_id());
    calls_.push_back(ids);
    const size_t call = calls_.size();
    last_timeout_ = timeout;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !held_ || call <= released_; });
    if (!whole_call_error_.ok()) return whole_call_error_;
    SubmitBatchResponse response;
    for (const std::string& id : ids) {
      SubmitOutcome* outcome = response.add_outcomes();
      if (id.rfind("bad", 0) == 0) {
        SetOutcomeError(MakeError(ErrorCode::kIdempotencyConflict, id),
                        outcome);
      } else {
        outcome->mutable_receipt()->set_request_id(id);
        outcome->mutable_receipt()->set_accepted_offset(++offset_);
      }
    }
    if (drop_last_outcome_) response.mutable_outcomes()->RemoveLast();
    return response;
  }

  void Hold(bool held) {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = held;
    changed_.notify_all();
  }
  // While held, lets the first `calls` calls (counted from 1) answer.
  void Release(size_t calls) {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = calls;
    changed_.notify_all();
  }
  void WaitForCalls(size_t count) {
    std::unique_lock<std::mutex> lock(mu_);
    ASSERT_TRUE(changed_.wait_for(lock, std::chrono::seconds(10),
                                  [&] { return calls_.size() >= count; }));
  }
  std::vector<std::vector<std::string>> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

  absl::Status whole_call_error_;
  bool drop_last_outcome_ = false;
  absl::Duration last_timeout_;

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  bool held_ = false;
  size_t released_ = 0;
  uint64_t offset_ = 0;
  std::vector<std::vector<std::string>> calls_;
};

absl::StatusOr<Receipt> SubmitAndWait(SubmitBatcher& batcher,
                                      SubmitRequest request,
                                      absl::Duration timeout) {
  std::promise<absl::StatusOr<Receipt>> answer;
  std::future<absl::StatusOr<Receipt>> answered = answer.get_future();
  batcher.Submit(std::move(request), timeout,
                 [&answer](absl::StatusOr<Receipt> receipt) {
                   answer.set_value(std::move(receipt));
                 });
  return answered.get();
}

// One submit's answer, awaited with a deadline so that a missing answer fails
// the test instead of hanging it.
class Answer {
 public:
  SubmitBatcher::Done Callback() {
    return [this](absl::StatusOr<Receipt> receipt) {
      std::lock_guard<std::mutex> lock(mu_);
      answers_.push_back(std::move(receipt));
      changed_.notify_all();
    };
  }
  bool AwaitAnswered(absl::Duration deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, absl::ToChronoNanoseconds(deadline),
                             [this] { return !answers_.empty(); });
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return answers_.size();
  }
  absl::StatusOr<Receipt> first() {
    std::lock_guard<std::mutex> lock(mu_);
    return answers_.front();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<absl::StatusOr<Receipt>> answers_;
};

// Lets every held call go when a test ends, even by a failed assertion, so the
// batcher's destructor (which waits for calls in flight) never hangs. Declare
// it after the batcher.
class ReleaseAtExit {
 public:
  explicit ReleaseAtExit(FakeLeader* leader) : leader_(leader) {}
  ~ReleaseAtExit() { leader_->Hold(false); }

 private:
  FakeLeader* leader_;
};

SubmitBatcher::SendFn SendTo(FakeLeader* leader) {
  return [leader](const SubmitBatchRequest& request, absl::Duration timeout) {
    return leader->Send(request, timeout);
  };
}

TEST(SubmitBatcherTest, OneSubmitAloneLeavesAtOnceAndGetsItsReceipt) {
  FakeLeader leader;
  SubmitBatcher batcher(SendTo(&leader));
  auto receipt = SubmitAndWait(batcher, RequestFor("a"), absl::Seconds(5));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->request_id(), "a");
  ASSERT_EQ(leader.calls().size(), 1u);
  EXPECT_LE(leader.last_timeout_, absl::Seconds(5));
  EXPECT_GT(leader.last_timeout_, absl::Seconds(4));
}

TEST(SubmitBatcherTest, SubmitsQueuedWhileEverySenderIsBusyShareTheNextCall) {
  FakeLeader leader;
  SubmitBatcherOptions options;
  options.senders = 1;
  SubmitBatcher batcher(SendTo(&leader), options);
  leader.Hold(true);
  std::atomic<int> answered{0};
  std::vector<absl::StatusOr<Receipt>> answers(11);
  auto record = [&](int i) {
    return [&, i](absl::StatusOr<Receipt> receipt) {
      answers[i] = std::move(receipt);
      answered++;
    };
  };
  batcher.Submit(RequestFor("first"), absl::Seconds(5), record(0));
  leader.WaitForCalls(1);  // the only sender is now busy
  for (int i = 1; i <= 10; ++i) {
    batcher.Submit(RequestFor(absl::StrCat("next-", i)), absl::Seconds(5),
                   record(i));
  }
  leader.Hold(false);
  leader.WaitForCalls(2);
  for (int spin = 0; spin < 1000 && answered.load() < 11; ++spin)
    absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(answered.load(), 11);
  auto calls = leader.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].size(), 10u);
  for (int i = 0; i <= 10; ++i) {
    ASSERT_TRUE(answers[i].ok()) << i << ": " << answers[i].status();
  }
  EXPECT_EQ(answers[3]->request_id(), "next-3");
}

TEST(SubmitBatcherTest, BatchesNeverExceedTheLimit) {
  FakeLeader leader;
  SubmitBatcherOptions options;
  options.senders = 1;
  options.max_batch = 4;
  SubmitBatcher batcher(SendTo(&leader), options);
  leader.Hold(true);
  std::atomic<int> answered{0};
  batcher.Submit(RequestFor("first"), absl::Seconds(5),
                 [&](absl::StatusOr<Receipt>) { answered++; });
  leader.WaitForCalls(1);
  for (int i = 0; i < 9; ++i) {
    batcher.Submit(RequestFor(absl::StrCat("n", i)), absl::Seconds(5),
                   [&](absl::StatusOr<Receipt>) { answered++; });
  }
  leader.Hold(false);
  leader.WaitForCalls(4);
  for (int spin = 0; spin < 1000 && answered.load() < 10; ++spin)
    absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(answered.load(), 10);
  auto calls = leader.calls();
  ASSERT_EQ(calls.size(), 4u);  // 1 + 4 + 4 + 1
  for (const auto& call : calls) EXPECT_LE(call.size(), 4u);
}

TEST(SubmitBatcherTest, PerSubmitRefusalsReachOnlyTheirSubmit) {
  FakeLeader leader;
  SubmitBatcher batcher(SendTo(&leader));
  auto good = SubmitAndWait(batcher, RequestFor("good"), absl::Seconds(5));
  auto bad = SubmitAndWait(batcher, RequestFor("bad-1"), absl::Seconds(5));
  ASSERT_TRUE(good.ok());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ErrorCodeOf(bad.status()), ErrorCode::kIdempotencyConflict);
}

TEST(SubmitBatcherTest, AWholeCallFailureReachesEverySubmitWithItsCode) {
  FakeLeader leader;
  leader.whole_call_error_ = MakeError(ErrorCode::kCommitUnknown, "timeout");
  SubmitBatcher batcher(SendTo(&leader));
  auto answer = SubmitAndWait(batcher, RequestFor("x"), absl::Seconds(5));
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(ErrorCodeOf(answer.status()), ErrorCode::kCommitUnknown);
}

TEST(SubmitBatcherTest, AnAnswerWithMissingOutcomesIsCommitUnknownNotAGuess) {
  FakeLeader leader;
  leader.drop_last_outcome_ = true;
  SubmitBatcher batcher(SendTo(&leader));
  auto answer = SubmitAndWait(batcher, RequestFor("x"), absl::Seconds(5));
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(ErrorCodeOf(answer.status()), ErrorCode::kCommitUnknown);
}

TEST(SubmitBatcherTest, SubmitsStillQueuedAtShutdownFailAsNotSent) {
  FakeLeader leader;
  SubmitBatcherOptions options;
  options.senders = 1;
  auto batcher = std::make_unique<SubmitBatcher>(SendTo(&leader), options);
  leader.Hold(true);
  std::atomic<int> first_ok{0};
  absl::Status queued_answer;
  std::atomic<bool> queued_done{false};
  batcher->Submit(
      RequestFor("in-flight"), absl::Seconds(5),
      [&](absl::StatusOr<Receipt> r) { first_ok = r.ok() ? 1 : 2; });
  leader.WaitForCalls(1);
  batcher->Submit(RequestFor("queued"), absl::Seconds(5),
                  [&](absl::StatusOr<Receipt> r) {
                    queued_answer = r.status();
                    queued_done = true;
                  });
  std::thread stopper([&] { batcher.reset(); });
  // The queued submit is refused while the call in flight is still held.
  for (int spin = 0; spin < 2000 && !queued_done.load(); ++spin)
    absl::SleepFor(absl::Milliseconds(5));
  ASSERT_TRUE(queued_done.load());
  EXPECT_EQ(first_ok.load(), 0);
  leader.Hold(false);
  stopper.join();  // the destructor waited for the call in flight
  EXPECT_EQ(first_ok.load(), 1);
  ASSERT_TRUE(queued_done.load());
  EXPECT_EQ(ErrorCodeOf(queued_answer), ErrorCode::kNoQuorum);
  EXPECT_EQ(leader.calls().size(), 1u);
}

TEST(SubmitBatcherTest, ANearlyExpiredSubmitDoesNotShortenItsBatchsDeadline) {
  FakeLeader leader;
  SubmitBatcherOptions options;
  options.senders = 1;
  Answer first, short_lived, long_lived;
  SubmitBatcher batcher(SendTo(&leader), options);
  ReleaseAtExit release(&leader);
  leader.Hold(true);
  batcher.Submit(RequestFor("first"), absl::Seconds(10), first.Callback());
  leader.WaitForCalls(1);  // the only sender is busy: the next two share a call
  batcher.Submit(RequestFor("short"), absl::Milliseconds(300),
                 short_lived.Callback());
  batcher.Submit(RequestFor("long"), absl::Seconds(10), long_lived.Callback());
  leader.Release(1);
  leader.WaitForCalls(2);
  ASSERT_EQ(leader.calls()[1], (std::vector<std::string>{"short", "long"}));
  // The call may take as long as its latest submit may wait.
  EXPECT_GT(leader.last_timeout_, absl::Seconds(8));
  // The short submit is answered at its own deadline, while the call is still
  // in flight, with the code of a commit not confirmed in time.
  ASSERT_TRUE(short_lived.AwaitAnswered(absl::Seconds(5)));
  EXPECT_EQ(ErrorCodeOf(short_lived.first().status()),
            ErrorCode::kCommitUnknown);
  EXPECT_EQ(long_lived.count(), 0u);
  leader.Hold(false);
  ASSERT_TRUE(long_lived.AwaitAnswered(absl::Seconds(10)));
  ASSERT_TRUE(long_lived.first().ok()) << long_lived.first().status();
  EXPECT_EQ(long_lived.first()->request_id(), "long");
  ASSERT_TRUE(first.AwaitAnswered(absl::Seconds(10)));
  EXPECT_EQ(short_lived.count(), 1u);  // answered exactly once
}

TEST(SubmitBatcherTest, ASubmitThatExpiresWhileQueuedIsAnsweredAndNeverSent) {
  FakeLeader leader;
  SubmitBatcherOptions options;
  options.senders = 1;
  Answer first, stale, fresh;
  SubmitBatcher batcher(SendTo(&leader), options);
  ReleaseAtExit release(&leader);
  leader.Hold(true);
  batcher.Submit(RequestFor("first"), absl::Seconds(10), first.Callback());
  leader.WaitForCalls(1);
  batcher.Submit(RequestFor("stale"), absl::Milliseconds(100),
                 stale.Callback());
  batcher.Submit(RequestFor("fresh"), absl::Seconds(10), fresh.Callback());
  // Answered at its deadline although the sender is still busy; nothing was
  // sent, so nothing was accepted.
  ASSERT_TRUE(stale.AwaitAnswered(absl::Seconds(5)));
  EXPECT_EQ(ErrorCodeOf(stale.first().status()), ErrorCode::kOverloaded);
  leader.Hold(false);
  ASSERT_TRUE(fresh.AwaitAnswered(absl::Seconds(10)));
  ASSERT_TRUE(fresh.first().ok()) << fresh.first().status();
  auto calls = leader.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1], (std::vector<std::string>{"fresh"}));
  EXPECT_EQ(stale.count(), 1u);
}

TEST(SubmitBatcherTest, BeyondTheQueueBoundSubmitsAreRefusedAsOverloaded) {
  FakeLeader leader;
  SubmitBatcherOptions options;
  options.senders = 1;
  options.max_queued = 2;
  Answer first, queued_1, queued_2, refused;
  SubmitBatcher batcher(SendTo(&leader), options);
  ReleaseAtExit release(&leader);
  leader.Hold(true);
  batcher.Submit(RequestFor("first"), absl::Seconds(10), first.Callback());
  leader.WaitForCalls(1);  // taken off the queue: the queue is empty again
  batcher.Submit(RequestFor("q1"), absl::Seconds(10), queued_1.Callback());
  batcher.Submit(RequestFor("q2"), absl::Seconds(10), queued_2.Callback());
  batcher.Submit(RequestFor("q3"), absl::Seconds(10), refused.Callback());
  ASSERT_TRUE(refused.AwaitAnswered(absl::Seconds(5)));
  EXPECT_EQ(ErrorCodeOf(refused.first().status()), ErrorCode::kOverloaded);
  leader.Hold(false);
  ASSERT_TRUE(queued_1.AwaitAnswered(absl::Seconds(10)));
  ASSERT_TRUE(queued_2.AwaitAnswered(absl::Seconds(10)));
  EXPECT_TRUE(queued_1.first().ok());
  EXPECT_TRUE(queued_2.first().ok());
  for (const auto& call : leader.calls()) {
    for (const std::string& id : call) EXPECT_NE(id, "q3");
  }
}

}  // namespace
}  // namespace report
