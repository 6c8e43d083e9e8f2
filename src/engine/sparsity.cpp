#include "sparsity.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <new>
#include <random>
#include <string>
#include <typeinfo>

#include <fmt/format.h>

namespace k2sim::internal {

SparsityPattern make_pattern(std::size_t n, const std::vector<char>& depends) {
  SparsityPattern p;
  p.col_start.assign(n + 1, 0);
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t i = 0; i < n; ++i) {
      if (i == j || depends[i * n + j]) p.row.push_back(i);
    }
    p.col_start[j + 1] = p.row.size();
  }
  // Greedy grouping in column order: a column joins the first group none of whose rows it has.
  std::vector<std::vector<char>> used;  // used[g][i]: row i taken in group g
  std::vector<std::vector<std::size_t>> members;
  for (std::size_t j = 0; j < n; ++j) {
    std::size_t g = 0;
    for (; g < used.size(); ++g) {
      bool clash = false;
      for (std::size_t k = p.col_start[j]; k < p.col_start[j + 1] && !clash; ++k) {
        clash = used[g][p.row[k]] != 0;
      }
      if (!clash) break;
    }
    if (g == used.size()) {
      used.emplace_back(n, 0);
      members.emplace_back();
    }
    for (std::size_t k = p.col_start[j]; k < p.col_start[j + 1]; ++k) used[g][p.row[k]] = 1;
    members[g].push_back(j);
  }
  p.group_start.push_back(0);
  for (const auto& m : members) {
    p.group_cols.insert(p.group_cols.end(), m.begin(), m.end());
    p.group_start.push_back(p.group_cols.size());
  }
  return p;
}

void PatternStore::record(const std::string& key, const std::vector<char>& depends) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (frozen_) return;
  std::vector<char>& d = depends_[key];
  if (d.size() != depends.size()) {
    d = depends;
    return;
  }
  for (std::size_t k = 0; k < d.size(); ++k) d[k] = static_cast<char>(d[k] | depends[k]);
}

const SparsityPattern* PatternStore::pattern(const std::string& key) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = built_.find(key);
  return it == built_.end() ? nullptr : &it->second;
}

void PatternStore::freeze() {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (frozen_) return;
  frozen_ = true;
  for (const auto& [key, depends] : depends_) {
    const auto n =
        static_cast<std::size_t>(std::llround(std::sqrt(static_cast<double>(depends.size()))));
    if (n * n == depends.size()) built_.emplace(key, make_pattern(n, depends));
  }
}

bool PatternStore::frozen() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return frozen_;
}

std::string pattern_key(const OdeModel& model) {
  const OdeModel& source = model.pattern_source();
  return fmt::format("{}/{}", typeid(source).name(), model.state_count());
}

SparsityPattern stored_pattern(const OdeModel& model, const PatternStore* store) {
  if (store == nullptr || !store->frozen()) return {};
  const SparsityPattern* p = store->pattern(pattern_key(model));
  if (p == nullptr || p->size() != model.state_count()) return {};
  return *p;
}

SparsityPattern jacobian_pattern(const OdeModel& model, double t_from_h, double t_to_h,
                                 PatternStore* store) {
  const std::size_t n = model.state_count();
  const std::string key = store ? pattern_key(model) : std::string();
  if (store && store->frozen()) {  // a cohort's subject: the first subject's pattern as it is
    if (const SparsityPattern* p = store->pattern(key); p != nullptr && p->size() == n) return *p;
  }
  std::vector<char> depends(n * n, 0);
  std::vector<double> reset(n, 0.0);
  std::vector<double> y(n);
  std::vector<double> f0(n);
  std::vector<double> f1(n);
  std::mt19937_64 rng(20261129);  // fixed: the same probes on every run
  long evals = 0;
  bool probed = false;
  try {
    model.reset_state(reset);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (...) {
    std::fill(reset.begin(), reset.end(), 0.0);
  }
  constexpr int random_probes = 8;
  const double span = std::max(0.0, t_to_h - t_from_h);
  for (int probe = 0; probe <= random_probes; ++probe) {
    const double t = probe == 0 ? t_from_h : t_from_h + span * (probe - 1) / (random_probes - 1.0);
    for (std::size_t i = 0; i < n; ++i) {
      if (probe == 0) {
        y[i] = reset[i];
      } else {  // positive around the reset value, or around 1 where it is zero: e^U(-1, 1)
        const double base = reset[i] != 0.0 ? reset[i] : 1.0;
        const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1), portable
        y[i] = base * std::exp(2.0 * u - 1.0);
      }
    }
    std::vector<char> found(n * n, 0);
    try {
      model.rhs(t, y.data(), f0.data());
      ++evals;
      if (!std::all_of(f0.begin(), f0.end(), [](double v) { return std::isfinite(v); })) {
        continue;  // a state the model cannot evaluate: this probe tells nothing
      }
      for (std::size_t j = 0; j < n; ++j) {
        const double saved = y[j];
        y[j] = saved + 1e-3 * std::max(std::abs(saved), 1e-6);
        model.rhs(t, y.data(), f1.data());
        ++evals;
        y[j] = saved;
        // A right-hand side that does not depend on y_j is computed from the same numbers, so
        // it is bit-identical (a NaN counts as a change).
        for (std::size_t i = 0; i < n; ++i) {
          if (!(f1[i] == f0[i])) found[i * n + j] = 1;
        }
      }
    } catch (const std::bad_alloc&) {
      throw;
    } catch (...) {
      continue;  // a state the model refuses: this probe tells nothing
    }
    probed = true;
    for (std::size_t k = 0; k < n * n; ++k) depends[k] = static_cast<char>(depends[k] | found[k]);
  }
  if (!probed) std::fill(depends.begin(), depends.end(), 1);
  if (store && probed) store->record(key, depends);
  SparsityPattern p = make_pattern(n, depends);
  p.probe_evals = evals;
  return p;
}

bool sparse_pays(const SparsityPattern& pattern) {
  const std::size_t n = pattern.size();
  return n >= kSparseMinStates && 4 * pattern.row.size() <= n * n;
}

}  // namespace k2sim::internal
