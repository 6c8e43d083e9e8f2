#include "k2sim/io/run.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "k2sim/diet/diet.hpp"
#include "k2sim/diet/foods.hpp"
#include "k2sim/error.hpp"
#include "k2sim/units/substances.hpp"

#ifndef K2SIM_VERSION
#define K2SIM_VERSION "unknown"
#endif

namespace k2sim {

namespace {

/// A model with constant zero-order inputs added to some states: the equilibrium of a
/// continuous diet (its meals as constant inputs) is this model's equilibrium.
class ConstantInputModel final : public OdeModel {
 public:
  ConstantInputModel(const OdeModel& model, std::vector<std::pair<std::size_t, double>> inputs)
      : model_(model), inputs_(std::move(inputs)) {}
  [[nodiscard]] std::size_t state_count() const override { return model_.state_count(); }
  [[nodiscard]] std::vector<std::string> state_names() const override {
    return model_.state_names();
  }
  void rhs(double t_h, const double* y, double* dydt) const override {
    model_.rhs(t_h, y, dydt);
    for (const auto& [cmt, rate] : inputs_) dydt[cmt] += rate;
  }
  void reset_state(std::span<double> y) const override { model_.reset_state(y); }
  [[nodiscard]] std::vector<std::size_t> accumulators() const override {
    return model_.accumulators();
  }
  [[nodiscard]] std::vector<std::size_t> periodic_held() const override {
    return model_.periodic_held();
  }
  [[nodiscard]] const OdeModel& pattern_source() const override { return model_.pattern_source(); }

