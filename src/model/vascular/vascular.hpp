// Where the calcium goes (model "full", docs/model.md eq. 60-66): coronary artery calcium (CAC)
// and abdominal aortic calcification (AAC) as percentile-tracking natural histories whose pace
// the mechanistic drivers modify, and coronary events and death on top of background mortality.
// Parameters in data/parameters/vascular.csv.
//
// The natural history (eq. 60-62): a subject keeps a latent percentile q of the population of
// their age and sex (Heinz Nixdorf Recall: CAC tracks sex-specific percentiles). The population
// at age a has P(CAC > 0) = logistic((a - a50) / s) and, given CAC > 0, ln CAC ~ N(mu(a), sigma);
// the subject's CAC is the q-quantile of that zero-inflated distribution. The drivers act on the
// age that enters the curve, the subject's "vascular age" A, with dA/dt = M(t): onset and growth
// both speed up or slow down, the distribution stays zero-inflated, and M = 1 in the reference
// population reproduces the published tracking exactly.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/spline.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/params/parameter_table.hpp"

namespace k2sim::internal {

/// Background mortality: one life table (data/outcomes/lifetables.csv), hazards per year by age.
class LifeTable {
 public:
  /// Names accepted by subject key `life_table`.
  [[nodiscard]] static std::vector<std::string> names();
  /// Loads a table by name ("USA 2020", "USA 2021", "Netherlands 1995-2000"); throws InputError.
  [[nodiscard]] static LifeTable builtin(std::string_view name);
  /// All-cause mortality hazard at age a (1/y): -ln(1 - nqx) / n over the interval holding a; the
  /// last interval's hazard beyond the table.
  [[nodiscard]] double hazard_per_y(double age_y, bool female) const;
  /// The same table as a smooth hazard (1/y): the derivative of the cubic spline (twice
  /// continuously differentiable) through the cumulative hazard at the interval boundaries, so
  /// that the probability of dying in each interval is the table's exactly while the hazard and
  /// its slope are continuous (McNeil, Trussell & Turner, Demography 1977;14:245-52: splines
  /// through cumulative life-table functions). Natural at the first age; at the last boundary its
  /// slope is the last interval's hazard, which holds beyond. Never below 0: where the spline's
  /// slope dips below 0 (in childhood, ages 1.5-2.2 in the US and 2.7-6.6 in the Dutch table,
  /// after the high infant mortality) it is 0, and there the interval's probability is not kept.
  [[nodiscard]] double smooth_hazard_per_y(double age_y, bool female) const;
  /// smooth_hazard_per_y convolved with the twicing Gaussian kernel 2 N(0, s^2) - N(0, 2 s^2),
  /// s = sd_y (1/y): infinitely differentiable, where the spline's slope has kinks at the
  /// interval boundaries that hold a stiff solver's steps short wherever the hazard is
  /// integrated; the kernel's second moment is 0, so a cubic passes unchanged, and the
  /// probability of dying in each interval changes by the fourth order in s (docs/model.md eq.
  /// 65). Exact (the convolution of a piecewise quadratic with a Gaussian, in closed form), with
  /// the spline's slope unclamped (the clamp at 0 acts in childhood only) and the first and last
  /// hazards beyond the table's ends. Never below 0.
  [[nodiscard]] double kernel_hazard_per_y(double age_y, bool female, double sd_y) const;
  /// The youngest age the table covers for both sexes.
  [[nodiscard]] double first_age_y() const;

