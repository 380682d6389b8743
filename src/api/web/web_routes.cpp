#include "api/web/web_routes.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/strings.h"

namespace vg::api {
namespace {

namespace fs = std::filesystem;

// Paths the app never owns: an unknown API path is a JSON 404, not the app's page.
constexpr std::string_view kApiPrefixes[] = {"api/", "dicomweb/", "monailabel/", "healthz", "readyz", "metrics"};

constexpr std::uint64_t kMaxStaticFileBytes = 64ull << 20;

bool IsApiPath(std::string_view path) {
  for (auto prefix : kApiPrefixes)
    if (path.starts_with(prefix) || path == prefix.substr(0, prefix.size() - (prefix.ends_with('/') ? 1 : 0)))
      return true;
  return false;
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  const auto size = fs::file_size(path, ec);
  if (ec || size > kMaxStaticFileBytes) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!in) return std::nullopt;
  return bytes;
}

http::Response NotBuiltPage() {
  http::Response response;
  response.status = 503;
  response.Header("Content-Type", "text/html; charset=utf-8");
  response.Header("Cache-Control", "no-store");
  response.body =
      "<!doctype html><title>voxelgate</title><h1>voxelgate</h1>"
      "<p>The browser app is not built. Run <code>make build</code> (or <code>make run</code>), "
      "or start the server with <code>--web-root DIR</code>.</p>"
      "<p>DICOMweb is at <code>/dicomweb</code>; the API at <code>/api/v1</code>.</p>";
  return response;
}

http::Response FileResponse(std::string bytes, const std::string& path, bool immutable) {
  http::Response response;
  response.Header("Content-Type", ContentTypeForFile(path));
  // Vite names built assets by content hash: they never change under one name.
  response.Header("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
  response.body = std::move(bytes);
  return response;
}

}  // namespace

std::string WebFilePath(const std::string& web_root, const std::string& relative_path) {
  if (relative_path.find('\0') != std::string::npos || relative_path.find('\\') != std::string::npos) return {};
  for (auto segment : Split(relative_path, '/'))
    if (segment.empty() || segment.starts_with('.')) return {};
  return web_root + "/" + relative_path;
}

std::string ContentTypeForFile(const std::string& path) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"}, {".wasm", "application/wasm"}, {".svg", "image/svg+xml"},
      {".png", "image/png"}, {".jpg", "image/jpeg"}, {".ico", "image/x-icon"}, {".woff2", "font/woff2"},
      {".woff", "font/woff"}, {".ttf", "font/ttf"}, {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"}};
  for (auto [ext, type] : kTypes)
    if (path.ends_with(ext)) return std::string(type);
  return "application/octet-stream";
}

void AddWebRoutes(http::Router& router, std::string web_root) {
  router.Add("GET", "/{*path}", "web_app", "web.static", [root = std::move(web_root)](http::Request& r) {
    const std::string& path = r.Param("path");
    if (IsApiPath(path)) return http::ErrorResponse(404, "not_found", "no such endpoint");
    std::error_code ec;
    const std::string index = root + "/index.html";
    if (!fs::is_regular_file(index, ec)) return NotBuiltPage();
    if (!path.empty()) {
      const std::string file = WebFilePath(root, path);
      if (file.empty()) return http::ErrorResponse(404, "not_found", "no such file");
      if (auto bytes = ReadFile(file)) return FileResponse(std::move(*bytes), file, path.starts_with("assets/"));
      // A missing asset is a real 404; any other path (its last segment may hold a UID,
      // dots included) is a page of the app's own router.
      if (path.starts_with("assets/") || ContentTypeForFile(path) != "application/octet-stream")
        return http::ErrorResponse(404, "not_found", "no such file");
    }
    auto page = ReadFile(index);
    if (!page) return NotBuiltPage();
    return FileResponse(std::move(*page), index, false);
  });
}

}  // namespace vg::api
