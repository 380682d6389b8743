#include "app/args.h"

#include <algorithm>

namespace vg::app {

Result<Args> Args::Parse(const std::vector<std::string>& argv, const std::vector<std::string>& boolean_flags) {
  Args args;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& word = argv[i];
    if (word.rfind("--", 0) != 0 || word == "--") {
      args.positional_.push_back(word);
      continue;
    }
    std::string name = word.substr(2), value;
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (std::find(boolean_flags.begin(), boolean_flags.end(), name) != boolean_flags.end()) {
      value = "true";
    } else {
      if (i + 1 >= argv.size()) return Fail(ErrorCode::kInvalidArgument, "--" + name + " needs a value");
      value = argv[++i];
    }
    args.values_.emplace(name, value);
  }
  return args;
}

std::optional<std::string> Args::Get(const std::string& flag) const {
  auto range = values_.equal_range(flag);
  if (range.first == range.second) return std::nullopt;
  return std::prev(range.second)->second;  // the last one wins
}

std::vector<std::string> Args::GetAll(const std::string& flag) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(flag);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

Result<void> Args::OnlyKnown(const std::vector<std::string>& known) const {
  for (const auto& [name, value] : values_)
    if (std::find(known.begin(), known.end(), name) == known.end())
      return Fail(ErrorCode::kInvalidArgument, "unknown option --" + name);
  return {};
}

}  // namespace vg::app
