// A small command-line parser: positional words and --flags with values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace vg::app {

class Args {
 public:
  // `boolean_flags` take no value (e.g. --help).
  static Result<Args> Parse(const std::vector<std::string>& argv, const std::vector<std::string>& boolean_flags);
  const std::vector<std::string>& positional() const { return positional_; }
  std::optional<std::string> Get(const std::string& flag) const;
  std::vector<std::string> GetAll(const std::string& flag) const;
  bool Has(const std::string& flag) const { return values_.count(flag) > 0; }
  // Fails when a flag outside `known` was given.
  Result<void> OnlyKnown(const std::vector<std::string>& known) const;

 private:
  std::vector<std::string> positional_;
  std::multimap<std::string, std::string> values_;
};

}  // namespace vg::app
