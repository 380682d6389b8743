#include "services/deployments.h"

#include <nlohmann/json.hpp>

#include "crypto/crypto.h"

namespace vg::services {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxEarlier = 32;  // how far back rollbacks can go

storage::DeploymentEventRecord Event(std::string action, std::string from, std::string to, const std::string& actor,
                                     std::int64_t now, json detail = json::object()) {
  storage::DeploymentEventRecord e;
  e.action = std::move(action);
  e.from_version = std::move(from);
  e.to_version = std::move(to);
  e.detail_json = detail.dump();
  e.actor = actor;
  e.changed_at = now;
  return e;
}

// Takes `d` to `version` (share `percent`), with its events; the checks are the caller's.
void Promote(Deployment& d, std::vector<storage::DeploymentEventRecord>& events, const std::string& version, int percent,
             const std::string& actor, std::int64_t now, json detail) {
  if (percent >= 100) {
    events.push_back(Event("promoted", d.pinned, version, actor, now, detail));
    d.earlier.push_back(d.pinned);
    if (d.earlier.size() > kMaxEarlier) d.earlier.erase(d.earlier.begin());
    d.pinned = version;
    d.canary.reset();
    if (d.shadow == version) {
      events.push_back(Event("shadow_ended", version, "", actor, now, {{"why", "promoted"}}));
      d.shadow.clear();
    }
  } else {
    detail["percent"] = percent;
    events.push_back(Event("canary_started", d.pinned, version, actor, now, detail));
    d.canary = Deployment::Canary{version, percent};
  }
}

}  // namespace

std::string DeploymentToJson(const Deployment& d) {
  json out = {{"pinned", d.pinned}, {"earlier", d.earlier}, {"shadow", d.shadow}};
  out["canary"] = d.canary ? json{{"version", d.canary->version}, {"percent", d.canary->percent}} : json(nullptr);
  out["scheduled"] = d.scheduled ? json{{"version", d.scheduled->version},
                                        {"percent", d.scheduled->percent},
                                        {"at", d.scheduled->at},
                                        {"actor", d.scheduled->actor},
                                        {"reason", d.scheduled->reason}}
                                 : json(nullptr);
  return out.dump();
}

Result<Deployment> DeploymentFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Fail(ErrorCode::kInternal, "a stored deployment is unreadable");
  try {
    Deployment d;
    d.pinned = j.value("pinned", "");
    d.earlier = j.value("earlier", std::vector<std::string>{});
    d.shadow = j.value("shadow", "");
    if (j.contains("canary") && j["canary"].is_object())
      d.canary = Deployment::Canary{j["canary"].value("version", ""), j["canary"].value("percent", 0)};
    if (j.contains("scheduled") && j["scheduled"].is_object()) {
      const json& s = j["scheduled"];
      d.scheduled = Deployment::Scheduled{s.value("version", ""), s.value("percent", 100), s.value("at", std::int64_t{0}),
                                          s.value("actor", ""), s.value("reason", "")};
    }
    return d;
  } catch (const json::exception&) {
    return Fail(ErrorCode::kInternal, "a stored deployment is unreadable");
  }
}

json DeploymentView(const Deployment& d) {
  json out = json::parse(DeploymentToJson(d));
  out["previous"] = d.earlier.empty() ? json(nullptr) : json(d.earlier.back());
  out.erase("earlier");
  if (out["scheduled"].is_object()) out["scheduled"].erase("actor");
  return out;
}

std::optional<DeploymentActionKind> DeploymentActionFromName(std::string_view name) {
  if (name == "promote") return DeploymentActionKind::kPromote;
  if (name == "rollback") return DeploymentActionKind::kRollback;
  if (name == "shadow") return DeploymentActionKind::kShadow;
  if (name == "end-shadow") return DeploymentActionKind::kEndShadow;
  return std::nullopt;
}

