// Logging: JSON lines on stderr through spdlog. Messages and fields must never hold
// patient data (names, IDs, birth dates); UIDs, tenant slugs and sizes are fine.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace vg {

void InitLogging(const std::string& level);

// One structured event. `fields_json` is a JSON object body without braces
// (e.g. "\"status\":200,\"ms\":1.2"), built by the caller with JsonEscape'd values.
void LogInfo(std::string_view event, std::string_view fields_json = {});
void LogWarn(std::string_view event, std::string_view fields_json = {});
void LogError(std::string_view event, std::string_view fields_json = {});

// For a failure the caller can live with (a status note, a best-effort clean-up): says so
// in the log as `event` with the error's detail, instead of dropping it unseen.
void WarnIfFailed(const Result<void>& result, std::string_view event);

}  // namespace vg
