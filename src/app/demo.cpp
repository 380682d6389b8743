#include "app/demo.h"
#include "core/clock.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace vg::app {

Result<std::string> BootstrapProviderAdmin(AppContext& ctx) {
  auto provider = ctx.tenants->Find(auth::kProviderTenant);
  if (!provider) return std::unexpected(provider.error());
  auto users = ctx.catalog->ListUsers(provider->id);
  if (!users) return std::unexpected(users.error());
  for (const auto& u : *users)
    if (u.role == "provider_admin")
      return Fail(ErrorCode::kConflict, "a provider_admin already exists ('" + u.username + "')");
  std::string password = auth::GeneratePassword();
  auto created = ctx.users->Create(*provider, "admin", "provider_admin", password, /*must_change=*/true);
  if (!created) return std::unexpected(created.error());
  return password;
}

Result<std::string> EnsureDemo(AppContext& ctx) {
  const std::string path = ctx.config.data_dir + "/demo-logins.txt";
  if (auto existing = ctx.catalog->FindUser("admin"); existing) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str().empty() ? std::string("  (this data folder was set up before; its logins are not on file)\n")
                              : text.str();
  }
  std::ostringstream out;
  auto admin_password = BootstrapProviderAdmin(ctx);
  if (!admin_password) return std::unexpected(admin_password.error());
  out << "  vendor   admin          provider_admin   " << *admin_password << "   (one-time; change it)\n";
  auto clinic = ctx.tenants->Find("demo");
  if (!clinic) clinic = ctx.tenants->Create("demo", "Demo Clinic", "DEMO");
  if (!clinic) return std::unexpected(clinic.error());
  for (const char* role : {"clinic_admin", "radiologist", "physician"}) {
    std::string username = std::string("demo-") + role;
    std::string password = auth::GeneratePassword();
    if (auto user = ctx.users->Create(*clinic, username, role, password); !user) return std::unexpected(user.error());
    out << "  demo     " << username << std::string(username.size() < 18 ? 18 - username.size() : 1, ' ') << role
        << std::string(17 - std::string(role).size(), ' ') << password << "\n";
  }
  auto service = ctx.users->EnsureServiceUser(*clinic);
  if (!service) return std::unexpected(service.error());
  auto token = ctx.tokens->Create(*service, "demo-uploader", {"dicomweb:read", "dicomweb:write"}, std::nullopt);
  if (!token) return std::unexpected(token.error());
  out << "  demo     bearer token (DICOMweb read+write): " << *token << "\n";
  out << "  demo     DICOM: called AE title DEMO, any calling AE accepted\n";
  if (auto r = ctx.catalog->SetAcceptAnyCaller(clinic->id, true); !r) return std::unexpected(r.error());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    std::string text = out.str();
    (void)!::write(fd, text.data(), text.size());
    ::close(fd);
  }
  return out.str();
}

Result<void> EnsureDemoSubscription(AppContext& ctx, licensing::Licensing& licensing) {
  auto clinic = ctx.tenants->Find("demo");
  if (!clinic) return std::unexpected(clinic.error());
  const std::int64_t now = UnixSeconds();
  auto current = licensing.Current(clinic->id, now);
  if (!current) return std::unexpected(current.error());
  if (*current) return {};
  if (!licensing.FindPlan("demo")) {
    licensing::Plan plan;
    plan.name = "demo";
    plan.included_runs = 100;
    plan.features = {"annotation", "export", "auto_run", "api_tokens"};
    plan.price_note = "demo: free trial";
    if (auto saved = licensing.SavePlan(plan, "demo"); !saved) return std::unexpected(saved.error());
  }
  licensing::Action trial;
  trial.kind = licensing::ActionKind::kActivate;
  trial.plan_name = "demo";
  trial.trial = true;
  trial.reason = "demo clinic";
  if (auto ok = licensing.Act(clinic->id, trial, now); !ok) return std::unexpected(ok.error());
  return {};
}

}  // namespace vg::app