Result<DeploymentChange> ApplyDeploymentAction(const Deployment& current, const DeploymentAction& action,
                                               const std::string& actor, std::int64_t now) {
  DeploymentChange change{current, {}};
  Deployment& d = change.next;
  auto& events = change.events;
  json detail = json::object();
  if (!action.reason.empty()) detail["reason"] = action.reason;
  switch (action.kind) {
    case DeploymentActionKind::kPromote: {
      if (action.version.empty()) return Fail(ErrorCode::kInvalidArgument, "promote needs the version");
      if (action.percent < 1 || action.percent > 100)
        return Fail(ErrorCode::kInvalidArgument, "canary_percent is 1-100 (100: every run)");
      if (action.version == d.pinned && (action.percent < 100 || !d.canary))
        return Fail(ErrorCode::kConflict, "the clinic runs " + d.pinned + " already");
      if (action.version == d.pinned) {  // back to the pinned version alone: the canary ends
        events.push_back(Event("canary_ended", d.canary->version, d.pinned, actor, now, detail));
        d.canary.reset();
        return change;
      }
      if (action.effective_at > now) {
        if (d.scheduled) events.push_back(Event("schedule_cancelled", d.pinned, d.scheduled->version, actor, now,
                                                {{"why", "replaced"}}));
        d.scheduled = Deployment::Scheduled{action.version, action.percent, action.effective_at, actor, action.reason};
        detail["at"] = action.effective_at;
        detail["percent"] = action.percent;
        events.push_back(Event("scheduled", d.pinned, action.version, actor, now, detail));
        return change;
      }
      if (d.scheduled) {
        events.push_back(Event("schedule_cancelled", d.pinned, d.scheduled->version, actor, now, {{"why", "replaced"}}));
        d.scheduled.reset();
      }
      Promote(d, events, action.version, action.percent, actor, now, detail);
      return change;
    }
    case DeploymentActionKind::kRollback: {
      // Undo the newest thing first: a pending schedule, then a canary, then a promotion.
      if (d.scheduled) {
        events.push_back(Event("schedule_cancelled", d.pinned, d.scheduled->version, actor, now, detail));
        d.scheduled.reset();
        return change;
      }
      if (d.canary) {
        events.push_back(Event("canary_ended", d.canary->version, d.pinned, actor, now, detail));
        d.canary.reset();
        return change;
      }
      if (d.earlier.empty())
        return Fail(ErrorCode::kConflict, "the clinic runs " + d.pinned + ", the first version it had: nothing to roll back to");
      const std::string to = d.earlier.back();
      d.earlier.pop_back();
      events.push_back(Event("rolled_back", d.pinned, to, actor, now, detail));
      d.pinned = to;
      if (d.shadow == to) {
        events.push_back(Event("shadow_ended", to, "", actor, now, {{"why", "rolled back to it"}}));
        d.shadow.clear();
      }
      return change;
    }
    case DeploymentActionKind::kShadow: {
      if (action.version.empty()) return Fail(ErrorCode::kInvalidArgument, "shadow needs the version");
      if (action.version == d.pinned)
        return Fail(ErrorCode::kConflict, "the clinic runs " + d.pinned + ": a shadow must be another version");
      if (action.version == d.shadow) return Fail(ErrorCode::kConflict, action.version + " runs in shadow already");
      events.push_back(Event("shadow_started", d.shadow, action.version, actor, now, detail));
      d.shadow = action.version;
      return change;
    }
    case DeploymentActionKind::kEndShadow: {
      if (d.shadow.empty()) return Fail(ErrorCode::kConflict, "no version runs in shadow");
      events.push_back(Event("shadow_ended", d.shadow, "", actor, now, detail));
      d.shadow.clear();
      return change;
    }
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown action");
}

std::optional<DeploymentChange> AdvanceDeployment(const Deployment& current, std::int64_t now) {
  if (!current.scheduled || current.scheduled->at > now) return std::nullopt;
  DeploymentChange change{current, {}};
  const Deployment::Scheduled due = *change.next.scheduled;
  change.next.scheduled.reset();
  json detail = {{"scheduled_at", due.at}};
  if (!due.reason.empty()) detail["reason"] = due.reason;
  if (due.version == change.next.pinned) {
    change.events.push_back(Event("schedule_cancelled", due.version, due.version, due.actor, now,
                                  {{"why", "the clinic runs it already"}}));
    return change;
  }
  Promote(change.next, change.events, due.version, due.percent, due.actor, now, detail);
  return change;
}

std::string VersionForRun(const Deployment& d, const std::string& algorithm_id, const std::string& series_uid) {
  if (!d.canary || d.canary->percent <= 0) return d.pinned;
  const auto digest = crypto::Sha256Of("canary\n" + algorithm_id + "\n" + d.canary->version + "\n" + series_uid);
  const int bucket = ((digest[0] << 8) | digest[1]) % 100;
  return bucket < d.canary->percent ? d.canary->version : d.pinned;
}

Result<void> Deployments::CheckVersion(const std::string& algorithm_id, const std::string& version) {
  auto record = algorithms_.FindAlgorithm(algorithm_id, version);
  if (!record) return std::unexpected(record.error());
  if (!record->enabled)
    return Fail(ErrorCode::kConflict, algorithm_id + " " + version + " is withdrawn: restore it before deploying it");
  return {};
}

Result<Deployment> Deployments::Change(
    std::int64_t tenant_id, const std::string& algorithm_id, std::int64_t now,
    const std::function<Result<std::optional<DeploymentChange>>(const Deployment&)>& decide) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto stored = store_.FindDeployment(tenant_id, algorithm_id);
    if (!stored) return std::unexpected(stored.error());
    std::optional<std::string> expected;
    Deployment current;
    std::vector<storage::DeploymentEventRecord> events;
    if (*stored) {
      expected = (*stored)->state_json;
      auto parsed = DeploymentFromJson((*stored)->state_json);
      if (!parsed) return std::unexpected(parsed.error());
      current = std::move(*parsed);
    } else {
      // First use: the clinic gets the vendor's default of this moment.
      auto by_default = algorithms_.FindAlgorithm(algorithm_id, "");
      if (!by_default) return std::unexpected(by_default.error());
      current.pinned = by_default->version;
      events.push_back(Event("pinned", "", current.pinned, "voxelgate", now, {{"why", "the default version"}}));
    }
    if (auto due = AdvanceDeployment(current, now)) {
      current = std::move(due->next);
      for (auto& e : due->events) events.push_back(std::move(e));
    }
    auto decided = decide(current);
    if (!decided) return std::unexpected(decided.error());
    if (*decided) {
      current = std::move((*decided)->next);
      for (auto& e : (*decided)->events) events.push_back(std::move(e));
    }
    if (events.empty()) return current;  // nothing changed: nothing to store
    storage::DeploymentRecord record{tenant_id, algorithm_id, DeploymentToJson(current), now};
    auto replaced = store_.ReplaceDeployment(expected, record, events);
    if (!replaced) return std::unexpected(replaced.error());
    if (*replaced) return current;
  }
  return Fail(ErrorCode::kUnavailable, "the deployment kept changing under this change: try again");
}

