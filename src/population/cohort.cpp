// Virtual populations, cohorts and trials in silico (docs/cohorts.md).
#include "k2sim/population/cohort.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <mpi.h>

#include <fmt/format.h>

#include "../engine/sparsity.hpp"
#include "k2sim/diet/diet.hpp"
#include "k2sim/error.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/params/parameter_table.hpp"
#include "k2sim/population/statistics.hpp"
#include "k2sim/uncertainty/sampling.hpp"
#include "k2sim/units/substances.hpp"
#include "k2sim/units/units.hpp"

namespace k2sim {

namespace {

constexpr double kHoursPerYear = 8766.0;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kCohortRtol = 1e-6;   // (1): a cohort's default relative tolerance
constexpr double kCohortAtol = 1e-10;  // (internal amount units): its absolute tolerance

/// SplitMix64 stream: uniforms in (0, 1) and standard normals by inverse CDF.
class Stream {
 public:
  explicit Stream(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  double normal() { return normal_quantile(uniform()); }

 private:
  std::uint64_t state_;
};

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

double phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

/// Sigma of a log-normal with coefficient of variation cv.
double log_sigma(double cv) { return std::sqrt(std::log1p(cv * cv)); }

bool contains_any(const std::string& food, const std::vector<std::string>& parts) {
  return std::any_of(parts.begin(), parts.end(),
                     [&](const std::string& p) { return food.find(p) != std::string::npos; });
}

/// The CV of a food's amount: the first food_cv entry whose name part it contains, else diet_cv.
double food_cv_of(const PopulationSpec& p, const std::string& food) {
  for (const auto& [part, cv] : p.food_cv) {
    if (food.find(part) != std::string::npos) return cv;
  }
  return p.diet_cv;
}

/// Outputs recorded per arm (start and end) when the model has them.
const std::vector<std::string> kRecorded = {"dp_ucmgp_pmol_per_L",
                                            "plasma_k1_nmol_per_L",
                                            "plasma_mk7_nmol_per_L",
                                            "ucoc_percent",
                                            "inr",
                                            "serum_25ohd_nmol_per_L",
                                            "cac_agatston",
                                            "aac_score",
                                            "bmd_femoral_neck_rel",
                                            "bmd_lumbar_spine_rel",
                                            "chd_event_cum_prob",
                                            "chd_death_cum_prob",
                                            "death_cum_prob"};

const std::vector<std::string> kIntakeKeys = {"k1", "mk4", "mk7", "mk_total", "ca", "d_total"};

std::string intake_column(const std::string& key) {
  return fmt::format("intake_{}_{}_per_d", key, key == "ca" ? "mg" : "ug");
}

/// The intake key of an exposure "intake_<key>_ug_per_d" (or _mg_per_d), or "" for an output.
std::string exposure_intake_key(const std::string& exposure) {
  for (const char* suffix : {"_ug_per_d", "_mg_per_d"}) {
    const std::string s(suffix);
    if (exposure.rfind("intake_", 0) == 0 && exposure.size() > 7 + s.size() &&
        exposure.compare(exposure.size() - s.size(), s.size(), s) == 0) {
      return exposure.substr(7, exposure.size() - 7 - s.size());
    }
  }
  return {};
}

std::string num(double v) {
  if (!std::isfinite(v)) return v > 0 ? "inf" : (v < 0 ? "-inf" : "");
  return fmt::format("{:.10g}", v);
}

/// What a cohort records: the layout of subjects.csv.
struct Layout {
  std::vector<std::string> arms;
  std::vector<std::string> outputs;  ///< recorded as <output>_start, <output>_end per arm
  bool events = false;               ///< the model gives coronary and other-cause hazards
  bool severe_aac = false;
  bool confounded = false;  ///< endpoints also with the confounder's hazard term
  std::string exposure;     ///< [analysis] exposure, or ""
  std::vector<std::string> columns;
};

std::string arm_prefix(const Layout& l, std::size_t a) {
  return l.arms.size() == 1 ? std::string() : l.arms[a] + ".";
}

const std::vector<std::string> kEndpoints = {"chd_event", "chd_death", "death"};

Layout make_layout(const PreparedRun& run) {
  const Scenario& sc = run.scenario;
  Layout l;
  for (const ArmSpec& a : sc.resolved_arms()) l.arms.push_back(a.name);
  const std::unique_ptr<Model> model = make_model(sc.model, run.table);
  std::vector<std::string> names;
  for (const OutputSpec& o : model->outputs()) names.push_back(o.name);
  auto has = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  for (const std::string& o : kRecorded) {
    if (has(o)) l.outputs.push_back(o);
  }
  l.events = has("chd_cum_hazard") && has("other_death_cum_hazard");
  l.severe_aac = has("aac_score");
  l.confounded = sc.population->confounder.has_value();
  if (sc.analysis) {
    const AnalysisSpec& an = *sc.analysis;
    for (const std::string& o : an.outcomes) {
      if (!has(o)) {
        throw InputError(fmt::format("{}: analysis.outcomes: '{}' (rule: an output of model {}){}",
                                     an.where.str(), o, sc.model, did_you_mean(o, names)));
      }
      if (std::find(l.outputs.begin(), l.outputs.end(), o) == l.outputs.end())
        l.outputs.push_back(o);
    }
    for (const std::string& e : an.endpoints) {
      const bool ok = e == "severe_aac" ? l.severe_aac : l.events;
      if (!ok) {
        throw InputError(fmt::format(
            "{}: analysis.endpoints: '{}' (rule: model {} has no event hazards; use model full)",
            an.where.str(), e, sc.model));
      }
    }
    if (an.kind == AnalysisSpec::Kind::kCohort) {
      l.exposure = an.exposure;
      const std::string key = exposure_intake_key(an.exposure);
      if (!key.empty()) {
        try {
          (void)intake_of({}, key);
        } catch (const InputError& e) {
          throw InputError(fmt::format("{}: analysis.exposure = \"{}\" ({})", an.where.str(),
                                       an.exposure, e.what()));
        }
      } else if (!has(an.exposure)) {
        throw InputError(fmt::format(
            "{}: analysis.exposure = \"{}\" (rule: intake_<nutrient>_ug_per_d or an output of "
            "model {} at baseline){}",
            an.where.str(), an.exposure, sc.model, did_you_mean(an.exposure, names)));
      }
      if (std::find(l.outputs.begin(), l.outputs.end(), an.exposure) == l.outputs.end() &&
          key.empty()) {
        l.outputs.push_back(an.exposure);
      }
    }
  }
  auto& c = l.columns;
  c = {"id",
       "status",
       "age_y",
       "female",
       "body_weight_kg",
       "egfr_mL_per_min",
       "systolic_bp_mmHg",
       "cac_percentile_start",
       "smoker",
       "diabetes",
       "statin",
       "vka",
       "vkorc1",
       "confounder_z"};
  for (const std::string& k : kIntakeKeys) c.push_back(intake_column(k));
  if (!l.exposure.empty()) {
    c.emplace_back("exposure");
    c.emplace_back("exposure_observed");
  }
  c.emplace_back("randomized_arm");
  for (std::size_t a = 0; a < l.arms.size(); ++a) {
    const std::string p = arm_prefix(l, a);
    for (const std::string& o : l.outputs) {
      c.push_back(p + o + "_start");
      c.push_back(p + o + "_end");
    }
    if (l.events) {
      for (const char* suffix : {"", "_confounded"}) {
        if (*suffix != '\0' && !l.confounded) continue;
        for (const std::string& e : kEndpoints) {
          c.push_back(p + e + suffix + "_time_y");
          c.push_back(p + e + suffix);
        }
      }
    }
  }
  return l;
}

struct EventTimes {
  double chd_event_y, chd_death_y, death_y;  // event times (kInf: none before the end)
};

/// First time (h) at which m * H(t) reaches e, by linear interpolation on the output grid; kInf
/// when it does not within the run.
double crossing(const std::vector<double>& t, const std::vector<double>& h, double m, double e) {
  for (std::size_t i = 1; i < t.size(); ++i) {
    const double a = m * h[i - 1];
    const double b = m * h[i];
    if (b >= e) {
      if (b <= a) return t[i];
      return t[i - 1] + (e - a) / (b - a) * (t[i] - t[i - 1]);
    }
  }
  return kInf;
}

}  // namespace

SubjectEvents draw_events(const std::vector<double>& time_h, const std::vector<double>& chd_hazard,
                          const std::vector<double>& other_hazard, double multiplier, double e_chd,
                          double e_other, double u_fatal, double fatal_fraction) {
  SubjectEvents ev;
  const double end_y = time_h.back() / kHoursPerYear;
  const double te = crossing(time_h, chd_hazard, multiplier, e_chd) / kHoursPerYear;
  const double to = crossing(time_h, other_hazard, multiplier, e_other) / kHoursPerYear;
  // A first coronary event counts when it comes before death from other causes; a fatal one is
  // a coronary death (model full eq. 65: after a non-fatal event, only other causes remain).
  ev.chd_event = te < to && te <= end_y;
  const double censor = std::min(to, end_y);
  ev.chd_death = ev.chd_event && u_fatal < fatal_fraction;
  const double death_t = std::min(to, ev.chd_death ? te : kInf);
  ev.death = death_t <= end_y;
  ev.chd_event_time_y = ev.chd_event ? te : censor;
  ev.chd_death_time_y = ev.chd_death ? te : censor;
  ev.death_time_y = ev.death ? death_t : end_y;
  return ev;
}

double Distribution::at(double u) const {
  switch (kind) {
    case Kind::kFixed:
      return a;
    case Kind::kUniform:
      return a + u * (b - a);
    case Kind::kNormal: {
      if (b == 0.0) return a;
      const double lo = phi((min - a) / b);
      const double hi = phi((max - a) / b);
      const double p = std::clamp(lo + u * (hi - lo), 1e-300, 1.0 - 1e-16);
      return std::clamp(a + b * normal_quantile(p), min, max);
    }
    case Kind::kLogNormal: {
      const double s = log_sigma(b);
      if (s == 0.0) return a;
      const double lo = min > 0.0 ? phi(std::log(min / a) / s) : 0.0;
      const double hi = std::isfinite(max) ? phi(std::log(max / a) / s) : 1.0;
      const double p = std::clamp(lo + u * (hi - lo), 1e-300, 1.0 - 1e-16);
      return std::clamp(a * std::exp(s * normal_quantile(p)), min, max);
    }
  }
  return a;
}

SubjectDraw draw_subject(const PreparedRun& run, std::size_t id) {
  const PopulationSpec& pop = *run.scenario.population;
  const std::uint64_t subject_seed = member_seed(pop.seed, id);
  Stream s(subject_seed);
  SubjectDraw d;
  d.id = id;
  // Every draw is made whether or not the population uses it, in this order, so that a
  // subject's other draws do not depend on which keys the scenario sets.
  const double u_age = s.uniform();
  const double u_female = s.uniform();
  const double u_weight = s.uniform();
  const double u_egfr = s.uniform();
  const double u_sbp = s.uniform();
  const double u_cac = s.uniform();
  const double u_smoker = s.uniform();
  const double u_diabetes = s.uniform();
  const double u_statin = s.uniform();
  const double u_vkorc1 = s.uniform();
  d.confounder_z = s.normal();
  const double z_diet = s.normal();
  const double z_error = s.normal();
  d.e_chd = -std::log(s.uniform());
  d.e_other = -std::log(s.uniform());
  d.u_fatal = s.uniform();
  d.u_arm = s.uniform();
  // Draws added later come last, so that the draws above (and earlier results) stay the same.
  const double u_vka = s.uniform();

  d.scenario = run.scenario;
  Scenario& sc = d.scenario;
  SubjectSpec& sub = sc.subject;
  const SubjectSpec base = [&] {
    SubjectSpec b = reference_subject();
    b.override_with(run.scenario.subject);
    return b;
  }();
  if (pop.age_y) sub.age_y = pop.age_y->at(u_age);
  if (pop.female) {
    const bool female = u_female < *pop.female;
    sub.sex = female ? "female" : "male";
    if (!run.scenario.subject.height_cm) sub.height_cm = female ? 163.0 : 176.0;  // ICRP 89
    // Women of a population past 51 are postmenopausal (Peterson & Riggs' default centre).
    if (female && !base.menopause_age_y) sub.menopause_age_y = 51.0;
  }
  if (pop.body_weight_kg) sub.body_weight_kg = pop.body_weight_kg->at(u_weight);
  if (pop.egfr_mL_per_min) sub.egfr_mL_per_min_173 = pop.egfr_mL_per_min->at(u_egfr);
  {
    Distribution cac;
    cac.kind = Distribution::Kind::kUniform;
    cac.a = 0.0;
    cac.b = 100.0;
    if (pop.cac_percentile) cac = *pop.cac_percentile;
    // Only model full has coronary calcium.
    if (!base.cac_au && run.scenario.model == "full") {
      sub.cac_percentile = std::clamp(cac.at(u_cac), 0.01, 99.99);
    }
  }
  RiskFactors rf = base.risk_factors.value_or(RiskFactors{});
  if (pop.smoker) rf.smoker = u_smoker < *pop.smoker;
  if (pop.diabetes) rf.diabetes = u_diabetes < *pop.diabetes;
  if (pop.systolic_bp_mmHg) rf.systolic_bp_mmHg = pop.systolic_bp_mmHg->at(u_sbp);
  d.statin = pop.statin && u_statin < *pop.statin;
  if (d.statin) rf.lipid_lowering = true;
  if (pop.smoker || pop.diabetes || pop.systolic_bp_mmHg || pop.statin) sub.risk_factors = rf;
  if (!pop.vkorc1.empty()) {
    double acc = 0.0;
    for (const auto& [g, f] : pop.vkorc1) {
      acc += f;
      if (u_vkorc1 < acc) {
        sub.vkorc1 = g;
        break;
      }
    }
    if (!sub.vkorc1) sub.vkorc1 = pop.vkorc1.back().first;
  }
  if (d.statin) {
    // Atorvastatin 20 mg a day as a constant input (the cohort's users have taken it for long;
    // with a continuous diet the run then starts from the equilibrium with both inputs).
    DoseSpec statin;
    statin.substance = "atorvastatin";
    const double per_day = units::to_internal_amount(units::find_substance("atorvastatin"),
                                                     units::Quantity{20'000.0, units::dim::mass()});
    statin.every_h = 28.0 * 24.0;
    statin.amount = per_day * 28.0;
    statin.rate_per_h = per_day / 24.0;
    statin.meal_fat = MealFat::kUnspecified;
    statin.steady_state = true;
    statin.where = pop.where;
    sc.doses.push_back(statin);
  }
  d.vka = pop.vka && u_vka < *pop.vka;
  if (d.vka) {
    // Warfarin once a day at its periodic steady state, titrated to INR 2.5 (the middle of the
    // usual 2-3 range) for the subject's genotype and diet; 5 mg is the starting guess.
    DoseSpec vka;
    vka.substance = "warfarin";
    vka.amount = units::to_internal_amount(units::find_substance("warfarin"),
                                           units::Quantity{5'000.0, units::dim::mass()});
    vka.every_h = 24.0;
    vka.meal_fat = MealFat::kUnspecified;
    vka.steady_state = true;
    vka.titrate_to_inr = 2.5;
    vka.where = pop.where;
    sc.doses.push_back(vka);
  }
  // The diet: each food's amount times a mean-preserving log-normal factor, with a factor
  // shared by all foods (correlation) and the confounder on its foods.
  if (!run.scenario.diet.empty()) {
    DietSpec diet;
    diet.pasture_k2_factor = run.scenario.diet.pasture_k2_factor;
    diet.continuous = run.scenario.diet.continuous;
    const double rho = pop.diet_correlation;
    for (FoodItem item : diet_foods(run.scenario.diet)) {
      const double cv = food_cv_of(pop, item.food);
      const double sigma = log_sigma(cv);
      Stream fs(member_seed(subject_seed, fnv1a(item.food)));
      const double z = std::sqrt(rho) * z_diet + std::sqrt(1.0 - rho) * fs.normal();
      double factor = std::exp(sigma * z - sigma * sigma / 2.0);
      if (pop.confounder && contains_any(item.food, pop.confounder->foods)) {
        const double c = pop.confounder->log_effect_per_sd;
        factor *= std::exp(c * d.confounder_z - c * c / 2.0);
      }
      item.grams = std::clamp(item.grams * factor, 1e-6, 5000.0);
      diet.foods.push_back(item);
    }
    sc.diet = diet;
  }
  d.exposure_error = 1.0;
  if (sc.analysis && sc.analysis->exposure_error_cv > 0.0) {
    const double sg = log_sigma(sc.analysis->exposure_error_cv);
    d.exposure_error = std::exp(sg * z_error - sg * sg / 2.0);
  }
  // Between-subject variability: log-normal around the table's value, within its bounds.
  d.table = run.table;
  for (const auto& [name, cv] : pop.variability) {
    std::size_t i = 0;
    try {
      i = d.table.index(name);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: population.variability: {}", pop.where.str(), e.what()));
    }
    const Parameter& p = d.table.parameters()[i];
    Stream ps(member_seed(subject_seed ^ 0x5bd1e995ULL, fnv1a(name)));
    const double sg = log_sigma(cv);
    d.table.set_value(i, std::clamp(p.value * std::exp(sg * ps.normal()), p.lower, p.upper));
  }
  const SubjectCovariates cov = [&] {
    SubjectSpec full = reference_subject();
    full.override_with(sub);
    return full.covariates();
  }();
  d.age_y = cov.age_y;
  d.female = cov.female;
  d.body_weight_kg = cov.body_weight_kg;
  d.egfr_mL_per_min = cov.egfr * 1000.0 / 60.0;
  d.systolic_bp_mmHg = rf.systolic_bp_mmHg;
  d.cac_percentile = cov.cac_percentile;
  d.smoker = rf.smoker;
  d.diabetes = rf.diabetes;
  d.vkorc1 = cov.vkorc1;
  return d;
}

namespace {

/// Runs one subject and formats its row (no newline).
std::string subject_row(const PreparedRun& run, const Layout& l, std::size_t id) {
  std::vector<std::string> f;
  f.reserve(l.columns.size());
  std::string status = "ok";
  SubjectDraw d;
  RunResult res;
  try {
    d = draw_subject(run, id);
    res = run_scenario(d.scenario, d.table, run.options);
    for (const ArmResult& a : res.arms) {
      if (!a.solve.ok()) {
        status = fmt::format("failed: arm {}: {}", a.name, a.solve.message);
        break;
      }
    }
  } catch (const Error& e) {
    status = fmt::format("failed: {}", e.what());
  }
  f.push_back(std::to_string(id));
  // One line per subject: the journal and the analysis read line by line.
  std::replace(status.begin(), status.end(), '\n', ' ');
  std::replace(status.begin(), status.end(), '\r', ' ');
  f.push_back(csv_field(status));
  const bool ok = status == "ok";
  f.push_back(num(d.age_y));
  f.push_back(d.female ? "1" : "0");
  f.push_back(num(d.body_weight_kg));
  f.push_back(num(d.egfr_mL_per_min));
  f.push_back(d.systolic_bp_mmHg > 0 ? num(d.systolic_bp_mmHg) : "");
  f.push_back(num(d.cac_percentile));
  f.push_back(d.smoker ? "1" : "0");
  f.push_back(d.diabetes ? "1" : "0");
  f.push_back(d.statin ? "1" : "0");
  f.push_back(d.vka ? "1" : "0");
  f.push_back(d.vkorc1);
  f.push_back(num(d.confounder_z));
  std::array<double, kNutrientCount> per_day{};
  if (!d.scenario.diet.empty()) {
    try {
      per_day = diet_intake(d.scenario.diet, FoodTable::builtin()).per_day;
    } catch (const Error&) {
    }
  }
  for (const std::string& k : kIntakeKeys) f.push_back(num(intake_of(per_day, k)));
  const std::size_t n_arms = l.arms.size();
  const std::size_t arm =
      std::min(n_arms - 1, static_cast<std::size_t>(d.u_arm * static_cast<double>(n_arms)));
  auto output_at = [&](const ArmResult& a, const std::string& name, bool end) {
    for (std::size_t k = 0; k < a.outputs.size(); ++k) {
      if (a.outputs[k].name != name) continue;
      const std::size_t rows = a.time_h.size();
      return a.values[(end ? rows - 1 : 0) * a.outputs.size() + k];
    }
    return std::numeric_limits<double>::quiet_NaN();
  };
  if (!l.exposure.empty()) {
    const std::string key = exposure_intake_key(l.exposure);
    double x = std::numeric_limits<double>::quiet_NaN();
    if (!key.empty()) {
      x = intake_of(per_day, key);
    } else if (ok) {
      x = output_at(res.arms.front(), l.exposure, false);
    }
    f.push_back(num(x));
    f.push_back(num(x * d.exposure_error));
  }
  f.push_back(l.arms[arm]);
  const double pf =
      d.table.parameters().empty() || !l.events ? 0.0 : d.table.at("chd_fatal_fraction").value;
  for (std::size_t a = 0; a < n_arms; ++a) {
    const ArmResult* r = ok ? &res.arms[a] : nullptr;
    for (const std::string& o : l.outputs) {
      f.push_back(r ? num(output_at(*r, o, false)) : "");
      f.push_back(r ? num(output_at(*r, o, true)) : "");
    }
    if (!l.events) continue;
    for (int conf = 0; conf < (l.confounded ? 2 : 1); ++conf) {
      if (r == nullptr) {
        for (std::size_t k = 0; k < 2 * kEndpoints.size(); ++k) f.emplace_back();
        continue;
      }
      const double m =
          conf == 1
              ? std::pow(run.scenario.population->confounder->hazard_ratio_per_sd, d.confounder_z)
              : 1.0;
      std::vector<double> he;
      std::vector<double> ho;
      const std::size_t no = r->outputs.size();
      std::size_t ke = 0;
      std::size_t ko = 0;
      for (std::size_t k = 0; k < no; ++k) {
        if (r->outputs[k].name == "chd_cum_hazard") ke = k;
        if (r->outputs[k].name == "other_death_cum_hazard") ko = k;
      }
      for (std::size_t i = 0; i < r->time_h.size(); ++i) {
        he.push_back(r->values[i * no + ke]);
        ho.push_back(r->values[i * no + ko]);
      }
      const SubjectEvents ev = draw_events(r->time_h, he, ho, m, d.e_chd, d.e_other, d.u_fatal, pf);
      f.push_back(num(ev.chd_event_time_y));
      f.push_back(ev.chd_event ? "1" : "0");
      f.push_back(num(ev.chd_death_time_y));
      f.push_back(ev.chd_death ? "1" : "0");
      f.push_back(num(ev.death_time_y));
      f.push_back(ev.death ? "1" : "0");
    }
  }
  std::string row;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (i > 0) row += ',';
    row += f[i];
  }
  return row;
}

std::string header_line(const Layout& l) {
  std::string h;
  for (std::size_t i = 0; i < l.columns.size(); ++i) {
    if (i > 0) h += ',';
    h += l.columns[i];
  }
  return h;
}

/// The complete rows of a journal: checks its header and that rows are 0, 1, 2, ... and keeps
/// those that end with a newline. Returns their number and the byte length they take.
std::pair<std::size_t, std::size_t> journal_rows(const std::string& path,
                                                 const std::string& header) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("{}: cannot open the journal to resume", path));
  std::string line;
  if (!std::getline(in, line) || in.eof() || line != header) {
    throw InputError(fmt::format(
        "{}:1: the journal's header differs from this scenario's columns (rule: --resume "
        "continues a run of the same scenario and version)",
        path));
  }
  std::size_t rows = 0;
  std::size_t good = header.size() + 1;
  // A line counts when it ends with a newline (the last one may be cut off by a kill).
  while (std::getline(in, line) && !in.eof()) {
    const std::string id = line.substr(0, line.find(','));
    if (id != std::to_string(rows)) {
      throw InputError(
          fmt::format("{}:{}: row id '{}' (rule: rows 0, 1, 2, ... in order)", path, rows + 2, id));
    }
    ++rows;
    good += line.size() + 1;
  }
  return {rows, good};
}

}  // namespace

namespace {

/// Message tags between ranks: a finished row, and a rank's last message.
constexpr int kTagRow = 1;
constexpr int kTagDone = 2;

/// Rank and size of MPI_COMM_WORLD, 0 and 1 when MPI is not initialized (a plain run).
std::pair<int, int> mpi_world() {
  int init = 0;
  MPI_Initialized(&init);
  int fin = 0;
  MPI_Finalized(&fin);
  if (init == 0 || fin != 0) return {0, 1};
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return {rank, size};
}

}  // namespace

bool mpi_launched() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"}) {
    if (std::getenv(v) != nullptr) return true;
  }
  return false;
}

CohortSummary run_cohort(const Scenario& scenario, const Overrides& sets,
                         const CohortOptions& options) {
  if (!scenario.population) {
    throw InputError(fmt::format(
        "{}: no [population] table (rule: k2sim cohort runs a population; k2sim run runs one "
        "subject)",
        scenario.file));
  }
  const std::pair<int, int> world = mpi_world();
  const int rank = world.first;
  const int ranks = world.second;
  PreparedRun run =
      options.table ? prepare_run(scenario, sets, *options.table) : prepare_run(scenario, sets);
  // A cohort's own default tolerances, where neither the scenario's [solver] nor --set gives
  // them: rtol 1e-6 and atol 1e-10 (docs/cohorts.md "Speed"). Each subject's end values stay
  // within 3.6e-5 of a run at rtol 1e-11 (6.8e-7 at k2sim run's 1e-8 and 1e-12), far inside
  // both the Monte Carlo error of a cohort's estimates and the 1% that issue 11 allows an
  // approximation, for about half the steps (a 10-y subject of model full: 85 -> 44).
  if (!run.options.given("rtol")) run.options.rtol = kCohortRtol;
  if (!run.options.given("atol")) run.options.atol = kCohortAtol;
  for (const ArmSpec& a : run.scenario.arms) {
    if (a.diet.preset) {
      throw InputError(fmt::format(
          "{}: arm '{}': diet.preset (rule: in a cohort, arms share the scenario's [diet], whose "
          "foods vary between subjects; an arm may add foods)",
          a.where.str(), a.name));
    }
  }
  // A model that needs a background diet gets its default preset (as k2sim run gives it), here
  // so that it varies between subjects and gives the intake columns.
  if (run.scenario.diet.empty() && !run.scenario.subject.newborn.value_or(false)) {
    const std::string preset = make_model(run.scenario.model, run.table)->default_diet_preset();
    if (!preset.empty()) run.scenario.diet.preset = preset;
  }
  const Layout layout = make_layout(run);
  {
    // A population that does not fit the model fails here, once, rather than in every row: the
    // first subject is run, and only bad input (InputError) stops the cohort; any other failure
    // becomes its row.
    // Its runs also record the Jacobian patterns they probe, which every subject then starts
    // from (no probe of its own instead of nine; docs/engine.md "Solver"). The
    // store is frozen before the subjects run, so that each sees the same patterns whatever
    // the threads.
    run.options.patterns = std::make_shared<internal::PatternStore>();
    const SubjectDraw first = draw_subject(run, 0);
    try {
      (void)run_scenario(first.scenario, first.table, run.options);
    } catch (const InputError&) {
      throw;
    } catch (const Error&) {
    }
    run.options.patterns->freeze();
  }
  const std::size_t n = run.scenario.population->size;
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string final_path = (fs::path(options.out_dir) / "subjects.csv").string();
  const std::string partial = final_path + ".partial";
  const std::string header = header_line(layout);
  const std::string manifest_path = (fs::path(options.out_dir) / "cohort.json").string();
  CohortSummary summary;
  summary.subjects = n;
  std::size_t start = 0;
  std::FILE* out = nullptr;
  // Rank 0 owns the files: it opens or resumes the journal, then tells the others where to start
  // (or that it failed: every rank then stops).
  std::exception_ptr setup_error;
  if (rank == 0) {
    try {
      fs::create_directories(options.out_dir, ec);
      if (ec) {
        throw IoError(
            fmt::format("{}: cannot create the output folder: {}", options.out_dir, ec.message()));
      }
      nlohmann::json manifest = {
          {"scenario", run.scenario.echo},
          {"model_version", model_version()},
          {"solver", {{"rtol", run.options.rtol}, {"atol", run.options.atol}}},
          {"sets", nlohmann::json::array()},
          {"columns", header}};
      for (const auto& [k, v] : sets) manifest["sets"].push_back(k + "=" + v);
      for (const HypothesisSetting& h : run.scenario.hypotheses) {
        manifest["hypotheses"].push_back({h.name, h.on, h.value});
      }
      if (options.resume) {
        std::ifstream mf(manifest_path);
        nlohmann::json old;
        try {
          if (mf) old = nlohmann::json::parse(mf);
        } catch (const nlohmann::json::exception&) {
        }
        if (old != manifest) {
          throw InputError(fmt::format(
              "{}: --resume: {} (rule: --resume continues a run of the same scenario, settings "
              "and version in the same folder)",
              manifest_path, old.is_null() ? "no journal manifest here" : "the run here differs"));
        }
        // A finished run is resumed as a journal: a larger size extends it, the same size only
        // redoes the analysis.
        const bool finished = fs::exists(final_path) && !fs::exists(partial);
        const auto [rows, bytes] = journal_rows(finished ? final_path : partial, header);
        if (rows > n) {
          throw OptionError(fmt::format(
              "--resume: {} holds {} subjects, more than the population's size {} (rule: "
              "resume with the same or a larger size)",
              finished ? final_path : partial, rows, n));
        }
        if (finished) {
          fs::rename(final_path, partial, ec);
          if (ec) throw IoError(fmt::format("{}: cannot rename: {}", final_path, ec.message()));
        }
        {
          fs::resize_file(partial, bytes, ec);
          if (ec) throw IoError(fmt::format("{}: cannot truncate: {}", partial, ec.message()));
          start = rows;
          out = std::fopen(partial.c_str(), "ab");
          if (out == nullptr) throw IoError(fmt::format("{}: cannot open for appending", partial));
        }
        summary.resumed_from = start;
      } else {
        // The old results go first and the manifest last, so that a run killed in between
        // cannot resume an old journal under a new manifest.
        fs::remove(final_path, ec);
        out = std::fopen(partial.c_str(), "wb");
        if (out == nullptr) throw IoError(fmt::format("{}: cannot open for writing", partial));
        std::fputs((header + "\n").c_str(), out);
        std::fflush(out);
        write_file_atomically(manifest_path, manifest.dump(1) + "\n");
      }
    } catch (...) {
      setup_error = std::current_exception();
    }
  }
  if (ranks > 1) {
    unsigned long long s = setup_error ? ~0ULL : start;
    MPI_Bcast(&s, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    if (s == ~0ULL && !setup_error) {
      throw IoError("rank 0 could not open the journal (its message says why)");
    }
    start = static_cast<std::size_t>(s);
  }
  if (setup_error) std::rethrow_exception(setup_error);
  // Rank r runs the subjects start + r, start + r + ranks, ...; on each rank, threads take them
  // in order. Rank 0 writes rows in id order as they become contiguous (its own and those the
  // other ranks send); its threads wait when they run too far ahead of the writer.
  const unsigned threads =
      std::max(1U, options.threads != 0 ? options.threads : std::thread::hardware_concurrency());
  // The window is wide enough that a slow subject (a failed equilibrium tries a 20-year
  // relaxation) does not hold up the others: with 64 rows per thread, a million-subject cohort
  // left a core idle 15% of the time. A row is about 0.5 kB.
  const std::size_t window =
      2048 * static_cast<std::size_t>(threads) * static_cast<std::size_t>(ranks);
  const auto R = static_cast<std::size_t>(ranks);
  const auto r0 = static_cast<std::size_t>(rank);
  std::mutex mu;
  std::condition_variable cv_done;
  std::condition_variable cv_room;
  std::map<std::size_t, std::string> ready;
  std::size_t next_write = start;
  std::size_t next_k = 0;  // this rank's k-th subject: start + rank + k * ranks
  std::size_t finished = 0;
  std::exception_ptr failure;
  bool stop = false;
  const bool complete = start >= n;
  auto worker = [&] {
    while (true) {
      std::size_t id = 0;
      {
        std::unique_lock lock(mu);
        const auto id_of = [&](std::size_t k) { return start + r0 + k * R; };
        cv_room.wait(lock, [&] {
          return stop || rank != 0 || id_of(next_k) < next_write + window || id_of(next_k) >= n;
        });
        if (stop) return;
        id = id_of(next_k++);
      }
      if (id >= n) return;
      std::string row;
      try {
        row = subject_row(run, layout, id);
      } catch (...) {
        std::lock_guard lock(mu);
        if (!failure) failure = std::current_exception();
        stop = true;
        cv_done.notify_all();
        cv_room.notify_all();
        return;
      }
      std::lock_guard lock(mu);
      ready.emplace(id, std::move(row));
      ++finished;
      cv_done.notify_all();
    }
  };
  std::vector<std::thread> pool;
  if (!complete) {
    for (unsigned i = 0; i < threads; ++i) pool.emplace_back(worker);
  }
  if (rank != 0 && complete) return summary;  // rank 0 redoes the analysis
  const std::size_t mine = complete || start + r0 >= n ? 0 : (n - start - r0 + R - 1) / R;
  if (rank != 0 && !complete) {
    // Send each finished row to rank 0 (this thread makes every MPI call: MPI_THREAD_FUNNELED).
    std::size_t sent = 0;
    std::unique_lock lock(mu);
    while (sent < mine && !stop) {
      cv_done.wait(lock, [&] { return stop || !ready.empty(); });
      std::map<std::size_t, std::string> batch;
      batch.swap(ready);
      lock.unlock();
      for (const auto& [id, row] : batch) {
        MPI_Send(row.data(), static_cast<int>(row.size()), MPI_CHAR, 0, kTagRow, MPI_COMM_WORLD);
        ++sent;
      }
      lock.lock();
    }
    stop = true;
    cv_room.notify_all();
    lock.unlock();
    for (auto& t : pool) t.join();
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "k2sim: rank %d: %s\n", rank, e.what());
      }
      MPI_Abort(MPI_COMM_WORLD, 4);
    }
    MPI_Send(nullptr, 0, MPI_CHAR, 0, kTagDone, MPI_COMM_WORLD);
    return summary;
  }
  // On an exception in this thread, stop and join the workers (a joinable std::thread would
  // terminate the program when destroyed).
  struct JoinGuard {
    std::vector<std::thread>& pool;
    std::mutex& mu;
    bool& stop;
    std::condition_variable& a;
    std::condition_variable& b;
    ~JoinGuard() {
      {
        std::lock_guard lock(mu);
        stop = true;
      }
      a.notify_all();
      b.notify_all();
      for (auto& t : pool) {
        if (t.joinable()) t.join();
      }
    }
  } join_guard{pool, mu, stop, cv_done, cv_room};
  if (rank == 0 && !complete) {
    int remote_done = 0;
    std::unique_lock lock(mu);
    while (next_write < n && !stop) {
      if (ranks > 1) {
        // Rows from the other ranks: poll between short waits for this rank's own.
        cv_done.wait_for(lock, std::chrono::milliseconds(5),
                         [&] { return stop || ready.count(next_write) > 0; });
        lock.unlock();
        while (true) {
          int flag = 0;
          MPI_Status st;
          MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
          if (flag == 0) break;
          int count = 0;
          MPI_Get_count(&st, MPI_CHAR, &count);
          std::string row(static_cast<std::size_t>(count), '\0');
          MPI_Recv(row.data(), count, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD,
                   MPI_STATUS_IGNORE);
          if (st.MPI_TAG == kTagDone) {
            ++remote_done;
            continue;
          }
          const std::size_t id = std::stoull(row.substr(0, row.find(',')));
          std::lock_guard guard(mu);
          ready.emplace(id, std::move(row));
        }
        lock.lock();
      } else {
        cv_done.wait(lock, [&] { return stop || ready.count(next_write) > 0; });
      }
      std::string chunk;
      while (ready.count(next_write) > 0) {
        chunk += ready[next_write];
        chunk += '\n';
        ready.erase(next_write);
        ++next_write;
      }
      cv_room.notify_all();
      lock.unlock();
      if (!chunk.empty()) {
        std::fputs(chunk.c_str(), out);
        std::fflush(out);
        if (options.progress) options.progress(next_write - start, n - start);
      }
      lock.lock();
    }
    stop = true;
    cv_room.notify_all();
    lock.unlock();
    for (auto& t : pool) t.join();
    // The other ranks' last messages.
    while (ranks > 1 && remote_done < ranks - 1 && !failure) {
      MPI_Status st;
      MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
      int count = 0;
      MPI_Get_count(&st, MPI_CHAR, &count);
      std::string buf(static_cast<std::size_t>(count), '\0');
      MPI_Recv(buf.data(), count, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
      if (st.MPI_TAG == kTagDone) ++remote_done;
    }
    const bool write_error = std::ferror(out) != 0;
    std::fclose(out);
    if (failure) {
      if (ranks > 1) {
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "k2sim: rank 0: %s\n", e.what());
        }
        MPI_Abort(MPI_COMM_WORLD, 4);
      }
      std::rethrow_exception(failure);
    }
    if (write_error) throw IoError(fmt::format("{}: write failed", partial));
    fs::rename(partial, final_path, ec);
    if (ec) throw IoError(fmt::format("{}: cannot rename: {}", partial, ec.message()));
  } else if (rank == 0 && out != nullptr) {
    // Nothing left to run (a resumed journal that was complete).
    std::fclose(out);
    fs::rename(partial, final_path, ec);
    if (ec) throw IoError(fmt::format("{}: cannot rename: {}", partial, ec.message()));
  }
  summary.analysis = analyse_subjects(run.scenario, final_path);
  summary.failed = summary.analysis.value("failed_subjects", std::size_t{0});
  nlohmann::json js = {{"scenario", run.scenario.echo},
                       {"model_version", model_version()},
                       {"solver", {{"rtol", run.options.rtol}, {"atol", run.options.atol}}},
                       {"population",
                        {{"size", n},
                         {"seed", run.scenario.population->seed},
                         {"failed", summary.failed},
                         {"ranks", ranks},
                         {"arms", layout.arms}}},
                       {"analysis", summary.analysis}};
  write_file_atomically((fs::path(options.out_dir) / "summary.json").string(), js.dump(2) + "\n");
  return summary;
}

}  // namespace k2sim
