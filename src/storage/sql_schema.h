#pragma once

#include "storage/sql_db.h"

namespace vg::storage {
int LatestSchemaVersion();
// Brings the schema to the latest version in one transaction; refuses a newer one.
Result<void> MigrateSchema(sql::Db& db);
}  // namespace vg::storage