Result<Deployment> Deployments::Current(std::int64_t tenant_id, const std::string& algorithm_id, std::int64_t now) {
  return Change(tenant_id, algorithm_id, now, [](const Deployment&) -> Result<std::optional<DeploymentChange>> {
    return std::optional<DeploymentChange>{};
  });
}

Result<Deployment> Deployments::Act(std::int64_t tenant_id, const std::string& algorithm_id,
                                    const DeploymentAction& action, const std::string& actor, std::int64_t now) {
  if (action.kind == DeploymentActionKind::kPromote || action.kind == DeploymentActionKind::kShadow)
    if (auto ok = CheckVersion(algorithm_id, action.version); !ok) return std::unexpected(ok.error());
  return Change(tenant_id, algorithm_id, now, [&](const Deployment& d) -> Result<std::optional<DeploymentChange>> {
    auto change = ApplyDeploymentAction(d, action, actor, now);
    if (!change) return std::unexpected(change.error());
    // The clinic's own rules, for what would move its runs to a new version.
    const bool moves_runs = action.kind == DeploymentActionKind::kPromote && action.version != d.pinned;
    if (moves_runs && gate_)
      if (auto ok = gate_(tenant_id, algorithm_id, action.version); !ok) return std::unexpected(ok.error());
    // A rollback to a version since withdrawn would leave the clinic with nothing to run.
    if (action.kind == DeploymentActionKind::kRollback && change->next.pinned != d.pinned)
      if (auto ok = CheckVersion(algorithm_id, change->next.pinned); !ok) return std::unexpected(ok.error());
    return std::optional<DeploymentChange>(std::move(*change));
  });
}

