// Statistics of cohort and trial analyses (docs/cohorts.md "Analyses").
#include "k2sim/population/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <Eigen/Dense>

#include "k2sim/error.hpp"
#include "k2sim/uncertainty/sampling.hpp"

namespace k2sim {

namespace {
constexpr double kZ975 = 1.959963984540054;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Estimate log_wald(double log_value, double se) {
  if (!std::isfinite(log_value) || !std::isfinite(se)) return {kNaN, kNaN, kNaN};
  return {std::exp(log_value), std::exp(log_value - kZ975 * se), std::exp(log_value + kZ975 * se)};
}
}  // namespace

Estimate risk_ratio(double a, double n1, double b, double n0) {
  if (!(a > 0.0 && b > 0.0 && n1 > 0.0 && n0 > 0.0)) return {kNaN, kNaN, kNaN};
  const double se = std::sqrt(1.0 / a - 1.0 / n1 + 1.0 / b - 1.0 / n0);
  return log_wald(std::log((a / n1) / (b / n0)), se);
}

Estimate odds_ratio(double a, double n1, double b, double n0) {
  const double c = n1 - a;
  const double d = n0 - b;
  if (!(a > 0.0 && b > 0.0 && c > 0.0 && d > 0.0)) return {kNaN, kNaN, kNaN};
  return log_wald(std::log((a / c) / (b / d)), std::sqrt(1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d));
}

Estimate mean_difference(const std::vector<double>& x1, const std::vector<double>& x0) {
  auto moments = [](const std::vector<double>& x) {
    const double n = static_cast<double>(x.size());
    const double m = std::accumulate(x.begin(), x.end(), 0.0) / n;
    double ss = 0.0;
    for (double v : x) ss += (v - m) * (v - m);
    return std::pair{m, x.size() > 1 ? ss / (n - 1.0) : kNaN};
  };
  if (x1.size() < 2 || x0.size() < 2) return {kNaN, kNaN, kNaN};
  const auto [m1, v1] = moments(x1);
  const auto [m0, v0] = moments(x0);
  const double se =
      std::sqrt(v1 / static_cast<double>(x1.size()) + v0 / static_cast<double>(x0.size()));
  const double d = m1 - m0;
  return {d, d - kZ975 * se, d + kZ975 * se};
}

QuantileGroups quantile_groups(const std::vector<double>& x, int groups) {
  QuantileGroups q;
  std::vector<double> sorted = x;
  for (int k = 1; k < groups; ++k) {
    q.cutoffs.push_back(quantile_of(sorted, static_cast<double>(k) / groups));
  }
  q.group.reserve(x.size());
  for (double v : x) {
    q.group.push_back(static_cast<int>(std::lower_bound(q.cutoffs.begin(), q.cutoffs.end(), v) -
                                       q.cutoffs.begin()));
  }
  return q;
}

CoxFit cox_efron(const std::vector<double>& time, const std::vector<int>& event,
                 const std::vector<std::vector<double>>& x, int max_iter, double tolerance) {
  const std::size_t n = time.size();
  if (event.size() != n || x.size() != n) {
    throw std::invalid_argument("cox_efron: time, event and x differ in length");
  }
  const std::size_t p = n == 0 ? 0 : x.front().size();
  // Subjects by decreasing time: the risk set of a time is a prefix of this order.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return time[a] > time[b]; });
  Eigen::MatrixXd X(n, p);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < p; ++j)
      X(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = x[order[i]][j];
  }
  // Centre the covariates (as coxph does) for numerical stability; beta is unchanged.
  const Eigen::RowVectorXd centre =
      n > 0 ? Eigen::RowVectorXd(X.colwise().mean()) : Eigen::RowVectorXd(p);
  X.rowwise() -= centre;
  std::vector<double> t(n);
  std::vector<int> d(n);
  for (std::size_t i = 0; i < n; ++i) {
    t[i] = time[order[i]];
    d[i] = event[order[i]];
  }
  const auto P = static_cast<Eigen::Index>(p);
  // Log partial likelihood, score and information at beta (Efron).
  auto evaluate = [&](const Eigen::VectorXd& beta, Eigen::VectorXd& score, Eigen::MatrixXd& info) {
    score = Eigen::VectorXd::Zero(P);
    info = Eigen::MatrixXd::Zero(P, P);
    double ll = 0.0;
    double s0 = 0.0;
    Eigen::VectorXd s1 = Eigen::VectorXd::Zero(P);
    Eigen::MatrixXd s2 = Eigen::MatrixXd::Zero(P, P);
    std::size_t i = 0;
    while (i < n) {
      // One distinct time: add everyone at it to the risk set, then handle its deaths.
      std::size_t j = i;
      double e0 = 0.0;
      Eigen::VectorXd e1 = Eigen::VectorXd::Zero(P);
      Eigen::MatrixXd e2 = Eigen::MatrixXd::Zero(P, P);
      int deaths = 0;
      Eigen::VectorXd xsum = Eigen::VectorXd::Zero(P);
      while (j < n && t[j] == t[i]) {
        const Eigen::VectorXd xi = X.row(static_cast<Eigen::Index>(j)).transpose();
        const double r = std::exp(xi.dot(beta));
        s0 += r;
        s1 += r * xi;
        s2 += r * xi * xi.transpose();
        if (d[j] != 0) {
          ++deaths;
          e0 += r;
          e1 += r * xi;
          e2 += r * xi * xi.transpose();
          xsum += xi;
          ll += xi.dot(beta);
        }
        ++j;
      }
      for (int k = 0; k < deaths; ++k) {
        const double f = static_cast<double>(k) / deaths;
        const double a0 = s0 - f * e0;
        const Eigen::VectorXd a1 = s1 - f * e1;
        const Eigen::MatrixXd a2 = s2 - f * e2;
        ll -= std::log(a0);
        const Eigen::VectorXd mean = a1 / a0;
        score -= mean;
        info += a2 / a0 - mean * mean.transpose();
      }
      score += xsum;
      i = j;
    }
    return ll;
  };
  CoxFit fit;
  Eigen::VectorXd beta = Eigen::VectorXd::Zero(P);
  Eigen::VectorXd score;
  Eigen::MatrixXd info;
  double ll = evaluate(beta, score, info);
  for (int it = 1; it <= max_iter; ++it) {
    fit.iterations = it;
    const Eigen::VectorXd step = info.ldlt().solve(score);
    Eigen::VectorXd next = beta + step;
    Eigen::VectorXd s2;
    Eigen::MatrixXd i2;
    double ll2 = evaluate(next, s2, i2);
    int halvings = 0;
    while (!(ll2 >= ll - 1e-12) && halvings < 30) {
      next = (beta + next) / 2.0;
      ll2 = evaluate(next, s2, i2);
      ++halvings;
    }
    const bool done = std::abs(ll2 - ll) <= tolerance * std::max(1.0, std::abs(ll2));
    beta = next;
    ll = ll2;
    score = s2;
    info = i2;
    if (done) {
      fit.converged = true;
      break;
    }
  }
  const Eigen::MatrixXd cov = info.inverse();
  fit.log_likelihood = ll;
  for (Eigen::Index j = 0; j < P; ++j) {
    fit.beta.push_back(beta(j));
    fit.se.push_back(std::sqrt(cov(j, j)));
  }
  return fit;
}

Estimate hazard_ratio(const CoxFit& fit, std::size_t j) {
  return log_wald(fit.beta.at(j), fit.se.at(j));
}

double e_value(double rr) {
  if (!(rr > 0.0)) return kNaN;
  const double r = rr < 1.0 ? 1.0 / rr : rr;
  return r + std::sqrt(r * (r - 1.0));
}

}  // namespace k2sim
