#include "k2sim/uncertainty/gsa.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "k2sim/error.hpp"
#include "k2sim/uncertainty/sampling.hpp"

namespace k2sim {

namespace {

double uniform01(std::mt19937_64& gen) {
  return (static_cast<double>(gen() >> 11) + 0.5) * 0x1.0p-53;
}

}  // namespace

MorrisDesign morris_design(std::size_t k, std::size_t trajectories, int levels,
                           std::uint64_t seed) {
  if (k == 0 || trajectories == 0 || levels < 2 || levels % 2 != 0) {
    throw InputError(
        "Morris design: at least one factor and one trajectory, and an even number "
        "of levels >= 2 (rule: Saltelli et al. 2008, ch. 3)");
  }
  MorrisDesign d;
  d.k = k;
  d.trajectories = trajectories;
  const double p = levels;
  d.delta = p / (2.0 * (p - 1.0));
  std::mt19937_64 gen(member_seed(seed, 0));
  for (std::size_t r = 0; r < trajectories; ++r) {
    // Base point on the grid {0, 1/(p-1), ..., 1 - delta}, so that x + delta stays within [0, 1].
    std::vector<double> x(k);
    const auto base_levels = static_cast<std::uint64_t>(levels / 2);
    for (double& xi : x) xi = static_cast<double>(gen() % base_levels) / (p - 1.0);
    std::vector<int> dir(k);
    for (std::size_t i = 0; i < k; ++i) {
      dir[i] = (gen() & 1U) ? 1 : -1;
      if (dir[i] < 0) x[i] += d.delta;  // start high, step down
    }
    std::vector<std::size_t> order(k);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), gen);
    d.points.push_back(x);
    for (std::size_t step = 0; step < k; ++step) {
      const std::size_t i = order[step];
      x[i] += dir[i] * d.delta;
      d.points.push_back(x);
      d.moved.push_back(i);
      d.sign.push_back(dir[i]);
    }
  }
  return d;
}

MorrisResult morris_analyze(const MorrisDesign& design, const std::vector<double>& values) {
  if (values.size() != design.points.size()) {
    throw InputError("Morris analysis: one value per design point");
  }
  const std::size_t k = design.k;
  std::vector<std::vector<double>> ee(k);
  for (std::size_t r = 0; r < design.trajectories; ++r) {
    for (std::size_t step = 0; step < k; ++step) {
      const std::size_t a = r * (k + 1) + step;
      const double y0 = values[a];
      const double y1 = values[a + 1];
      if (!std::isfinite(y0) || !std::isfinite(y1)) continue;
      const std::size_t s = r * k + step;
      ee[design.moved[s]].push_back((y1 - y0) / (design.sign[s] * design.delta));
    }
  }
  MorrisResult out;
  for (std::size_t i = 0; i < k; ++i) {
    const auto& e = ee[i];
    const double n = static_cast<double>(e.size());
    double mu = 0.0;
    double mu_star = 0.0;
    for (double v : e) {
      mu += v;
      mu_star += std::abs(v);
    }
    mu = e.empty() ? std::numeric_limits<double>::quiet_NaN() : mu / n;
    mu_star = e.empty() ? std::numeric_limits<double>::quiet_NaN() : mu_star / n;
    double ss = 0.0;
    for (double v : e) ss += (v - mu) * (v - mu);
    out.mu.push_back(mu);
    out.mu_star.push_back(mu_star);
    out.sigma.push_back(e.size() > 1 ? std::sqrt(ss / (n - 1.0)) : 0.0);
    out.effects.push_back(e.size());
  }
  return out;
}

