#include "gateway/http_routes.h"

#include <google/protobuf/util/json_util.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/error_code.h"
#include "gateway/fake_report_backend.h"
#include "gtest/gtest.h"

namespace report::gateway {
namespace {

// Reports by effect key, in memory.
class MapReportStore : public ReportStore {
 public:
  absl::StatusOr<std::string> Read(absl::string_view effect_key,
                                   size_t max_bytes) const override {
    auto it = documents.find(std::string(effect_key));
    if (it == documents.end()) {
      return MakeError(ErrorCode::kNotFound, "no such report");
    }
    if (it->second.size() > max_bytes) {
      return MakeError(ErrorCode::kInternal, "too large");
    }
    return it->second;
  }
  std::map<std::string, std::string> documents;
};

FrontDoorOptions OptionsWithStore(std::shared_ptr<const ReportStore> store) {
  FrontDoorOptions options{"aws/us-east-1/use1-az1"};
  options.report_store = std::move(store);
  return options;
}

class HttpRoutesTest : public ::testing::Test {
 protected:
  HttpRoutesTest()
      : store_(std::make_shared<MapReportStore>()),
        door_(
            &backend_, [] { return absl::OkStatus(); }, &metrics_,
            OptionsWithStore(store_)) {}

  // Routes and, when the route needs the cluster, makes the call inline.
  HttpReply Handle(std::string method, std::string target,
                   std::string body = "", std::string idempotency_key = "",
                   std::string content_type = "",
                   std::string if_none_match = "") {
    HttpRequest request{std::move(method), std::move(target),
                        std::move(idempotency_key), std::move(body)};
    request.content_type = std::move(content_type);
    request.if_none_match = std::move(if_none_match);
    HttpRouting routing = RouteRequest(&door_, request);
    EXPECT_EQ(routing.reply.has_value() +
                  static_cast<int>(static_cast<bool>(routing.cluster_call)) +
                  static_cast<int>(static_cast<bool>(routing.async_call)),
              1);
    if (routing.reply) return *routing.reply;
    if (routing.cluster_call) return routing.cluster_call();
    // The fake backend answers submits inline.
    std::optional<HttpReply> answered;
    routing.async_call([&](HttpReply reply) { answered = std::move(reply); });
    EXPECT_TRUE(answered.has_value());
    return answered.value_or(HttpReply{});
  }

  static std::string Header(const HttpReply& reply, const std::string& name) {
    for (const auto& [key, value] : reply.headers) {
      if (key == name) return value;
    }
    return "";
  }

