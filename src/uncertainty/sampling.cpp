#include "k2sim/uncertainty/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include <fmt/format.h>

#include "k2sim/error.hpp"

namespace k2sim {

namespace {

constexpr double kZ975 = 1.959963984540054;  // standard normal 97.5% quantile

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// Quantile of the triangular distribution with mode c on [a, b].
double triangular(double a, double b, double c, double u) {
  if (!(b > a)) return a;
  const double fc = (c - a) / (b - a);
  if (u < fc) return a + std::sqrt(u * (b - a) * (c - a));
  return b - std::sqrt((1.0 - u) * (b - a) * (b - c));
}

}  // namespace

std::string to_string(Spread s) {
  switch (s) {
    case Spread::kFixed:
      return "fixed";
    case Spread::kProfile:
      return "profile interval";
    case Spread::kTriangular:
      return "triangular over bounds";
    case Spread::kLogTriangular:
      return "log-triangular over bounds";
  }
  return "?";
}

double normal_quantile(double p) {
  if (!(p > 0.0 && p < 1.0)) {
    if (p == 0.0) return -std::numeric_limits<double>::infinity();
    if (p == 1.0) return std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  // Acklam's rational approximation (relative error 1.15e-9), then one Halley step on erfc,
  // which brings it to double precision.
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double p_low = 0.02425;
  double x = 0.0;
  if (p < p_low) {
    const double q = std::sqrt(-2.0 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  } else if (p <= 1.0 - p_low) {
    const double q = p - 0.5;
    const double r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  } else {
    const double q = std::sqrt(-2.0 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  }
  const double e = normal_cdf(x) - p;
  const double u = e * std::sqrt(2.0 * M_PI) * std::exp(0.5 * x * x);
  return x - u / (1.0 + 0.5 * x * u);
}

double ParameterSpread::quantile(double u) const {
  switch (spread) {
    case Spread::kFixed:
      return value;
    case Spread::kTriangular:
      return triangular(lower, upper, value, u);
    case Spread::kLogTriangular:
      return std::exp(triangular(std::log(lower), std::log(upper), std::log(value), u));
    case Spread::kProfile: {
      // Split (log-)normal: the median is the fitted value and the 2.5% and 97.5% quantiles are
      // the ends of the profile interval; truncated to the table's bounds.
      auto g = [&](double x) { return log_scale ? std::log(x) : x; };
      const double s_lo = (g(value) - g(lower)) / kZ975;
      const double s_hi = (g(upper) - g(value)) / kZ975;
      auto cdf = [&](double x) {
        if (log_scale && !(x > 0.0)) return 0.0;
        if (x < value) return s_lo > 0.0 ? normal_cdf((g(x) - g(value)) / s_lo) : 0.0;
        if (x > value) return s_hi > 0.0 ? normal_cdf((g(x) - g(value)) / s_hi) : 1.0;
        return 0.5;
      };
      const double f_lo = cdf(bound_lower);
      const double f_hi = cdf(bound_upper);
      const double v = std::clamp(f_lo + u * (f_hi - f_lo), 1e-300, 1.0 - 1e-16);
      const double z = normal_quantile(v);
      const double y = g(value) + (z < 0.0 ? s_lo : s_hi) * z;
      return std::clamp(log_scale ? std::exp(y) : y, bound_lower, bound_upper);
    }
  }
  return value;
}

std::string to_string(VarySet v) {
  switch (v) {
    case VarySet::kAll:
      return "all";
    case VarySet::kCalibrated:
      return "calibrated";
    case VarySet::kAssumed:
      return "assumed";
  }
  return "?";
}

std::vector<ParameterSpread> parameter_spreads(const ParameterTable& table,
                                               const std::vector<std::string>& held, VarySet vary) {
  std::vector<ParameterSpread> out;
  const auto& params = table.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Parameter& p = params[i];
    ParameterSpread s;
    s.name = p.name;
    s.index = i;
    s.value = p.value;
    s.lower = p.lower;
    s.upper = p.upper;
    s.bound_lower = p.lower;
    s.bound_upper = p.upper;
    const bool is_held = std::find(held.begin(), held.end(), p.name) != held.end();
    if (is_held) {
      // fixed
    } else if (p.provenance == Provenance::kCalibrated && vary != VarySet::kAssumed && p.ci_low &&
               p.ci_high && *p.ci_low <= p.value && p.value <= *p.ci_high &&
               *p.ci_high > *p.ci_low) {
      s.spread = Spread::kProfile;
      s.lower = *p.ci_low;
      s.upper = *p.ci_high;
      s.log_scale = *p.ci_low > 0.0;
    } else if ((p.provenance == Provenance::kAssumed || p.provenance == Provenance::kHypothesis) &&
               vary != VarySet::kCalibrated && p.upper > p.lower) {
      const bool wide = p.lower > 0.0 && p.upper >= 10.0 * p.lower;
      s.spread = wide ? Spread::kLogTriangular : Spread::kTriangular;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::uint64_t member_seed(std::uint64_t seed, std::uint64_t i) {
  auto mix = [](std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(mix(seed) ^ mix(i + 0x632be59bd9b4e019ULL));
}

ParameterTable draw_parameters(const ParameterTable& table,
                               const std::vector<ParameterSpread>& spreads, std::uint64_t seed) {
  ParameterTable out = table;
  std::mt19937_64 gen(seed);
  for (const ParameterSpread& s : spreads) {
    if (s.spread == Spread::kFixed) continue;
    // 53 random bits to a uniform in (0, 1), never 0 or 1.
    const double u = (static_cast<double>(gen() >> 11) + 0.5) * 0x1.0p-53;
    out.set_value(s.index, std::clamp(s.quantile(u), s.bound_lower, s.bound_upper));
  }
  return out;
}

double quantile_of(std::vector<double>& v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const double h = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace k2sim
