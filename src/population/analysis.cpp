// Analyses of a finished cohort (subjects.csv): exposure groups with relative risks and Cox
// hazard ratios, the bias analysis, and trial effects with power (docs/cohorts.md).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include "k2sim/error.hpp"
#include "k2sim/params/parameter_table.hpp"
#include "k2sim/population/cohort.hpp"
#include "k2sim/population/statistics.hpp"
#include "k2sim/uncertainty/sampling.hpp"

namespace k2sim {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// What the analysis reads of subjects.csv, subjects whose status is "ok" only: the columns it
/// needs as numbers (randomized_arm as text), and a running mean and SD of every numeric column.
/// Memory: the needed columns only (a few doubles per subject), not the file.
struct Table {
  std::vector<std::string> names;
  std::map<std::string, std::vector<double>> kept;
  std::vector<std::string> arm;  ///< randomized_arm
  std::vector<double> sum, sum2;
  std::vector<std::size_t> count;
  std::size_t rows = 0;
  std::size_t failed = 0;
  std::string file;

  [[nodiscard]] bool has(const std::string& name) const {
    return std::find(names.begin(), names.end(), name) != names.end();
  }
  [[nodiscard]] std::vector<double> numbers(const std::string& name) const {
    const auto it = kept.find(name);
    if (it == kept.end()) throw InputError(fmt::format("{}: no column '{}'", file, name));
    return it->second;
  }
};

Table read_subjects(const std::string& path, const std::function<bool(const std::string&)>& keep) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("{}: cannot open", path));
  Table t;
  t.file = path;
  std::string line;
  if (!std::getline(in, line)) throw InputError(fmt::format("{}:1: empty file", path));
  t.names = split_csv_line(line);
  const std::size_t nc = t.names.size();
  t.sum.assign(nc, 0.0);
  t.sum2.assign(nc, 0.0);
  t.count.assign(nc, 0);
  const auto status = std::find(t.names.begin(), t.names.end(), "status");
  if (status == t.names.end()) throw InputError(fmt::format("{}:1: no status column", path));
  const auto si = static_cast<std::size_t>(status - t.names.begin());
  std::vector<std::vector<double>*> slot(nc, nullptr);
  std::size_t arm_col = nc;
  for (std::size_t k = 0; k < nc; ++k) {
    if (t.names[k] == "randomized_arm") arm_col = k;
    if (keep(t.names[k]) && k != arm_col) slot[k] = &t.kept[t.names[k]];
  }
  std::size_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    const std::vector<std::string> f = split_csv_line(line);
    if (f.size() != nc) {
      throw InputError(
          fmt::format("{}:{}: {} fields (rule: {} as in the header)", path, line_no, f.size(), nc));
    }
    if (f[si] != "ok") {
      ++t.failed;
      continue;
    }
    for (std::size_t k = 0; k < nc; ++k) {
      if (k == si || k == arm_col || t.names[k] == "vkorc1") continue;
      double x = kNaN;
      if (!f[k].empty()) {
        char* end = nullptr;
        x = std::strtod(f[k].c_str(), &end);
        if (end == f[k].c_str() || *end != '\0') {
          throw InputError(fmt::format("{}:{}: column {} = \"{}\" (rule: a number)", path, line_no,
                                       t.names[k], f[k]));
        }
      }
      if (slot[k] != nullptr) slot[k]->push_back(x);
      if (std::isfinite(x)) {
        t.sum[k] += x;
        t.sum2[k] += x * x;
        ++t.count[k];
      }
    }
    if (arm_col < nc && keep(t.names[arm_col])) t.arm.push_back(f[arm_col]);
    ++t.rows;
  }
  return t;
}

