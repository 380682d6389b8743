// BundleWriter: a tar (POSIX pax) or zip file written entry by entry into a sink, with
// libarchive. Each entry is given whole (its size goes in the header first); the bundle
// itself is never held in memory. Zip entries are stored, not deflated: what goes in is
// already compressed (.nii.gz) or DICOM.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace vg::services {

enum class BundleFormat { kTar, kZip };

class BundleWriter {
 public:
  using Sink = std::function<bool(std::string_view)>;  // false: stop writing
  static Result<std::unique_ptr<BundleWriter>> Open(BundleFormat format, Sink sink);
  ~BundleWriter();
  Result<void> Add(const std::string& path, std::string_view bytes);
  Result<void> Finish();

 private:
  BundleWriter() = default;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace vg::services
