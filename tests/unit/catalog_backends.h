// The catalog backends the contract suites run on: "sqlite" (a file in a fresh folder) and
// "postgres" (a fresh schema in the database named by VOXELGATE_TEST_PG_URI, which
// `make test` starts; without it those cases skip, saying so).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "crypto/crypto.h"
#include "storage/sql_catalog.h"
#include "storage/sql_db.h"

namespace vg::storage::testing {

class CatalogBackend {
 public:
  // Sets up an empty catalog location; false (with `skip_reason`) when the engine is absent.
  bool SetUp(const std::string& engine) {
    crypto::Initialize();
    engine_ = engine;
    if (engine == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() / ("vg-cat-" + crypto::RandomHexId(6));
      std::filesystem::create_directories(dir_);
      path_ = (dir_ / "catalog.db").string();
      return true;
    }
    const char* uri = std::getenv("VOXELGATE_TEST_PG_URI");
    if (!uri || !*uri) {
      skip_reason = "VOXELGATE_TEST_PG_URI is not set (make test starts PostgreSQL and sets it)";
      return false;
    }
    schema_ = "t_" + crypto::RandomHexId(6);
    auto admin = sql::Db::OpenPostgres(uri);
    if (!admin) {
      skip_reason = "PostgreSQL is not reachable: " + admin.error().detail;
      return false;
    }
    if (!admin->Exec("CREATE SCHEMA " + schema_)) {
      skip_reason = "cannot create a schema";
      return false;
    }
    std::string base = uri;
    uri_ = base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema_;
    admin_uri_ = base;
    return true;
  }
  void TearDown() {
    if (engine_ == "sqlite" && !dir_.empty()) std::filesystem::remove_all(dir_);
    if (engine_ == "postgres" && !schema_.empty())
      if (auto admin = sql::Db::OpenPostgres(admin_uri_)) (void)admin->Exec("DROP SCHEMA " + schema_ + " CASCADE");
  }
  // A catalog over the location (another call: another process's connections to it).
  Result<std::unique_ptr<SqlCatalog>> Open() const {
    if (engine_ == "sqlite") return SqlCatalog::Open(path_, false);
    return SqlCatalog::OpenPostgres(uri_);
  }
  // A raw connection, for tests that play an operator editing the catalog behind its back.
  Result<sql::Db> Raw() const {
    if (engine_ == "sqlite") return sql::Db::OpenSqlite(path_, false);
    return sql::Db::OpenPostgres(uri_);
  }
  const std::string& engine() const { return engine_; }
  std::string skip_reason;

 private:
  std::string engine_;
  std::filesystem::path dir_;
  std::string path_;
  std::string schema_, uri_, admin_uri_;
};

inline std::string BackendName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

}  // namespace vg::storage::testing
