// TOML documents (algorithm manifests, licence files) as JSON text, so that the modules
// above read them with one JSON library. toml++ stays inside core.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace vg {

// kInvalidArgument with the line and column of a syntax error. Limited to 1 MiB.
Result<std::string> TomlToJson(std::string_view toml_text);

}  // namespace vg
