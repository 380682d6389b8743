#include "http/router.h"

#include "core/strings.h"

namespace vg::http {
namespace {
std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  for (auto part : Split(path, '/'))
    if (!part.empty()) out.emplace_back(part);
  return out;
}
}  // namespace

void Router::Add(std::string method, std::string pattern, std::string name, std::string action, Handler handler) {
  Route route{std::move(method), pattern, std::move(name), std::move(action), std::move(handler), Segments(pattern)};
  route.catch_all = !route.segments.empty() && route.segments.back().starts_with("{*");
  routes_.push_back(std::move(route));
}

Result<void> Router::MarkLongLived(const std::string& name) {
  bool found = false;
  for (auto& route : routes_)
    if (route.name == name) found = route.long_lived = true;
  if (!found) return Fail(ErrorCode::kInternal, "no route named " + name);
  return {};
}

RouteMatch Router::Match(Request& request) const {
  std::vector<std::string> segments;
  for (auto raw : Segments(request.path)) {
    auto decoded = PercentDecode(raw);
    if (!decoded) return {};
    segments.push_back(std::move(*decoded));
  }
  RouteMatch result;
  for (const auto& route : routes_) {
    if (route.catch_all || route.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (size_t i = 0; i < segments.size() && ok; ++i) {
      const std::string& pattern = route.segments[i];
      if (pattern.size() > 2 && pattern.front() == '{' && pattern.back() == '}')
        params[pattern.substr(1, pattern.size() - 2)] = segments[i];
      else
        ok = pattern == segments[i];
    }
    if (!ok) continue;
    result.path_matched = true;
    if (route.method == request.method || (request.method == "HEAD" && route.method == "GET")) {
      request.params = std::move(params);
      result.route = &route;
      return result;
    }
  }
  if (result.path_matched) return result;
  for (const auto& route : routes_) {
    if (!route.catch_all || segments.size() + 1 < route.segments.size()) continue;
    if (route.method != request.method && !(request.method == "HEAD" && route.method == "GET")) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    const size_t fixed = route.segments.size() - 1;
    for (size_t i = 0; i < fixed && ok; ++i) {
      const std::string& pattern = route.segments[i];
      if (pattern.size() > 2 && pattern.front() == '{' && pattern.back() == '}')
        params[pattern.substr(1, pattern.size() - 2)] = segments[i];
      else
        ok = pattern == segments[i];
    }
    if (!ok) continue;
    std::string rest;
    for (size_t i = fixed; i < segments.size(); ++i) rest += (i > fixed ? "/" : "") + segments[i];
    const std::string& last = route.segments.back();
    params[last.substr(2, last.size() - 3)] = std::move(rest);
    request.params = std::move(params);
    result.route = &route;
    result.path_matched = true;
    return result;
  }
  return result;
}

}  // namespace vg::http
