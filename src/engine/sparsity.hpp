// The sparsity pattern of a model's Jacobian, probed from its right-hand side, with the columns
// grouped for difference quotients (Curtis-Powell-Reid): the KLU path of the solver.
#pragma once

#include <cstddef>
#include <vector>

#include "k2sim/engine/model.hpp"

namespace k2sim::internal {

/// A Jacobian pattern in compressed sparse columns, every diagonal entry included, and a partition
/// of the columns into groups whose columns share no row.
struct SparsityPattern {
  std::vector<std::size_t> col_start;    ///< n + 1 offsets into row
  std::vector<std::size_t> row;          ///< row indices, ascending within each column
  std::vector<std::size_t> group_start;  ///< groups + 1 offsets into group_cols
  std::vector<std::size_t> group_cols;   ///< the columns of each group
  [[nodiscard]] std::size_t size() const { return col_start.empty() ? 0 : col_start.size() - 1; }
  [[nodiscard]] std::size_t groups() const {
    return group_start.empty() ? 0 : group_start.size() - 1;
  }
};

/// Builds the pattern and its column groups from a dependency matrix: `depends[i * n + j]` is
/// nonzero when dy_i/dt depends on y_j. The diagonal is always included.
SparsityPattern make_pattern(std::size_t n, const std::vector<char>& depends);

/// The structural pattern of the model's Jacobian, probed: at the reset state and at four
/// reproducible random states around it (every state nonzero, so products show), each state is
/// shifted in turn and the right-hand sides that change are recorded. An entry that is zero at
/// every probe (a branch never taken there) is left out; that costs Newton iterations, never
/// accuracy, because the error test and the Newton residual use the true right-hand side.
/// A probe where the model throws is skipped; with no probe left, the pattern is full.
SparsityPattern jacobian_pattern(const OdeModel& model);

/// Whether a sparse factorization beats the dense one for this pattern (solver.linear_solver =
/// auto): at least kSparseMinStates states and at most a quarter of the entries nonzero.
bool sparse_pays(const SparsityPattern& pattern);

inline constexpr std::size_t kSparseMinStates = 16;

}  // namespace k2sim::internal