  FakeReportBackend backend_;
  GatewayMetrics metrics_;
  std::shared_ptr<MapReportStore> store_;
  ReportFrontDoor door_;
};

struct BadSubmit {
  const char* name;
  const char* body;
};

TEST_F(HttpRoutesTest,
       MalformedSubmissionsAre400ProblemsAndNeverReachTheCluster) {
  const BadSubmit cases[] = {
      {"empty body", ""},
      {"not JSON", "request_id=r1"},
      {"truncated JSON", R"({"request_id":"r1","account_id":"a")"},
      {"array", R"([{"request_id":"r1"}])"},
      {"unknown field",
       R"({"request_id":"r1","account_id":"a","month":"2026-04","extra":1})"},
      {"number for string",
       R"({"request_id":1,"account_id":"a","month":"2026-04"})"},
      {"object for string",
       R"({"request_id":{"x":1},"account_id":"a","month":"2026-04"})"},
      {"missing request_id", R"({"account_id":"a","month":"2026-04"})"},
      {"missing account_id", R"({"request_id":"r1","month":"2026-04"})"},
      {"missing month", R"({"request_id":"r1","account_id":"a"})"},
      {"bad month",
       R"({"request_id":"r1","account_id":"a","month":"2026-13"})"},
      {"bad id charset",
       R"({"request_id":"r 1","account_id":"a","month":"2026-04"})"},
  };
  for (const BadSubmit& c : cases) {
    HttpReply reply = Handle("POST", "/reports", c.body);
    EXPECT_EQ(reply.status, 400) << c.name;
    EXPECT_EQ(reply.content_type, "application/problem+json") << c.name;
    EXPECT_EQ(reply.code, "InvalidArgument") << c.name;
    EXPECT_NE(reply.body.find(R"("code":"InvalidArgument")"), std::string::npos)
        << c.name << ": " << reply.body;
  }
  EXPECT_EQ(backend_.submit_calls(), 0);
}

TEST_F(HttpRoutesTest, NewSubmissionIs202WithLocationAndReplayIs200Duplicate) {
  const std::string body =
      R"({"request_id":"req-1","account_id":"acct-1","month":"2026-04"})";
  HttpReply created = Handle("POST", "/reports", body);
  EXPECT_EQ(created.status, 202);
  EXPECT_EQ(Header(created, "Location"), "/reports/req-1");
  EXPECT_EQ(created.content_type, "application/json");
  EXPECT_EQ(created.body,
            R"({"request_id":"req-1","accepted_offset":"1","duplicate":false,)"
            R"("status_path":"/reports/req-1","epoch":"3"})"
            "\n");

  HttpReply replay = Handle("POST", "/reports", body);
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(Header(replay, "Location"), "/reports/req-1");
  EXPECT_NE(replay.body.find(R"("duplicate":true)"), std::string::npos);
  EXPECT_NE(replay.body.find(R"("accepted_offset":"1")"), std::string::npos);
}

TEST_F(HttpRoutesTest, ConflictingReplayIs422) {
  Handle("POST", "/reports",
         R"({"request_id":"r1","account_id":"a","month":"2026-04"})");
  HttpReply reply =
      Handle("POST", "/reports",
             R"({"request_id":"r1","account_id":"b","month":"2026-04"})");
  EXPECT_EQ(reply.status, 422);
  EXPECT_EQ(reply.body,
            R"({"type":"https://report.example/problems/IdempotencyConflict",)"
            R"("title":"IdempotencyConflict","status":422,)"
            R"("detail":"request id already used with another payload",)"
            R"("code":"IdempotencyConflict","instance":"/reports"})"
            "\n");
}

TEST_F(HttpRoutesTest, IdempotencyKeyFillsOrMustMatchTheRequestId) {
  HttpReply filled = Handle("POST", "/reports",
                            R"({"account_id":"a","month":"2026-04"})", "key-1");
  EXPECT_EQ(filled.status, 202);
  EXPECT_EQ(Header(filled, "Location"), "/reports/key-1");

  HttpReply same = Handle(
      "POST", "/reports",
      R"({"request_id":"key-1","account_id":"a","month":"2026-04"})", "key-1");
  EXPECT_EQ(same.status, 200);

  const int calls = backend_.submit_calls();
  HttpReply differ = Handle(
      "POST", "/reports",
      R"({"request_id":"r2","account_id":"a","month":"2026-04"})", "key-2");
  EXPECT_EQ(differ.status, 400);
  EXPECT_EQ(backend_.submit_calls(), calls);
}

TEST_F(HttpRoutesTest, IdempotencyKeyIsAStructuredFieldString) {
  HttpReply quoted =
      Handle("POST", "/reports", R"({"account_id":"a","month":"2026-04"})",
             R"("key-q")");
  EXPECT_EQ(quoted.status, 202) << quoted.body;
  EXPECT_EQ(Header(quoted, "Location"), "/reports/key-q");
  EXPECT_EQ(*ParseIdempotencyKey(R"( "k-1" )"), "k-1");
  const int calls = backend_.submit_calls();
  for (const char* bad :
       {R"("unterminated)", R"("a"b")", R"("a\x")", R"("has space")", R"("")",
        "two words", R"("a";p=1)"}) {
    HttpReply reply = Handle("POST", "/reports",
                             R"({"account_id":"a","month":"2026-04"})", bad);
    EXPECT_EQ(reply.status, 400) << bad;
    EXPECT_EQ(reply.code, "InvalidArgument") << bad;
  }
  EXPECT_EQ(backend_.submit_calls(), calls);
}

TEST_F(HttpRoutesTest, ABodyThatIsNotJsonIs415) {
  const std::string body =
      R"({"request_id":"m1","account_id":"a","month":"2026-04"})";
  for (const char* type :
       {"application/x-www-form-urlencoded", "text/plain", "application/xml"}) {
    HttpReply reply = Handle("POST", "/reports", body, "", type);
    EXPECT_EQ(reply.status, 415) << type;
    EXPECT_EQ(reply.code, "InvalidArgument") << type;
    EXPECT_EQ(Header(reply, "Accept-Post"), "application/json");
  }
  EXPECT_EQ(backend_.submit_calls(), 0);
  for (const char* type :
       {"application/json", "Application/JSON; charset=utf-8",
        "application/merge-patch+json", ""}) {
    EXPECT_NE(Handle("POST", "/reports", body, "", type).status, 415) << type;
  }
}

TEST_F(HttpRoutesTest, StatusHasAVersionETagAndIfNoneMatchAnswers304) {
  Handle("POST", "/reports",
         R"({"request_id":"e1","account_id":"a","month":"2026-04"})");
  HttpReply first = Handle("GET", "/reports/e1");
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string etag = Header(first, "ETag");
  EXPECT_EQ(etag, "W/\"1\"");
  HttpReply same = Handle("GET", "/reports/e1", "", "", "", etag);
  EXPECT_EQ(same.status, 304);
  EXPECT_EQ(same.body, "");
  EXPECT_EQ(Header(same, "ETag"), etag);
  EXPECT_EQ(Handle("GET", "/reports/e1", "", "", "", "\"1\"").status, 304);
  EXPECT_EQ(Handle("GET", "/reports/e1", "", "", "", "*").status, 304);
  EXPECT_EQ(Handle("GET", "/reports/e1", "", "", "", "W/\"0\", W/\"7\"").status,
            200);
}

TEST_F(HttpRoutesTest, GetRoutesAnswerHeadAndProblemsNameTheirInstance) {
  Handle("POST", "/reports",
         R"({"request_id":"h1","account_id":"a","month":"2026-04"})");
  for (const char* target :
       {"/reports/h1", "/healthz", "/metrics", "/openapi.yaml"}) {
    EXPECT_EQ(Handle("HEAD", target).status, 200) << target;
  }
  HttpReply missing = Handle("GET", "/reports/nope?min_offset=1");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find(R"("instance":"/reports/nope")"),
            std::string::npos)
      << missing.body;
  EXPECT_NE(
      Handle("GET", "/reports/a%2").body.find(R"("instance":"/reports/a%252")"),
      std::string::npos);
  EXPECT_NE(Handle("GET", "/reports/a%20b")
                .body.find(R"("instance":"/reports/a%20b")"),
            std::string::npos);
  HttpReply odd = Handle("GET", "/x\xff y");
  EXPECT_NE(odd.body.find(R"("instance":"/x%FF%20y")"), std::string::npos)
      << odd.body;
}

TEST_F(HttpRoutesTest, ConsistencyLinearizableIsPassedToTheCluster) {
  Handle("POST", "/reports",
         R"({"request_id":"l1","account_id":"a","month":"2026-04"})");
  EXPECT_EQ(Handle("GET", "/reports/l1?consistency=linearizable").status, 200);
  EXPECT_EQ(backend_.last_read_consistency(), report::LINEARIZABLE);
  EXPECT_EQ(Handle("GET", "/reports/l1?consistency=at_least_offset").status,
            200);
  EXPECT_EQ(backend_.last_read_consistency(), report::AT_LEAST_OFFSET);
  for (const char* bad :
       {"/reports/l1?consistency=LINEARIZABLE", "/reports/l1?consistency=",
        "/reports/l1?consistency=linearizable&consistency="
        "linearizable"}) {
    EXPECT_EQ(Handle("GET", bad).status, 400) << bad;
  }
}

TEST_F(HttpRoutesTest, ListingAnAccountIsNewestFirstWithAnOpaquePageToken) {
  for (const char* id : {"a1", "a2", "a3"}) {
    Handle("POST", "/reports",
           absl::StrCat(R"({"request_id":")", id,
                        R"(","account_id":"acct-7","month":"2026-04"})"));
  }
  Handle("POST", "/reports",
         R"({"request_id":"b1","account_id":"other","month":"2026-04"})");
  HttpReply first = Handle("GET", "/reports?account_id=acct-7&page_size=2");
  ASSERT_EQ(first.status, 200) << first.body;
  report::api::ListReportsResponse page;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(first.body, &page).ok());
  ASSERT_EQ(page.reports_size(), 2);
  EXPECT_EQ(page.reports(0).request_id(), "a3");
  EXPECT_EQ(page.reports(1).request_id(), "a2");
  ASSERT_FALSE(page.next_page_token().empty());
  HttpReply second = Handle(
      "GET", absl::StrCat("/reports?account_id=acct-7&page_size=2&page_token=",
                          page.next_page_token()));
  ASSERT_EQ(second.status, 200) << second.body;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(second.body, &page).ok());
  ASSERT_EQ(page.reports_size(), 1);
  EXPECT_EQ(page.reports(0).request_id(), "a1");
  EXPECT_EQ(page.next_page_token(), "");
  EXPECT_EQ(Handle("GET", "/reports?account_id=acct-7&state=failed").status,
            200);
  EXPECT_EQ(backend_.last_list().state(), report::FAILED);
  EXPECT_EQ(backend_.last_list().page_size(), 50u);
  for (const char* bad :
       {"/reports", "/reports?account_id=", "/reports?account_id=a%20b",
        "/reports?account_id=a&state=DONE",
        "/reports?account_id=a&page_size=501",
        "/reports?account_id=a&page_token=garbage",
        "/reports?account_id=a&account_id=b", "/reports?account_id=a&x=1",
        "/reports?account_id=a&page_size=-1"}) {
    HttpReply reply = Handle("GET", bad);
    EXPECT_EQ(reply.status, 400) << bad << ": " << reply.body;
  }
}

