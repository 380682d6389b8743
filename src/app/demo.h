// First-run set-up: the vendor's first administrator, and the demo clinic of `make run`.
#pragma once

#include <string>

#include "app/context.h"
#include "licensing/licensing.h"

namespace vg::app {

// Creates the provider_admin "admin" with a one-time password (to be changed at first
// sign-in) and returns that password. Refused when a provider_admin already exists.
Result<std::string> BootstrapProviderAdmin(AppContext& ctx);

// On a data folder without people: bootstrap, a clinic "demo" with one user per role and an
// uploader token, all written to DATA_DIR/demo-logins.txt (mode 0600; a demo convenience,
// never used in production). Returns the logins text (read back on later starts).
Result<std::string> EnsureDemo(AppContext& ctx);
// The demo clinic's subscription: an active trial on the plan "demo" (every feature,
// every algorithm, 100 runs a month), made once.
Result<void> EnsureDemoSubscription(AppContext& ctx, licensing::Licensing& licensing);

}  // namespace vg::app
