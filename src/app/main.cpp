// voxelgate: one binary, subcommands serve and admin.
#include <malloc.h>

#include <cstdio>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/context.h"
#include "build_commit.h"
#include "crypto/crypto.h"
#include "dicom/dicom.h"
#include "storage/sql_schema.h"

namespace {
constexpr const char* kHelp = R"(Usage: voxelgate COMMAND [options]

Commands:
  serve     run the server (voxelgate serve --help)
  admin     manage tenants and tokens (voxelgate admin --help)
  worker    run background jobs beside or instead of serve's (voxelgate worker --help)
  licence   the vendor's offline licences: keygen, issue, verify (voxelgate licence --help)
  deid      de-identify a folder of DICOM files (voxelgate deid --help)
  gateway   the hospital-side gateway: de-identify, forward, bring results back (voxelgate gateway --help)
  version   print the version
)";
}

int main(int argc, char** argv) {
  // Instances are 0.1-10 MB buffers allocated and freed per request. Above glibc's
  // default 128 KiB threshold each one is a fresh mmap whose pages fault in again every
  // time; keep such buffers in the heap for reuse, and bound the arenas so that freed
  // memory is shared between threads rather than held per thread.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_ARENA_MAX, 4);
  vg::crypto::Initialize();
  vg::dicom::Initialize();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kHelp, stdout);
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  if (command == "serve") return vg::app::ServeCommand(args);
  if (command == "admin") return vg::app::AdminCommand(args);
  if (command == "worker") return vg::app::WorkerCommand(args);
  if (command == "licence") return vg::app::LicenceCommand(args);
  if (command == "deid") return vg::app::DeidCommand(args);
  if (command == "gateway") return vg::app::GatewayCommand(args);
  if (command == "version" || command == "--version") {
    std::printf("voxelgate %s\n", VOXELGATE_VERSION);
    std::printf("commit: %s\n", VOXELGATE_COMMIT);
    std::printf("catalog schema: %d (refuses a newer one; migrates an older one at start)\n",
                vg::storage::LatestSchemaVersion());
    std::printf("built: %s\n", VOXELGATE_BUILD_FLAGS);
    std::printf("licence key: %s%s\n", vg::app::BuiltInLicencePublicKey().c_str(),
                vg::app::BuiltWithTestLicenceKey() ? " (a TEST key made for this build folder: not for clinics)" : "");
    if (vg::app::DevelopmentLicenceKeys()) std::printf("DEVELOPMENT build: --licence-public-key is accepted\n");
    return 0;
  }
  std::fprintf(stderr, "voxelgate: unknown command '%s'\n\n%s", command.c_str(), kHelp);
  return 2;
}