/// The columns an analysis reads.
std::function<bool(const std::string&)> needed_columns(const Scenario& sc) {
  if (!sc.analysis) return [](const std::string&) { return false; };
  std::set<std::string> need = {
      "exposure_observed", "confounder_z", "age_y", "female",         "smoker",
      "diabetes",          "statin",       "vka",   "egfr_mL_per_min"};
  const std::vector<ArmSpec> arms = sc.resolved_arms();
  for (std::size_t a = 0; a < arms.size(); ++a) {
    const std::string p = arms.size() == 1 ? std::string() : arms[a].name + ".";
    need.insert(p + "aac_score_end");
    for (const char* e : {"chd_event", "chd_death", "death"}) {
      for (const char* suffix : {"", "_confounded"}) {
        need.insert(p + e + suffix);
        need.insert(p + e + suffix + "_time_y");
      }
      need.insert(p + e + "_cum_prob_end");
    }
    if (sc.analysis) {
      for (const std::string& o : sc.analysis->outcomes) {
        need.insert(p + o + "_start");
        need.insert(p + o + "_end");
      }
    }
  }
  if (sc.analysis->kind == AnalysisSpec::Kind::kTrial) need.insert("randomized_arm");
  return [need](const std::string& name) { return need.count(name) > 0; };
}

nlohmann::json estimate_json(const Estimate& e) {
  auto v = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(); };
  return {{"value", v(e.value)}, {"ci95", {v(e.low), v(e.high)}}};
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0.0;
  double saa = 0.0;
  double sbb = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

/// Covariate columns of `adjust` (age, sex, ...).
std::vector<std::vector<double>> adjusters(const Table& t, const std::vector<std::string>& adjust) {
  std::vector<std::vector<double>> out;
  for (const std::string& a : adjust) {
    if (a == "age") out.push_back(t.numbers("age_y"));
    if (a == "sex") out.push_back(t.numbers("female"));
    if (a == "smoker") out.push_back(t.numbers("smoker"));
    if (a == "diabetes") out.push_back(t.numbers("diabetes"));
    if (a == "statin") out.push_back(t.numbers("statin"));
    if (a == "vka") out.push_back(t.numbers("vka"));
    if (a == "egfr") out.push_back(t.numbers("egfr_mL_per_min"));
  }
  return out;
}

