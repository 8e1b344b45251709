// Carries consensus messages between replicas: one long-lived gRPC client
// stream per peer, fed by a queue, so messages to one peer keep their order and
// many are batched into one frame (pipelining without one RPC per message).
// Losing messages is allowed (consensus retries); blocking the caller is not:
// Send() only enqueues.
#ifndef REPORT_REPLICA_SERVER_PEER_TRANSPORT_H_
#define REPORT_REPLICA_SERVER_PEER_TRANSPORT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proto/cluster.pb.h"
#include "proto/consensus.pb.h"

namespace report {

// Where `self_id` sends consensus messages to `peer`: the peer's link for
// `self_id` when the cluster file gives one (see PeerLink), else the peer's
// grpc_address.
std::string PeerAddress(const Member& peer, uint64_t self_id);

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
