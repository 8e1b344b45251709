// Fuzzes a replica's handling of peer batches: bytes decoded as MessageBatch
// frames (what a peer's Deliver stream carries) are stepped into the consensus
// core, interleaved with ticks, proposals, read requests and delayed
// persistence, and every Ready goes through the persist / OnPersisted loop.
// The input language and the promises checked are in peer_batch_input.h. The
// core must never crash on any input: malformed messages are dropped and
// counted, and a broken promise is a core bug.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "proto/consensus.pb.h"
#include "tests/fuzz/peer_batch_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace report;
  using namespace report::fuzz;
  if (size == 0) return 0;
  ReplicaUnderTest replica(data[0]);
  replica.Drain();
  size_t at = 1;
  std::vector<consensus::Message> sent;
  while (at < size) {
    const uint8_t op = data[at++] % kOpCount;
    std::string bytes;
    if (op == kOpTick && at < size) {
      bytes.push_back(static_cast<char>(data[at++]));
    } else if (OpHasBytes(op)) {
      size_t length = 0;
      if (at < size) length = data[at++];
      if (at < size) length |= static_cast<size_t>(data[at++]) << 8;
      if (length > size - at) length = size - at;
      bytes.assign(reinterpret_cast<const char*>(data + at), length);
      at += length;
    }
    switch (op) {
      case kOpBatch: {
        consensus::MessageBatch batch;
        if (!batch.ParseFromString(bytes)) break;
        for (consensus::Message& m : *batch.mutable_messages()) {
          replica.node().Step(std::move(m));
        }
        break;
      }
      case kOpTick: {
        const int ticks = 1 + (bytes.empty() ? 0 : bytes[0] & 0xff) % 32;
        for (int i = 0; i < ticks; ++i) {
          replica.node().Tick();
          replica.Drain();
        }
        break;
      }
      case kOpPropose: {
        std::vector<consensus::Entry> entries(1);
        entries[0].set_data(bytes);
        replica.node().Propose(std::move(entries));
        break;
      }
      case kOpReadIndex:
        replica.node().ReadIndex(bytes);
        break;
      case kOpCampaign:
        replica.node().Campaign();
        break;
      case kOpDefer:
        replica.set_deferred(true);
        break;
      case kOpFlush:
        replica.set_deferred(false);
        replica.Flush(&sent);
        break;
    }
    replica.Drain();
    sent.clear();
  }
  replica.set_deferred(false);
  replica.Flush(&sent);
  replica.Drain();
  // PEER_BATCH_TRACE=1 tells where an input leads (e.g. that a seed still
  // replays the election and replication it recorded).
  static const bool trace = std::getenv("PEER_BATCH_TRACE") != nullptr;
  if (trace) {
    std::fprintf(
        stderr, "replica 1 is %s in epoch %llu, commit %llu\n",
        consensus::RoleName(replica.node().role()),
        static_cast<unsigned long long>(replica.node().epoch()),
        static_cast<unsigned long long>(replica.node().commit_index()));
  }
  return 0;
}
