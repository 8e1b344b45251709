// reportctl's verbs that talk to a running cluster: submit and status go
// through a gateway's ReportApi (as a user's request would), cluster asks every
// replica for its view.
#ifndef REPORT_TOOLS_REPORTCTL_VERBS_H_
#define REPORT_TOOLS_REPORTCTL_VERBS_H_

#include <string>
#include <vector>

namespace report::reportctl {

int RunSubmit(const std::vector<std::string>& args);
int RunStatus(const std::vector<std::string>& args);
int RunCancel(const std::vector<std::string>& args);
int RunList(const std::vector<std::string>& args);
int RunCluster(const std::vector<std::string>& args);

}  // namespace report::reportctl

#endif  // REPORT_TOOLS_REPORTCTL_VERBS_H_
