// Benchmarks of issue 2 (bench/README.md has the figures): RHS evaluation, and 10 years of daily
// oral MK-7 doses with daily output through k2sim's engine and through a bare CVODES loop written
// here with the same tolerances, to measure the engine's overhead. The bare loop is the one place
// outside src/engine that includes SUNDIALS: it is the reference, not part of k2sim.
#include <cvodes/cvodes.h>
#include <nvector/nvector_serial.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "k2sim/engine/simulation.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/units/substances.hpp"

namespace {

constexpr double kTol = 1e-8;  // rtol = atol = 1e-8, as the mrgsolve reference figure
constexpr int kDays = 3653;    // 10 years of daily doses (10 * 365.25 rounded up)

double dose_nmol() {
  const auto& mk7 = k2sim::units::find_substance("MK-7");
  return k2sim::units::to_internal_amount(mk7, k2sim::units::parse_quantity("180 ug"));
}

// Closed-form plasma amount at the end of the schedule (superposition of Bateman functions): the
// accuracy check of every variant.
double exact_central_end(double ka, double ke, double dose) {
  double total = 0.0;
  for (int k = 0; k < kDays; ++k) {
    const double s = 24.0 * (kDays - k);
    total += dose * ka / (ka - ke) * (std::exp(-ke * s) - std::exp(-ka * s));
  }
  return total;
}

double exact_end() {
  const auto table = k2sim::ParameterTable::builtin("pk_1cmt");
  return exact_central_end(table.at("ka_mk7").canonical(), table.at("k_mk7_elim").canonical(),
                           dose_nmol());
}

// Counters shared by the whole-run benchmarks: accuracy at the end, time per dose, throughput.
void set_run_counters(benchmark::State& state, double central_end_nmol) {
  state.counters["rel_err_end"] = std::abs(central_end_nmol - exact_end()) / exact_end();
  state.counters["us_per_dose"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kDays,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert, benchmark::Counter::kIs1000);
  state.counters["subject_years_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kDays / 365.25, benchmark::Counter::kIsRate);
}

std::unique_ptr<k2sim::Model> make_pk() {
  static const auto table = k2sim::ParameterTable::builtin("pk_1cmt");
  return k2sim::make_model("pk-1cmt", table);
}

void BM_RhsEvaluation(benchmark::State& state) {
  const auto model = make_pk();
  const k2sim::OdeModel& ode = *model;
  double y[2] = {100.0, 50.0};
  double dydt[2];
  for (auto _ : state) {
    ode.rhs(0.0, y, dydt);
    benchmark::DoNotOptimize(dydt);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RhsEvaluation);

void BM_TenYearsDailyDoses_k2sim(benchmark::State& state) {
  const auto model = make_pk();
  const k2sim::DoseRecord rec{
      .time_h = 0.0, .amt = dose_nmol(), .cmt = 0, .ii_h = 24.0, .addl = kDays - 1};
  const std::vector<double> grid = k2sim::output_grid(0.0, kDays * 24.0, 24.0);
  k2sim::SimulationOptions opt;
  const double tol = std::pow(10.0, -static_cast<double>(state.range(1)));
  opt.rtol = tol;
  opt.atol = tol;
  opt.method = state.range(0) == 0 ? k2sim::Method::kBdf : k2sim::Method::kAdams;
  opt.closed_form = state.range(2) == 1;
  opt.multirate = k2sim::Multirate::kOff;  // the solver on every dose (no slow states here anyway)
  state.SetLabel(opt.closed_form
                     ? std::string("closed form (matrix exponentials)")
                     : fmt::format("{} rtol=atol=1e-{}", state.range(0) == 0 ? "BDF" : "Adams",
                                   state.range(1)));
  const std::vector<double> y0 = {0.0, 0.0};
  long steps = 0;
  double last = 0.0;
  for (auto _ : state) {
    k2sim::Trajectory tr;
    const k2sim::SolveSummary s = k2sim::simulate(*model, y0, 0.0, {rec}, grid, opt, tr);
    if (!s.ok()) state.SkipWithError(s.message.c_str());
    steps = s.steps;
    last = tr.at(tr.time_h.size() - 1, 1);
    benchmark::DoNotOptimize(tr.states.data());
  }
  state.counters["steps"] = static_cast<double>(steps);
  set_run_counters(state, last);
  state.counters["bytes_per_row"] = static_cast<double>(sizeof(double) * (1 + 2));
}
// Args: method (0 BDF, 1 Adams), -log10 of rtol = atol, closed form (1: the default path for this
// linear model, exact propagation; 0: the solver).
BENCHMARK(BM_TenYearsDailyDoses_k2sim)
    ->Args({0, 8, 1})
    ->Args({0, 8, 0})
    ->Args({1, 8, 0})
    ->Args({0, 6, 0})
    ->Args({1, 6, 0})
    ->Unit(benchmark::kMillisecond);

// The same model and schedule with CVODES called directly: one context, one solver, re-initialised
// after each dose; the state is stored at each daily output.
int bare_rhs(sunrealtype, N_Vector y, N_Vector ydot, void* data) {
  const double* p = static_cast<const double*>(data);
  const double* yy = N_VGetArrayPointer(y);
  double* dd = N_VGetArrayPointer(ydot);
  dd[0] = -p[0] * yy[0];
  dd[1] = p[0] * yy[0] - p[1] * yy[1];
  return 0;
}

void BM_TenYearsDailyDoses_BareCvode(benchmark::State& state) {
  const auto table = k2sim::ParameterTable::builtin("pk_1cmt");
  double p[2] = {table.at("ka_mk7").canonical(), table.at("k_mk7_elim").canonical()};
  const double dose = dose_nmol();
  long steps_total = 0;
  double last = 0.0;
  for (auto _ : state) {
    SUNContext ctx = nullptr;
    SUNContext_Create(nullptr, &ctx);
    N_Vector y = N_VNew_Serial(2, ctx);
    N_VConst(0.0, y);
    void* mem = CVodeCreate(CV_BDF, ctx);
    CVodeInit(mem, bare_rhs, 0.0, y);
    CVodeSetUserData(mem, p);
    CVodeSStolerances(mem, kTol, kTol);
    CVodeSetMaxNumSteps(mem, 500000);
    SUNMatrix a = SUNDenseMatrix(2, 2, ctx);
    SUNLinearSolver ls = SUNLinSol_Dense(y, a, ctx);
    CVodeSetLinearSolver(mem, ls, a);
    std::vector<double> out;
    out.reserve((kDays + 1) * 3);
    double* yy = N_VGetArrayPointer(y);
    long steps = 0;
    for (int d = 0; d < kDays; ++d) {
      const double t0 = 24.0 * d;
      yy[0] += dose;
      CVodeReInit(mem, t0, y);
      out.insert(out.end(), {t0, yy[0], yy[1]});
      CVodeSetStopTime(mem, t0 + 24.0);
      double t = 0.0;
      CVode(mem, t0 + 24.0, y, &t, CV_NORMAL);
      long nst = 0;
      CVodeGetNumSteps(mem, &nst);
      steps += nst;
    }
    out.insert(out.end(), {24.0 * kDays, yy[0], yy[1]});
    last = yy[1];
    steps_total = steps;
    benchmark::DoNotOptimize(out.data());
    CVodeFree(&mem);
    SUNLinSolFree(ls);
    SUNMatDestroy(a);
    N_VDestroy(y);
    SUNContext_Free(&ctx);
  }
  state.counters["steps"] = static_cast<double>(steps_total);
  set_run_counters(state, last);
}
BENCHMARK(BM_TenYearsDailyDoses_BareCvode)->Unit(benchmark::kMillisecond);

}  // namespace

// Issue 5: 10 years of the calcium-bone model (Peterson & Riggs 2010) with teriparatide 20 ug SC
// once a day and daily output, and with no drug. Accuracy: plasma calcium at the end against a
// run at rtol = atol = 1e-11 (computed once).
std::unique_ptr<k2sim::Model> make_calcium_bone() {
  static const auto table = k2sim::ParameterTable::builtin("calcium");
  // Without set_subject: the table's GFR (100 mL/min) and estrogen 1, the published steady state.
  return k2sim::make_model("calcium-bone", table);
}

double calcium_end(const k2sim::Model& model, bool drug, double tol, long* steps,
                   bool multirate = false) {
  const k2sim::DoseTarget target =
      model.dose_target(k2sim::DoseContext{"teriparatide", k2sim::Route::kSc});
  const auto& teri = k2sim::units::find_substance("teriparatide");
  const double nmol = k2sim::units::to_internal_amount(teri, k2sim::units::parse_quantity("20 ug"));
  const k2sim::DoseRecord rec{.time_h = 0.0,
                              .amt = nmol * target.fraction,
                              .cmt = target.cmt,
                              .ii_h = 24.0,
                              .addl = kDays - 1};
  std::vector<k2sim::DoseRecord> doses;
  if (drug) doses.push_back(rec);
  const std::vector<double> grid = k2sim::output_grid(0.0, kDays * 24.0, 24.0);
  std::vector<double> y0(model.state_count());
  model.reset_state(y0);
  k2sim::SimulationOptions opt;
  opt.rtol = tol;
  opt.atol = tol;
  opt.multirate = multirate ? k2sim::Multirate::kOn : k2sim::Multirate::kOff;
  k2sim::Trajectory tr;
  const k2sim::SolveSummary s = k2sim::simulate(model, y0, 0.0, doses, grid, opt, tr);
  if (!s.ok()) throw std::runtime_error(s.message);
  if (steps != nullptr) *steps = s.steps;
  std::vector<double> out(model.outputs().size());
  const std::size_t last = tr.time_h.size() - 1;
  model.compute_outputs(tr.time_h[last], &tr.states[last * tr.n_states], out.data());
  return out[0];  // serum_ca_mmol_per_L
}

void BM_CalciumBone_RhsEvaluation(benchmark::State& state) {
  const auto model = make_calcium_bone();
  const k2sim::OdeModel& ode = *model;
  std::vector<double> y(ode.state_count());
  std::vector<double> dydt(ode.state_count());
  ode.reset_state(y);
  for (auto _ : state) {
    ode.rhs(0.0, y.data(), dydt.data());
    benchmark::DoNotOptimize(dydt.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CalciumBone_RhsEvaluation);

void BM_CalciumBone_TenYears(benchmark::State& state) {
  const auto model = make_calcium_bone();
  const bool drug = state.range(0) == 1;
  const double tol = std::pow(10.0, -static_cast<double>(state.range(1)));
  const bool multirate = state.range(2) == 1;
  state.SetLabel(fmt::format("{} rtol=atol=1e-{}{}", drug ? "teriparatide 20 ug daily" : "no drug",
                             state.range(1), multirate ? " multi-rate" : ""));
  const double ref = calcium_end(*model, drug, 1e-11, nullptr);  // before the timed loop
  long steps = 0;
  double end = 0.0;
  for (auto _ : state) end = calcium_end(*model, drug, tol, &steps, multirate);
  state.counters["steps"] = static_cast<double>(steps);
  state.counters["rel_err_ca_end"] = std::abs(end - ref) / ref;
  state.counters["subject_years_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kDays / 365.25, benchmark::Counter::kIsRate);
}
// Args: drug (0 none, 1 teriparatide), -log10 of rtol = atol, multi-rate (1 on).
BENCHMARK(BM_CalciumBone_TenYears)
    ->Args({1, 8, 1})
    ->Args({1, 8, 0})
    ->Args({1, 6, 1})
    ->Args({1, 6, 0})
    ->Args({0, 8, 0})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
