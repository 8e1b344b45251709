#include "replica/server/peer_transport.h"

#include <string>

#include "gtest/gtest.h"

namespace report {
namespace {

consensus::Message AppendWith(uint64_t index, size_t data_bytes) {
  consensus::Message message;
  message.set_type(consensus::MSG_APPEND);
  message.set_from(1);
  message.set_to(2);
  message.set_epoch(3);
  consensus::Entry* entry = message.add_entries();
  entry->set_index(index);
  entry->set_epoch(3);
  entry->set_data(std::string(data_bytes, 'x'));
  return message;
}

consensus::MessageBatch EmptyFrame() {
  consensus::MessageBatch frame;
  frame.set_cluster_id("cluster-under-test");
  frame.set_from(1);
  return frame;
}

TEST(PeerTransportTest, FramesSplitByBytesNeverExceedTheLimitAndKeepOrder) {
  constexpr size_t kLimit = 1 << 20;
  std::deque<consensus::Message> queue;
  for (uint64_t i = 1; i <= 10; ++i) queue.push_back(AppendWith(i, 300 << 10));
  uint64_t next_index = 1;
  uint64_t oversized = 0;
  int frames = 0;
  while (!queue.empty()) {
    consensus::MessageBatch frame = EmptyFrame();
    FillFrame(&queue, kLimit, &frame, &oversized);
    ASSERT_GT(frame.messages_size(), 0) << "no progress";
    EXPECT_LE(frame.ByteSizeLong(), kLimit) << "frame " << frames;
    for (const consensus::Message& message : frame.messages()) {
      EXPECT_EQ(message.entries(0).index(), next_index++);
    }
    ++frames;
  }
  EXPECT_EQ(next_index, 11u);
  EXPECT_EQ(frames, 4);  // three messages of 300 KiB fit 1 MiB, four do not
  EXPECT_EQ(oversized, 0u);
}

TEST(PeerTransportTest, AFrameFilledToTheByteIsAllowed) {
  consensus::MessageBatch probe = EmptyFrame();
  *probe.add_messages() = AppendWith(1, 1000);
  *probe.add_messages() = AppendWith(2, 1000);
  const size_t exact = probe.ByteSizeLong();
  std::deque<consensus::Message> queue = {AppendWith(1, 1000),
                                          AppendWith(2, 1000)};
  uint64_t oversized = 0;
  consensus::MessageBatch frame = EmptyFrame();
  FillFrame(&queue, exact, &frame, &oversized);
  EXPECT_EQ(frame.messages_size(), 2);
  EXPECT_EQ(frame.ByteSizeLong(), exact);

  std::deque<consensus::Message> again = {AppendWith(1, 1000),
                                          AppendWith(2, 1000)};
  consensus::MessageBatch smaller = EmptyFrame();
  FillFrame(&again, exact - 1, &smaller, &oversized);
  EXPECT_EQ(smaller.messages_size(), 1);
  EXPECT_EQ(again.size(), 1u);
}

TEST(PeerTransportTest, AMessageTooLargeForAnyFrameIsDroppedNotSent) {
  constexpr size_t kLimit = 64 << 10;
  std::deque<consensus::Message> queue = {
      AppendWith(1, 100), AppendWith(2, kLimit), AppendWith(3, 100)};
  uint64_t oversized = 0;
  std::vector<uint64_t> sent;
  while (!queue.empty()) {
    consensus::MessageBatch frame = EmptyFrame();
    FillFrame(&queue, kLimit, &frame, &oversized);
    EXPECT_LE(frame.ByteSizeLong(), kLimit);
    for (const consensus::Message& message : frame.messages()) {
      sent.push_back(message.entries(0).index());
    }
  }
  EXPECT_EQ(sent, (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(oversized, 1u);
}

}  // namespace
}  // namespace report
