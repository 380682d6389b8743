// Every input checked in under tests/fuzz_regressions/TARGET/ (a crash fuzzing found, or
// an attack an issue reported) replays through its fuzz target (fuzz/targets.h) and must
// come back: under `make test-asan` with the sanitizers watching.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "dicom/dicom.h"
#include "fuzz/targets.h"

namespace vg::fuzz {
namespace {

TEST(FuzzRegressions, EveryCheckedInInputRunsThroughItsTarget) {
  dicom::Initialize();
  const std::filesystem::path root = VG_SOURCE_DIR "/tests/fuzz_regressions";
  ASSERT_TRUE(std::filesystem::is_directory(root)) << root;
  int replayed = 0;
  for (const auto& target_dir : std::filesystem::directory_iterator(root)) {
    const std::string name = target_dir.path().filename().string();
    const NamedTarget* target = nullptr;
    for (const auto& t : kTargets)
      if (name == t.name) target = &t;
    ASSERT_NE(target, nullptr) << "no fuzz target named " << name;
    for (const auto& file : std::filesystem::directory_iterator(target_dir)) {
      std::ifstream in(file.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), {});
      SCOPED_TRACE(file.path().string());
      EXPECT_EQ(target->run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0);
      ++replayed;
    }
  }
  EXPECT_GT(replayed, 0);
}

}  // namespace
}  // namespace vg::fuzz