 private:
  /// Reads a table from data/outcomes/lifetables.csv (builtin() keeps what it has read).
  [[nodiscard]] static LifeTable parse(std::string_view name);
  /// E[h(age + s Z)], Z ~ N(0, 1), h the spline's slope (unclamped), in closed form.
  [[nodiscard]] double gaussian_mean_hazard(double age_y, bool female, double s) const;
  struct Row {
    double from = 0.0;
    double to = 0.0;
    double hazard = 0.0;  // 1/y
  };
  std::array<std::vector<Row>, 2> rows_;  // [male, female]
  /// smooth_hazard_per_y's splines of the cumulative hazard (1) at the boundaries (y).
  std::array<CubicSpline, 2> cumulative_;  // [male, female]
};

class Vascular {
 public:
  enum Param : std::size_t {
    kCacA50Male,
    kCacA50Female,
    kCacOnsetScale,
    kCacLogMedianMale,
    kCacLogMedianFemale,
    kCacLogSdMale,
    kCacLogSdFemale,
    kCacLogGrowth,
    kMgpCacEffect,
    kMgpCarboxylatedReference,
    kPhosphateCacEffect,
    kPhosphateReference,
    kDialysisCacFactor,
    kAacA50,
    kAacOnsetScale,
    kAacLogMedian,
    kAacLogSd,
    kAacLogGrowth,
    kMesaBaselineSurvival,
    kMesaAge,
    kMesaMale,
    kMesaDiabetes,
    kMesaSmoker,
    kMesaTotalCholesterol,
    kMesaHdl,
    kMesaLipidMedication,
    kMesaSbp,
    kMesaAntihypertensive,
    kMesaFamilyHistory,
    kMesaLnCac,
    kMesaAgeMin,
    kMesaAgeMax,
    kChdFatalFraction,
    kRefSbp,
    kRefTotalCholesterol,
    kRefHdl,
    kOcBmdEffect,
    kOcCarboxylatedReference,
    kParams
  };
  static const std::array<std::string_view, kParams> kParamNames;

  explicit Vascular(const ParameterTable& table);

  [[nodiscard]] double param(Param p) const { return p_[p]; }
  /// All parameters, in Param order (canonical units).
  [[nodiscard]] const std::vector<double>& params() const { return p_; }

  // Eq. (60): the zero-inflated CAC distribution at (vascular) age a.
  [[nodiscard]] double cac_prob_positive(double age_y, bool female) const;
  /// Median ln CAC (AU) and its SD among those with CAC > 0 at age a (eq. 60).
  [[nodiscard]] double cac_log_median(double age_y, bool female) const;
  [[nodiscard]] double cac_log_sd(bool female) const;
  /// CAC (AU) of percentile q (0-1) at age a.
  [[nodiscard]] double cac_at(double q, double age_y, bool female) const;
  /// The percentile of a score at age a (for a score of 0: the middle of the zero range).
  [[nodiscard]] double cac_percentile_of(double cac_au, double age_y, bool female) const;
  /// Eq. (61): hazard of new detectable CAC among those without (1/y), at pace 1.
  [[nodiscard]] double cac_onset_hazard_per_y(double age_y, bool female) const;
  // Eq. (63): AAC-24 score of percentile q at aortic age a (0-24), and P(AAC > 0).
  [[nodiscard]] double aac_prob_positive(double age_y) const;
  [[nodiscard]] double aac_at(double q, double age_y) const;

  /// Eq. (62): the pace M of vascular ageing from the drivers (1 in the reference population).
  [[nodiscard]] double pace(double mgp_carboxylated, double phosphate_mmol_per_L,
                            bool dialysis) const;

  /// Eq. (64): the MESA linear predictor (McClelland 2015) at age a (clamped to its valid range)
  /// with ln(CAC + 1); the risk factors in MESA's units.
  [[nodiscard]] double mesa_linear_predictor(double age_y, bool female, const RiskFactors& rf,
                                             double cac_au) const;
  /// Eq. (64): hazard of a first coronary event (1/y): -ln(S0) exp(L) / 10 y.
  [[nodiscard]] double chd_hazard_per_y(double age_y, bool female, const RiskFactors& rf,
                                        double cac_au) const;
  /// The reference population's risk factors (MESA baseline means, non-smoking, no diabetes).
  [[nodiscard]] RiskFactors reference_risk_factors() const;

 private:
  std::vector<double> p_;  // canonical units (years as h are converted back where used)
};

}  // namespace k2sim::internal
