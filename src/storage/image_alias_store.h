// ImageAliasStore: names a client gave to images it uploaded (a 3D Slicer volume node
// name, a MONAI Label session id) and the archive series each became, per clinic.
//
// Contract: thread-safe; scoped by tenant (another clinic's name is not found); an alias
// past its expiry is not found.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"

namespace vg::storage {

struct ImageAlias {
  std::int64_t tenant_id = 0;
  std::string name;        // as the client calls it
  std::string series_uid;  // the archive's series
  std::string kind;        // upload, session
  std::int64_t created_at = 0, expires_at = 0;  // 0: never
};

class ImageAliasStore {
 public:
  virtual ~ImageAliasStore() = default;
  // Creates or replaces the alias (the same name uploaded again names the new series).
  virtual Result<void> PutImageAlias(const ImageAlias& alias) = 0;
  virtual Result<ImageAlias> FindImageAlias(std::int64_t tenant_id, const std::string& name, std::int64_t now) = 0;
  virtual Result<void> RemoveImageAlias(std::int64_t tenant_id, const std::string& name) = 0;
};

}  // namespace vg::storage
