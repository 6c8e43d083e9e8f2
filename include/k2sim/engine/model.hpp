// k2sim/engine/model.hpp: what the engine needs of a model, and nothing about physiology.
// A model is a system dy/dt = f(t, y) in canonical units (time h, amounts nmol or mmol); the
// engine adds dose inputs (boluses and zero-order rates) to the states, so a model never sees them.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace k2sim {

/// Interface the engine integrates. Implementations keep their RHS as a template on the scalar
/// type and forward to it (see AdaptedModel below), so Jacobians can later come from automatic
/// differentiation. rhs() must not allocate, log or throw in normal operation.
class OdeModel {
 public:
  virtual ~OdeModel() = default;
  [[nodiscard]] virtual std::size_t state_count() const = 0;
  /// Names of the states, in index order (for diagnostics and docs).
  [[nodiscard]] virtual std::vector<std::string> state_names() const = 0;
  /// dydt = f(t, y). Arrays have state_count() entries.
  virtual void rhs(double t_h, const double* y, double* dydt) const = 0;
  /// The reset state (NONMEM "reset"): the state before any dose of a run, used by SS = 1 and as
  /// the starting guess of a steady-state search.
  virtual void reset_state(std::span<double> y) const = 0;
  /// States nothing else depends on (cumulative fluxes kept for balances, stores that integrate
  /// a net flux): they have no equilibrium of their own, so the steady-state search keeps them
  /// at their reset value and solves for the others.
  [[nodiscard]] virtual std::vector<std::size_t> accumulators() const { return {}; }
  /// States the periodic steady-state search holds at their reset value: the accumulators, and
  /// states too slow for a one-period search that the regimen does not reach (a composed model's
  /// calcium and bone states, which start from their own equilibrium).
  [[nodiscard]] virtual std::vector<std::size_t> periodic_held() const { return accumulators(); }
  /// For a linear time-invariant model (dy/dt = A y), A in row-major order (state_count()^2
  /// entries); empty otherwise. The engine then propagates the state exactly between doses
  /// (matrix exponentials, superposition), without a solver (solver.closed_form).
  [[nodiscard]] virtual std::vector<double> linear_matrix() const { return {}; }
  /// The model whose Jacobian has this one's sparsity pattern: itself, or for a wrapper that
  /// only adds constant inputs, the model it wraps. A cohort's stored patterns (docs/engine.md
  /// "Solver") are kept by this model's type.
  [[nodiscard]] virtual const OdeModel& pattern_source() const { return *this; }
};

/// Adapts a model class with a `template <class T> void rhs(T t, const T* y, T* dydt) const`
/// member to the OdeModel interface (or to an interface derived from it, `Base`).
template <class M, class Base = OdeModel>
class AdaptedModel : public M, public Base {
 public:
  using M::M;
  [[nodiscard]] std::size_t state_count() const override { return M::kStateCount; }
  [[nodiscard]] std::vector<std::string> state_names() const override {
    return {std::begin(M::kStateNames), std::end(M::kStateNames)};
  }
  void rhs(double t_h, const double* y, double* dydt) const override {
    M::template rhs<double>(t_h, y, dydt);
  }
  void reset_state(std::span<double> y) const override { M::reset_state(y); }
  [[nodiscard]] std::vector<std::size_t> accumulators() const override {
    if constexpr (requires { M::kAccumulators; }) {
      return {std::begin(M::kAccumulators), std::end(M::kAccumulators)};
    } else {
      return {};
    }
  }
  /// A model class that declares `static constexpr bool kLinear = true` has dy/dt = A y; its
  /// columns are the derivatives at the unit vectors.
  [[nodiscard]] std::vector<double> linear_matrix() const override {
    if constexpr (requires { M::kLinear; }) {
      if (!M::kLinear) return {};
      constexpr std::size_t n = M::kStateCount;
      std::vector<double> a(n * n);
      std::vector<double> e(n, 0.0);
      std::vector<double> f(n);
      for (std::size_t j = 0; j < n; ++j) {
        e[j] = 1.0;
        M::template rhs<double>(0.0, e.data(), f.data());
        e[j] = 0.0;
        for (std::size_t i = 0; i < n; ++i) a[i * n + j] = f[i];
      }
      return a;
    } else {
      return {};
    }
  }
};

}  // namespace k2sim
