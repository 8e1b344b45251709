// docs/openapi.yaml, the OpenAPI 3.1 description of the public API, built into
// the gateway so that GET /openapi.yaml serves the document of the very build
// that answers.
#ifndef REPORT_GATEWAY_OPENAPI_DOCUMENT_H_
#define REPORT_GATEWAY_OPENAPI_DOCUMENT_H_

#include "absl/strings/string_view.h"

namespace report::gateway {

absl::string_view OpenApiDocument();

}  // namespace report::gateway

#endif  // REPORT_GATEWAY_OPENAPI_DOCUMENT_H_