 private:
  const OdeModel& model_;
  std::vector<std::pair<std::size_t, double>> inputs_;
};

/// A dose that is a constant input from time 0 to the end: an infusion as long as its interval,
/// from time 0, with no stop.
bool constant_from_start(const DoseSpec& d) {
  return d.rate_per_h && d.every_h && d.start_h == 0.0 && !d.stop_h &&
         std::abs(d.amount / *d.rate_per_h - *d.every_h) <= 1e-9 * *d.every_h;
}

}  // namespace

std::string model_version() { return K2SIM_VERSION; }

bool RunResult::ok() const {
  return std::all_of(arms.begin(), arms.end(), [](const ArmResult& a) { return a.solve.ok(); });
}

void apply_overrides(const Overrides& sets, ParameterTable& table, SimulationOptions& options) {
  for (const auto& [name, value] : sets) {
    const std::string where = fmt::format("--set {}={}", name, value);
    try {
      if (name.rfind("solver.", 0) == 0) {
        options.set(name.substr(7), value);
      } else {
        table.set(name, value, where);
      }
    } catch (const OptionError&) {
      throw;
    } catch (const InputError& e) {
      const std::string msg = e.what();
      throw OptionError(msg.rfind("--set", 0) == 0 ? msg : where + ": " + msg);
    }
  }
}

namespace {

OutputStats stats_of(const std::vector<double>& t, const std::vector<double>& v, std::size_t k,
                     std::size_t n_out) {
  OutputStats s;
  const std::size_t rows = t.size();
  if (rows == 0) return s;
  auto at = [&](std::size_t i) { return v[i * n_out + k]; };
  s.start = at(0);
  s.end = at(rows - 1);
  s.min = s.max = s.start;
  double area = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    s.min = std::min(s.min, at(i));
    s.max = std::max(s.max, at(i));
    if (i > 0) area += 0.5 * (at(i) + at(i - 1)) * (t[i] - t[i - 1]);
  }
  const double span = t[rows - 1] - t[0];
  s.mean = span > 0.0 ? area / span : s.start;
  return s;
}

std::string number(double x) { return fmt::format("{:.10g}", x); }

// Intake outputs (INTERFACES.md): what was taken by mouth in the 24 h up to each output time,
// before absorption, per substance dosed orally in any arm.
struct IntakeColumn {
  const units::Substance* substance;  // looked up once, not per output row
  OutputSpec spec;
};

std::vector<IntakeColumn> intake_columns(const std::vector<ArmSpec>& arms) {
  std::vector<IntakeColumn> cols;
  for (const ArmSpec& arm : arms) {
    // Substances dosed by mouth, then those of the arm's diet.
    std::vector<std::string> names;
    for (const DoseSpec& d : arm.doses) {
      if (d.route == Route::kOral) names.push_back(d.substance);
    }
    if (!arm.diet.empty()) {
      const DietIntake in = diet_intake(arm.diet, FoodTable::builtin());
      for (std::size_t k = 0; k < kNutrientCount; ++k) {
        if (!nutrient_info()[k].substance.empty() && in.per_day[k] > 0.0) {
          names.emplace_back(nutrient_info()[k].substance);
        }
      }
    }
    for (const std::string& name : names) {
      if (std::any_of(cols.begin(), cols.end(),
                      [&](const IntakeColumn& c) { return c.substance->name == name; })) {
        continue;
      }
      const units::Substance& s = units::find_substance(name);
      std::string key;
      for (char c : s.name) {
        if (c != '-') key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      }
      const bool mineral = s.internal == units::InternalAmount::kMmol;
      if (key == "calcium") key = "ca";
      if (key == "magnesium") key = "mg";
      if (key == "phosphate") key = "p";
      cols.push_back(
          {&s,
           {fmt::format("intake_{}_{}_per_d", key, mineral ? "mg" : "ug"),
            mineral ? "mg/d" : "ug/d",
            fmt::format("oral intake of {} in the 24 h before (doses, before absorption; a "
                        "diet's at its daily mean)",
                        s.description)}});
    }
  }
  return cols;
}

// Oral intake (ug) in the 24 h before t, [t - 24 h, t); during the first day, the first day
// [0, 24 h), so a daily regimen reads the same from t = 0 on.
double intake_at(const std::vector<DoseSpec>& doses, const units::Substance& substance, double t_h,
                 double duration_h) {
  const double hi = std::max(t_h, 24.0);
  const double lo = hi - 24.0;
  double total_ug = 0.0;
  for (const DoseSpec& d : doses) {
    if (d.route != Route::kOral || d.substance != substance.name) continue;
    const double per_dose_ug = units::internal_amount_to_ug(substance, d.amount);
    if (!d.every_h) {  // a dose at or after the end of the run is never given
      if (d.start_h >= lo && d.start_h < hi && d.start_h < duration_h) total_ug += per_dose_ug;
      continue;
    }
    const double stop = std::min({d.stop_h.value_or(duration_h), duration_h, hi});
    const double first = std::max(0.0, std::ceil((lo - d.start_h) / *d.every_h - 1e-9));
    for (double td = d.start_h + first * *d.every_h; td < stop - 1e-9; td += *d.every_h) {
      if (td >= lo - 1e-9) total_ug += per_dose_ug;
    }
  }
  return total_ug;
}

// A titration that cannot reach its target: the arm fails, the run goes on.
struct TitrationFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Mean INR over one interval of the joint periodic state of the steady-state doses.
double steady_state_inr(const Model& model, const std::vector<DoseSpec>& doses, std::size_t inr_out,
                        double period_h, const SimulationOptions& options) {
  std::vector<DoseSpec> ss;
  for (const DoseSpec& d : doses) {
    if (d.steady_state && d.start_h == d.ss_lead_h) ss.push_back(d);
  }
  const std::vector<DoseRecord> records = dose_records(model, ss, period_h);
  std::vector<double> y0(model.state_count());
  model.reset_state(y0);
  const std::vector<double> grid = output_grid(0.0, period_h, period_h / 48.0);
  Trajectory traj;
  const SolveSummary s = simulate(model, y0, 0.0, records, grid, options, traj, {});
  if (!s.ok()) throw TitrationFailure(s.message);
  std::vector<double> out(model.outputs().size());
  double sum = 0.0;
  for (std::size_t i = 0; i < traj.time_h.size(); ++i) {
    model.compute_outputs(traj.time_h[i], &traj.states[i * model.state_count()], out.data());
    const double w = (i == 0 || i + 1 == traj.time_h.size()) ? 0.5 : 1.0;  // trapezoid
    sum += w * out[inr_out];
  }
  return sum / static_cast<double>(traj.time_h.size() - 1);
}

// What decides a titration: the subject, the steady-state doses (with their meals and matrices)
// and which of them is titrated.
std::string titration_key(const SubjectCovariates& c, const std::vector<DoseSpec>& doses,
                          std::size_t which) {
  std::string key = fmt::format("{}|{}|{}|{}|{}", c.egfr, c.dialysis, c.vkorc1, c.cyp2c9,
                                *doses[which].titrate_to_inr);
  for (std::size_t i = 0; i < doses.size(); ++i) {
    const DoseSpec& d = doses[i];
    if (!d.steady_state || d.start_h != d.ss_lead_h) continue;
    key += fmt::format("|{}{}:{}:{}:{}:{}:{}:{}:{}:{}", i == which ? "*" : "", d.substance,
                       d.amount, static_cast<int>(d.route), d.every_h.value_or(0.0),
                       static_cast<int>(d.matrix), static_cast<int>(d.meal_fat), d.meal_fat_g,
                       d.rate_per_h.value_or(0.0), d.stop_h.value_or(-1.0));
  }
  return key;
}

// Titration (dose key titrate_to_inr): the amount of the dose at which the mean steady-state INR
// is the target, by bracketing and the Illinois method on log(amount).
Titration titrate(const Model& model, std::vector<DoseSpec>& doses, std::size_t which,
                  const SimulationOptions& options) {
  const std::vector<OutputSpec>& outs = model.outputs();
  const auto it =
      std::find_if(outs.begin(), outs.end(), [](const OutputSpec& o) { return o.name == "inr"; });
  DoseSpec& d = doses[which];
  if (it == outs.end()) {
    throw InputError(fmt::format("{}: titrate_to_inr (rule: model '{}' has no INR output)",
                                 d.where.str(), model.name()));
  }
  const auto inr_out = static_cast<std::size_t>(it - outs.begin());
  double period = 0.0;
  for (const DoseSpec& x : doses) {
    if (x.steady_state && x.start_h == x.ss_lead_h) period = std::max(period, *x.every_h);
  }
  const double target = *d.titrate_to_inr;
  auto f = [&](double log_amount) {
    d.amount = std::exp(log_amount);
    return steady_state_inr(model, doses, inr_out, period, options) - target;
  };
  const double start_amount = d.amount;
  double a = std::log(d.amount);
  double fa = f(a);
  double b = a;
  double fb = fa;
  const double step = fa < 0.0 ? std::log(2.0) : -std::log(2.0);
  // Doubling (or halving) up to a factor of 2^30, stopping early once the INR no longer moves.
  for (int i = 0; i < 30 && (fa < 0.0) == (fb < 0.0); ++i) {
    a = b;
    fa = fb;
    b += step;
    fb = f(b);
    if (i > 2 && std::abs(fb - fa) < 1e-6 * target) break;
  }
  if ((fa < 0.0) == (fb < 0.0)) {
    throw TitrationFailure(fmt::format(
        "{}: titrate_to_inr = {}: no amount of {} reaches it (steady-state INR {:.3g} at {:.3g} "
        "times the starting amount; rule: a target above the INR without the drug)",
        d.where.str(), target, d.substance, fb + target, std::exp(b) / start_amount));
  }
  int side = 0;
  double c = b;
  double fc = fb;
  for (int i = 0; i < 100; ++i) {
    c = (a * fb - b * fa) / (fb - fa);
    fc = f(c);
    if (std::abs(fc) < 1e-4 * target || std::abs(b - a) < 1e-9) break;
    if ((fc < 0.0) == (fb < 0.0)) {
      b = c;
      fb = fc;
      if (side == -1) fa /= 2.0;
      side = -1;
    } else {
      a = c;
      fa = fc;
      if (side == 1) fb /= 2.0;
      side = 1;
    }
  }
  d.amount = std::exp(c);
  d.titrate_to_inr.reset();
  return {d.substance, d.amount, target, fc + target};
}

}  // namespace