TEST_F(HttpRoutesTest, CancelAnswersTheStatusAfterTheCancel) {
  Handle("POST", "/reports",
         R"({"request_id":"c1","account_id":"a","month":"2026-04"})");
  HttpReply cancelled = Handle("POST", "/reports/c1:cancel");
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_NE(cancelled.body.find(R"("state":"CANCELLED")"), std::string::npos)
      << cancelled.body;
  EXPECT_EQ(Handle("POST", "/reports/c1:cancel", "{}").status, 200);
  EXPECT_EQ(Handle("POST", "/reports/nobody:cancel").status, 404);
  EXPECT_EQ(Handle("POST", "/reports/c1:cancel", R"({"why":"x"})").status, 400);
  EXPECT_EQ(Handle("POST", "/reports/c1:cancel", "{}", "", "text/plain").status,
            415);
  EXPECT_EQ(Handle("POST", "/reports/:cancel").status, 405);
  // .../{id}:cancel is the cancel route whatever the method (an id ending in
  // ":cancel" is read as .../x%3Acancel).
  EXPECT_EQ(Handle("GET", "/reports/c1:cancel").status, 405);
}

TEST_F(HttpRoutesTest, TheReportOfACompletedRequestIsServedWithAnETag) {
  Handle("POST", "/reports",
         R"({"request_id":"d1","account_id":"a","month":"2026-04"})");
  HttpReply early = Handle("GET", "/reports/d1/content");
  EXPECT_EQ(early.status, 404) << early.body;
  EXPECT_NE(early.body.find("ACCEPTED"), std::string::npos) << early.body;

  report::RequestRecord done;
  done.set_request_id("d1");
  done.set_account_id("a");
  done.set_month("2026-04");
  done.set_state(report::COMPLETED);
  done.set_accepted_offset(1);
  done.set_version(2);
  done.mutable_result()->set_effect_key("file-sink:d1");
  backend_.PutRecord(done);
  HttpReply missing = Handle("GET", "/reports/d1/content");
  EXPECT_EQ(missing.status, 404) << "no document stored yet";

  store_->documents["file-sink:d1"] = R"({"request_id":"d1"})";
  HttpReply content = Handle("GET", "/reports/d1/content");
  ASSERT_EQ(content.status, 200) << content.body;
  EXPECT_EQ(content.content_type, "application/json");
  EXPECT_EQ(content.body, R"({"request_id":"d1"})");
  const std::string etag = Header(content, "ETag");
  EXPECT_EQ(etag.rfind("\"file-sink:d1:", 0), 0u) << etag;
  EXPECT_EQ(Handle("GET", "/reports/d1/content", "", "", "", etag).status, 304);
  EXPECT_EQ(Handle("HEAD", "/reports/d1/content").status, 200);
  EXPECT_EQ(Handle("POST", "/reports/d1/content").status, 405);
  EXPECT_EQ(Handle("GET", "/reports//content").status, 404);
  EXPECT_EQ(Handle("GET", "/reports/a/b/content").status, 404);
}

