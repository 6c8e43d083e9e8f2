#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "k2sim/engine/simulation.hpp"
#include "k2sim/error.hpp"
#include "k2sim/units/units.hpp"

namespace k2sim {

void SimulationOptions::validate() const {
  auto fail = [](const std::string& what) { throw InputError("solver option " + what); };
  if (!(rtol > 0.0 && rtol < 1.0)) fail(fmt::format("rtol = {} (rule: 0 < rtol < 1)", rtol));
  if (!(atol > 0.0)) fail(fmt::format("atol = {} (rule: atol > 0)", atol));
  if (max_steps < 1) fail(fmt::format("max_steps = {} (rule: >= 1)", max_steps));
  if (!(max_step_h >= 0.0)) fail(fmt::format("max_step = {} h (rule: >= 0)", max_step_h));
  if (!(ss_tolerance > 0.0 && ss_tolerance < 1.0)) {
    fail(fmt::format("ss_tolerance = {} (rule: 0 < ss_tolerance < 1)", ss_tolerance));
  }
  if (!(multirate_tol > 0.0 && multirate_tol < 0.1)) {
    fail(fmt::format("multirate_tol = {} (rule: 0 < multirate_tol < 0.1)", multirate_tol));
  }
  if (!(multirate_max_jump_h >= 24.0)) {
    fail(fmt::format("multirate_max_jump = {} h (rule: at least 1 d)", multirate_max_jump_h));
  }
  if (!(multirate_slow_h >= 24.0)) {
    fail(fmt::format("multirate_slow = {} h (rule: at least 1 d)", multirate_slow_h));
  }
  if (ss_max_iterations < 1) {
    fail(fmt::format("ss_max_iterations = {} (rule: >= 1)", ss_max_iterations));
  }
}

const std::vector<std::string>& SimulationOptions::names() {
  static const std::vector<std::string> kNames = {
      "rtol",          "atol",          "max_steps",          "max_step",
      "linear_solver", "method",        "ss_tolerance",       "closed_form",
      "multirate",     "multirate_tol", "multirate_max_jump", "multirate_slow"};
  return kNames;
}

void SimulationOptions::set(const std::string& name, const std::string& value) {
  SimulationOptions next = *this;  // unchanged when the new value is rejected
  next.assign(name, value);
  next.validate();
  if (!next.given(name)) next.given_.push_back(name);
  *this = next;
}

bool SimulationOptions::given(const std::string& name) const {
  return std::find(given_.begin(), given_.end(), name) != given_.end();
}

void SimulationOptions::assign(const std::string& name, const std::string& value) {
  auto number = [&]() {
    double v = 0.0;
    const char* end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, v);
    if (ec != std::errc() || ptr != end || !std::isfinite(v)) {
      throw InputError(fmt::format("solver option {} = '{}' (rule: a finite number)", name, value));
    }
    return v;
  };
  if (name == "rtol") {
    rtol = number();
  } else if (name == "atol") {
    atol = number();
  } else if (name == "max_steps") {
    const double v = number();
    if (v != std::floor(v) || v < 1 || v > 1e12) {
      throw InputError(fmt::format("solver option max_steps = {} (rule: an integer >= 1)", value));
    }
    max_steps = static_cast<long>(v);
  } else if (name == "max_step") {
    try {
      max_step_h = units::parse_quantity(value, units::dim::time()).value;
    } catch (const UnitError& e) {
      throw InputError(fmt::format("solver option max_step = '{}': {}", value, e.what()));
    }
  } else if (name == "linear_solver") {
    if (value == "dense") {
      linear_solver = LinearSolver::kDense;
    } else if (value == "klu") {
      linear_solver = LinearSolver::kKlu;
    } else if (value == "auto") {
      linear_solver = LinearSolver::kAuto;
    } else {
      throw InputError(
          fmt::format("solver option linear_solver = '{}' (rule: dense | klu | auto)", value));
    }
  } else if (name == "method") {
    if (value == "bdf") {
      method = Method::kBdf;
    } else if (value == "adams") {
      method = Method::kAdams;
    } else {
      throw InputError(fmt::format("solver option method = '{}' (rule: bdf | adams)", value));
    }
  } else if (name == "ss_tolerance") {
    ss_tolerance = number();
  } else if (name == "closed_form") {
    if (value == "on" || value == "true") {
      closed_form = true;
    } else if (value == "off" || value == "false") {
      closed_form = false;
    } else {
      throw InputError(
          fmt::format("solver option closed_form = '{}' (rule: on | off, or true | false)", value));
    }
  } else if (name == "multirate") {
    if (value == "off" || value == "false") {
      multirate = Multirate::kOff;
    } else if (value == "on" || value == "true") {
      multirate = Multirate::kOn;
    } else if (value == "auto") {
      multirate = Multirate::kAuto;
    } else {
      throw InputError(fmt::format(
          "solver option multirate = '{}' (rule: off | on | auto, or false | true)", value));
    }
  } else if (name == "multirate_tol") {
    multirate_tol = number();
  } else if (name == "multirate_max_jump" || name == "multirate_slow") {
    double v = 0.0;
    try {
      v = units::parse_quantity(value, units::dim::time()).value;
    } catch (const UnitError& e) {
      throw InputError(fmt::format("solver option {} = '{}': {}", name, value, e.what()));
    }
    (name == "multirate_slow" ? multirate_slow_h : multirate_max_jump_h) = v;
  } else {
    const std::vector<std::string>& names = SimulationOptions::names();
    throw InputError(fmt::format("unknown solver option '{}' (rule: one of {}){}", name,
                                 fmt::join(names, ", "), did_you_mean(name, names)));
  }
}

}  // namespace k2sim