void apply_diet_hypotheses(Scenario& scenario) {
  for (HypothesisSetting& h : scenario.hypotheses) {
    if (hypothesis(h.name).parameter != "diet.pasture_k2_factor" || !h.on) continue;
    if (!(h.value > 0.0 && h.value <= 20.0)) {
      const std::string msg =
          fmt::format("{}: hypothesis {} = {} (rule: a factor more than 0 and at most 20)", h.where,
                      h.name, h.value);
      if (h.where.rfind("--", 0) == 0) throw OptionError(msg);
      throw InputError(msg);
    }
    // A [diet] that sets the factor itself wins; the switch reports the value used.
    if (scenario.diet.pasture_k2_factor) {
      h.value = *scenario.diet.pasture_k2_factor;
    } else {
      scenario.diet.pasture_k2_factor = h.value;
    }
  }
}

PreparedRun prepare_run(const Scenario& scenario, const Overrides& sets) {
  return prepare_run(scenario, sets, ParameterTable::builtin(parameter_module(scenario.model)));
}

PreparedRun prepare_run(const Scenario& scenario, const Overrides& sets,
                        const ParameterTable& table) {
  PreparedRun p;
  p.scenario = scenario;
  p.table = table;
  p.options = scenario.solver;
  p.held = apply_hypotheses(scenario.hypotheses, p.table);
  apply_diet_hypotheses(p.scenario);
  apply_overrides(sets, p.table, p.options);
  for (const auto& [name, value] : sets) {
    if (name.rfind("solver.", 0) == 0) continue;
    p.held.push_back(name);
    // --set wins over a switch: the switch reports the value used.
    for (HypothesisSetting& h : p.scenario.hypotheses) {
      const Hypothesis& def = hypothesis(h.name);
      if (def.parameter != name) continue;
      h.value = p.table.at(name).value;
      h.on = h.value != def.neutral;
    }
  }
  p.options.validate();
  return p;
}