TEST_F(HttpRoutesTest, TheOpenApiDocumentIsServed) {
  HttpReply reply = Handle("GET", "/openapi.yaml");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_type, "application/yaml");
  EXPECT_EQ(reply.body.rfind("openapi: 3.1", 0), 0u)
      << reply.body.substr(0, 40);
  EXPECT_NE(reply.body.find("/reports/{request_id}:"), std::string::npos);
}

TEST_F(HttpRoutesTest, ClusterErrorsMapToTheirHttpStatus) {
  struct Case {
    ErrorCode code;
    int status;
    bool retry_after;
  };
  const Case cases[] = {
      {ErrorCode::kNoQuorum, 503, true},
      {ErrorCode::kCommitUnknown, 504, false},
      {ErrorCode::kDomainUnavailable, 503, false},
      {ErrorCode::kInternal, 500, false},
  };
  int n = 0;
  for (const Case& c : cases) {
    backend_.FailSubmits(MakeError(c.code, "injected"));
    HttpReply reply =
        Handle("POST", "/reports",
               absl::StrCat(R"({"request_id":"r)", ++n,
                            R"(","account_id":"a","month":"2026-04"})"));
    EXPECT_EQ(reply.status, c.status) << ErrorCodeName(c.code);
    EXPECT_EQ(reply.code, ErrorCodeName(c.code));
    EXPECT_EQ(Header(reply, "Retry-After"), c.retry_after ? "1" : "")
        << ErrorCodeName(c.code);
  }
}

