// The sparsity pattern of a model's Jacobian, probed from its right-hand side, with the columns
// grouped for difference quotients (Curtis-Powell-Reid): the KLU path of the solver.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "k2sim/engine/model.hpp"
#include "k2sim/engine/simulation.hpp"

namespace k2sim::internal {

/// A Jacobian pattern in compressed sparse columns, every diagonal entry included, and a partition
/// of the columns into groups whose columns share no row.
struct SparsityPattern {
  std::vector<std::size_t> col_start;    ///< n + 1 offsets into row
  std::vector<std::size_t> row;          ///< row indices, ascending within each column
  std::vector<std::size_t> group_start;  ///< groups + 1 offsets into group_cols
  std::vector<std::size_t> group_cols;   ///< the columns of each group
  long probe_evals = 0;                  ///< right-hand sides the probing took
  [[nodiscard]] std::size_t size() const { return col_start.empty() ? 0 : col_start.size() - 1; }
  [[nodiscard]] std::size_t groups() const {
    return group_start.empty() ? 0 : group_start.size() - 1;
  }
};

/// Builds the pattern and its column groups from a dependency matrix: `depends[i * n + j]` is
/// nonzero when dy_i/dt depends on y_j. The diagonal is always included.
SparsityPattern make_pattern(std::size_t n, const std::vector<char>& depends);

/// The structural pattern of the model's Jacobian, probed over the times [t_from_h, t_to_h] of a
/// run: at the reset state at t_from_h, and at eight reproducible random states around it (every
/// state nonzero, so products show) at times spread evenly over the span, each state is shifted
/// in turn and the right-hand sides that change are recorded. An entry that is zero at every
/// probe (a branch never taken there, a dependence that exists only in a window of time between
/// the probes) is left out. The error test and the Newton residual use the true right-hand side,
/// so a missed entry cannot change an accepted step; it makes Newton's matrix wrong, so it costs
/// iterations and, at worst, convergence failures. simulate() with linear_solver = auto then
/// runs again with the dense solver (docs/engine.md "Solver").
/// A probe where the model throws or returns a non-finite derivative is skipped; with no probe
/// left, the pattern is full.
/// With a frozen `store` that holds a pattern of this model (the same type and state count), the
/// pattern is that one, without a probe (a cohort's subjects take their first subject's: an entry
/// that only another subject's parameters make nonzero costs that subject Newton iterations, never
/// accuracy). With a store that is not frozen, the probed pattern is added to it.
SparsityPattern jacobian_pattern(const OdeModel& model, double t_from_h = 0.0, double t_to_h = 0.0,
                                 PatternStore* store = nullptr);

/// The name of the model's pattern in a store: the type of its pattern source and its size.
std::string pattern_key(const OdeModel& model);

/// The pattern a frozen `store` holds for this model (the same type and state count), without
/// probing; empty (size() == 0) when there is none.
SparsityPattern stored_pattern(const OdeModel& model, const PatternStore* store);

/// Dependency matrices (depends[i * n + j], as make_pattern() takes them) probed by the runs of a
/// first subject, kept for the subjects that follow: a cohort records them while its first subject
/// runs alone, then freezes the store, so that every subject sees the same patterns whatever the
/// threads (reproducible results). Recording and reading take a lock.
class PatternStore {
 public:
  /// The pattern of `key`'s union, built once when the store is frozen (make_pattern); null
  /// before, or for a key with nothing recorded.
  [[nodiscard]] const SparsityPattern* pattern(const std::string& key) const;
  /// Adds a dependency matrix to `key`'s union (no effect once frozen).
  void record(const std::string& key, const std::vector<char>& depends);
  void freeze();
  [[nodiscard]] bool frozen() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<char>> depends_;
  std::map<std::string, SparsityPattern> built_;
  bool frozen_ = false;
};

/// Whether a sparse factorization beats the dense one for this pattern (solver.linear_solver =
/// auto): at least kSparseMinStates states and at most a quarter of the entries nonzero.
bool sparse_pays(const SparsityPattern& pattern);

inline constexpr std::size_t kSparseMinStates = 16;

/// Whether a run with these options may use KLU on an n-state model, so that its pattern is worth
/// probing: linear_solver = klu, or auto with at least kSparseMinStates states.
inline bool may_use_sparse(const SimulationOptions& options, std::size_t n) {
  return options.linear_solver == LinearSolver::kKlu ||
         (options.linear_solver == LinearSolver::kAuto && n >= kSparseMinStates);
}

}  // namespace k2sim::internal