RunResult run_scenario(const Scenario& scenario, const Overrides& sets,
                       const RunProgress& progress) {
  const PreparedRun p = prepare_run(scenario, sets);
  return run_scenario(p.scenario, p.table, p.options, progress);
}

RunResult run_scenario(const Scenario& scenario, const ParameterTable& table,
                       const SimulationOptions& options, const RunProgress& progress) {
  const std::unique_ptr<Model> model = make_model(scenario.model, table);
  const std::vector<double> grid =
      output_grid(0.0, scenario.duration_h, scenario.output_interval_h);
  RunResult result;
  result.model_version = model_version();
  std::vector<ArmSpec> arms = scenario.resolved_arms();
  // A model that needs a background diet (model full: its vitamin K, calcium and vitamin D) gives
  // an arm without one its default preset.
  if (const std::string preset = model->default_diet_preset(); !preset.empty()) {
    for (ArmSpec& a : arms) {
      if (a.diet.empty() && !a.subject.covariates().newborn) a.diet.preset = preset;
    }
  }
  const std::vector<IntakeColumn> intakes = intake_columns(arms);
  std::vector<std::pair<std::string, Titration>> titrated;
  for (const ArmSpec& arm : arms) {
    ArmResult r;
    r.name = arm.name;
    r.outputs = model->outputs();
    for (const IntakeColumn& c : intakes) r.outputs.push_back(c.spec);
    const SubjectCovariates subject = arm.subject.covariates();
    if (!subject.newborn && subject.feeding != "none") {
      throw InputError(
          fmt::format("arm '{}': subject.feeding = \"{}\" (rule: only with "
                      "newborn = true)",
                      arm.name, subject.feeding));
    }
    if (model->name() != "full") {
      const SubjectSpec& spec = arm.subject;
      for (const auto& [given, key] : {std::pair{spec.cac_au.has_value(), "cac"},
                                       std::pair{spec.cac_percentile.has_value(), "cac_percentile"},
                                       std::pair{spec.risk_factors.has_value(), "risk_factors"},
                                       std::pair{spec.life_table.has_value(), "life_table"}}) {
        if (given) {
          throw InputError(fmt::format(
              "{}: arm '{}': subject.{} (rule: only model full has coronary calcium and "
              "outcomes; this scenario runs model '{}')",
              scenario.file, arm.name, key, model->name()));
        }
      }
    }
    if (!subject.newborn && subject.cholestasis) {
      throw InputError(fmt::format(
          "arm '{}': subject.cholestasis = true (rule: only with newborn = true)", arm.name));
    }
    for (const DoseSpec& d : arm.doses) {
      if (d.steady_state) {
        if (const std::string why = model->steady_state_dose_unsupported(d.substance);
            !why.empty()) {
          throw InputError(fmt::format("{}: {} dose with steady_state = true (rule: {})",
                                       d.where.str(), d.substance, why));
        }
      }
      if (subject.newborn && d.steady_state) {
        throw InputError(
            fmt::format("arm '{}': a {} dose with steady_state = true for a newborn "
                        "(rule: a newborn run starts from its birth state)",
                        arm.name, d.substance));
      }
    }
    if (subject.newborn && scenario.initialize_given &&
        scenario.initialize == Initialize::kSteadyState) {
      throw InputError(
          fmt::format("arm '{}': initialize = \"steady-state\" for a newborn (rule: "
                      "a newborn run starts from its birth state; use \"reference\")",
                      arm.name));
    }
    try {
      model->set_subject(subject);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: arm '{}': {}", scenario.file, arm.name, e.what()));
    }
    std::vector<DoseSpec> doses = arm.doses;
    DietInput diet_input;
    if (!arm.diet.empty() && !subject.newborn) {
      const DietIntake in = diet_intake(arm.diet, FoodTable::builtin());
      diet_input.given = true;
      diet_input.ca_mg_per_d = in.per_day[static_cast<std::size_t>(Nutrient::kCa)];
      diet_input.mg_mg_per_d = in.per_day[static_cast<std::size_t>(Nutrient::kMg)];
      diet_input.d3_ug_per_d = in.per_day[static_cast<std::size_t>(Nutrient::kD3)];
      diet_input.d2_ug_per_d = in.per_day[static_cast<std::size_t>(Nutrient::kD2)];
    }
    model->set_diet(diet_input);
    // A steady-state regimen whose first dose falls within its first interval joins the reset at
    // time 0 (with the diet's meals and the other steady-state doses; docs/engine.md, SS_LEAD);
    // one that starts later would reset the state then, wiping a diet's steady state.
    for (DoseSpec& d : doses) {
      if (!d.steady_state) continue;
      if (d.start_h < *d.every_h) {
        d.ss_lead_h = d.start_h;
      } else if (!arm.diet.empty()) {
        throw InputError(fmt::format(
            "{}: {} dose with steady_state = true and start = {} h, at or after one interval of "
            "{} h, with a [diet] (rule: a steady-state regimen starts within its first interval; "
            "a later start would reset the diet's steady state)",
            d.where.str(), d.substance, d.start_h, *d.every_h));
      }
    }
    const std::size_t n_user_doses = doses.size();
    bool continuous_start = false;
    std::vector<DoseSpec> at_equilibrium;
    if (!arm.diet.empty()) {
      if (subject.newborn) {
        throw InputError(fmt::format(
            "{}: arm '{}': a [diet] for a newborn (rule: a newborn drinks milk; subject.feeding)",
            scenario.file, arm.name));
      }
      if (!model->takes_diet()) {
        throw InputError(fmt::format("{}: arm '{}': a [diet] (rule: model '{}' takes no diet)",
                                     scenario.file, arm.name, model->name()));
      }
      // The diet's meals start at their periodic steady state when the run starts at the
      // steady state of the subject's background diet (docs/diet.md).
      const bool ss = scenario.initialize == Initialize::kSteadyState &&
                      model->periodic_steady_state_unsupported().empty();
      // A continuous diet without steady-state regimens starts from the equilibrium with its
      // constant inputs (below), which is far cheaper than a periodic steady state. A
      // steady-state regimen resets the state at time 0, so the meals then join its reset.
      // A steady-state regimen that is a constant input from time 0 to the end joins that
      // equilibrium (its periodic steady state is the equilibrium with it).
      continuous_start = ss && arm.diet.is_continuous() &&
                         std::all_of(doses.begin(), doses.end(), [](const DoseSpec& d) {
                           return !d.steady_state || constant_from_start(d);
                         });
      if (continuous_start) {
        for (DoseSpec& d : doses) {
          if (d.steady_state) {
            d.steady_state = false;
            d.ss_lead_h = 0.0;
            at_equilibrium.push_back(d);
          }
        }
      }
      const std::vector<DoseSpec> meals = diet_doses(
          arm.diet, FoodTable::builtin(), model->diet_substances(), ss && !continuous_start);
      doses.insert(doses.end(), meals.begin(), meals.end());
    }
    try {
      for (std::size_t i = 0; i < doses.size(); ++i) {
        if (!doses[i].titrate_to_inr) continue;
        // Arms with the same subject and the same steady-state doses share one titration.
        const std::string key = titration_key(arm.subject.covariates(), doses, i);
        const auto hit = std::find_if(titrated.begin(), titrated.end(),
                                      [&](const auto& kv) { return kv.first == key; });
        if (hit != titrated.end()) {
          doses[i].amount = hit->second.amount;
          doses[i].titrate_to_inr.reset();
          r.titrations.push_back(hit->second);
          continue;
        }
        r.titrations.push_back(titrate(*model, doses, i, options));
        titrated.emplace_back(key, r.titrations.back());
      }
    } catch (const TitrationFailure& e) {
      r.solve.status = SolveStatus::kSteadyStateNotFound;
      r.solve.message = e.what();
      result.arms.push_back(std::move(r));
      continue;
    }
    const std::size_t n = model->state_count();
    std::vector<double> y0(n);
    model->reset_state(y0);
    if (scenario.initialize == Initialize::kSteadyState && !subject.newborn) {
      // The steady state of the subject's background: the equilibrium without doses; a diet's
      // meals and steady-state regimens then set their periodic state at time 0.
      if (continuous_start) {
        // The meals and the steady-state constant inputs are the inputs at equilibrium.
        std::vector<DoseSpec> constant(doses.begin() + static_cast<std::ptrdiff_t>(n_user_doses),
                                       doses.end());
        constant.insert(constant.end(), at_equilibrium.begin(), at_equilibrium.end());
        std::vector<std::pair<std::size_t, double>> inputs;
        for (const DoseRecord& rec : dose_records(*model, constant, scenario.duration_h)) {
          inputs.emplace_back(rec.cmt, rec.rate);
        }
        const ConstantInputModel with_inputs(*model, inputs);
        r.solve = equilibrium(with_inputs, options, y0);
      } else {
        r.solve = equilibrium(*model, options, y0);
      }
      if (!r.solve.ok()) {
        r.solve.message = "initialize = steady-state: " + r.solve.message;
        result.arms.push_back(std::move(r));
        continue;
      }
    }
    // The doses of the scenario (titrated amounts), without the meals; and the diet's daily mean
    // intake of each intake column's substance, ug/d.
    const std::vector<DoseSpec> user_doses(
        doses.begin(), doses.begin() + static_cast<std::ptrdiff_t>(n_user_doses));
    std::vector<double> diet_ug_per_d(intakes.size(), 0.0);
    if (!arm.diet.empty()) {
      const DietIntake in = diet_intake(arm.diet, FoodTable::builtin());
      for (std::size_t c = 0; c < intakes.size(); ++c) {
        for (std::size_t k = 0; k < kNutrientCount; ++k) {
          if (nutrient_info()[k].substance == intakes[c].substance->name) {
            diet_ug_per_d[c] = in.per_day[k] * (nutrient_info()[k].unit == "mg" ? 1e3 : 1.0);
          }
        }
      }
    }
    const std::vector<DoseRecord> records = dose_records(*model, doses, scenario.duration_h);
    Trajectory traj;
    const SolveSummary init = r.solve;
    const std::size_t arm_index = result.arms.size();
    std::function<void(double)> on_time;
    if (progress) {
      on_time = [&](double t_h) { progress(arm_index, arms.size(), t_h / scenario.duration_h); };
    }
    model->set_start_state(y0);
    r.solve = simulate(*model, y0, 0.0, records, grid, options, traj, on_time);
    r.solve.steps += init.steps;
    r.solve.rhs_evals += init.rhs_evals;
    const std::size_t n_out = r.outputs.size();
    r.time_h = traj.time_h;
    r.values.resize(traj.time_h.size() * n_out);
    const std::size_t n_model = model->outputs().size();
    for (std::size_t i = 0; i < traj.time_h.size(); ++i) {
      model->compute_outputs(traj.time_h[i], &traj.states[i * n], &r.values[i * n_out]);
      for (std::size_t c = 0; c < intakes.size(); ++c) {
        const double ug =
            intake_at(user_doses, *intakes[c].substance, traj.time_h[i], scenario.duration_h) +
            diet_ug_per_d[c];
        const bool mineral = intakes[c].spec.unit == "mg/d";
        r.values[i * n_out + n_model + c] = mineral ? ug * 1e-3 : ug;
      }
    }
    for (std::size_t k = 0; k < n_out; ++k)
      r.stats.push_back(stats_of(r.time_h, r.values, k, n_out));
    result.arms.push_back(std::move(r));
  }
  return result;
}

