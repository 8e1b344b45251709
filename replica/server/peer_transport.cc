#include "replica/server/peer_transport.h"

#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/backoff.h"
#include "common/validation.h"
#include "glog/logging.h"
#include "google/protobuf/io/coded_stream.h"
#include "proto/replica_service.grpc.pb.h"

namespace report {

namespace {
// A peer that stops reading must not make us buffer without bound.
constexpr size_t kMaxQueuedMessages = 20000;
// A frame is what the receiving replica accepts: the server's receive limit
// and this channel's send limit are the same constant (see common/validation.h
// for why one append always fits).
constexpr size_t kMaxFrameBytes = kMaxMessageBytes;

std::mutex credentials_mu;
// Never destroyed: gRPC may be shut down before static destructors run.
std::shared_ptr<grpc::ChannelCredentials>& PeerCredentials() {
  static auto* credentials = new std::shared_ptr<grpc::ChannelCredentials>();
  return *credentials;
}

std::shared_ptr<grpc::ChannelCredentials> CurrentPeerCredentials() {
  std::lock_guard<std::mutex> lock(credentials_mu);
  if (PeerCredentials() == nullptr) {
    PeerCredentials() = grpc::InsecureChannelCredentials();
  }
  return PeerCredentials();
}
}  // namespace

void SetPeerChannelCredentials(
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  std::lock_guard<std::mutex> lock(credentials_mu);
  PeerCredentials() = std::move(credentials);
}

void FillFrame(std::deque<consensus::Message>* queue, size_t max_bytes,
               consensus::MessageBatch* frame, uint64_t* oversized) {
  size_t bytes = frame->ByteSizeLong();
  while (!queue->empty()) {
    const size_t size = queue->front().ByteSizeLong();
    // As an element of MessageBatch.messages: tag, length, message.
    const size_t encoded =
        1 + google::protobuf::io::CodedOutputStream::VarintSize64(size) + size;
    if (bytes + encoded > max_bytes) {
      if (frame->messages_size() > 0) return;  // it goes in the next frame
      ++*oversized;
      queue->pop_front();
      continue;
    }
    bytes += encoded;
    *frame->add_messages() = std::move(queue->front());
    queue->pop_front();
  }
}

std::string PeerAddress(const Member& peer, uint64_t self_id) {
  for (const PeerLink& link : peer.peer_links()) {
    if (link.from_id() == self_id && !link.address().empty())
      return link.address();
  }
  return peer.grpc_address();
}

class PeerTransport::PeerSender {
 public:
  PeerSender(std::string cluster_id, uint64_t self_id, Member peer)
      : cluster_id_(std::move(cluster_id)),
        self_id_(self_id),
        peer_(std::move(peer)) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetMaxSendMessageSize(static_cast<int>(kMaxFrameBytes));
    channel_ = grpc::CreateCustomChannel(PeerAddress(peer_, self_id_),
                                         CurrentPeerCredentials(), args);
    stub_ = Peer::NewStub(channel_);
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "peer-sender");
      Loop();
    });
  }

  ~PeerSender() { Stop(); }

  uint64_t id() const { return peer_.id(); }

  void Enqueue(consensus::Message message) {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= kMaxQueuedMessages) {
      dropped_++;
      return;
    }
    queue_.push_back(std::move(message));
    cv_.notify_one();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      if (context_) context_->TryCancel();
      cv_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
  }

  uint64_t dropped() const { return dropped_.load(); }

 private:
  void Loop() {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientWriter<consensus::MessageBatch>> writer;
    DeliverAck ack;
    Backoff backoff(absl::Milliseconds(20), absl::Milliseconds(500));
    while (true) {
      consensus::MessageBatch batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) break;
        batch.set_cluster_id(cluster_id_);
        batch.set_from(self_id_);
        uint64_t oversized = 0;
        FillFrame(&queue_, kMaxFrameBytes, &batch, &oversized);
        if (oversized > 0) {
          // Cannot happen while the field limits hold; if it does, dropping
          // the message keeps the stream alive for everything behind it.
          dropped_ += oversized;
          LOG(ERROR) << "dropped " << oversized << " message(s) to peer "
                     << peer_.id() << " larger than a frame (" << kMaxFrameBytes
                     << " bytes)";
        }
        if (batch.messages_size() == 0) continue;
      }
      if (!writer) {
        context = std::make_unique<grpc::ClientContext>();
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (stopping_) break;
          context_ = context.get();
        }
        writer = stub_->Deliver(context.get(), &ack);
      }
      if (writer->Write(batch)) {
        backoff.Reset();
        continue;
      }
      // The stream broke (peer down or restarted). Drop this frame and what
      // queued behind it: consensus resends what still matters, and stale
      // votes/appends are worthless.
      dropped_ += batch.messages_size();
      writer->Finish().ok();
      writer.reset();
      {
        std::unique_lock<std::mutex> lock(mu_);
        context_ = nullptr;
        dropped_ += queue_.size();
        queue_.clear();
        cv_.wait_for(lock, absl::ToChronoMicroseconds(backoff.Next()),
                     [&] { return stopping_; });
        if (stopping_) break;
      }
      context.reset();
    }
    if (writer) {
      writer->WritesDone();
      writer->Finish().ok();
    }
    std::lock_guard<std::mutex> lock(mu_);
    context_ = nullptr;
  }

  const std::string cluster_id_;
  const uint64_t self_id_;
  const Member peer_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Peer::Stub> stub_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<consensus::Message> queue_;
  bool stopping_ = false;
  grpc::ClientContext* context_ = nullptr;
  std::atomic<uint64_t> dropped_{0};
  std::thread thread_;
};

PeerTransport::PeerTransport(std::string cluster_id, uint64_t self_id,
                             const std::vector<Member>& members) {
  for (const Member& member : members) {
    if (member.id() == self_id) continue;
    senders_.push_back(
        std::make_unique<PeerSender>(cluster_id, self_id, member));
  }
}

PeerTransport::~PeerTransport() { Stop(); }

void PeerTransport::Send(std::vector<consensus::Message> messages) {
  for (consensus::Message& message : messages) {
    for (auto& sender : senders_) {
      if (sender->id() == message.to()) {
        sender->Enqueue(std::move(message));
        break;
      }
    }
  }
}

void PeerTransport::Stop() {
  for (auto& sender : senders_) sender->Stop();
}

uint64_t PeerTransport::dropped() const {
  uint64_t total = 0;
  for (const auto& sender : senders_) total += sender->dropped();
  return total;
}

}  // namespace report
