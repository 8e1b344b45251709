#include "replica/storage/replica_store.h"

#include <filesystem>
#include <string>

#include "common/error_code.h"
#include "common/scoped_temp_dir.h"
#include "gtest/gtest.h"

namespace report::storage {
namespace {

std::string FreshDir(const std::string& name) {
  // Removed with everything in it when the test binary exits.
  static const ScopedTempDir base("replica_store_test");
  const std::string dir = base.path() + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(ReplicaStoreTest, NewStoreIsEmpty) {
  absl::StatusOr<std::unique_ptr<ReplicaStore>> store =
      ReplicaStore::Open(FreshDir("empty"), "c1", 1);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->log().FirstIndex(), 1u);
  EXPECT_EQ((*store)->log().LastIndex(), 0u);
  EXPECT_EQ((*store)->log().EpochAt(0), 0u);
  const consensus::HardState hard_state = (*store)->LoadHardState();
  EXPECT_EQ(hard_state.epoch(), 0u);
  EXPECT_EQ(hard_state.vote(), 0u);
}

TEST(ReplicaStoreTest, HardStateSurvivesReopen) {
  const std::string dir = FreshDir("hard_state");
  {
    auto store = ReplicaStore::Open(dir, "c1", 2);
    ASSERT_TRUE(store.ok()) << store.status();
    consensus::HardState hard_state;
    hard_state.set_epoch(7);
    hard_state.set_vote(3);
    hard_state.set_commit(12);
    ASSERT_TRUE((*store)->SaveHardState(hard_state).ok());
  }
  auto store = ReplicaStore::Open(dir, "c1", 2);
  ASSERT_TRUE(store.ok()) << store.status();
  const consensus::HardState hard_state = (*store)->LoadHardState();
  EXPECT_EQ(hard_state.epoch(), 7u);
  EXPECT_EQ(hard_state.vote(), 3u);
  EXPECT_EQ(hard_state.commit(), 12u);
}

TEST(ReplicaStoreTest, RefusesTheDataDirOfAnotherReplica) {
  const std::string dir = FreshDir("other_replica");
  ASSERT_TRUE(ReplicaStore::Open(dir, "c1", 1).ok());
  auto store = ReplicaStore::Open(dir, "c1", 2);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(ErrorCodeOf(store.status()), ErrorCode::kInvalidArgument);
  EXPECT_NE(
      store.status().message().find("replica 1, not cluster 'c1' replica 2"),
      absl::string_view::npos)
      << store.status();
}

TEST(ReplicaStoreTest, RefusesTheDataDirOfAnotherCluster) {
  const std::string dir = FreshDir("other_cluster");
  ASSERT_TRUE(ReplicaStore::Open(dir, "c1", 1).ok());
  auto store = ReplicaStore::Open(dir, "c2", 1);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(ErrorCodeOf(store.status()), ErrorCode::kInvalidArgument);
  EXPECT_NE(store.status().message().find("cluster 'c1'"),
            absl::string_view::npos);
  // The rightful owner still opens it.
  EXPECT_TRUE(ReplicaStore::Open(dir, "c1", 1).ok());
}

TEST(ReplicaStoreTest, RefusesAnEmptyIdentity) {
  EXPECT_EQ(
      ErrorCodeOf(ReplicaStore::Open(FreshDir("no_id"), "c1", 0).status()),
      ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      ErrorCodeOf(ReplicaStore::Open(FreshDir("no_cluster"), "", 1).status()),
      ErrorCode::kInvalidArgument);
}

TEST(ReplicaStoreTest, OneProcessAtATime) {
  const std::string dir = FreshDir("locked");
  auto first = ReplicaStore::Open(dir, "c1", 1);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(ReplicaStore::Open(dir, "c1", 1).ok());
}

}  // namespace
}  // namespace report::storage
