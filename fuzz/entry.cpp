// One libFuzzer executable per target: VG_FUZZ_TARGET names the function (fuzz/targets.h).
#include <cstddef>
#include <cstdint>

#include "core/logging.h"
#include "dicom/dicom.h"
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vg::InitLogging("off");
  vg::dicom::Initialize();  // codecs registered, DCMTK's own logging silenced
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return vg::fuzz::VG_FUZZ_TARGET(data, size);
}
