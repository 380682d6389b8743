#include "core/toml_json.h"

#include <toml++/toml.h>

#include <sstream>

namespace vg {

Result<std::string> TomlToJson(std::string_view text) {
  if (text.size() > (1u << 20)) return Fail(ErrorCode::kTooLarge, "a TOML document is limited to 1 MiB");
  try {
    toml::table table = toml::parse(text);
    std::ostringstream out;
    out << toml::json_formatter{table};
    return out.str();
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Fail(ErrorCode::kInvalidArgument, "TOML error at line " + std::to_string(where.line) + ", column " +
                                                 std::to_string(where.column) + ": " + std::string(e.description()));
  }
}

}  // namespace vg
