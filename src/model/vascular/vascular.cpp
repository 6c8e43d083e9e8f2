#include "vascular.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numbers>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "k2sim/error.hpp"
#include "k2sim/uncertainty/sampling.hpp"
#include "k2sim/units/units.hpp"

namespace k2sim {
namespace internal {
std::string_view embedded_file(std::string_view path);  // generated at build time
}  // namespace internal
}  // namespace k2sim

namespace k2sim::internal {

namespace {

constexpr double kHoursPerYear = 365.25 * 24.0;

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double logistic(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Percentile q of a zero-inflated log-normal: 0 below the zero fraction, else exp(mu + sigma z).
double zero_inflated_quantile(double q, double p_positive, double mu, double sigma) {
  if (q <= 1.0 - p_positive) return 0.0;
  const double u = 1.0 - (1.0 - q) / p_positive;
  return std::exp(mu + sigma * normal_quantile(u));
}

}  // namespace

const std::array<std::string_view, Vascular::kParams> Vascular::kParamNames = {
    "cac_a50_male",
    "cac_a50_female",
    "cac_onset_scale",
    "cac_log_median_male_60",
    "cac_log_median_female_60",
    "cac_log_sd_male",
    "cac_log_sd_female",
    "cac_log_growth",
    "mgp_cac_effect",
    "mgp_carboxylated_reference",
    "phosphate_cac_effect",
    "phosphate_reference",
    "dialysis_cac_factor",
    "aac_a50",
    "aac_onset_scale",
    "aac_log_median_60",
    "aac_log_sd",
    "aac_log_growth",
    "mesa_baseline_survival",
    "mesa_age",
    "mesa_male",
    "mesa_diabetes",
    "mesa_smoker",
    "mesa_total_cholesterol",
    "mesa_hdl",
    "mesa_lipid_medication",
    "mesa_sbp",
    "mesa_antihypertensive",
    "mesa_family_history",
    "mesa_ln_cac",
    "mesa_age_min",
    "mesa_age_max",
    "chd_fatal_fraction",
    "ref_systolic_bp",
    "ref_total_cholesterol",
    "ref_hdl_cholesterol",
    "oc_bmd_effect",
    "oc_carboxylated_reference"};

namespace {

std::vector<units::Dimension> vascular_dims() {
  namespace d = units::dim;
  const units::Dimension one = units::Dimension::none();
  return {d::time(),
          d::time(),
          d::time(),
          one,
          one,
          one,
          one,
          d::per_time(),
          one,
          one,
          one / d::amount_conc(),
          d::amount_conc(),
          one,
          d::time(),
          d::time(),
          one,
          one,
          d::per_time(),
          one,
          one,
          one,
          one,
          one,
          one,
          one,
          one,
          one,
          one,
          one,
          one,
          d::time(),
          d::time(),
          one,
          d::pressure(),
          one,
          one,
          d::per_time(),
          one};
}

// Time parameters to years, rates to 1/y (the natural-history curves are in years of age).
std::vector<double> resolve_vascular(const ParameterTable& table) {
  std::vector<std::string_view> names(Vascular::kParamNames.begin(), Vascular::kParamNames.end());
  const std::vector<units::Dimension> dims = vascular_dims();
  std::vector<double> v = resolve(table, names, dims);
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (dims[i] == units::dim::time()) v[i] /= kHoursPerYear;
    if (dims[i] == units::dim::per_time()) v[i] *= kHoursPerYear;
    if (dims[i] == units::dim::amount_conc()) v[i] *= 1e-6;  // nmol/L -> mmol/L
    if (dims[i] == units::Dimension::none() / units::dim::amount_conc()) v[i] *= 1e6;  // L/mmol
  }
  // mmHg is the canonical pressure unit.
  return v;
}

}  // namespace

Vascular::Vascular(const ParameterTable& table) : p_(resolve_vascular(table)) {}

double Vascular::cac_prob_positive(double age_y, bool female) const {
  const double a50 = female ? p_[kCacA50Female] : p_[kCacA50Male];
  return logistic((age_y - a50) / p_[kCacOnsetScale]);
}

double Vascular::cac_log_median(double age_y, bool female) const {
  return (female ? p_[kCacLogMedianFemale] : p_[kCacLogMedianMale]) +
         p_[kCacLogGrowth] * (age_y - 60.0);
}

double Vascular::cac_log_sd(bool female) const {
  return female ? p_[kCacLogSdFemale] : p_[kCacLogSdMale];
}

double Vascular::cac_at(double q, double age_y, bool female) const {
  return zero_inflated_quantile(q, cac_prob_positive(age_y, female), cac_log_median(age_y, female),
                                cac_log_sd(female));
}

double Vascular::cac_percentile_of(double cac_au, double age_y, bool female) const {
  const double p = cac_prob_positive(age_y, female);
  if (cac_au <= 0.0) return (1.0 - p) / 2.0;
  const double u =
      normal_cdf((std::log(cac_au) - cac_log_median(age_y, female)) / cac_log_sd(female));
  return 1.0 - p * (1.0 - u);
}

double Vascular::cac_onset_hazard_per_y(double age_y, bool female) const {
  // d/da of the logistic over the fraction still at zero: p / s.
  return cac_prob_positive(age_y, female) / p_[kCacOnsetScale];
}

double Vascular::aac_prob_positive(double age_y) const {
  return logistic((age_y - p_[kAacA50]) / p_[kAacOnsetScale]);
}

double Vascular::aac_at(double q, double age_y) const {
  const double mu = p_[kAacLogMedian] + p_[kAacLogGrowth] * (age_y - 60.0);
  return std::min(24.0, zero_inflated_quantile(q, aac_prob_positive(age_y), mu, p_[kAacLogSd]));
}

double Vascular::pace(double mgp_carboxylated, double phosphate_mmol_per_L, bool dialysis) const {
  // Eq. (62): uncarboxylated MGP relative to the reference population's, linear with a bounded
  // effect; phosphate exponential in its excess (the odds ratio per mg/dL of the cohorts); a
  // factor for haemodialysis.
  const double uc_ref = std::max(1e-6, 1.0 - p_[kMgpCarboxylatedReference]);
  const double uc = std::clamp(1.0 - mgp_carboxylated, 0.0, 1.0);
  const double m_mgp = 1.0 + p_[kMgpCacEffect] * (uc / uc_ref - 1.0);
  const double m_p =
      std::exp(p_[kPhosphateCacEffect] * (phosphate_mmol_per_L - p_[kPhosphateReference]));
  const double m_d = dialysis ? p_[kDialysisCacFactor] : 1.0;
  return std::max(0.0, m_mgp) * m_p * m_d;
}

RiskFactors Vascular::reference_risk_factors() const {
  RiskFactors rf;
  rf.systolic_bp_mmHg = p_[kRefSbp];
  rf.total_cholesterol_mg_per_dL = p_[kRefTotalCholesterol];
  rf.hdl_cholesterol_mg_per_dL = p_[kRefHdl];
  return rf;
}

double Vascular::mesa_linear_predictor(double age_y, bool female, const RiskFactors& given,
                                       double cac_au) const {
  const RiskFactors ref = reference_risk_factors();
  auto pick = [](double v, double r) { return v >= 0.0 ? v : r; };
  const double age = std::clamp(age_y, p_[kMesaAgeMin], p_[kMesaAgeMax]);
  return p_[kMesaAge] * age + p_[kMesaMale] * (female ? 0.0 : 1.0) +
         p_[kMesaDiabetes] * (given.diabetes ? 1.0 : 0.0) +
         p_[kMesaSmoker] * (given.smoker ? 1.0 : 0.0) +
         p_[kMesaTotalCholesterol] *
             pick(given.total_cholesterol_mg_per_dL, ref.total_cholesterol_mg_per_dL) +
         p_[kMesaHdl] * pick(given.hdl_cholesterol_mg_per_dL, ref.hdl_cholesterol_mg_per_dL) +
         p_[kMesaLipidMedication] * (given.lipid_lowering ? 1.0 : 0.0) +
         p_[kMesaSbp] * pick(given.systolic_bp_mmHg, ref.systolic_bp_mmHg) +
         p_[kMesaAntihypertensive] * (given.antihypertensive ? 1.0 : 0.0) +
         p_[kMesaFamilyHistory] * (given.family_history ? 1.0 : 0.0) +
         p_[kMesaLnCac] * std::log(std::max(0.0, cac_au) + 1.0);
}

double Vascular::chd_hazard_per_y(double age_y, bool female, const RiskFactors& rf,
                                  double cac_au) const {
  return -std::log(p_[kMesaBaselineSurvival]) *
         std::exp(mesa_linear_predictor(age_y, female, rf, cac_au)) / 10.0;
}

std::vector<std::string> LifeTable::names() {
  return {"USA 2020", "USA 2021", "Netherlands 1995-2000"};
}

LifeTable LifeTable::builtin(std::string_view name) {
  // Parsed once per process (a cohort builds a model per subject); the lock makes the first
  // parse safe when subjects run on several threads.
  static std::mutex mutex;
  static std::map<std::string, LifeTable, std::less<>> parsed;
  const std::lock_guard<std::mutex> lock(mutex);
  if (const auto it = parsed.find(name); it != parsed.end()) return it->second;
  return parsed.emplace(std::string(name), parse(name)).first->second;
}

LifeTable LifeTable::parse(std::string_view name) {
  const std::string file = "data/outcomes/lifetables.csv";
  std::string country;
  std::string period;
  std::string kind;
  if (name == "USA 2020") {
    country = "USA", period = "2020", kind = "qx";
  } else if (name == "USA 2021") {
    country = "USA", period = "2021", kind = "qx";
  } else if (name == "Netherlands 1995-2000") {
    country = "Netherlands", period = "1995/96-1999/2000", kind = "nqx";
  } else {
    throw InputError(fmt::format("life table '{}' (rule: one of {}){}", name,
                                 fmt::join(names(), ", "), did_you_mean(name, names())));
  }
  const std::string_view text = embedded_file(file);
  std::istringstream in{std::string(text)};
  std::string line;
  std::getline(in, line);  // header
  LifeTable t;
  std::size_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    const std::vector<std::string> f = split_csv_line(line);
    if (f.size() < 7 || f[0] != country || f[1] != period || f[5] != kind) continue;
    if (f[4].empty())
      continue;  // the open last interval (everyone dies): the previous hazard holds
    const int s = f[2] == "female" ? 1 : 0;
    double from = 0.0;
    double to = 0.0;
    double q = 0.0;
    try {
      from = std::stod(f[3]);
      to = std::stod(f[4]);
      q = std::stod(f[6]);
    } catch (const std::exception&) {
      throw InputError(fmt::format("{}:{}: ages '{}'-'{}', value '{}' (rule: numbers)", file,
                                   line_no, f[3], f[4], f[6]));
    }
    if (!(to > from) || !(q >= 0.0 && q <= 1.0)) {
      throw InputError(
          fmt::format("{}:{}: ages {}-{}, value {} (rule: an interval of ages and a "
                      "probability of dying in it)",
                      file, line_no, from, to, q));
    }
    t.rows_[s].push_back({from, to, -std::log1p(-std::min(q, 0.999999)) / (to - from)});
  }
  for (auto& r : t.rows_) {
    if (r.empty()) throw InputError(fmt::format("{}: no rows for life table '{}'", file, name));
    std::sort(r.begin(), r.end(), [](const Row& a, const Row& b) { return a.from < b.from; });
    for (std::size_t i = 1; i < r.size(); ++i) {
      if (r[i].from != r[i - 1].to) {
        throw InputError(
            fmt::format("{}: life table '{}': ages {}-{} then {}-{} (rule: the "
                        "intervals follow each other without gaps)",
                        file, name, r[i - 1].from, r[i - 1].to, r[i].from, r[i].to));
      }
    }
  }
  // The cumulative hazard at the boundaries, and its spline: natural at the first age, and
  // clamped to the last interval's hazard (which holds beyond) at the last boundary.
  for (std::size_t s = 0; s < 2; ++s) {
    const std::vector<Row>& r = t.rows_[s];
    std::vector<double> x = {r.front().from};
    std::vector<double> h = {0.0};
    for (const Row& row : r) {
      x.push_back(row.to);
      h.push_back(h.back() + row.hazard * (row.to - row.from));
    }
    t.cumulative_[s] =
        CubicSpline(std::move(x), std::move(h), {}, {.clamped = true, .slope = r.back().hazard});
  }
  return t;
}

