// Carries consensus messages between replicas: one long-lived gRPC client
// stream per peer, fed by a queue, so messages to one peer keep their order and
// many are batched into one frame (pipelining without one RPC per message).
// Losing messages is allowed (consensus retries); blocking the caller is not:
// Send() only enqueues.
#ifndef REPORT_REPLICA_SERVER_PEER_TRANSPORT_H_
#define REPORT_REPLICA_SERVER_PEER_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "proto/cluster.pb.h"
#include "proto/consensus.pb.h"

namespace grpc {
class ChannelCredentials;
}

namespace report {

// The credentials every PeerTransport of this process dials its peers with
// (mutual TLS, common/transport_security.h). Set once in main() before the
// replica starts; plaintext until then. Process-wide only because the replica
// builds its transport itself (ReplicaOptions carries no credentials yet).
void SetPeerChannelCredentials(
    std::shared_ptr<grpc::ChannelCredentials> credentials);

// Where `self_id` sends consensus messages to `peer`: the peer's link for
// `self_id` when the cluster file gives one (see PeerLink), else the peer's
// grpc_address.
std::string PeerAddress(const Member& peer, uint64_t self_id);

// Moves messages from the front of `queue` into `frame` while the frame's
// encoded size (its header included) stays within `max_bytes`, keeping their
// order. A message that would not fit even an otherwise empty frame is removed
// and counted in *oversized instead: the receiver would refuse that frame and
// break the stream for every message behind it.
void FillFrame(std::deque<consensus::Message>* queue, size_t max_bytes,
               consensus::MessageBatch* frame, uint64_t* oversized);

class PeerTransport {
 public:
  PeerTransport(std::string cluster_id, uint64_t self_id,
                const std::vector<Member>& members);
  ~PeerTransport();
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Queues messages for their destinations (Message.to). Messages to unknown
  // ids or to ourselves are dropped.
  void Send(std::vector<consensus::Message> messages);
  // Stops every sender thread; queued messages are dropped.
  void Stop();

  // Messages dropped because a peer's queue was full or its stream broke.
  uint64_t dropped() const;

 private:
  class PeerSender;
  std::vector<std::unique_ptr<PeerSender>> senders_;
};

}  // namespace report

#endif  // REPORT_REPLICA_SERVER_PEER_TRANSPORT_H_