nlohmann::json cohort_analysis(const Scenario& sc, const Table& t) {
  const AnalysisSpec& an = *sc.analysis;
  const std::vector<ArmSpec> arms = sc.resolved_arms();
  const std::string p = arms.size() == 1 ? std::string() : arms.front().name + ".";
  const std::vector<double> x = t.numbers("exposure_observed");
  const QuantileGroups q = quantile_groups(x, an.groups);
  const auto G = static_cast<std::size_t>(an.groups);
  nlohmann::json j;
  j["kind"] = "cohort";
  j["arm"] = arms.front().name;
  j["exposure"] = an.exposure;
  j["groups"] = an.groups;
  j["cutoffs"] = q.cutoffs;
  j["exposure_error_cv"] = an.exposure_error_cv;
  j["adjusted_for"] = an.adjust;
  {
    std::vector<std::size_t> n(G, 0);
    std::vector<double> sum(G, 0.0);
    for (std::size_t i = 0; i < x.size(); ++i) {
      ++n[static_cast<std::size_t>(q.group[i])];
      sum[static_cast<std::size_t>(q.group[i])] += x[i];
    }
    for (std::size_t g = 0; g < G; ++g) {
      j["group_subjects"].push_back(n[g]);
      j["group_mean_exposure"].push_back(n[g] > 0 ? sum[g] / static_cast<double>(n[g]) : kNaN);
    }
  }
  if (t.has("confounder_z") && sc.population->confounder) {
    std::vector<double> lx;
    for (double v : x) lx.push_back(std::log(std::max(v, 1e-12)));
    j["confounder_exposure_correlation"] = correlation(t.numbers("confounder_z"), lx);
  }
  const std::vector<std::vector<double>> adj = adjusters(t, an.adjust);
  const bool confounded = t.has(p + "death_confounded");
  for (const std::string& e : an.endpoints) {
    nlohmann::json ej;
    for (int conf = 0; conf < (confounded && e != "severe_aac" ? 2 : 1); ++conf) {
      const std::string key = conf == 1 ? "confounded" : "causal";
      nlohmann::json r;
      if (e == "severe_aac") {
        const std::vector<double> aac = t.numbers(p + "aac_score_end");
        std::vector<double> cases(G, 0.0);
        std::vector<double> n(G, 0.0);
        for (std::size_t i = 0; i < aac.size(); ++i) {
          const auto g = static_cast<std::size_t>(q.group[i]);
          n[g] += 1.0;
          if (aac[i] >= an.severe_aac_score) cases[g] += 1.0;
        }
        r["measure"] = "odds ratio at the end of follow-up";
        r["threshold_aac24"] = an.severe_aac_score;
        for (std::size_t g = 0; g < G; ++g) {
          r["cases"].push_back(cases[g]);
          r["prevalence"].push_back(n[g] > 0 ? cases[g] / n[g] : kNaN);
          r["odds_ratio"].push_back(
              g == 0 ? estimate_json({1.0, 1.0, 1.0})
                     : estimate_json(odds_ratio(cases[g], n[g], cases[0], n[0])));
        }
        const Estimate top = odds_ratio(cases[G - 1], n[G - 1], cases[0], n[0]);
        r["top_vs_bottom"] = top.value;
        ej[key] = r;
        continue;
      }
      const std::string suffix = conf == 1 ? "_confounded" : "";
      const std::vector<double> time = t.numbers(p + e + suffix + "_time_y");
      const std::vector<double> ev = t.numbers(p + e + suffix);
      std::vector<int> event;
      std::vector<double> events(G, 0.0);
      std::vector<double> n(G, 0.0);
      std::vector<double> py(G, 0.0);
      for (std::size_t i = 0; i < time.size(); ++i) {
        const auto g = static_cast<std::size_t>(q.group[i]);
        event.push_back(ev[i] > 0.5 ? 1 : 0);
        n[g] += 1.0;
        py[g] += time[i];
        events[g] += event.back();
      }
      // Cox model: indicators of groups 2..G against the lowest, then the adjusters. A column
      // without variation (an adjuster nobody has, an empty group) is left out, and a group
      // without events gets no hazard ratio (its estimate runs off to 0 or infinity).
      std::vector<std::vector<double>> columns;
      for (std::size_t g = 1; g < G; ++g) {
        std::vector<double> c(time.size());
        for (std::size_t i = 0; i < time.size(); ++i) {
          c[i] = static_cast<std::size_t>(q.group[i]) == g ? 1.0 : 0.0;
        }
        columns.push_back(std::move(c));
      }
      for (const auto& a : adj) columns.push_back(a);
      std::vector<std::size_t> used;
      for (std::size_t k = 0; k < columns.size(); ++k) {
        const auto [lo, hi] = std::minmax_element(columns[k].begin(), columns[k].end());
        const bool group_without_events = k + 1 < G && events[k + 1] == 0.0;
        if (lo != columns[k].end() && *lo < *hi && !group_without_events) used.push_back(k);
      }
      const bool reference_without_events = events[0] == 0.0;
      std::vector<std::vector<double>> cx(time.size());
      for (std::size_t i = 0; i < time.size(); ++i) {
        for (std::size_t k : used) cx[i].push_back(columns[k][i]);
      }
      const CoxFit fit = reference_without_events ? CoxFit{} : cox_efron(time, event, cx);
      auto hr_of_group = [&](std::size_t g) -> Estimate {
        const auto it = std::find(used.begin(), used.end(), g - 1);
        if (!fit.converged || it == used.end()) return {kNaN, kNaN, kNaN};
        return hazard_ratio(fit, static_cast<std::size_t>(it - used.begin()));
      };
      r["events"] = events;
      r["person_years"] = py;
      for (std::size_t g = 0; g < G; ++g) {
        r["risk"].push_back(n[g] > 0 ? events[g] / n[g] : kNaN);
        r["risk_ratio"].push_back(
            g == 0 ? estimate_json({1.0, 1.0, 1.0})
                   : estimate_json(risk_ratio(events[g], n[g], events[0], n[0])));
        r["hazard_ratio"].push_back(g == 0 ? estimate_json({1.0, 1.0, 1.0})
                                           : estimate_json(hr_of_group(g)));
      }
      // The model's own probability of the endpoint by the end, averaged per group: free of the
      // noise of drawn events (the causal analysis only; the confounder acts on drawn events).
      const std::string prob = p + e + "_cum_prob_end";
      if (conf == 0 && t.has(prob)) {
        const std::vector<double> pr = t.numbers(prob);
        std::vector<double> sum(G, 0.0);
        for (std::size_t i = 0; i < pr.size(); ++i)
          sum[static_cast<std::size_t>(q.group[i])] += pr[i];
        for (std::size_t g = 0; g < G; ++g) {
          const double mean = n[g] > 0 ? sum[g] / n[g] : kNaN;
          r["expected_risk"].push_back(mean);
          r["expected_risk_ratio"].push_back(mean / (sum[0] / n[0]));
        }
      }
      r["cox_converged"] = fit.converged;
      r["top_vs_bottom"] = hr_of_group(G - 1).value;
      ej[key] = r;
    }
    for (const auto& [ep, published] : an.published) {
      if (ep != e) continue;
      const double causal = ej["causal"]["top_vs_bottom"].is_number()
                                ? ej["causal"]["top_vs_bottom"].get<double>()
                                : kNaN;
      nlohmann::json b;
      b["published"] = published;
      b["model_causal"] = causal;
      // The bias that would turn the model's causal ratio into the published one, and the
      // E-values of that bias and of the published ratio itself.
      const double bias = published / causal;
      b["bias_needed"] = bias;
      b["e_value_of_bias"] = e_value(bias);
      b["e_value_of_published"] = e_value(published);
      if (ej.contains("confounded")) b["model_confounded"] = ej["confounded"]["top_vs_bottom"];
      ej["bias_analysis"] = b;
    }
    j["endpoints"][e] = ej;
  }
  return j;
}