double LifeTable::first_age_y() const {
  return std::max(rows_[0].front().from, rows_[1].front().from);
}

double LifeTable::smooth_hazard_per_y(double age_y, bool female) const {
  const CubicSpline& h = cumulative_[female ? 1 : 0];
  if (!(age_y < h.knots().back())) return rows_[female ? 1 : 0].back().hazard;  // (and NaN)
  return std::max(0.0, h.derivative(age_y));
}

double LifeTable::gaussian_mean_hazard(double age_y, bool female, double s) const {
  const CubicSpline& h = cumulative_[female ? 1 : 0];
  const std::vector<double>& x = h.knots();
  const auto cdf = [](double z) { return 0.5 * std::erfc(-z / std::numbers::sqrt2); };
  const auto pdf = [](double z) {
    return std::exp(-0.5 * z * z) / std::sqrt(2.0 * std::numbers::pi);
  };
  // The hazard is a quadratic c0 + c1 t + c2 t^2, t = x - l, on each knot interval [l, r]; with
  // x = age + s z it is A0 + A1 z + A2 z^2, and the integral of z^k phi(z) over [a, b] is
  // M0 = Phi(b) - Phi(a), M1 = phi(a) - phi(b), M2 = M0 + a phi(a) - b phi(b).
  constexpr double kReach = 10.0;  // standard deviations beyond which nothing is left
  const double first = (x.front() - age_y) / s;
  const double last = (x.back() - age_y) / s;
  double mean = 0.0;
  if (first > -kReach) mean += h.derivative(x.front()) * cdf(first);
  if (last < kReach) mean += rows_[female ? 1 : 0].back().hazard * (1.0 - cdf(last));
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const double l = x[i];
    const double r = x[i + 1];
    const double a = (l - age_y) / s;
    const double b = (r - age_y) / s;
    if (b < -kReach || a > kReach) continue;
    const double w = r - l;
    const double h0 = h.derivative(l);
    const double hm = h.derivative(l + 0.5 * w);
    const double h1 = h.derivative(r);
    const double c2 = 2.0 * (h1 - 2.0 * hm + h0) / (w * w);
    const double c1 = (h1 - h0) / w - c2 * w;
    const double d = age_y - l;
    const double a0 = h0 + c1 * d + c2 * d * d;
    const double a1 = (c1 + 2.0 * c2 * d) * s;
    const double a2 = c2 * s * s;
    const double m0 = cdf(b) - cdf(a);
    const double m1 = pdf(a) - pdf(b);
    const double m2 = m0 + a * pdf(a) - b * pdf(b);
    mean += a0 * m0 + a1 * m1 + a2 * m2;
  }
  return mean;
}

double LifeTable::kernel_hazard_per_y(double age_y, bool female, double sd_y) const {
  if (!(sd_y > 0.0)) throw std::invalid_argument("LifeTable: the kernel's sd must be > 0");
  return std::max(0.0, 2.0 * gaussian_mean_hazard(age_y, female, sd_y) -
                           gaussian_mean_hazard(age_y, female, std::numbers::sqrt2 * sd_y));
}

double LifeTable::hazard_per_y(double age_y, bool female) const {
  const std::vector<Row>& r = rows_[female ? 1 : 0];
  if (age_y < r.front().from) return r.front().hazard;
  for (const Row& row : r) {
    if (age_y < row.to) return row.hazard;
  }
  return r.back().hazard;
}

}  // namespace k2sim::internal
