#include "licensing/licensing.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

namespace vg::licensing {
namespace {

using nlohmann::json;

Error PaymentRequired(std::string reason, std::string message, std::int64_t since = 0) {
  Error e{ErrorCode::kPaymentRequired, std::move(message), {}};
  e.reason = std::move(reason);
  e.since = since;
  return e;
}

std::int64_t MonthStart(std::int64_t t) {
  using namespace std::chrono;
  year_month_day ymd{floor<days>(sys_seconds{seconds{t}})};
  return duration_cast<seconds>(sys_days{ymd.year() / ymd.month() / 1}.time_since_epoch()).count();
}

std::optional<std::int64_t> ParseMonth(const std::string& month) {
  if (month.size() != 7 || month[4] != '-') return std::nullopt;
  return ParseDate(month + "-01");
}

}  // namespace

bool Licensing::IsLicensed(std::int64_t tenant_id) const {
  if (!options_.licence) return false;
  auto tenant = catalog_.FindTenantById(tenant_id);
  return tenant && tenant->slug == options_.licence->tenant;
}

Result<Plan> Licensing::SavePlan(Plan plan, const std::string& author) {
  plan.version = 0;
  if (auto ok = ValidatePlan(plan); !ok) return std::unexpected(ok.error());
  auto record = store_.AddPlanVersion(plan.name, PlanToJson(plan), author);
  if (!record) return std::unexpected(record.error());
  plan.version = record->version;
  return plan;
}

Result<Plan> Licensing::FindPlan(const std::string& name, std::optional<std::int64_t> version) {
  auto record = store_.FindPlan(name, version);
  if (!record) return std::unexpected(record.error());
  auto plan = PlanFromJson(record->json);
  if (!plan) return std::unexpected(plan.error());
  plan->version = record->version;
  return plan;
}

Result<std::vector<Plan>> Licensing::ListPlans() {
  auto records = store_.ListPlans();
  if (!records) return std::unexpected(records.error());
  std::vector<Plan> out;
  for (const auto& r : *records) {
    auto plan = PlanFromJson(r.json);
    if (!plan) return std::unexpected(plan.error());
    plan->version = r.version;
    out.push_back(std::move(*plan));
  }
  return out;
}

// Every change is a compare-and-set on the JSON as read: when another process (another
// node) changed the subscription in between, it is read again and the change redone.
constexpr int kSubscriptionAttempts = 8;

Result<std::optional<Subscription>> Licensing::Current(std::int64_t tenant_id, std::int64_t now) {
  for (int attempt = 0; attempt < kSubscriptionAttempts; ++attempt) {
    auto record = store_.FindSubscription(tenant_id);
    if (!record) return std::unexpected(record.error());
    if (!*record) return std::optional<Subscription>{};
    auto s = SubscriptionFromJson((*record)->json);
    if (!s) return std::unexpected(s.error());
    Subscription advanced = Advance(*s, now, options_.past_due_grace_seconds);
    const std::string advanced_json = SubscriptionToJson(advanced);
    if (advanced_json == (*record)->json) return std::optional<Subscription>(advanced);
    auto replaced = store_.ReplaceSubscription((*record)->json, {tenant_id, advanced_json, now});
    if (!replaced) return std::unexpected(replaced.error());
    if (*replaced) return std::optional<Subscription>(advanced);
  }
  return Fail(ErrorCode::kUnavailable, "the subscription is being changed elsewhere: try again");
}

Result<Subscription> Licensing::Act(std::int64_t tenant_id, Action action, std::int64_t now) {
  if (tenant_id == options_.provider_tenant_id)
    return Fail(ErrorCode::kInvalidArgument, "the vendor's own tenant has no subscription");
  if (!action.plan_name.empty()) {
    auto plan = FindPlan(action.plan_name);  // the latest version is what a new grant gets
    if (!plan) return std::unexpected(plan.error());
    action.plan_version = plan->version;
  }
  for (int attempt = 0; attempt < kSubscriptionAttempts; ++attempt) {
    auto record = store_.FindSubscription(tenant_id);
    if (!record) return std::unexpected(record.error());
    std::optional<Subscription> current;
    if (*record) {
      auto s = SubscriptionFromJson((*record)->json);
      if (!s) return std::unexpected(s.error());
      current = Advance(*s, now, options_.past_due_grace_seconds);
    }
    auto next = Apply(current, tenant_id, action, now);
    if (!next) return std::unexpected(next.error());
    const std::optional<std::string> expected =
        *record ? std::optional<std::string>((*record)->json) : std::nullopt;
    auto replaced = store_.ReplaceSubscription(expected, {tenant_id, SubscriptionToJson(*next), now});
    if (!replaced) return std::unexpected(replaced.error());
    if (*replaced) return next;
  }
  return Fail(ErrorCode::kUnavailable, "the subscription is being changed elsewhere: try again");
}

Result<int> Licensing::AdvanceAll(std::int64_t now) {
  auto records = store_.ListSubscriptions();
  if (!records) return std::unexpected(records.error());
  int changed = 0;
  for (const auto& r : *records) {
    auto before = r.json;
    auto current = Current(r.tenant_id, now);
    if (!current) return std::unexpected(current.error());
    if (*current && SubscriptionToJson(**current) != before) ++changed;
  }
  return changed;
}

Result<Licensing::InForce> Licensing::Grants(std::int64_t tenant_id, std::int64_t wall_now) {
  if (IsLicensed(tenant_id)) {
    const Licence& l = *options_.licence;
    auto now = LicenceNow(wall_now);
    if (!now) return std::unexpected(now.error());
    if (*now < l.not_before)
      return std::unexpected(PaymentRequired("licence_not_yet_valid",
                                             "the licence is valid from " + FormatDate(l.not_before), l.not_before));
    if (*now >= l.not_after)
      return std::unexpected(PaymentRequired("licence_expired",
                                             "the licence expired on " + FormatDate(l.not_after) +
                                                 "; your studies and results stay readable",
                                             l.not_after));
    InForce in;
    in.plan = l.grants;
    in.period_start = MonthStart(*now);
    in.period_end = MonthStart(MonthStart(*now) + 32 * 86400);
    return in;
  }
  auto current = Current(tenant_id, wall_now);
  if (!current) return std::unexpected(current.error());
  if (!*current)
    return std::unexpected(PaymentRequired("no_subscription",
                                           "this clinic has no subscription yet: the vendor activates one"));
  auto plan = FindPlan((*current)->plan_name, (*current)->plan_version);
  if (!plan) return std::unexpected(plan.error());
  InForce in;
  in.plan = std::move(*plan);
  in.subscription = *current;
  in.period_start = (*current)->period_start;
  in.period_end = (*current)->period_end;
  if ((*current)->state == State::kPastDue) {
    // Runs in the grace after a period count in the next one, which a renewal starts there.
    in.period_start = (*current)->period_end;
    in.period_end = AddMonth((*current)->period_end);
  }
  return in;
}

Result<RunGrant> Licensing::CheckRun(std::int64_t tenant_id, const std::string& algorithm_id, std::int64_t now,
                                     std::int64_t running_self) {
  if (tenant_id == options_.provider_tenant_id) return RunGrant{};
  auto in = Grants(tenant_id, now);
  if (!in) return std::unexpected(in.error());
  if (in->subscription) {
    const Subscription& s = *in->subscription;
    if (s.state == State::kSuspended)
      return std::unexpected(PaymentRequired(
          "subscription_suspended",
          "the subscription is suspended" + (s.reason.empty() ? std::string() : ": " + s.reason) +
              ". Your studies and results stay readable, and can be exported",
          s.state_since));
    if (s.Ended())
      return std::unexpected(PaymentRequired(
          "subscription_expired",
          std::string("the subscription ") + (s.state == State::kCancelled ? "was cancelled" : "expired") + " on " +
              FormatDate(s.ended_at.value_or(s.state_since)) + ". Your studies and results stay readable",
          s.ended_at.value_or(s.state_since)));
  }
  if (!in->plan.AllowsAlgorithm(algorithm_id))
    return std::unexpected(PaymentRequired("algorithm_not_in_plan",
                                           "the plan " + in->plan.name + " does not include the algorithm " + algorithm_id));
  RunGrant grant{in->period_start, false};
  if (in->plan.included_runs >= 0) {
    auto counted = store_.CountedRuns(tenant_id, in->period_start);
    auto in_flight = store_.InFlightRuns(tenant_id);
    if (!counted) return std::unexpected(counted.error());
    if (!in_flight) return std::unexpected(in_flight.error());
    // Runs still queued or running may succeed: they hold their place in the quota.
    const std::int64_t others_in_flight = std::max<std::int64_t>(0, *in_flight - running_self);
    if (*counted + others_in_flight >= in->plan.included_runs) {
      if (in->plan.overage == "block")
        return std::unexpected(PaymentRequired(
            "quota_exhausted",
            fmt::format("all {} runs of this period are used ({} done, {} in progress); the next period starts on {}",
                        in->plan.included_runs, *counted, others_in_flight, FormatDate(in->period_end)),
            in->period_start));
      grant.overage = true;
    }
  }
  return grant;
}

Result<void> Licensing::CheckFeature(std::int64_t tenant_id, const std::string& feature, std::int64_t now) {
  if (tenant_id == options_.provider_tenant_id) return {};
  auto in = Grants(tenant_id, now);
  if (!in) {
    return std::unexpected(in.error());
  }
  if (in->subscription) {
    const Subscription& s = *in->subscription;
    // A clinic can always take its own results with it: while suspended, and for the
    // retention window after the end.
    if (feature == "export" && (s.state == State::kSuspended ||
                                (s.Ended() && now < s.ended_at.value_or(s.state_since) + options_.retention_seconds)))
      return {};
    if (s.state == State::kSuspended)
      return std::unexpected(PaymentRequired("subscription_suspended",
                                             "the subscription is suspended" +
                                                 (s.reason.empty() ? std::string() : ": " + s.reason),
                                             s.state_since));
    if (s.Ended())
      return std::unexpected(PaymentRequired("subscription_expired", "the subscription has ended",
                                             s.ended_at.value_or(s.state_since)));
  }
  if (!in->plan.HasFeature(feature))
    return std::unexpected(PaymentRequired("feature_not_in_plan", "the plan " + in->plan.name + " does not include " +
                                                                      feature));
  return {};
}

Result<void> Licensing::CheckUserLimit(std::int64_t tenant_id, std::int64_t active_users, std::int64_t now) {
  if (tenant_id == options_.provider_tenant_id) return {};
  auto in = Grants(tenant_id, now);
  if (!in) return {};  // no plan: creating users (setting up the clinic) is not a paid feature
  if (in->plan.max_users > 0 && active_users >= in->plan.max_users)
    return std::unexpected(PaymentRequired("user_limit_reached", fmt::format("the plan {} allows {} users",
                                                                             in->plan.name, in->plan.max_users)));
  return {};
}

Result<std::vector<std::int64_t>> Licensing::HeldTenants(std::int64_t now) {
  auto records = store_.ListSubscriptions();
  if (!records) return std::unexpected(records.error());
  std::vector<std::int64_t> held;
  for (const auto& r : *records) {
    auto s = SubscriptionFromJson(r.json);
    if (s && Advance(*s, now, options_.past_due_grace_seconds).state == State::kSuspended) held.push_back(r.tenant_id);
  }
  return held;
}

Result<json> Licensing::UsageReport(std::int64_t tenant_id, const std::string& month) {
  auto from = ParseMonth(month);
  if (!from) return Fail(ErrorCode::kInvalidArgument, "period is a month, YYYY-MM");
  const std::int64_t to = MonthStart(*from + 32 * 86400);
  auto records = store_.ListUsage(tenant_id, *from, to);
  if (!records) return std::unexpected(records.error());
  std::map<std::int64_t, json> tenants;
  for (const auto& u : *records) {
    json& t = tenants[u.tenant_id];
    if (t.is_null()) {
      t = {{"tenant_id", u.tenant_id}, {"runs", 0}, {"used_runs", 0}, {"overage_runs", 0}, {"failed_runs", 0},
           {"run_seconds", 0.0}, {"by_algorithm", json::object()}};
    }
    t["runs"] = t["runs"].get<std::int64_t>() + 1;
    if (u.counted) t["used_runs"] = t["used_runs"].get<std::int64_t>() + 1;
    if (u.overage) t["overage_runs"] = t["overage_runs"].get<std::int64_t>() + 1;
    if (u.outcome == "failed") t["failed_runs"] = t["failed_runs"].get<std::int64_t>() + 1;
    t["run_seconds"] = t["run_seconds"].get<double>() + u.duration_ms / 1000.0;
    json& a = t["by_algorithm"][u.algorithm_id + "@" + u.algorithm_version];
    if (a.is_null()) a = {{"runs", 0}, {"succeeded", 0}};
    a["runs"] = a["runs"].get<std::int64_t>() + 1;
    if (u.counted) a["succeeded"] = a["succeeded"].get<std::int64_t>() + 1;
  }
  if (tenant_id != 0 && tenants.empty())
    tenants[tenant_id] = {{"tenant_id", tenant_id}, {"runs", 0}, {"used_runs", 0}, {"overage_runs", 0},
                          {"failed_runs", 0}, {"run_seconds", 0.0}, {"by_algorithm", json::object()}};
  json out = {{"period", month}, {"from", *from}, {"to", to}, {"tenants", json::array()}};
  for (auto& [id, t] : tenants) {
    auto tenant = catalog_.FindTenantById(id);
    t["tenant"] = tenant ? tenant->slug : "";
    auto sub = Current(id, to - 1);
    if (IsLicensed(id)) {
      t["plan"] = options_.licence->plan;
      t["included_runs"] = options_.licence->grants.included_runs;
    } else if (sub && *sub) {
      t["plan"] = (*sub)->plan_name;
      t["plan_version"] = (*sub)->plan_version;
      auto plan = FindPlan((*sub)->plan_name, (*sub)->plan_version);
      t["included_runs"] = plan ? plan->included_runs : 0;
      t["state"] = StateName((*sub)->state);
    } else {
      t["plan"] = nullptr;
      t["included_runs"] = 0;
    }
    t["run_seconds"] = std::round(t["run_seconds"].get<double>() * 10) / 10;
    out["tenants"].push_back(t);
  }
  return out;
}

std::string Licensing::UsageCsv(const json& report) {
  auto cell = [](std::string v) {
    if (!v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@')) v = "'" + v;
    if (v.find_first_of(",\"\n") != std::string::npos) {
      std::string q = "\"";
      for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      return q + "\"";
    }
    return v;
  };
  std::string out = "period,tenant,plan,included_runs,used_runs,overage_runs,failed_runs,run_seconds,algorithm,algorithm_runs,algorithm_succeeded\r\n";
  for (const auto& t : report["tenants"]) {
    const std::string head = cell(report["period"].get<std::string>()) + "," + cell(t.value("tenant", "")) + "," +
                             cell(t["plan"].is_string() ? t["plan"].get<std::string>() : "") + "," +
                             std::to_string(t.value("included_runs", std::int64_t{0})) + "," +
                             std::to_string(t["used_runs"].get<std::int64_t>()) + "," +
                             std::to_string(t["overage_runs"].get<std::int64_t>()) + "," +
                             std::to_string(t["failed_runs"].get<std::int64_t>()) + "," +
                             fmt::format("{}", t["run_seconds"].get<double>());
    if (t["by_algorithm"].empty()) out += head + ",,,\r\n";
    for (auto& [algorithm, a] : t["by_algorithm"].items())
      out += head + "," + cell(algorithm) + "," + std::to_string(a["runs"].get<std::int64_t>()) + "," +
             std::to_string(a["succeeded"].get<std::int64_t>()) + "\r\n";
  }
  return out;
}

Result<void> Licensing::CheckPurge(std::int64_t tenant_id, std::int64_t now) {
  if (tenant_id == options_.provider_tenant_id) return Fail(ErrorCode::kInvalidArgument, "the vendor's tenant is not purged");
  if (IsLicensed(tenant_id)) return Fail(ErrorCode::kConflict, "this clinic is under an offline licence");
  auto current = Current(tenant_id, now);
  if (!current) return std::unexpected(current.error());
  if (!*current || !(*current)->Ended())
    return Fail(ErrorCode::kConflict, "only a clinic whose subscription has ended can be purged");
  const std::int64_t until = (*current)->ended_at.value_or((*current)->state_since) + options_.retention_seconds;
  if (now < until)
    return Fail(ErrorCode::kConflict, "the clinic can still export its results until " + FormatDate(until));
  return {};
}

Result<json> Licensing::View(std::int64_t tenant_id, std::int64_t now) {
  json out = {{"licensed", IsLicensed(tenant_id)}, {"notices", json::array()}};
  auto notice = [&](const char* level, std::string message) {
    out["notices"].push_back({{"level", level}, {"message", std::move(message)}});
  };
  if (tenant_id == options_.provider_tenant_id) {
    out["state"] = "vendor";
    return out;
  }
  if (IsLicensed(tenant_id)) {
    const Licence& l = *options_.licence;
    auto clock = LicenceNow(now);
    if (!clock) return std::unexpected(clock.error());
    out["licence"] = {{"id", l.licence_id}, {"plan", l.plan}, {"not_before", l.not_before}, {"not_after", l.not_after}};
    out["state"] = *clock >= l.not_after ? "expired" : *clock < l.not_before ? "not_yet_valid" : "active";
    if (*clock < l.not_after && l.not_after - *clock <= 14 * 86400)
      notice("warning", "the licence expires on " + FormatDate(l.not_after) + ": ask the vendor for a new one");
    if (*clock >= l.not_after) notice("error", "the licence expired on " + FormatDate(l.not_after));
  }
  auto in = Grants(tenant_id, now);
  if (!in) {
    if (in.error().reason == "no_subscription") {
      out["state"] = "none";
      notice("info", in.error().public_message);
      return out;
    }
    if (!IsLicensed(tenant_id)) return std::unexpected(in.error());
    return out;
  }
  const Plan& p = in->plan;
  out["plan"] = json::parse(PlanToJson(p));
  out["period_start"] = in->period_start;
  out["period_end"] = in->period_end;
  auto counted = store_.CountedRuns(tenant_id, in->period_start);
  auto in_flight = store_.InFlightRuns(tenant_id);
  if (!counted || !in_flight) return Fail(ErrorCode::kInternal, "cannot count the period's runs");
  out["used_runs"] = *counted;
  out["in_flight_runs"] = *in_flight;
  out["remaining_runs"] = p.included_runs < 0 ? json(nullptr) : json(std::max<std::int64_t>(0, p.included_runs - *counted - *in_flight));
  if (in->subscription) {
    const Subscription& s = *in->subscription;
    out["state"] = StateName(s.state);
    out["state_since"] = s.state_since;
    out["cancel_at_period_end"] = s.cancel_at_period_end;
    out["reason"] = s.reason;
    if (s.state == State::kSuspended)
      notice("error", "the subscription is suspended" + (s.reason.empty() ? std::string() : ": " + s.reason) +
                          ". Algorithm runs are stopped; your studies and results stay readable and can be exported");
    if (s.state == State::kPastDue)
      notice("warning", "the subscription is past due since " + FormatDate(s.period_end) + "; runs continue until " +
                            FormatDate(s.period_end + options_.past_due_grace_seconds));
    if (s.Ended()) {
      const std::int64_t ended = s.ended_at.value_or(s.state_since);
      out["ended_at"] = ended;
      out["purge_after"] = ended + options_.retention_seconds;
      notice("error", std::string("the subscription ") + (s.state == State::kCancelled ? "was cancelled" : "expired") +
                          " on " + FormatDate(ended) + ". Export your results before " +
                          FormatDate(ended + options_.retention_seconds) + ", after which the vendor may delete them");
    }
    if ((s.state == State::kTrial || s.cancel_at_period_end) && s.period_end - now <= 7 * 86400 && s.period_end > now)
      notice("warning", std::string(s.state == State::kTrial ? "the trial" : "the subscription") + " ends on " +
                            FormatDate(s.period_end));
  }
  if (p.included_runs >= 0 && *counted + *in_flight >= p.included_runs)
    notice(p.overage == "block" ? "warning" : "info",
           fmt::format("all {} runs of this period are used{}", p.included_runs,
                       p.overage == "block" ? "" : "; further runs are billed as overage"));
  return out;
}

Result<std::int64_t> AdvanceSealedLicenceClock(storage::LicensingStore& store, const crypto::SecretKey& key,
                                               std::int64_t wall_now, bool accept_unsealed) {
  const auto seal_of = [&](std::int64_t value) {
    const auto mac = crypto::KeyedHash(key, "voxelgate licence clock " + std::to_string(value));
    return storage::SealedBytes(mac.begin(), mac.end());
  };
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto stored = store.LicenceClock();
    if (!stored) return std::unexpected(stored.error());
    std::optional<std::int64_t> mark;
    if (*stored) {
      mark = (*stored)->first;
      const bool unsealed = (*stored)->second.empty();
      if ((unsealed && !accept_unsealed) || (!unsealed && (*stored)->second != seal_of(*mark)))
        return Fail(ErrorCode::kForbidden,
                    "the licence clock in the catalog was altered by hand: licences stay refused until the catalog "
                    "is restored from a backup");
    }
    const std::int64_t now = std::max(wall_now, mark.value_or(wall_now));
    if (mark && *mark == now && !(*stored)->second.empty()) return now;
    auto set = store.SetLicenceClock(mark, now, seal_of(now));
    if (!set) return std::unexpected(set.error());
    if (*set) return now;
  }
  return Fail(ErrorCode::kUnavailable, "the licence clock is busy; try again");
}

}  // namespace vg::licensing
