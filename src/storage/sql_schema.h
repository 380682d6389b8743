#pragma once

#include "storage/sql_db.h"

namespace vg::storage {
int LatestSchemaVersion();
// Brings the schema to the latest version in one transaction; refuses a newer one.
Result<void> MigrateSchema(sql::Db& db);
// The same, stopping at `version` (1..LatestSchemaVersion()): how the upgrade tests build a
// catalog as an older voxelgate left it.
Result<void> MigrateSchema(sql::Db& db, int version);
}  // namespace vg::storage
