// The subcommands of the voxelgate binary. Each returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace vg::app {

int ServeCommand(const std::vector<std::string>& argv);
int AdminCommand(const std::vector<std::string>& argv);
int WorkerCommand(const std::vector<std::string>& argv);
int LicenceCommand(const std::vector<std::string>& argv);
int DeidCommand(const std::vector<std::string>& argv);
int GatewayCommand(const std::vector<std::string>& argv);

}  // namespace vg::app
