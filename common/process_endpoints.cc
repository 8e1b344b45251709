#include "common/process_endpoints.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/server_interceptor.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/error_code.h"
#include "common/event_log.h"
#include "glog/logging.h"

namespace report {
namespace {

constexpr char kRouteHealth[] = "healthz";
constexpr char kRouteReady[] = "readyz";
constexpr char kRouteMetrics[] = "metrics";
constexpr char kTextPlain[] = "text/plain; charset=utf-8";

const char* GrpcCodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  if (index < 0 || index >= static_cast<int>(std::size(kNames))) {
    return "UNKNOWN";
  }
  return kNames[index];
}

// "/pkg.Service/Method" into ("pkg.Service", "Method").
std::pair<std::string, std::string> SplitMethod(const char* full) {
  absl::string_view name = full == nullptr ? "" : full;
  if (!name.empty() && name[0] == '/') name.remove_prefix(1);
  const size_t slash = name.find('/');
  if (slash == absl::string_view::npos) return {"unknown", std::string(name)};
  return {std::string(name.substr(0, slash)),
          std::string(name.substr(slash + 1))};
}

struct GrpcServerFamilies {
  metrics::Family<metrics::Counter>* started;
  metrics::Family<metrics::Counter>* handled;
};

// Counts a call when it starts and when its status is sent.
class CountingInterceptor : public grpc::experimental::Interceptor {
 public:
  CountingInterceptor(GrpcServerFamilies families, std::string service,
                      std::string method)
      : families_(families),
        service_(std::move(service)),
        method_(std::move(method)) {
    families_.started->With({service_, method_})->Increment();
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      families_.handled
          ->With({service_, method_,
                  GrpcCodeName(methods->GetSendStatus().error_code())})
          ->Increment();
    }
    methods->Proceed();
  }

 private:
  const GrpcServerFamilies families_;
  const std::string service_;
  const std::string method_;
};

class CountingInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingInterceptorFactory(GrpcServerFamilies families)
      : families_(families) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    auto [service, method] = SplitMethod(info->method());
    return new CountingInterceptor(families_, std::move(service),
                                   std::move(method));
  }

 private:
  const GrpcServerFamilies families_;
};

HttpReply TextReply(int status, std::string body, absl::string_view route,
                    ErrorCode code) {
  HttpReply reply;
  reply.status = status;
  reply.content_type = kTextPlain;
  reply.body = std::move(body);
  reply.route = std::string(route);
  reply.code = std::string(ErrorCodeName(code));
  return reply;
}

// The admin routes alone, for a process whose only HTTP is them.
class AdminHandler : public HttpHandler {
 public:
  AdminHandler(const ProcessEndpoints* endpoints,
               const metrics::Registry* registry,
               metrics::Family<metrics::Counter>* requests)
      : endpoints_(endpoints), registry_(registry), requests_(requests) {}

  HttpRouting Route(const HttpRequest& request) const override {
    HttpRouting routing;
    const absl::string_view path =
        absl::string_view(request.target).substr(0, request.target.find('?'));
    absl::string_view route = "unmatched";
    if (path == "/healthz") route = kRouteHealth;
    if (path == "/readyz") route = kRouteReady;
    if (path == "/metrics") route = kRouteMetrics;
    routing.route = std::string(route);
    if (route == "unmatched") {
      routing.reply = TextReply(404, absl::StrCat("no route for ", path, "\n"),
                                route, ErrorCode::kNotFound);
    } else if (request.method != "GET") {
      routing.reply = TextReply(
          405,
          absl::StrCat(request.method, " not allowed on ", path, "; use GET\n"),
          route, ErrorCode::kInvalidArgument);
      routing.reply->headers.emplace_back("Allow", "GET");
    } else if (route == kRouteHealth) {
      routing.reply = TextReply(200, "ok\n", route, ErrorCode::kOk);
    } else if (route == kRouteReady) {
      const absl::Status ready = endpoints_->readiness();
      routing.reply =
          ready.ok() ? TextReply(200, "ready\n", route, ErrorCode::kOk)
                     : TextReply(503,
                                 absl::StrCat("not ready (",
                                              ErrorCodeName(ErrorCodeOf(ready)),
                                              "): ", ErrorDetail(ready), "\n"),
                                 route, ErrorCodeOf(ready));
    } else {
      routing.reply =
          TextReply(200, registry_->RenderPrometheus(), route, ErrorCode::kOk);
      routing.reply->content_type = metrics::kPrometheusContentType;
    }
    return routing;
  }

  HttpReply Refusal(const absl::Status& error, absl::string_view target,
                    int http_status) const override {
    return TextReply(http_status, absl::StrCat(error.message(), "\n"),
                     "unmatched", ErrorCodeOf(error));
  }

