#include "licensing/subscription.h"

#include <chrono>
#include <nlohmann/json.hpp>

namespace vg::licensing {
namespace {

using nlohmann::json;

constexpr std::pair<State, const char*> kStateNames[] = {
    {State::kTrial, "trial"},         {State::kActive, "active"},       {State::kPastDue, "past_due"},
    {State::kSuspended, "suspended"}, {State::kCancelled, "cancelled"}, {State::kExpired, "expired"}};

constexpr std::pair<ActionKind, const char*> kActionNames[] = {
    {ActionKind::kActivate, "activate"}, {ActionKind::kRenew, "renew"},   {ActionKind::kSuspend, "suspend"},
    {ActionKind::kResume, "resume"},     {ActionKind::kCancel, "cancel"}, {ActionKind::kChangePlan, "change-plan"}};

Result<Subscription> Refuse(const std::string& message) { return Fail(ErrorCode::kConflict, message); }

Subscription Started(std::int64_t tenant_id, const Action& a, std::int64_t now) {
  Subscription s;
  s.tenant_id = tenant_id;
  s.plan_name = a.plan_name;
  s.plan_version = a.plan_version;
  s.state = a.trial ? State::kTrial : State::kActive;
  s.started_at = now;
  s.period_start = now;
  s.period_end = AddMonth(now);
  s.state_since = now;
  s.reason = a.reason;
  return s;
}

}  // namespace

const char* StateName(State state) {
  for (auto [s, name] : kStateNames)
    if (s == state) return name;
  return "unknown";
}

std::optional<State> StateFromName(std::string_view name) {
  for (auto [s, n] : kStateNames)
    if (name == n) return s;
  return std::nullopt;
}

std::optional<ActionKind> ActionFromName(std::string_view name) {
  for (auto [a, n] : kActionNames)
    if (name == n) return a;
  return std::nullopt;
}

const char* ActionName(ActionKind kind) {
  for (auto [a, n] : kActionNames)
    if (a == kind) return n;
  return "unknown";
}

std::int64_t AddMonth(std::int64_t t) {
  using namespace std::chrono;
  const sys_seconds at{seconds{t}};
  const sys_days day = floor<days>(at);
  const auto time_of_day = at - day;
  year_month_day ymd{day};
  year_month_day next = ymd.year() / ymd.month() / ymd.day() + months{1};
  if (!next.ok()) next = next.year() / next.month() / last;  // Jan 31 -> Feb 28/29
  return duration_cast<seconds>((sys_days{next} + time_of_day).time_since_epoch()).count();
}

Result<Subscription> Apply(const std::optional<Subscription>& current, std::int64_t tenant_id, const Action& a,
                           std::int64_t now) {
  const bool exists = current.has_value();
  const State state = exists ? current->state : State::kExpired;
  auto with = [&](Subscription s, State next) {
    s.state = next;
    s.state_since = now;
    if (!a.reason.empty()) s.reason = a.reason;
    return s;
  };
  switch (a.kind) {
    case ActionKind::kActivate:
      if (a.plan_name.empty()) return Refuse("activate needs a plan");
      if (!exists || current->Ended()) return Started(tenant_id, a, now);
      if (state == State::kTrial) {
        Subscription s = Started(tenant_id, a, now);
        s.started_at = current->started_at;
        return s;
      }
      if (state == State::kActive) return Refuse("the subscription is active already; change-plan changes its plan");
      if (state == State::kPastDue) return Refuse("the subscription is past due: renew starts its next period");
      return Refuse("the subscription is suspended: resume it");
    case ActionKind::kRenew: {
      if (!exists) return Refuse("there is no subscription to renew: activate one");
      if (state != State::kPastDue) {
        if (state == State::kSuspended) return Refuse("the subscription is suspended: resume it first");
        if (current->Ended()) return Refuse("the subscription has ended: activate a new one");
        return Refuse("the current period runs until its end; renew a past-due subscription");
      }
      Subscription s = with(*current, State::kActive);
      // The next period follows the last without a gap, and as many as needed to cover now.
      while (s.period_end <= now) {
        s.period_start = s.period_end;
        s.period_end = AddMonth(s.period_end);
      }
      return s;
    }
    case ActionKind::kSuspend:
      if (a.reason.empty()) return Refuse("suspending needs a reason (the clinic is shown it)");
      if (!exists) return Refuse("there is no subscription to suspend");
      if (state == State::kSuspended) return Refuse("the subscription is suspended already");
      if (current->Ended()) return Refuse("the subscription has ended");
      {
        Subscription s = with(*current, State::kSuspended);
        s.resume_to = state;
        return s;
      }
    case ActionKind::kResume:
      if (!exists || state != State::kSuspended) return Refuse("only a suspended subscription can be resumed");
      return with(*current, current->resume_to);
    case ActionKind::kCancel:
      if (!exists) return Refuse("there is no subscription to cancel");
      if (current->Ended()) return Refuse("the subscription has ended already");
      if (a.immediately) {
        Subscription s = with(*current, State::kCancelled);
        s.ended_at = now;
        s.cancel_at_period_end = false;
        return s;
      }
      if (current->cancel_at_period_end) return Refuse("the subscription is cancelled at the end of its period already");
      {
        Subscription s = *current;
        s.cancel_at_period_end = true;
        if (!a.reason.empty()) s.reason = a.reason;
        return s;
      }
    case ActionKind::kChangePlan:
      if (a.plan_name.empty()) return Refuse("change-plan needs a plan");
      if (!exists) return Refuse("there is no subscription: activate one");
      if (current->Ended()) return Refuse("the subscription has ended: activate one on the new plan");
      {
        Subscription s = *current;
        s.plan_name = a.plan_name;
        s.plan_version = a.plan_version;
        if (!a.reason.empty()) s.reason = a.reason;
        return s;
      }
  }
  return Refuse("unknown action");
}

Subscription Advance(Subscription s, std::int64_t now, std::int64_t grace) {
  if ((s.state == State::kTrial || s.state == State::kActive || s.state == State::kSuspended) &&
      s.cancel_at_period_end && now >= s.period_end) {
    s.state = State::kCancelled;
    s.ended_at = s.period_end;
    s.state_since = s.period_end;
    s.cancel_at_period_end = false;
    return s;
  }
  if (s.state == State::kTrial && now >= s.period_end) {
    s.state = State::kExpired;
    s.ended_at = s.period_end;
    s.state_since = s.period_end;
    return s;
  }
  if (s.state == State::kActive && now >= s.period_end) {
    s.state = State::kPastDue;
    s.state_since = s.period_end;
  }
  if (s.state == State::kPastDue && now >= s.period_end + grace) {
    s.state = State::kExpired;
    s.ended_at = s.period_end + grace;
    s.state_since = s.period_end + grace;
  }
  return s;
}

std::string SubscriptionToJson(const Subscription& s) {
  return json{{"tenant_id", s.tenant_id},
              {"plan", s.plan_name},
              {"plan_version", s.plan_version},
              {"state", StateName(s.state)},
              {"resume_to", StateName(s.resume_to)},
              {"started_at", s.started_at},
              {"period_start", s.period_start},
              {"period_end", s.period_end},
              {"ended_at", s.ended_at ? json(*s.ended_at) : json(nullptr)},
              {"cancel_at_period_end", s.cancel_at_period_end},
              {"state_since", s.state_since},
              {"reason", s.reason}}
      .dump();
}

Result<Subscription> SubscriptionFromJson(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Fail(ErrorCode::kInternal, "a stored subscription is unreadable");
  Subscription s;
  try {
    s.tenant_id = j.at("tenant_id").get<std::int64_t>();
    s.plan_name = j.at("plan").get<std::string>();
    s.plan_version = j.at("plan_version").get<std::int64_t>();
    s.state = StateFromName(j.at("state").get<std::string>()).value_or(State::kExpired);
    s.resume_to = StateFromName(j.value("resume_to", "active")).value_or(State::kActive);
    s.started_at = j.at("started_at").get<std::int64_t>();
    s.period_start = j.at("period_start").get<std::int64_t>();
    s.period_end = j.at("period_end").get<std::int64_t>();
    if (j.contains("ended_at") && !j["ended_at"].is_null()) s.ended_at = j["ended_at"].get<std::int64_t>();
    s.cancel_at_period_end = j.value("cancel_at_period_end", false);
    s.state_since = j.value("state_since", std::int64_t{0});
    s.reason = j.value("reason", "");
  } catch (const json::exception&) {
    return Fail(ErrorCode::kInternal, "a stored subscription is unreadable");
  }
  return s;
}

}  // namespace vg::licensing
