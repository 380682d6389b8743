// `voxelgate deid`: de-identifies a folder of DICOM files into another with the PS3.15
// Basic Profile and its options, and reports what changed (attributes and actions, never
// values). The secret that makes pseudonyms, UIDs and date shifts is a key file, created
// on first use: keep it to de-identify later batches of the same patients consistently.
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "app/args.h"
#include "app/commands.h"
#include "crypto/crypto.h"
#include "dicom/deid.h"

namespace vg::app {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDeidHelp = R"(Usage: voxelgate deid --profile PROFILE --key-file FILE IN OUT

De-identifies every DICOM file under IN (recursively) into OUT as
OUT/<study>/<series>/<instance>.dcm (new UIDs: no original names or paths), and writes
OUT/deid-report.json: per file, each attribute changed and the action taken (no values;
input paths only for files that failed or were refused, which are not in OUT).

  --profile PROFILE   basic, optionally followed by +OPTION for each option:
                        retain-long-full-dates, retain-long-modified-dates (dates shifted
                        per patient), retain-patient-chars, retain-device-id,
                        retain-institution-id, retain-safe-private, retain-uids,
                        clean-descriptors
                      e.g. basic+retain-long-modified-dates+clean-descriptors
  --key-file FILE     the secret behind pseudonyms, UIDs and date shifts (created, mode
                      0600, when missing); the same key gives the same results
  --reject-modalities LIST     refuse these modalities (e.g. SC,OT: burned-in text)
  --reject-descriptions LIST   refuse series whose description contains one of these

Text burned into the pixels is not detected: refuse such series with the two options above.
Exit status: 0 when every DICOM file was de-identified, 1 when some failed or were refused
(listed in the report), 2 on bad arguments.
)";

int DeidFails(const std::string& message) {
  std::fprintf(stderr, "voxelgate deid: %s\n", message.c_str());
  return 2;
}

std::vector<std::string> CommaList(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int DeidCommand(const std::vector<std::string>& argv) {
  auto args = Args::Parse(argv, {"help"});
  if (!args) return DeidFails(args.error().public_message);
  if (args->Has("help")) {
    std::fputs(kDeidHelp, stdout);
    return 0;
  }
  if (auto ok = args->OnlyKnown({"help", "profile", "key-file", "reject-modalities", "reject-descriptions"}); !ok)
    return DeidFails(ok.error().public_message);
  const auto& paths = args->positional();
  auto profile_text = args->Get("profile");
  auto key_file = args->Get("key-file");
  if (paths.size() != 2 || !profile_text || !key_file) {
    std::fputs(kDeidHelp, stderr);
    return 2;
  }
  auto options = dicom::ParseDeidProfile(*profile_text);
  if (!options) return DeidFails(options.error().public_message);
  auto secret = crypto::LoadOrCreateKeyFile(*key_file, true);
  if (!secret) return DeidFails(secret.error().public_message);
  dicom::DeidScreen screen;
  screen.reject_modalities = CommaList(args->Get("reject-modalities").value_or(""));
  screen.reject_descriptions = CommaList(args->Get("reject-descriptions").value_or(""));
  screen.refuse_burned_in_annotation = true;
  const fs::path in = paths[0], out = paths[1];
  std::error_code ec;
  if (!fs::is_directory(in, ec)) return DeidFails(in.string() + " is not a folder");
  fs::create_directories(out, ec);
  if (ec) return DeidFails("cannot create " + out.string() + ": " + ec.message());

  nlohmann::json report = {{"profile", options->Name()}, {"files", nlohmann::json::array()}};
  std::map<std::string, int> actions;
  int done = 0, failed = 0, skipped = 0;
  for (const auto& entry : fs::recursive_directory_iterator(in, ec)) {
    if (!entry.is_regular_file()) continue;
    const std::string relative = fs::relative(entry.path(), in).string();
    std::ifstream file(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(file)), {});
    if (bytes.size() < 132 || bytes.compare(128, 4, "DICM") != 0) {
      ++skipped;
      report["files"].push_back({{"input", relative}, {"outcome", "skipped"}, {"reason", "not a DICOM Part 10 file"}});
      continue;
    }
    auto applied = dicom::ApplyPrivacy(bytes, *options, *secret, screen);
    if (!applied || applied->refused) {
      ++failed;
      report["files"].push_back({{"input", relative},
                                 {"outcome", applied ? "refused" : "failed"},
                                 {"reason", applied ? *applied->refused : applied.error().public_message}});
      continue;
    }
    if (!applied->deidentified) {  // its UIDs would be remapped a second time
      ++skipped;
      report["files"].push_back({{"input", relative}, {"outcome", "skipped"}, {"reason", "de-identified by this profile already"}});
      continue;
    }
    const dicom::DeidResult* result = &*applied->deidentified;
    const fs::path target = out / result->study_uid / result->series_uid / (result->sop_uid + ".dcm");
    fs::create_directories(target.parent_path(), ec);
    std::ofstream written(target, std::ios::binary | std::ios::trunc);
    written.write(result->part10.data(), static_cast<std::streamsize>(result->part10.size()));
    if (!written) {
      ++failed;
      report["files"].push_back({{"input", relative}, {"outcome", "failed"}, {"reason", "cannot write the output"}});
      continue;
    }
    ++done;
    nlohmann::json changes = nlohmann::json::array();
    for (const auto& c : result->changes) {
      changes.push_back({{"tag", c.tag}, {"keyword", c.keyword}, {"action", c.action}});
      ++actions[c.action];
    }
    // The input's path is left out: folder names often carry the patient's name.
    report["files"].push_back({{"outcome", "de-identified"},
                               {"output", fs::relative(target, out).string()},
                               {"changes", changes}});
  }
  report["summary"] = {{"de_identified", done}, {"failed_or_refused", failed}, {"skipped", skipped}, {"actions", actions}};
  std::ofstream(out / "deid-report.json") << report.dump(2) << "\n";
  std::printf("de-identified %d file(s) with %s; %d failed or refused; %d skipped (not DICOM, or de-identified already)\n", done,
              options->Name().c_str(), failed, skipped);
  for (const auto& [action, count] : actions) std::printf("  %-8s %d attribute(s)\n", action.c_str(), count);
  std::printf("report: %s\n", (out / "deid-report.json").c_str());
  return failed > 0 ? 1 : 0;
}

}  // namespace vg::app
