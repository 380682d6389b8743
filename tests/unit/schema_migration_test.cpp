// Upgrades: a catalog as every earlier voxelgate left it, holding a row in every table, is
// migrated to the latest schema on both engines without losing a row, ends with the same
// tables and columns as a new catalog, and then works as a catalog. The old catalogs are
// built here from the migration list itself (no checked-in databases to go stale).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "catalog_backends.h"
#include "storage/sql_catalog.h"
#include "storage/sql_schema.h"

namespace vg::storage {
namespace {

struct Column {
  std::string name;
  std::string type;  // lower case: integer/bigint, text, blob/bytea, real/double precision
  bool generated = false;  // a PostgreSQL identity
};

std::vector<std::string> Tables(sql::Db& db) {
  auto q = sql::Stmt::Prepare(db, db.IsSqlite()
                                      ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
                                      : "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                                        " ORDER BY table_name");
  std::vector<std::string> out;
  while (q && *q->Step()) out.push_back(q->Text(0));
  return out;
}

std::vector<Column> Columns(sql::Db& db, const std::string& table) {
  std::vector<Column> out;
  if (db.IsSqlite()) {
    auto q = sql::Stmt::Prepare(db, "SELECT name, lower(type), 0 FROM pragma_table_info(?)");
    q->Bind(table);
    while (*q->Step()) out.push_back({q->Text(0), q->Text(1), q->Int(2) != 0});
  } else {
    auto q = sql::Stmt::Prepare(db, "SELECT column_name, data_type, (is_identity = 'YES')::int"
                                    " FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?"
                                    " ORDER BY ordinal_position");
    q->Bind(table);
    while (*q->Step()) out.push_back({q->Text(0), q->Text(1), q->Int(2) != 0});
  }
  return out;
}

std::int64_t Count(sql::Db& db, const std::string& table) {
  auto q = sql::Stmt::Prepare(db, "SELECT count(*) FROM \"" + table + "\"");
  return q && *q->Step() ? q->Int(0) : -1;
}

// One row in every table, each column given a value of its type (integers 1, ids included,
// so that every reference to another table's first row holds; text that is valid JSON, since some text
// columns hold JSON). Tables that reference others are retried until nothing more fits.
std::map<std::string, std::int64_t> Populate(sql::Db& db, std::map<std::string, std::string>* refused) {
  std::map<std::string, std::int64_t> counts;
  std::set<std::string> pending;
  for (const auto& t : Tables(db))
    if (t != "schema_version") pending.insert(t);
  for (bool progress = true; progress && !pending.empty();) {
    progress = false;
    for (auto it = pending.begin(); it != pending.end();) {
      std::string names, values;
      for (const auto& c : Columns(db, *it)) {
        names += (names.empty() ? "\"" : ", \"") + c.name + "\"";
        std::string v = c.type.find("int") != std::string::npos ? "1"
                        : c.type == "blob" || c.type == "bytea" ? (db.IsSqlite() ? "x'01'" : "'\\x01'::bytea")
                        : c.type == "real" || c.type.find("double") != std::string::npos ? "1.5"
                        : c.type.find("bool") != std::string::npos ? "true"
                                                                    : "'{}'";
        values += (values.empty() ? "" : ", ") + v;
      }
      if (auto r = db.Exec("INSERT INTO \"" + *it + "\" (" + names + ") VALUES (" + values + ")")) {
        counts[*it] = 1;
        refused->erase(*it);
        it = pending.erase(it);
        progress = true;
      } else {
        (*refused)[*it] = r.error().detail;
        ++it;
      }
    }
  }
  // PostgreSQL's identities do not see explicit values: move them past the rows written.
  if (!db.IsSqlite())
    for (const auto& [table, n] : counts)
      for (const auto& c : Columns(db, table))
        if (c.generated)
          (void)db.Exec("SELECT setval(pg_get_serial_sequence('\"" + table + "\"', '" + c.name + "'), 1)");
  return counts;
}

std::map<std::string, std::vector<std::string>> Shape(sql::Db& db) {
  std::map<std::string, std::vector<std::string>> shape;
  for (const auto& t : Tables(db))
    for (const auto& c : Columns(db, t)) shape[t].push_back(c.name + " " + c.type + (c.generated ? " generated" : ""));
  return shape;
}

class SchemaMigrationTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SchemaMigrationTest, EveryEarlierSchemaWithARowInEveryTableUpgradesWithoutLosingOne) {
  testing::CatalogBackend fresh;
  if (!fresh.SetUp(GetParam())) GTEST_SKIP() << fresh.skip_reason;
  std::map<std::string, std::vector<std::string>> latest;
  {
    auto db = fresh.Raw();
    ASSERT_TRUE(db);
    ASSERT_TRUE(MigrateSchema(*db));
    latest = Shape(*db);
  }
  fresh.TearDown();
  ASSERT_GT(latest.size(), 30u);

  for (int version = 1; version < LatestSchemaVersion(); ++version) {
    SCOPED_TRACE("from schema version " + std::to_string(version));
    testing::CatalogBackend backend;
    ASSERT_TRUE(backend.SetUp(GetParam()));
    std::map<std::string, std::int64_t> before;
    std::size_t tables = 0;
    std::map<std::string, std::string> refused;
    {
      auto db = backend.Raw();
      ASSERT_TRUE(db);
      ASSERT_TRUE(MigrateSchema(*db, version));
      tables = Tables(*db).size() - 1;
      before = Populate(*db, &refused);
    }
    // The generic row fits every table: a table left empty would test nothing.
    EXPECT_EQ(before.size(), tables) << before.size() << " of " << tables << " tables populated; refused: " << ::testing::PrintToString(refused);
    {
      auto db = backend.Raw();
      ASSERT_TRUE(db);
      auto migrated = MigrateSchema(*db);
      ASSERT_TRUE(migrated) << migrated.error().detail;
      for (const auto& [table, n] : before) {
        if (!latest.contains(table)) continue;  // a table a later migration replaced
        EXPECT_GE(Count(*db, table), n) << table;  // migrations may add rows (a tenant's service user)
      }
      EXPECT_EQ(Shape(*db), latest) << "an upgraded catalog has the tables and columns of a new one";
    }
    // And it works as a catalog: opened, written to, read back.
    auto catalog = backend.Open();
    ASSERT_TRUE(catalog) << catalog.error().detail;
    auto tenant = (*catalog)->CreateTenant("after-upgrade", "After", {9}, "AFTER");
    ASSERT_TRUE(tenant) << tenant.error().detail << " " << tenant.error().public_message;
    EXPECT_TRUE((*catalog)->FindTenant("after-upgrade"));
    EXPECT_TRUE((*catalog)->Stats());
    catalog->reset();
    backend.TearDown();
  }
}

TEST_P(SchemaMigrationTest, MigratingToAVersionThatDoesNotExistIsRefused) {
  testing::CatalogBackend backend;
  if (!backend.SetUp(GetParam())) GTEST_SKIP() << backend.skip_reason;
  {
    auto db = backend.Raw();
    ASSERT_TRUE(db);
    EXPECT_FALSE(MigrateSchema(*db, 0));
    EXPECT_FALSE(MigrateSchema(*db, LatestSchemaVersion() + 1));
    EXPECT_EQ(Tables(*db), std::vector<std::string>{}) << "nothing was created";
  }
  backend.TearDown();
}

INSTANTIATE_TEST_SUITE_P(Engines, SchemaMigrationTest, ::testing::Values("sqlite", "postgres"), testing::BackendName);

}  // namespace
}  // namespace vg::storage
