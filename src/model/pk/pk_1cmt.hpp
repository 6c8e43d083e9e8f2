// One-compartment oral model of menaquinone-7: the placeholder model of the foundation issue, to
// be replaced by the vitamin K kinetics of issue 3. Equations (1)-(3) of docs/model.md.
#pragma once

#include <array>
#include <span>
#include <string_view>
#include <vector>

#include "k2sim/params/parameter_table.hpp"

namespace k2sim::internal {

class Pk1Cmt {
 public:
  enum State : std::size_t { kGutMk7, kCentralMk7, kStateCount };
  static constexpr std::array<std::string_view, kStateCount> kStateNames = {"gut_mk7_nmol",
                                                                            "central_mk7_nmol"};
  enum Param : std::size_t { kKaMk7, kKElimMk7, kVMk7, kFMk7, kParamCount };
  /// Linear and time-invariant: the engine propagates it in closed form (solver.closed_form).
  static constexpr bool kLinear = true;
  static constexpr std::array<std::string_view, kParamCount> kParamNames = {"ka_mk7", "k_mk7_elim",
                                                                            "v_mk7", "f_mk7"};

  explicit Pk1Cmt(const ParameterTable& table);

  /// Eq. (1)-(2): first-order absorption from the gut, first-order elimination from plasma.
  template <class T>
  void rhs(T /*t_h*/, const T* y, T* dydt) const {
    const T j_gut_to_plasma = p_[kKaMk7] * y[kGutMk7];       // nmol/h, eq. (1)
    const T j_elimination = p_[kKElimMk7] * y[kCentralMk7];  // nmol/h, eq. (2)
    dydt[kGutMk7] = -j_gut_to_plasma;
    dydt[kCentralMk7] = j_gut_to_plasma - j_elimination;
  }

  static void reset_state(std::span<double> y) {
    for (double& v : y) v = 0.0;
  }

  /// Eq. (3): plasma concentration, nmol/L.
  [[nodiscard]] double plasma_mk7_nmol_per_L(const double* y) const {
    return y[kCentralMk7] / p_[kVMk7];
  }

  [[nodiscard]] double param(Param i) const { return p_[i]; }

 private:
  std::vector<double> p_;  // canonical units: 1/h, 1/h, L, 1
};

}  // namespace k2sim::internal
