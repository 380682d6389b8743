// ImageAliasStore of SqlCatalog: names clients gave to uploaded images.
#include "core/clock.h"
#include "storage/sql_catalog.h"

namespace vg::storage {

Result<void> SqlCatalog::PutImageAlias(const ImageAlias& a) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "INSERT INTO image_aliases(tenant_id, name, series_uid, kind, created_at, expires_at) "
                                        "VALUES(?,?,?,?,?,?) ON CONFLICT(tenant_id, name) DO UPDATE SET "
                                        "series_uid = excluded.series_uid, kind = excluded.kind, "
                                        "created_at = excluded.created_at, expires_at = excluded.expires_at");
  if (!st) return std::unexpected(st.error());
  st->Bind(a.tenant_id).Bind(a.name).Bind(a.series_uid).Bind(a.kind).Bind(a.created_at).Bind(a.expires_at);
  return st->Run();
}

Result<ImageAlias> SqlCatalog::FindImageAlias(std::int64_t tenant_id, const std::string& name, std::int64_t now) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(), "SELECT tenant_id, name, series_uid, kind, created_at, expires_at FROM image_aliases "
                                            "WHERE tenant_id = ? AND name = ? AND (expires_at = 0 OR expires_at > ?)");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(name).Bind(now);
  return sql::FirstRow<ImageAlias>(
      *st, [](const sql::Stmt& r) { return ImageAlias{r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4), r.Int(5)}; },
      ErrorCode::kNotFound, "no such image");
}

Result<void> SqlCatalog::RemoveImageAlias(std::int64_t tenant_id, const std::string& name) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "DELETE FROM image_aliases WHERE tenant_id = ? AND name = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(tenant_id).Bind(name);
  if (auto r = st->Run(); !r) return r;
  if (writer_.Changes() == 0) return Fail(ErrorCode::kNotFound, "no such image");
  return {};
}

}  // namespace vg::storage
