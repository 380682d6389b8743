#include "core/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "core/strings.h"

namespace vg {

void InitLogging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("voxelgate");
  // Each line is a JSON object: time, level, then the event's own fields.
  logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

static void Log(spdlog::level::level_enum level, std::string_view event, std::string_view fields) {
  if (fields.empty()) {
    spdlog::log(level, R"("event":"{}")", event);
  } else {
    spdlog::log(level, R"("event":"{}",{})", event, fields);
  }
}

void LogInfo(std::string_view event, std::string_view fields_json) { Log(spdlog::level::info, event, fields_json); }
void LogWarn(std::string_view event, std::string_view fields_json) { Log(spdlog::level::warn, event, fields_json); }
void LogError(std::string_view event, std::string_view fields_json) { Log(spdlog::level::err, event, fields_json); }

void WarnIfFailed(const Result<void>& result, std::string_view event) {
  if (result) return;
  const Error& e = result.error();
  LogWarn(event, "\"code\":\"" + std::string(ErrorCodeName(e.code)) + "\",\"detail\":\"" +
                     JsonEscape(e.detail.empty() ? e.public_message : e.detail) + "\"");
}

}  // namespace vg
