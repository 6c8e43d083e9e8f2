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
};

/// Sets the parameters of the switches that are on in `table` (the diet key is the caller's);
/// throws InputError naming the switch when the model has no such parameter or the value is
/// outside its bounds. Returns the names of the parameters of switches that are off, which an
/// ensemble holds at their neutral value.
std::vector<std::string> apply_hypotheses(const std::vector<HypothesisSetting>& settings,
                                          ParameterTable& table);

}  // namespace k2sim