Result<void> Deployments::SetDefault(const std::string& algorithm_id, const std::string& version, const std::string& actor,
                                     std::int64_t now) {
  if (auto ok = CheckVersion(algorithm_id, version); !ok) return ok;
  auto tenants = catalog_.ListTenants();
  if (!tenants) return std::unexpected(tenants.error());
  for (const auto& tenant : *tenants)
    if (auto pinned = Current(tenant.id, algorithm_id, now); !pinned) return std::unexpected(pinned.error());
  (void)actor;  // the route audits who did it
  return algorithms_.SetDefaultVersion(algorithm_id, version);
}

Result<Deployments::RunVersions> Deployments::ForRun(std::int64_t tenant_id, const std::string& algorithm_id,
                                                     const std::string& series_uid, const std::string& asked,
                                                     std::int64_t now) {
  auto d = Current(tenant_id, algorithm_id, now);
  if (!d) return std::unexpected(d.error());
  RunVersions out;
  if (!asked.empty()) {
    if (asked != d->pinned && !(d->canary && d->canary->version == asked))
      return std::unexpected(Error{ErrorCode::kForbidden,
                                   algorithm_id + " " + asked + " is not deployed at this clinic, which runs " + d->pinned +
                                       (d->canary ? " (and " + d->canary->version + " as a canary)" : ""),
                                   "", "version_not_deployed"});
    out.version = asked;
  } else {
    out.version = VersionForRun(*d, algorithm_id, series_uid);
  }
  out.canary = d->canary && out.version == d->canary->version;
  if (!d->shadow.empty() && d->shadow != out.version) out.shadow = d->shadow;
  return out;
}

Result<std::vector<std::pair<storage::TenantRecord, Deployment>>> Deployments::AllClinics(
    const std::string& algorithm_id, std::int64_t provider_tenant_id, std::int64_t now) {
  auto tenants = catalog_.ListTenants();
  if (!tenants) return std::unexpected(tenants.error());
  std::vector<std::pair<storage::TenantRecord, Deployment>> out;
  for (const auto& tenant : *tenants) {
    if (tenant.id == provider_tenant_id) continue;
    auto d = Current(tenant.id, algorithm_id, now);
    if (!d) return std::unexpected(d.error());
    out.emplace_back(tenant, std::move(*d));
  }
  return out;
}

Result<int> Deployments::AdvanceAll(std::int64_t now) {
  auto all = store_.ListDeployments(std::nullopt, "");
  if (!all) return std::unexpected(all.error());
  int changed = 0;
  for (const auto& record : *all) {
    auto d = DeploymentFromJson(record.state_json);
    if (!d || !d->scheduled || d->scheduled->at > now) continue;
    if (auto advanced = Current(record.tenant_id, record.algorithm_id, now); !advanced)
      return std::unexpected(advanced.error());
    ++changed;
  }
  return changed;
}

json DeploymentEventJson(const storage::DeploymentEventRecord& e, const std::string& clinic_slug) {
  json detail = json::parse(e.detail_json, nullptr, false);
  return {{"id", e.id},
          {"clinic", clinic_slug},
          {"algorithm", e.algorithm_id},
          {"action", e.action},
          {"from", e.from_version},
          {"to", e.to_version},
          {"detail", detail.is_object() ? detail : json::object()},
          {"actor", e.actor},
          {"at", e.changed_at}};
}

Result<int> Deployments::Notify(const Deliver& deliver, std::int64_t now) {
  auto pending = store_.DeploymentEventsToNotify(100);
  if (!pending) return std::unexpected(pending.error());
  auto tenants = catalog_.ListTenants();
  if (!tenants) return std::unexpected(tenants.error());
  int sent = 0;
  for (const auto& e : *pending) {
    std::string slug;
    for (const auto& t : *tenants)
      if (t.id == e.tenant_id) slug = t.slug;
    json body = {{"kind", "deployment"}, {"event", DeploymentEventJson(e, slug)}};
    if (auto ok = deliver(body.dump()); !ok) return sent > 0 ? Result<int>(sent) : std::unexpected(ok.error());
    if (auto ok = store_.MarkDeploymentEventNotified(e.id, now); !ok) return std::unexpected(ok.error());
    ++sent;
  }
  return sent;
}

}  // namespace vg::services