SobolDesign sobol_design(std::size_t k, std::size_t n, std::uint64_t seed) {
  if (k == 0 || n < 2) throw InputError("Sobol design: at least one factor and two samples");
  SobolDesign d;
  d.k = k;
  d.n = n;
  std::mt19937_64 gen(member_seed(seed, 1));
  Design a(n, std::vector<double>(k));
  Design b(n, std::vector<double>(k));
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t i = 0; i < k; ++i) a[j][i] = uniform01(gen);
    for (std::size_t i = 0; i < k; ++i) b[j][i] = uniform01(gen);
  }
  d.points = a;
  d.points.insert(d.points.end(), b.begin(), b.end());
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      std::vector<double> ab = a[j];
      ab[i] = b[j][i];
      d.points.push_back(std::move(ab));
    }
  }
  return d;
}

namespace {

struct SobolEstimate {
  std::vector<double> first, total;
  double variance = 0.0;
};

SobolEstimate sobol_estimate(const SobolDesign& d, const std::vector<double>& y,
                             const std::vector<std::size_t>& rows) {
  const std::size_t n = d.n;
  const double m = static_cast<double>(rows.size());
  double mean = 0.0;
  for (std::size_t j : rows) mean += y[j] + y[n + j];
  mean /= 2.0 * m;
  double var = 0.0;
  for (std::size_t j : rows) {
    var += (y[j] - mean) * (y[j] - mean) + (y[n + j] - mean) * (y[n + j] - mean);
  }
  var /= 2.0 * m - 1.0;
  SobolEstimate e;
  e.variance = var;
  for (std::size_t i = 0; i < d.k; ++i) {
    double s1 = 0.0;
    double st = 0.0;
    for (std::size_t j : rows) {
      const double fa = y[j];
      const double fb = y[n + j];
      const double fab = y[(2 + i) * n + j];
      s1 += fb * (fab - fa);                // Saltelli 2010, table 2 (b)
      st += 0.5 * (fa - fab) * (fa - fab);  // Jansen 1999
    }
    e.first.push_back(var > 0.0 ? s1 / m / var : 0.0);
    e.total.push_back(var > 0.0 ? st / m / var : 0.0);
  }
  return e;
}

}  // namespace

SobolResult sobol_analyze(const SobolDesign& design, const std::vector<double>& values,
                          std::size_t bootstrap, std::uint64_t seed) {
  if (values.size() != design.points.size()) {
    throw InputError("Sobol analysis: one value per design point");
  }
  const std::size_t n = design.n;
  std::vector<std::size_t> rows;
  for (std::size_t j = 0; j < n; ++j) {
    bool ok = true;
    for (std::size_t b = 0; b < design.k + 2 && ok; ++b) ok = std::isfinite(values[b * n + j]);
    if (ok) rows.push_back(j);
  }
  SobolResult out;
  out.samples = rows.size();
  if (rows.size() < 2) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    out.first = out.total = out.first_low = out.first_high = out.total_low = out.total_high =
        std::vector<double>(design.k, nan);
    return out;
  }
  const SobolEstimate e = sobol_estimate(design, values, rows);
  out.first = e.first;
  out.total = e.total;
  out.variance = e.variance;
  // Percentile bootstrap over rows.
  std::mt19937_64 gen(member_seed(seed, 2));
  std::vector<std::vector<double>> bf(design.k), bt(design.k);
  std::vector<std::size_t> resampled(rows.size());
  for (std::size_t b = 0; b < bootstrap; ++b) {
    for (std::size_t& r : resampled) r = rows[gen() % rows.size()];
    const SobolEstimate eb = sobol_estimate(design, values, resampled);
    for (std::size_t i = 0; i < design.k; ++i) {
      bf[i].push_back(eb.first[i]);
      bt[i].push_back(eb.total[i]);
    }
  }
  for (std::size_t i = 0; i < design.k; ++i) {
    out.first_low.push_back(quantile_of(bf[i], 0.025));
    out.first_high.push_back(quantile_of(bf[i], 0.975));
    out.total_low.push_back(quantile_of(bt[i], 0.025));
    out.total_high.push_back(quantile_of(bt[i], 0.975));
  }
  return out;
}

}  // namespace k2sim
