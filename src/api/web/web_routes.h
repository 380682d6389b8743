// The browser app: static files of the built app (web/dist) at /, with the single-page
// app's index.html for any other GET path that is not an API. Public: the app itself holds
// no data; everything it shows comes through /api/v1 and /dicomweb under the caller's
// credentials.
#pragma once

#include <string>

#include "http/router.h"

namespace vg::api {

// `web_root`: the folder holding index.html and assets/. When it does not exist, / answers
// a short page saying how to build the app.
void AddWebRoutes(http::Router& router, std::string web_root);

// Plain logic, unit-tested: the file under `web_root` a request path names, or "" when the
// path is not a safe relative path (.., hidden segments, NUL).
std::string WebFilePath(const std::string& web_root, const std::string& relative_path);
std::string ContentTypeForFile(const std::string& path);

}  // namespace vg::api