TEST_F(HttpRoutesTest, StatusReadsParseTheQueryStrictly) {
  Handle("POST", "/reports",
         R"({"request_id":"r1","account_id":"a","month":"2026-04"})");

  HttpReply ok = Handle("GET", "/reports/r1?min_offset=1&wait_ms=100");
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find(R"("state":"ACCEPTED")"), std::string::npos)
      << ok.body;
  EXPECT_NE(ok.body.find(R"("served_offset":"1")"), std::string::npos)
      << ok.body;
  EXPECT_EQ(backend_.last_read_wait(), absl::Milliseconds(100));

  HttpReply escaped = Handle("GET", "/reports/r1%3Ax");
  EXPECT_EQ(escaped.status,
            404);  // decoded to "r1:x", a valid id nobody submitted

  const int reads = backend_.read_calls();
  for (const char* target :
       {"/reports/r1?min_offset=-1", "/reports/r1?min_offset=abc",
        "/reports/r1?min_offset=", "/reports/r1?min_offset=1&min_offset=2",
        "/reports/r1?wait_ms=99999999999999999999999", "/reports/r1?limit=3",
        "/reports/r1?min_offset=+1", "/reports/r%ZZ", "/reports/",
        "/reports/bad%20id"}) {
    HttpReply reply = Handle("GET", target);
    EXPECT_EQ(reply.status, 400) << target;
  }
  EXPECT_EQ(
      Handle("GET", std::string("/reports/") + std::string(129, 'x')).status,
      400);
  EXPECT_EQ(backend_.read_calls(), reads);

  HttpReply stale = Handle("GET", "/reports/r1?min_offset=9");
  EXPECT_EQ(stale.status, 503);
  EXPECT_EQ(stale.code, "StaleRead");
  EXPECT_EQ(Header(stale, "Retry-After"), "1");

  HttpReply missing = Handle("GET", "/reports/nobody");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.code, "NotFound");
}

