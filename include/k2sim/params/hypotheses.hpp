// k2sim/params/hypotheses.hpp: claims without human data that the model carries as switches
// (data/parameters/hypotheses.csv). Each is neutral unless a scenario's [hypotheses] table (or
// `--hypothesis NAME`) turns it on, at its stated strength or at a strength the user gives.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace k2sim {

class ParameterTable;

struct Hypothesis {
  std::string name;       ///< switch name, e.g. "statin_ggpp"
  std::string parameter;  ///< the parameter it sets ("diet.pasture_k2_factor": the diet key)
  double neutral = 0.0;   ///< the parameter's value when off (table unit)
  double strength = 0.0;  ///< the stated strength, the value when on (table unit)
  std::string unit;
  std::string source;   ///< where the stated strength comes from
  std::string meaning;  ///< what the claim is
};

/// Every hypothesis switch (compiled in from data/parameters/hypotheses.csv).
[[nodiscard]] const std::vector<Hypothesis>& hypotheses();

/// The switch of that name; throws InputError with the nearest name when unknown.
[[nodiscard]] const Hypothesis& hypothesis(std::string_view name);

/// A switch as a scenario sets it: on at `value` (the stated strength unless given), or off.
struct HypothesisSetting {
  std::string name;
  bool on = false;
  double value = 0.0;  ///< table unit
  std::string where;   ///< "file:line" of a scenario, or "--hypothesis ..." from the command line
};

/// Sets the parameters of the switches in `table`: those on at their value, those set off at
/// neutral (the diet key is the caller's). Throws InputError naming where the setting came from
/// when the model has no such parameter or the value is outside its bounds (OptionError for a
/// command-line setting). Returns the names of the parameters of switches that are not on,
/// which an ensemble holds fixed.
std::vector<std::string> apply_hypotheses(const std::vector<HypothesisSetting>& settings,
                                          ParameterTable& table);

}  // namespace k2sim
