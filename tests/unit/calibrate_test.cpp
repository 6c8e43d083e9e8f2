// k2sim calibrate on a problem with a known answer: a synthetic target made from a known
// parameter value must give that value back, inside its profile interval.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "k2sim/calibration/calibrate.hpp"
#include "k2sim/params/parameter_table.hpp"

namespace k2sim {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

TEST(Calibrate, RecoversAKnownAbsorptionRate) {
  // pk-1cmt: AUC(0-24 h) of plasma MK-7 after 1000 nmol oral, with ka = 1.2 /h, ke = 0.01 /h,
  // V = 24 L: D/V * [ (1 - e^-ke T)/ke - (1 - e^-ka T)/ka ] * ka/(ka - ke).
  const double ka = 1.2;
  const double ke = 0.01;
  const double t = 24.0;
  const double auc = 1000.0 / 24.0 * ka / (ka - ke) *
                     ((1 - std::exp(-ke * t)) / ke - (1 - std::exp(-ka * t)) / ka);
  const fs::path dir = fs::temp_directory_path() / fmt::format("k2sim_calibrate_{}", ::getpid());
  fs::remove_all(dir);
  write(dir / "parameters" / "pk_1cmt.csv",
        "name,value,unit,lower,upper,ci_low,ci_high,provenance,source,meaning\n"
        "ka_mk7,0.5,1/h,0.1,5,,,calibrated,calibrated: T1,absorption\n"
        "k_mk7_elim,0.01,1/h,0.001,0.1,,,literature,test,elimination\n"
        "v_mk7,24,L,1,100,,,literature,test,volume\n"
        "f_mk7,1,1,0.1,1,,,assumed,test,fraction\n");
  write(dir / "validation" / "targets.csv",
        "id,quantity,value,low,high,spread_kind,units,population,n,regimen,duration,source,"
        "verified\n" +
            fmt::format("T1,synthetic AUC,{0},{1},{2},CI95,nmol*h/L,,,,,exact,read\n", auc,
                        auc * 0.99, auc * 1.01));
  write(dir / "validation" / "expected.csv", "id,status,reason,issue\nT1,pass,,3\n");
  write(dir / "validation" / "protocols" / "T1.toml",
        "name = \"t1\"\nmodel = \"pk-1cmt\"\ninitialize = \"reference\"\nduration = \"1 d\"\n"
        "output_interval = \"0.02 h\"\n[[dose]]\nsubstance = \"MK-7\"\namount = \"1000 nmol\"\n"
        "[protocol]\nid = \"T1\"\nrole = \"calibration\"\n[protocol.statistic]\nkind = \"auc\"\n"
        "output = \"plasma_mk7_nmol_per_L\"\nto = \"24 h\"\nunit = \"nmol*h/L\"\n");
  CalibrationOptions o;
  o.data_dir = dir.string();
  o.module = "pk_1cmt";
  o.quiet = true;
  o.threads = 1;
  const CalibrationResult r = calibrate(o);
  ASSERT_EQ(r.parameters.size(), 1u);
  EXPECT_NEAR(r.parameters[0].value, ka, 0.01 * ka);
  EXPECT_LT(r.parameters[0].ci_low, ka);
  EXPECT_GT(r.parameters[0].ci_high, ka);
  EXPECT_LT(r.objective_end, r.objective_start);
  // The table was written back with the value and the interval.
  const ParameterTable t2 =
      ParameterTable::from_file((dir / "parameters" / "pk_1cmt.csv").string());
  EXPECT_NEAR(t2.at("ka_mk7").value, r.parameters[0].value, 1e-5 * ka);
  ASSERT_TRUE(t2.at("ka_mk7").ci_low.has_value());
  EXPECT_EQ(t2.at("k_mk7_elim").source, "test");
  // A refit without profiles clears the interval, which belonged to the previous value.
  o.profiles = false;
  (void)calibrate(o);
  const ParameterTable t3 =
      ParameterTable::from_file((dir / "parameters" / "pk_1cmt.csv").string());
  EXPECT_FALSE(t3.at("ka_mk7").ci_low.has_value());
  EXPECT_FALSE(t3.at("ka_mk7").ci_high.has_value());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace k2sim