TEST_F(HttpRoutesTest, UnknownRoutesAre404AndWrongMethodsAre405WithAllow) {
  EXPECT_EQ(Handle("GET", "/nothing").status, 404);
  EXPECT_EQ(Handle("GET", "/reports/a/b").status, 404);
  HttpReply put_reports = Handle("PUT", "/reports");
  EXPECT_EQ(put_reports.status, 405);
  EXPECT_EQ(Header(put_reports, "Allow"), "GET, HEAD, POST");
  EXPECT_EQ(Header(Handle("GET", "/reports/r1:cancel"), "Allow"), "POST");
  HttpReply delete_report = Handle("DELETE", "/reports/r1");
  EXPECT_EQ(delete_report.status, 405);
  EXPECT_EQ(Header(delete_report, "Allow"), "GET, HEAD");
  EXPECT_EQ(Handle("POST", "/healthz").status, 405);
  EXPECT_EQ(backend_.submit_calls() + backend_.read_calls(), 0);
}

// Found by tests/fuzz/http_routes_fuzz: HTTP parsers pass bytes >= 0x80 in a
// target, and a problem detail that echoed them raw was not valid UTF-8, so
// the body was not JSON.
TEST_F(HttpRoutesTest, ProblemsEchoingClientBytesStayValidJson) {
  struct Case {
    const char* method;
    const char* target;
    const char* code;
    const char* echoed;
  };
  const Case cases[] = {
      {"GET", "/nowhere\xc1\xab", "NotFound", "/nowhere\\xc1\\xab"},
      {"GET", "/reports/r1?\xff=1", "InvalidArgument", "\\xff"},
      {"GET", "/reports/r1?x\xfe", "InvalidArgument", "x\\xfe"},
      {"P\x01ST", "/reports", "InvalidArgument", "P\\x01ST"},
  };
  for (const Case& c : cases) {
    HttpReply reply = Handle(c.method, c.target);
    report::api::Problem problem;
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(reply.body, &problem).ok())
        << c.target << ": " << reply.body;
    EXPECT_EQ(problem.code(), c.code) << c.target;
    EXPECT_NE(problem.detail().find(c.echoed), std::string::npos)
        << c.target << ": " << problem.detail();
  }
}

TEST_F(HttpRoutesTest, HealthNamesTheDomain) {
  HttpReply health = Handle("GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find(R"("status":"ok")"), std::string::npos)
      << health.body;
  EXPECT_NE(health.body.find(R"("domain":"aws/us-east-1/use1-az1")"),
            std::string::npos);
}

TEST_F(HttpRoutesTest, ReadyzAnswers503WithTheReasonUntilReady) {
  absl::Status ready = MakeError(ErrorCode::kNoQuorum, "no leader");
  const ReadinessCheck check = [&ready] { return ready; };
  HttpRouting routing = RouteRequest(&door_, {"GET", "/readyz", "", ""}, check);
  ASSERT_TRUE(routing.reply.has_value());
  EXPECT_EQ(routing.reply->status, 503);
  EXPECT_EQ(routing.reply->code, "NoQuorum");
  EXPECT_NE(routing.reply->body.find(R"("status":"not ready")"),
            std::string::npos)
      << routing.reply->body;
  EXPECT_NE(routing.reply->body.find("no leader"), std::string::npos);

  ready = absl::OkStatus();
  routing = RouteRequest(&door_, {"GET", "/readyz", "", ""}, check);
  ASSERT_TRUE(routing.reply.has_value());
  EXPECT_EQ(routing.reply->status, 200);
  EXPECT_NE(routing.reply->body.find(R"("status":"ready")"), std::string::npos);
  EXPECT_EQ(Handle("POST", "/readyz").status, 405);
}

}  // namespace
}  // namespace report::gateway
