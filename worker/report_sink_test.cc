#include "worker/report_sink.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "common/scoped_temp_dir.h"

namespace report {
namespace {

std::string MakeTempDir() {
  // Removed with everything in it when the test binary exits.
  static const ScopedTempDir base("sink_test");
  return base.MakeSubdir("sink");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* entry = readdir(d)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  return names;
}

TEST(ReportSinkTest, EffectKeyIsSinkNameAndRequestId) {
  auto sink = DirectoryReportSink::Open(MakeTempDir());
  ASSERT_TRUE(sink.ok()) << sink.status();
  EXPECT_EQ((*sink)->EffectKey("req-1"), "file-sink:req-1");
}

TEST(ReportSinkTest, FileNamesAreSafeAndDistinct) {
  EXPECT_EQ(DirectoryReportSink::FileNameOf("file-sink:req-1"),
            "file-sink:req-1.json");
  EXPECT_EQ(DirectoryReportSink::FileNameOf("s:../../etc"),
            "s:..~2F..~2Fetc.json");
  EXPECT_EQ(DirectoryReportSink::FileNameOf(".hidden"), "~2Ehidden.json");
  EXPECT_EQ(DirectoryReportSink::FileNameOf("a b~c"), "a~20b~7Ec.json");
  // The escape character is itself escaped, so "~20" and " " cannot collide.
  EXPECT_NE(DirectoryReportSink::FileNameOf("a~20"),
            DirectoryReportSink::FileNameOf("a "));
  std::string long_a(400, 'a');
  std::string long_b = long_a + "b";
  std::string name_a = DirectoryReportSink::FileNameOf(long_a);
  std::string name_b = DirectoryReportSink::FileNameOf(long_b);
  EXPECT_LE(name_a.size(), 210u);
  EXPECT_NE(name_a, name_b);
}

TEST(ReportSinkTest, WriteOnceWritesAtomicallyAndReportsLocation) {
  std::string dir = MakeTempDir();
  auto sink = DirectoryReportSink::Open(dir);
  ASSERT_TRUE(sink.ok());
  const std::string key = (*sink)->EffectKey("req-1");
  EXPECT_FALSE(*(*sink)->Exists(key));

  absl::StatusOr<SinkWrite> write =
      (*sink)->WriteOnce(key, "{\"report\": 1}\n");
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_TRUE(write->written);
  EXPECT_TRUE(*(*sink)->Exists(key));
  EXPECT_EQ(write->location, (*sink)->Location(key));
  EXPECT_TRUE(absl::StartsWith(write->location, "file:///")) << write->location;
  EXPECT_TRUE(absl::EndsWith(write->location, "/file-sink:req-1.json"))
      << write->location;
  EXPECT_EQ(ReadFile((*sink)->PathOf(key)), "{\"report\": 1}\n");
  // No temporary file is left behind.
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"file-sink:req-1.json"});
  struct stat st;
  ASSERT_EQ(stat((*sink)->PathOf(key).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(ReportSinkTest, ExistingFileIsNeverWrittenAgain) {
  auto sink = DirectoryReportSink::Open(MakeTempDir());
  ASSERT_TRUE(sink.ok());
  const std::string key = (*sink)->EffectKey("req-1");
  ASSERT_TRUE((*sink)->WriteOnce(key, "first").ok());
  absl::StatusOr<SinkWrite> again = (*sink)->WriteOnce(key, "second");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->written);
  EXPECT_EQ(again->location, (*sink)->Location(key));
  EXPECT_EQ(ReadFile((*sink)->PathOf(key)), "first");
  EXPECT_EQ((*sink)->files_written(), 1u);
}

TEST(ReportSinkTest, AFileFoundInPlaceIsMadeDurableBeforeItIsUsed) {
  auto sink = DirectoryReportSink::Open(MakeTempDir());
  ASSERT_TRUE(sink.ok());
  const std::string key = (*sink)->EffectKey("req-1");
  // Another writer linked the file and may have died before its own fsync of
  // the directory: whoever records the file must make its name durable first.
  std::ofstream((*sink)->PathOf(key)) << "theirs";
  const uint64_t syncs = (*sink)->directory_syncs();
  absl::StatusOr<SinkWrite> write = (*sink)->WriteOnce(key, "mine");
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_FALSE(write->written);
  EXPECT_EQ((*sink)->directory_syncs(), syncs + 1);
  EXPECT_EQ(ReadFile((*sink)->PathOf(key)), "theirs");
}

// A crash between creating a temporary file and linking it leaves the
// temporary behind; the next open removes it once it is old enough that no
// live writer can still be using it.
TEST(ReportSinkTest, OpenRemovesStaleTemporaryFiles) {
  std::string dir = MakeTempDir();
  ASSERT_TRUE(DirectoryReportSink::Open(dir).ok());
  std::ofstream(dir + "/.tmp-crashed-abcdef") << "half a report";
  std::ofstream(dir + "/.tmp-in-progress-abcdef") << "being written";
  std::ofstream(dir + "/file-sink:req-1.json") << "a report";
  const struct timeval old_times[2] = {{time(nullptr) - 3600, 0},
                                       {time(nullptr) - 3600, 0}};
  ASSERT_EQ(utimes((dir + "/.tmp-crashed-abcdef").c_str(), old_times), 0);
  ASSERT_EQ(utimes((dir + "/file-sink:req-1.json").c_str(), old_times), 0);
  ASSERT_TRUE(DirectoryReportSink::Open(dir).ok());
  std::vector<std::string> names = ListDir(dir);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
            (std::set<std::string>{".tmp-in-progress-abcdef",
                                   "file-sink:req-1.json"}));
}

TEST(ReportSinkTest, OneLiveWriterPerWorkerIdAndItsDeadTempsAreRemoved) {
  std::string dir = MakeTempDir();
  auto first = DirectoryReportSink::Open(dir);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->ClaimWriter("worker-1", "aaaa").ok());
  auto second = DirectoryReportSink::Open(dir);
  ASSERT_TRUE(second.ok());
  absl::Status refused = (*second)->ClaimWriter("worker-1", "bbbb");
  EXPECT_EQ(ErrorCodeOf(refused), ErrorCode::kInvalidArgument) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "worker id 'worker-1'"))
      << refused;
  EXPECT_TRUE(
      absl::StrContains(refused.message(), absl::StrCat("pid ", getpid())))
      << refused;
  auto other = DirectoryReportSink::Open(dir);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE((*other)->ClaimWriter("worker-2", "cccc").ok());

  // A fresh temporary file of a dead "worker-1" process, and one of the live
  // "worker-2": only the dead process's goes when worker-1 is claimed again.
  std::ofstream(dir + "/.tmp-worker-1#aaaa-123456") << "half a report";
  std::ofstream(dir + "/.tmp-worker-2#cccc-123456") << "being written";
  first->reset();  // the process holding worker-1 ends
  auto restarted = DirectoryReportSink::Open(dir);
  ASSERT_TRUE(restarted.ok());
  ASSERT_TRUE((*restarted)->ClaimWriter("worker-1", "dddd").ok());
  std::vector<std::string> names = ListDir(dir);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
            (std::set<std::string>{".tmp-worker-2#cccc-123456", ".workers"}));

  // Its own writes leave nothing behind but the report.
  ASSERT_TRUE((*restarted)->WriteOnce("file-sink:req-1", "report").ok());
  names = ListDir(dir);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
            (std::set<std::string>{".tmp-worker-2#cccc-123456", ".workers",
                                   "file-sink:req-1.json"}));
}

