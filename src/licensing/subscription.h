// Subscription: one per clinic tenant, and its lifecycle as plain logic.
//
//   trial ──activate──▶ active ──(period ends)──▶ past_due ──renew──▶ active (next period)
//     │                   │  ▲                       │
//     │(period ends)      │  └──────resume──────┐    └──(grace ends)──▶ expired
//     ▼                   └──suspend──▶ suspended
//   expired                                 cancel: at the period's end, or immediately ▶ cancelled
//
// * activate: a tenant without a subscription, or whose subscription ended, starts one
//   (as a trial or active); a trial becomes active (a new period starts).
// * renew: a past-due subscription starts its next period (the vendor was paid).
// * suspend (with a reason): at once; runs stop, reads continue. resume: back to where it was.
// * cancel: at the end of the period, or immediately.
// * change-plan: the new plan (its latest version) applies from now on.
// Periods are calendar months (UTC). A period end is noticed by a periodic task and by
// every check at use (Advance), so that no period runs past its end unnoticed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/result.h"

namespace vg::licensing {

enum class State { kTrial, kActive, kPastDue, kSuspended, kCancelled, kExpired };
const char* StateName(State state);
std::optional<State> StateFromName(std::string_view name);

struct Subscription {
  std::int64_t tenant_id = 0;
  std::string plan_name;
  std::int64_t plan_version = 0;
  State state = State::kActive;
  State resume_to = State::kActive;  // the state a suspension returns to
  std::int64_t started_at = 0, period_start = 0, period_end = 0;
  std::optional<std::int64_t> ended_at;  // cancelled or expired: when
  bool cancel_at_period_end = false;
  std::int64_t state_since = 0;
  std::string reason;  // of the last change (shown to the clinic while suspended)

  bool Ended() const { return state == State::kCancelled || state == State::kExpired; }
  // Runs allowed: trial, active, and past due (a grace while the invoice is settled).
  bool MayRun() const { return state == State::kTrial || state == State::kActive || state == State::kPastDue; }
};

enum class ActionKind { kActivate, kRenew, kSuspend, kResume, kCancel, kChangePlan };
std::optional<ActionKind> ActionFromName(std::string_view name);  // activate, renew, suspend, resume, cancel, change-plan
const char* ActionName(ActionKind kind);

struct Action {
  ActionKind kind = ActionKind::kActivate;
  std::string plan_name;       // activate, change-plan
  std::int64_t plan_version = 0;
  std::string reason;          // suspend (required), any other (optional)
  bool immediately = false;    // cancel
  bool trial = false;          // activate
};

// One month after `t` (same day and time, clamped to the month's last day), UTC.
std::int64_t AddMonth(std::int64_t t);

// The next state, or kConflict saying why this action does not apply to this state.
Result<Subscription> Apply(const std::optional<Subscription>& current, std::int64_t tenant_id, const Action& action,
                           std::int64_t now);
// What time does to a subscription: period ends (trial -> expired, active -> past due,
// cancellation at the period's end -> cancelled) and the end of the past-due grace.
Subscription Advance(Subscription s, std::int64_t now, std::int64_t past_due_grace_seconds);

std::string SubscriptionToJson(const Subscription& s);
Result<Subscription> SubscriptionFromJson(const std::string& json);

}  // namespace vg::licensing