  void OnReply(const HttpReply& reply) const override {
    requests_->With({reply.route, std::to_string(reply.status)})->Increment();
  }

 private:
  const ProcessEndpoints* const endpoints_;
  const metrics::Registry* const registry_;
  metrics::Family<metrics::Counter>* const requests_;
};

}  // namespace

void InitGrpcServerConventions() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
}

void AddGrpcServerMetrics(grpc::ServerBuilder* builder,
                          metrics::Registry* registry) {
  GrpcServerFamilies families{
      registry->AddCounter("report_grpc_server_started_total",
                           "gRPC calls started on this process's servers.",
                           {"grpc_service", "grpc_method"}),
      registry->AddCounter(
          "report_grpc_server_handled_total",
          "gRPC calls answered by this process's servers, by status code.",
          {"grpc_service", "grpc_method", "grpc_code"})};
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      creators;
  creators.push_back(std::make_unique<CountingInterceptorFactory>(families));
  builder->experimental().SetInterceptorCreators(std::move(creators));
}

ProcessEndpoints::ProcessEndpoints(metrics::Registry* registry,
                                   ReadinessCheck readiness,
                                   absl::Duration interval)
    : registry_(registry),
      check_(std::move(readiness)),
      interval_(interval),
      ready_gauge_(registry
                       ->AddGauge("report_ready",
                                  "1 when the process is ready to serve "
                                  "(GET /readyz answers 200), else 0.")
                       ->Get()) {}

absl::StatusOr<std::unique_ptr<ProcessEndpoints>> ProcessEndpoints::Start(
    const Options& options, metrics::Registry* registry,
    ReadinessCheck readiness) {
  std::unique_ptr<ProcessEndpoints> endpoints(new ProcessEndpoints(
      registry, std::move(readiness), options.readiness_interval));
  endpoints->Check();
  if (!options.admin_listen.empty()) {
    HttpServerOptions http;
    if (!ParseHttpListenAddress(options.admin_listen, &http)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       absl::StrCat("admin address '", options.admin_listen,
                                    "' is not HOST:PORT"));
    }
    http.server_name = options.server_name;
    http.io_threads = 1;
    http.blocking_threads = 1;
    http.max_in_flight = 16;
    http.max_connections = 64;
    http.drain_timeout = absl::Seconds(1);
    auto server = HttpServer::Start(
        std::make_shared<AdminHandler>(
            endpoints.get(), registry,
            registry->AddCounter("report_admin_http_requests_total",
                                 "Admin HTTP requests answered, by route and "
                                 "HTTP status.",
                                 {"route", "status"})),
        http);
    if (!server.ok()) return server.status();
    endpoints->admin_ = *std::move(server);
  }
  endpoints->loop_ = std::thread([raw = endpoints.get()] { raw->Loop(); });
  return endpoints;
}

ProcessEndpoints::~ProcessEndpoints() { Stop(); }

void ProcessEndpoints::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    grpc_servers_.clear();
  }
  if (admin_ != nullptr) admin_->Stop();
  if (loop_.joinable()) loop_.join();
}

void ProcessEndpoints::FollowWithGrpcHealth(grpc::Server* server) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  grpc_servers_.push_back(server);
  if (grpc::HealthCheckServiceInterface* health =
          server->GetHealthCheckService()) {
    health->SetServingStatus(readiness_.ok());
  }
}

absl::Status ProcessEndpoints::readiness() const {
  absl::MutexLock lock(&mu_);
  return readiness_;
}

uint16_t ProcessEndpoints::admin_port() const {
  return admin_ == nullptr ? 0 : admin_->port();
}

void ProcessEndpoints::Check() {
  absl::Status ready = check_ ? check_() : absl::OkStatus();
  ready_gauge_->Set(ready.ok() ? 1 : 0);
  absl::MutexLock lock(&mu_);
  if (ready.ok() != readiness_.ok() ||
      ready.message() != readiness_.message()) {
    LOG(INFO) << (ready.ok()
                      ? EventLine("readiness", {{"ready", "true"}})
                      : EventLine("readiness",
                                  {{"ready", "false"},
                                   {"code", ErrorCodeName(ErrorCodeOf(ready))},
                                   {"reason", ErrorDetail(ready)}}));
  }
  readiness_ = ready;
  for (grpc::Server* server : grpc_servers_) {
    if (grpc::HealthCheckServiceInterface* health =
            server->GetHealthCheckService()) {
      health->SetServingStatus(ready.ok());
    }
  }
}

void ProcessEndpoints::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_)) return;
    }
    Check();
  }
}

}  // namespace report
