// BlobIntentStore of SqlCatalog.
#include "storage/sql_catalog.h"

#include <algorithm>
#include <tuple>

namespace vg::storage {

Result<void> SqlCatalog::RecordBlobIntent(const BlobKey& key, std::int64_t now) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_,
                               "INSERT INTO blob_intents(tenant_id, blob_name, created_at) VALUES(?,?,?) "
                               "ON CONFLICT DO NOTHING");
  if (!st) return std::unexpected(st.error());
  st->Bind(key.tenant_id).Bind(key.name).Bind(now);
  return st->Run();
}

Result<std::vector<BlobIntent>> SqlCatalog::StaleBlobIntents(std::int64_t before, std::int64_t limit) {
  auto reader = Reader();
  auto st = sql::Stmt::Prepare(reader.db(),
                               "SELECT tenant_id, blob_name, created_at FROM blob_intents WHERE created_at < ? "
                               "ORDER BY created_at LIMIT ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(before).Bind(limit);
  return sql::CollectRows<BlobIntent>(
      *st, [](const sql::Stmt& r) { return BlobIntent{BlobKey{r.Int(0), r.Text(1)}, r.Int(2)}; });
}

Result<bool> SqlCatalog::IsBlobReferenced(const BlobKey& key) {
  if (!IsValidBlobName(key.name)) return false;
  auto reader = Reader();
  // The export's bundle is named in its job's result JSON ("blob":"NAME"); names are hex,
  // so the pattern holds no LIKE wildcard.
  auto st = sql::Stmt::Prepare(
      reader.db(),
      "SELECT EXISTS (SELECT 1 FROM instances WHERE tenant_id = ? AND blob_name = ?) "
      "OR EXISTS (SELECT 1 FROM segmentations WHERE tenant_id = ? AND labels_blob = ?) "
      "OR EXISTS (SELECT 1 FROM shadow_runs WHERE tenant_id = ? AND labels_blob = ?) "
      "OR EXISTS (SELECT 1 FROM bug_reports WHERE tenant_id = ? AND screenshot_blob = ?) "
      "OR EXISTS (SELECT 1 FROM jobs WHERE tenant_id = ? AND kind = 'export' AND result LIKE ?)");
  if (!st) return std::unexpected(st.error());
  st->Bind(key.tenant_id).Bind(key.name).Bind(key.tenant_id).Bind(key.name).Bind(key.tenant_id).Bind(key.name)
      .Bind(key.tenant_id).Bind(key.name).Bind(key.tenant_id).Bind("%\"blob\":\"" + key.name + "\"%");
  auto row = st->Step();
  if (!row) return std::unexpected(row.error());
  return *row && st->Int(0) != 0;
}

Result<std::vector<BlobKey>> SqlCatalog::ReferencedBlobs() {
  auto reader = Reader();
  // Keep in step with IsBlobReferenced: the same tables and columns.
  auto st = sql::Stmt::Prepare(reader.db(),
                               "SELECT tenant_id, blob_name FROM instances "
                               "UNION SELECT tenant_id, labels_blob FROM segmentations WHERE labels_blob IS NOT NULL "
                               "UNION SELECT tenant_id, labels_blob FROM shadow_runs WHERE labels_blob IS NOT NULL "
                               "UNION SELECT tenant_id, screenshot_blob FROM bug_reports WHERE screenshot_blob IS NOT NULL "
                               "UNION SELECT tenant_id, result FROM jobs WHERE kind = 'export' AND result LIKE '%\"blob\":\"%'");
  if (!st) return std::unexpected(st.error());
  std::vector<BlobKey> out;
  for (;;) {
    auto row = st->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    std::string name = st->Text(1);
    if (!IsValidBlobName(name)) {  // an export job's result: the name is its "blob" member
      const auto at = name.find("\"blob\":\"");
      if (at == std::string::npos) continue;
      const auto start = at + 8, end = name.find('"', start);
      if (end == std::string::npos) continue;
      name = name.substr(start, end - start);
      if (!IsValidBlobName(name)) continue;
    }
    out.push_back(BlobKey{st->Int(0), std::move(name)});
  }
  std::sort(out.begin(), out.end(), [](const BlobKey& a, const BlobKey& b) {
    return std::tie(a.tenant_id, a.name) < std::tie(b.tenant_id, b.name);
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const BlobKey& a, const BlobKey& b) { return a.tenant_id == b.tenant_id && a.name == b.name; }),
            out.end());
  return out;
}

Result<void> SqlCatalog::DropBlobIntent(const BlobKey& key) {
  std::lock_guard lock(write_mutex_);
  auto st = sql::Stmt::Prepare(writer_, "DELETE FROM blob_intents WHERE tenant_id = ? AND blob_name = ?");
  if (!st) return std::unexpected(st.error());
  st->Bind(key.tenant_id).Bind(key.name);
  return st->Run();
}

}  // namespace vg::storage