void write_file_atomically(const std::string& path, const std::string& content) {
  const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError(fmt::format("{}: cannot open for writing", tmp));
    out << content;
    out.flush();
    if (!out) {
      out.close();
      std::filesystem::remove(tmp);
      throw IoError(fmt::format("{}: write failed", tmp));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw IoError(fmt::format("{}: cannot rename from {}: {}", path, tmp, ec.message()));
  }
}

nlohmann::json summary_json(const Scenario& scenario, const RunResult& result) {
  nlohmann::json j;
  j["scenario"] = scenario.echo;
  j["model"] = scenario.model;
  j["model_version"] = result.model_version;
  nlohmann::json arms = nlohmann::json::object();
  for (const ArmResult& a : result.arms) {
    nlohmann::json arm;
    nlohmann::json outputs = nlohmann::json::object();
    if (a.solve.ok()) {
      for (std::size_t k = 0; k < a.outputs.size(); ++k) {
        const OutputStats& s = a.stats[k];
        outputs[a.outputs[k].name] = {{"unit", a.outputs[k].unit},
                                      {"start", s.start},
                                      {"end", s.end},
                                      {"mean", s.mean},
                                      {"min", s.min},
                                      {"max", s.max}};
        if (a.bands && a.bands->members_ok > 0) {
          // 5-95% interval of each statistic over the ensemble, and its median.
          const auto& b = a.bands->stats[k];
          auto band = [&](double OutputStats::*m) {
            return nlohmann::json{{"p05", b[0].*m}, {"p50", b[1].*m}, {"p95", b[2].*m}};
          };
          outputs[a.outputs[k].name]["interval"] = {{"start", band(&OutputStats::start)},
                                                    {"end", band(&OutputStats::end)},
                                                    {"mean", band(&OutputStats::mean)},
                                                    {"min", band(&OutputStats::min)},
                                                    {"max", band(&OutputStats::max)}};
        }
      }
    }
    arm["outputs"] = outputs;
    arm["outcomes"] = nlohmann::json::object();
    arm["solver"] = {{"steps", a.solve.steps},
                     {"rhs_evals", a.solve.rhs_evals},
                     {"restarts", a.solve.restarts},
                     {"status", a.solve.ok() ? "ok" : "failed"}};
    if (a.solve.periods > 0) {
      arm["solver"]["multirate"] = {{"periods_integrated", a.solve.periods},
                                    {"lag_periods", a.solve.lag_periods},
                                    {"leftover_periods", a.solve.leftover_periods},
                                    {"leftover_resettles", a.solve.leftover_resettles},
                                    {"jumps", a.solve.jumps},
                                    {"jumped_days", a.solve.jumped_h / 24.0},
                                    {"slow_states", a.solve.multirate_slow}};
    }
    if (!a.solve.closed_form_depots.empty()) {
      arm["solver"]["closed_form_depots"] = a.solve.closed_form_depots;
    }
    if (!a.solve.ok()) arm["solver"]["message"] = a.solve.message;
    if (a.bands) arm["ensemble_members_ok"] = a.bands->members_ok;
    for (const Titration& t : a.titrations) {
      const units::Substance& s = units::find_substance(t.substance);
      arm["titration"].push_back({{"substance", t.substance},
                                  {"amount_mg", units::internal_amount_to_ug(s, t.amount) * 1e-3},
                                  {"target_inr", t.target_inr},
                                  {"steady_state_inr", t.achieved_inr}});
    }
    arms[a.name] = arm;
  }
  j["arms"] = arms;
  nlohmann::json hyp = nlohmann::json::object();
  for (const Hypothesis& h : hypotheses()) {
    const auto s = std::find_if(scenario.hypotheses.begin(), scenario.hypotheses.end(),
                                [&](const HypothesisSetting& x) { return x.name == h.name; });
    const bool on = s != scenario.hypotheses.end() && s->on;
    hyp[h.name] = {{"on", on},
                   {"parameter", h.parameter},
                   {"value", on ? s->value : h.neutral},
                   {"unit", h.unit}};
  }
  j["hypotheses"] = hyp;
  if (result.uncertainty) {
    const UncertaintyInfo& u = *result.uncertainty;
    j["uncertainty"] = {{"members", u.members},
                        {"seed", u.seed},
                        {"vary", u.vary},
                        {"quantiles", {0.05, 0.5, 0.95}},
                        {"parameters_varied", u.varied},
                        {"failed_members", u.failures}};
  }
  return j;
}