nlohmann::json trial_analysis(const Scenario& sc, const Table& t) {
  const AnalysisSpec& an = *sc.analysis;
  const std::vector<ArmSpec> arms = sc.resolved_arms();
  const std::size_t A = arms.size();
  auto prefix = [&](std::size_t a) { return A == 1 ? std::string() : arms[a].name + "."; };
  const std::vector<std::string>& assigned = t.arm;
  std::vector<std::size_t> arm_of(t.rows, 0);
  for (std::size_t i = 0; i < t.rows; ++i) {
    for (std::size_t a = 0; a < A; ++a) {
      if (assigned[i] == arms[a].name) arm_of[i] = a;
    }
  }
  nlohmann::json j;
  j["kind"] = "trial";
  j["reference_arm"] = arms.front().name;
  for (std::size_t a = 0; a < A; ++a) {
    j["randomized"][arms[a].name] = std::count(arm_of.begin(), arm_of.end(), a);
  }
  // change[a][i]: subject i's change from baseline had it been in arm a (every subject runs
  // every arm; the trial sees only the arm it was randomized to).
  for (const std::string& o : an.outcomes) {
    std::vector<std::vector<double>> change(A);
    for (std::size_t a = 0; a < A; ++a) {
      const std::vector<double> s = t.numbers(prefix(a) + o + "_start");
      const std::vector<double> e = t.numbers(prefix(a) + o + "_end");
      for (std::size_t i = 0; i < t.rows; ++i) change[a].push_back(e[i] - s[i]);
    }
    nlohmann::json oj;
    std::vector<std::vector<double>> observed(A);
    for (std::size_t i = 0; i < t.rows; ++i) observed[arm_of[i]].push_back(change[arm_of[i]][i]);
    for (std::size_t a = 0; a < A; ++a) {
      const auto& v = observed[a];
      const double mean =
          v.empty() ? kNaN
                    : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
      oj["mean_change"][arms[a].name] = mean;
      if (a == 0) continue;
      nlohmann::json ej = estimate_json(mean_difference(observed[a], observed[0]));
      // The effect in the whole population (each subject against itself): the truth the trial
      // estimates.
      double d = 0.0;
      for (std::size_t i = 0; i < t.rows; ++i) d += change[a][i] - change[0][i];
      ej["population_effect"] = t.rows > 0 ? d / static_cast<double>(t.rows) : kNaN;
      oj["effect_vs_reference"][arms[a].name] = ej;
      // Power: trials of n per arm drawn from the simulated population (with replacement),
      // each analysed as the trial is; significant when the 95% interval excludes 0.
      for (std::size_t size : an.power_sizes) {
        std::uint64_t state =
            member_seed(sc.population->seed ^ 0x7f4a7c159e3779b9ULL, size * 131 + a);
        auto next = [&] {
          std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
          z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
          z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
          return z ^ (z >> 31);
        };
        std::size_t significant = 0;
        std::vector<double> x1(size);
        std::vector<double> x0(size);
        for (std::size_t r = 0; r < an.power_replicates; ++r) {
          for (std::size_t k = 0; k < size; ++k) {
            x1[k] = change[a][next() % t.rows];
            x0[k] = change[0][next() % t.rows];
          }
          const Estimate est = mean_difference(x1, x0);
          const double z = 1.959963984540054;
          const double se = (est.high - est.low) / (2.0 * z);
          const double crit = normal_quantile(1.0 - an.alpha / 2.0) * se;
          if (std::abs(est.value) > crit) ++significant;
        }
        const double pw =
            static_cast<double>(significant) / static_cast<double>(an.power_replicates);
        oj["power"][arms[a].name].push_back(
            {{"per_arm", size},
             {"power", pw},
             {"monte_carlo_se",
              std::sqrt(pw * (1.0 - pw) / static_cast<double>(an.power_replicates))}});
      }
    }
    j["outcomes"][o] = oj;
  }
  for (const std::string& e : an.endpoints) {
    nlohmann::json ej;
    std::vector<double> events(A, 0.0);
    std::vector<double> n(A, 0.0);
    std::vector<std::vector<double>> ev(A);
    for (std::size_t a = 0; a < A; ++a) ev[a] = t.numbers(prefix(a) + e);
    for (std::size_t i = 0; i < t.rows; ++i) {
      n[arm_of[i]] += 1.0;
      events[arm_of[i]] += ev[arm_of[i]][i] > 0.5 ? 1.0 : 0.0;
    }
    for (std::size_t a = 0; a < A; ++a) {
      ej["events"][arms[a].name] = events[a];
      if (a > 0) {
        ej["risk_ratio"][arms[a].name] =
            estimate_json(risk_ratio(events[a], n[a], events[0], n[0]));
      }
    }
    j["endpoints"][e] = ej;
  }
  return j;
}

}  // namespace