TEST(ReportSinkTest, RacingWritersProduceOneFile) {
  std::string dir = MakeTempDir();
  auto sink_a = DirectoryReportSink::Open(dir);
  auto sink_b = DirectoryReportSink::Open(dir);
  ASSERT_TRUE(sink_a.ok());
  ASSERT_TRUE(sink_b.ok());
  for (int round = 0; round < 20; ++round) {
    const std::string key =
        (*sink_a)->EffectKey("req-" + std::to_string(round));
    std::thread a(
        [&] { ASSERT_TRUE((*sink_a)->WriteOnce(key, "from a").ok()); });
    std::thread b(
        [&] { ASSERT_TRUE((*sink_b)->WriteOnce(key, "from b").ok()); });
    a.join();
    b.join();
    std::string content = ReadFile((*sink_a)->PathOf(key));
    EXPECT_TRUE(content == "from a" || content == "from b") << content;
  }
  EXPECT_EQ((*sink_a)->files_written() + (*sink_b)->files_written(), 20u);
  EXPECT_EQ(ListDir(dir).size(), 20u);
}

TEST(ReportSinkTest, LocationEscapesUnusualDirectoryNames) {
  std::string dir = MakeTempDir() + "/with space";
  auto sink = DirectoryReportSink::Open(dir);
  ASSERT_TRUE(sink.ok()) << sink.status();
  std::string location = (*sink)->Location("file-sink:r");
  EXPECT_TRUE(absl::StrContains(location, "/with%20space/file-sink:r.json"))
      << location;
}

TEST(ReportSinkTest, OpenRejectsAFile) {
  std::string dir = MakeTempDir();
  std::ofstream(dir + "/plain") << "x";
  EXPECT_FALSE(DirectoryReportSink::Open(dir + "/plain").ok());
  EXPECT_FALSE(DirectoryReportSink::Open("").ok());
}

}  // namespace
}  // namespace report