void write_run_directory(const Scenario& scenario, const RunResult& result,
                         const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError(fmt::format("{}: cannot create the output folder: {}", dir, ec.message()));
  const bool single = scenario.arms.empty();
  // The summary goes last: until it is written, the folder holds no summary that could be taken
  // for this run's. Trajectories of an earlier run of other arms are removed.
  std::filesystem::remove(std::filesystem::path(dir) / "summary.json", ec);
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool ours =
        name == "trajectory.csv" || (name.rfind("trajectory_", 0) == 0 && name.size() > 15 &&
                                     name.substr(name.size() - 4) == ".csv");
    if (ours) std::filesystem::remove(entry.path(), ec);
  }
  for (const ArmResult& a : result.arms) {
    const std::string file = single ? "trajectory.csv" : fmt::format("trajectory_{}.csv", a.name);
    const std::filesystem::path path = std::filesystem::path(dir) / file;
    if (!a.solve.ok()) continue;
    std::string csv = "time_d";
    // With an ensemble, the 5%, 50% and 95% bands follow the outputs' columns.
    const bool bands = a.bands && a.bands->members_ok > 0;
    for (const OutputSpec& o : a.outputs) csv += "," + o.name;
    if (bands) {
      for (const char* q : {"p05", "p50", "p95"}) {
        for (const OutputSpec& o : a.outputs) csv += fmt::format(",{}_{}", o.name, q);
      }
    }
    csv += "\n";
    const std::size_t n_out = a.outputs.size();
    for (std::size_t i = 0; i < a.time_h.size(); ++i) {
      csv += number(a.time_h[i] / 24.0);
      for (std::size_t k = 0; k < n_out; ++k) {
        csv += ",";
        csv += number(a.values[i * n_out + k]);
      }
      if (bands) {
        for (const auto* band : {&a.bands->p05, &a.bands->p50, &a.bands->p95}) {
          for (std::size_t k = 0; k < n_out; ++k) {
            csv += ",";
            csv += number((*band)[i * n_out + k]);
          }
        }
      }
      csv += "\n";
    }
    write_file_atomically(path.string(), csv);
  }
  write_file_atomically((std::filesystem::path(dir) / "summary.json").string(),
                        summary_json(scenario, result).dump(2) + "\n");
}

}  // namespace k2sim