nlohmann::json analyse_subjects(const Scenario& scenario, const std::string& subjects_csv,
                                const std::string& exposure) {
  const auto needed = needed_columns(scenario);
  Table t = read_subjects(subjects_csv, [&](const std::string& name) {
    return needed(name) || (!exposure.empty() && (name == exposure || name == "exposure"));
  });
  Scenario sc = scenario;
  if (!exposure.empty() && sc.analysis) {
    // Another column as the exposure, observed with the same food-frequency error as the one
    // the cohort ran with (the ratio of its observed to its true value).
    const std::vector<double> other = t.numbers(exposure);
    const std::vector<double> run = t.numbers("exposure");
    const auto kept = t.kept.find("exposure_observed");
    if (kept == t.kept.end()) {
      throw InputError(fmt::format("{}: no column 'exposure_observed'", subjects_csv));
    }
    std::vector<double>& observed = kept->second;
    for (std::size_t i = 0; i < observed.size(); ++i) {
      observed[i] = run[i] > 0.0 ? other[i] * observed[i] / run[i] : other[i];
    }
    sc.analysis->exposure = exposure;
  }
  nlohmann::json j;
  if (sc.analysis && t.rows > 1) {
    j = sc.analysis->kind == AnalysisSpec::Kind::kCohort ? cohort_analysis(sc, t)
                                                         : trial_analysis(sc, t);
  } else {
    j["kind"] = "population";
  }
  j["subjects_ok"] = t.rows;
  j["failed_subjects"] = t.failed;
  // Means and SDs of the numeric columns over the subjects (population summaries).
  for (std::size_t k = 0; k < t.names.size(); ++k) {
    const std::string& name = t.names[k];
    if (name == "id" || t.count[k] == 0) continue;
    const auto m = static_cast<double>(t.count[k]);
    const double mean = t.sum[k] / m;
    const double var = t.count[k] > 1 ? (t.sum2[k] - t.sum[k] * mean) / (m - 1.0) : 0.0;
    j["means"][name] = {{"mean", mean}, {"sd", std::sqrt(std::max(0.0, var))}};
  }
  return j;
}

}  // namespace k2sim
