// Router: method + path pattern -> handler. Patterns are literal segments and {name}
// captures ("/dicomweb/studies/{study}/series"); a last segment {*name} captures the rest
// of the path (zero or more segments, joined by '/'). Such catch-all routes are tried only
// when no other route has the path, so they never turn a 405 into something else. Each route has a stable name used in
// metrics and logs (never the raw path, which may carry UIDs), and names the action it
// performs: the key of the authorization policy (auth/policy.h), checked at start-up.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "http/message.h"

namespace vg::http {

using Handler = std::function<Response(Request&)>;

struct Route {
  std::string method;
  std::string pattern;
  std::string name;
  std::string action;
  Handler handler;
  std::vector<std::string> segments;
  bool catch_all = false;  // last segment is {*name}
  // Answers that last (an event stream, a wait for a job): served by the server's
  // long-lived pool, not the request pool.
  bool long_lived = false;
};

struct RouteMatch {
  const Route* route = nullptr;
  bool path_matched = false;  // some route has this path (for 405 vs 404)
};

class Router {
 public:
  void Add(std::string method, std::string pattern, std::string name, std::string action, Handler handler);
  // Fills request.params on a match. Path segments are percent-decoded before capture.
  RouteMatch Match(Request& request) const;
  // Marks the named route long-lived (see Route); fails when no route has that name.
  Result<void> MarkLongLived(const std::string& name);
  const std::vector<Route>& routes() const { return routes_; }
 private:
  std::vector<Route> routes_;
};

}  // namespace vg::http
