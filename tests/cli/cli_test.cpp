// The k2sim binary as a user runs it: exit codes, files written, and the parameter listing against
// the table and the docs.
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "k2sim/io/run.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/params/parameter_table.hpp"

namespace k2sim {
namespace {

namespace fs = std::filesystem;

struct CliResult {
  int code = -1;
  std::string output;
};

/// Runs the k2sim binary with `args`, after `prefix` (environment settings, a launcher).
CliResult run_cli_env(const std::string& prefix, const std::string& args) {
  const std::string cmd = prefix + " " + std::string(K2SIM_BINARY) + " " + args + " 2>&1";
  CliResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), pipe)) r.output += buf.data();
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

CliResult run_cli(const std::string& args) { return run_cli_env("", args); }

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("k2sim_cli_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// `k2sim foods` and `k2sim diet` as a user runs them.
TEST_F(Cli, FoodsAndDietCommands) {
  CliResult r = run_cli("foods natto");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("MK-7"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("kamao2007"), std::string::npos) << r.output;
  r = run_cli("foods");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("cheese:"), std::string::npos) << r.output;
  r = run_cli("foods xylophone");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("no food matches"), std::string::npos) << r.output;
  const std::string ok = write("diet.toml",
                               "name = \"d\"\nduration = \"1 d\"\n[diet]\npreset = "
                               "\"japan-with-natto\"\n");
  r = run_cli("diet " + ok);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("MK total"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Kamao 2007"), std::string::npos) << r.output;
  const std::string bad = write("bad.toml",
                                "name = \"d\"\nduration = \"1 d\"\n[diet]\nfoods = [ { food = "
                                "\"nato\", amount = \"40 g\" } ]\n");
  r = run_cli("diet " + bad);
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("bad.toml:4"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'natto'"), std::string::npos) << r.output;
}

TEST_F(Cli, TypoInScenarioExits3WithFileAndLine) {
  const std::string sc = write("typo.toml", "name = \"t\"\nduraton = \"1 d\"\n");
  const CliResult r = run_cli("run " + sc + " --out " + (dir_ / "out").string());
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("typo.toml:2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did you mean 'duration'?"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "summary.json"));
}

TEST_F(Cli, GoodScenarioWritesTrajectoryAndSummary) {
  const std::string sc =
      write("good.toml",
            "name = \"good\"\nduration = \"10 d\"\noutput_interval = \"6 h\"\n"
            "[[dose]]\nsubstance = \"MK-7\"\namount = \"180 ug\"\nevery = \"1 d\"\n");
  const fs::path out = dir_ / "out";
  const CliResult r = run_cli("run " + sc + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("plasma_mk7_nmol_per_L"), std::string::npos) << r.output;
  ASSERT_TRUE(fs::exists(out / "trajectory.csv"));
  ASSERT_TRUE(fs::exists(out / "summary.json"));
  for (const auto& entry : fs::directory_iterator(out)) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  }
  const nlohmann::json j = nlohmann::json::parse(read_file(out / "summary.json"));
  EXPECT_EQ(j["scenario"]["name"], "good");
  EXPECT_TRUE(j.contains("model_version"));
  const auto& o = j["arms"]["main"]["outputs"]["plasma_mk7_nmol_per_L"];
  EXPECT_EQ(o["unit"], "nmol/L");
  EXPECT_EQ(j["arms"]["main"]["solver"]["status"], "ok");
  EXPECT_GT(j["arms"]["main"]["solver"]["steps"].get<long>(), 0);
  EXPECT_LE(o["min"].get<double>(), o["mean"].get<double>());
  EXPECT_LE(o["mean"].get<double>(), o["max"].get<double>());
  const std::string csv = read_file(out / "trajectory.csv");
  EXPECT_EQ(csv.rfind("time_d,plasma_k1_nmol_per_L,plasma_mk4_nmol_per_L,plasma_mk7_nmol_per_L", 0),
            0u)
      << csv.substr(0, 80);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 10 * 4 + 1);
}

TEST_F(Cli, ArmsWriteOneTrajectoryEach) {
  const std::string sc = write("arms.toml",
                               "name = \"arms\"\nduration = \"5 d\"\n[[arm]]\nname = \"placebo\"\n"
                               "[[arm]]\nname = \"mk7\"\ndose = [ { substance = \"MK-7\", amount = "
                               "\"180 ug\", every = \"1 d\" } ]\n");
  const fs::path out = dir_ / "out";
  const CliResult r = run_cli("run " + sc + " --quiet --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(r.output.empty()) << r.output;
  EXPECT_TRUE(fs::exists(out / "trajectory_placebo.csv"));
  EXPECT_TRUE(fs::exists(out / "trajectory_mk7.csv"));
  const nlohmann::json j = nlohmann::json::parse(read_file(out / "summary.json"));
  EXPECT_EQ(j["arms"]["placebo"]["outputs"]["plasma_mk7_nmol_per_L"]["max"].get<double>(), 0.0);
  EXPECT_GT(j["arms"]["mk7"]["outputs"]["plasma_mk7_nmol_per_L"]["max"].get<double>(), 0.0);
}

TEST_F(Cli, OtherExitCodes) {
  const std::string sc =
      write("ok.toml", "name = \"ok\"\nmodel = \"pk-1cmt\"\nduration = \"1 d\"\n");
  EXPECT_EQ(run_cli("run " + (dir_ / "missing.toml").string()).code, 5);
  EXPECT_EQ(run_cli("frobnicate").code, 2);
  EXPECT_EQ(run_cli("run").code, 2);
  const CliResult bad_set =
      run_cli("run " + sc + " --out " + (dir_ / "o").string() + " --set k_mk7_elm=0.01");
  EXPECT_EQ(bad_set.code, 2) << bad_set.output;
  EXPECT_NE(bad_set.output.find("did you mean 'k_mk7_elim'?"), std::string::npos);
  EXPECT_EQ(run_cli("run " + sc + " --out " + (dir_ / "o").string() + " --set solver.rtol=7").code,
            2);
  // A solver that may take only one step between events fails numerically: exit 4.
  const std::string dosed = write("dosed.toml",
                                  "name = \"d\"\nduration = \"10 d\"\n[[dose]]\nsubstance = "
                                  "\"MK-7\"\namount = \"1 mg\"\n");
  EXPECT_EQ(
      run_cli("run " + dosed + " --out " + (dir_ / "o").string() + " --set solver.max_steps=1")
          .code,
      4);
}

TEST_F(Cli, SetChangesTheAnswer) {
  // With k_mk7_elim halved, the plasma level 9 days after one dose is higher (exp(-k t) decay).
  const std::string sc =
      write("one.toml",
            "name = \"one\"\nmodel = \"pk-1cmt\"\nduration = \"9 d\"\n[[dose]]\nsubstance "
            "= \"MK-7\"\namount = \"1 mg\"\n");
  ASSERT_EQ(run_cli("run " + sc + " -q --out " + (dir_ / "a").string()).code, 0);
  ASSERT_EQ(
      run_cli("run " + sc + " -q --out " + (dir_ / "b").string() + " --set k_mk7_elim=0.0075").code,
      0);
  const auto a = nlohmann::json::parse(read_file(dir_ / "a" / "summary.json"));
  const auto b = nlohmann::json::parse(read_file(dir_ / "b" / "summary.json"));
  const double ea = a["arms"]["main"]["outputs"]["plasma_mk7_nmol_per_L"]["end"];
  const double eb = b["arms"]["main"]["outputs"]["plasma_mk7_nmol_per_L"]["end"];
  EXPECT_GT(eb, ea);
}

// `k2sim params`, docs/parameters.md and the tables agree (issue 2), for every module.
TEST_F(Cli, ParamsListingDocsAndTableAgree) {
  const CliResult r = run_cli("params --csv");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string docs = read_file(fs::path(K2SIM_SOURCE_DIR) / "docs" / "parameters.md");
  for (const std::string module : {"pk_1cmt", "vitk"}) {
    const auto table = ParameterTable::builtin(module);
    for (const auto& p : table.parameters()) {
      const std::string interval =
          p.ci_low ? fmt::format("{:g} - {:g}", *p.ci_low, *p.ci_high) : std::string();
      const std::string csv_prefix =
          fmt::format("{},{},{:.10g},{},{:.10g},{:.10g},{},{},{},", module, p.name, p.value, p.unit,
                      p.lower, p.upper, p.ci_low ? fmt::format("{:.10g}", *p.ci_low) : "",
                      p.ci_high ? fmt::format("{:.10g}", *p.ci_high) : "", to_string(p.provenance));
      EXPECT_NE(r.output.find(csv_prefix), std::string::npos) << csv_prefix;
      const std::string docs_row =
          fmt::format("| {} | {:g} | {} | {:g} - {:g} | {} | {} |", p.name, p.value, p.unit,
                      p.lower, p.upper, interval, to_string(p.provenance));
      EXPECT_NE(docs.find(docs_row), std::string::npos)
          << "docs/parameters.md lacks the row: " << docs_row;
    }
  }
  const CliResult human = run_cli("params k_mk7");
  EXPECT_NE(human.output.find("k_mk7_elim"), std::string::npos);
  EXPECT_EQ(human.output.find("ka_mk7 "), std::string::npos);
}

TEST_F(Cli, OutputsCatalogue) {
  const CliResult r = run_cli("outputs");
  ASSERT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("plasma_mk7_nmol_per_L"), std::string::npos);
  EXPECT_NE(r.output.find("nmol/L"), std::string::npos);
}

constexpr const char* kPkCli = R"(
name = "pk"
model = "pk-1cmt"
initialize = "reference"
duration = "48 h"
output_interval = "1 h"
[[dose]]
substance = "MK-7"
amount = "1000 ug"
)";

TEST_F(Cli, UncertaintyAddsBandsToTrajectoryAndSummary) {
  const std::string sc = write("pk.toml", kPkCli);
  const fs::path out = dir_ / "out";
  const CliResult r = run_cli(
      fmt::format("run {} --out {} --uncertainty 20 --seed 3 --threads 2", sc, out.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("ensemble: 20 members (seed 3)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("hypotheses on: none"), std::string::npos) << r.output;
  std::ifstream csv(out / "trajectory.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_NE(header.find("plasma_mk7_nmol_per_L_p05"), std::string::npos) << header;
  EXPECT_NE(header.find("plasma_mk7_nmol_per_L_p95"), std::string::npos) << header;
  std::ifstream js(out / "summary.json");
  const nlohmann::json j = nlohmann::json::parse(js);
  const auto& iv = j["arms"]["main"]["outputs"]["plasma_mk7_nmol_per_L"]["interval"]["max"];
  EXPECT_LT(iv["p05"].get<double>(), iv["p95"].get<double>());
  EXPECT_EQ(j["uncertainty"]["members"], 20);
  EXPECT_EQ(j["uncertainty"]["failed_members"].size(), 0U);
  // Too few members is a usage error.
  EXPECT_EQ(run_cli(fmt::format("run {} --out {} --uncertainty 1", sc, out.string())).code, 2);
}

TEST_F(Cli, SensitivityRanksAndRejectsBadRequests) {
  const std::string sc = write("pk.toml", kPkCli);
  const CliResult r = run_cli(
      fmt::format("sensitivity {} --outputs plasma_mk7_nmol_per_L --at \"24 h\" --out {} -q", sc,
                  dir_.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  // v_mk7 (normalized -1) ranks first, with ka_mk7 last.
  const auto v = r.output.find("v_mk7");
  const auto ka = r.output.find("ka_mk7");
  ASSERT_NE(v, std::string::npos) << r.output;
  EXPECT_LT(v, ka) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "sensitivity.csv"));
  EXPECT_EQ(run_cli(fmt::format("sensitivity {} --outputs plasma_mk8", sc)).code, 2);
  EXPECT_EQ(run_cli(fmt::format("sensitivity {} --at \"2.5 h\"", sc)).code, 2);
  EXPECT_EQ(run_cli(fmt::format("sensitivity {} --at 3", sc)).code, 2);
  EXPECT_EQ(run_cli(fmt::format("sensitivity {} --params k_mk7_elm", sc)).code, 2);
  EXPECT_EQ(run_cli(fmt::format("sensitivity {} --step 0.7", sc)).code, 2);
  // The run with the table's values fails: a numerical failure, with the solver's message (the
  // solver, not the closed form that this linear model gets by default).
  const CliResult f = run_cli(
      fmt::format("sensitivity {} --set solver.max_steps=1 --set solver.closed_form=off", sc));
  EXPECT_EQ(f.code, 4) << f.output;
  EXPECT_NE(f.output.find("arm main"), std::string::npos) << f.output;
  EXPECT_EQ(run_cli(fmt::format("sensitivity {} --out /proc/k2sim-no", sc)).code, 5);
}

TEST_F(Cli, ScreenRunsMorrisAndSobol) {
  const std::string sc = write("pk.toml", kPkCli);
  CliResult r = run_cli(fmt::format(
      "screen {} --outputs plasma_mk7_nmol_per_L --trajectories 4 --out {} -q", sc, dir_.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Morris screening (4 trajectories, 4 levels)"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir_ / "morris.csv"));
  r = run_cli(
      fmt::format("screen {} --method sobol --samples 16 --outputs plasma_mk7_nmol_per_L -q", sc));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Sobol indices (16 base samples)"), std::string::npos);
  // A fixed parameter (literature) cannot be screened; bad designs are usage errors.
  EXPECT_EQ(run_cli(fmt::format("screen {} --params k_mk7_elim", sc)).code, 2);
  EXPECT_EQ(run_cli(fmt::format("screen {} --levels 3", sc)).code, 2);
  EXPECT_EQ(run_cli(fmt::format("screen {} --method sobol --samples 1", sc)).code, 2);
}

TEST_F(Cli, CompareArmsSideBySideWithPairedIntervals) {
  // pk-1cmt is linear in the dose: an arm with twice the dose is exactly twice the reference, and
  // in every member of an ensemble the difference equals the reference arm's value, so the
  // paired difference interval equals the reference arm's band.
  const std::string sc = write("cmp.toml", R"(
name = "cmp"
model = "pk-1cmt"
initialize = "reference"
duration = "48 h"
output_interval = "1 h"
[[arm]]
name = "single"
dose = [ { substance = "MK-7", amount = "1000 ug" } ]
[[arm]]
name = "double"
dose = [ { substance = "MK-7", amount = "2000 ug" } ]
)");
  const fs::path out = dir_ / "out";
  const CliResult r = run_cli(fmt::format(
      "compare {} --out {} --outputs plasma_mk7_nmol_per_L --at \"24 h,48 h\" --uncertainty 12", sc,
      out.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("single (ref)"), std::string::npos) << r.output;
  std::ifstream in(out / "compare.csv");
  std::string line;
  std::getline(in, line);
  int rows = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    ASSERT_GE(f.size(), 12U) << line;
    if (f[0] == "double") {
      EXPECT_NEAR(std::stod(f[11]), 2.0, 1e-6) << line;  // ratio
      ++rows;
    }
  }
  EXPECT_EQ(rows, 2);
  // Paired differences: the interval of double - single is the band of single.
  std::ifstream in2(out / "compare.csv");
  std::getline(in2, line);
  std::map<std::string, std::vector<std::string>> by_arm_time;
  while (std::getline(in2, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    by_arm_time[f[0] + "@" + f[3]] = f;
  }
  for (const char* t : {"1", "2"}) {
    const auto& s1 = by_arm_time.at(std::string("single@") + t);
    const auto& d2 = by_arm_time.at(std::string("double@") + t);
    EXPECT_NEAR(std::stod(d2[9]), std::stod(s1[5]), 1e-3 * std::stod(s1[5]));   // p05
    EXPECT_NEAR(std::stod(d2[10]), std::stod(s1[6]), 1e-3 * std::stod(s1[6]));  // p95
  }
  EXPECT_EQ(run_cli(fmt::format("compare {} --reference singel", sc)).code, 2);
  const std::string one = write("one.toml", kPkCli);
  EXPECT_EQ(run_cli(fmt::format("compare {}", one)).code, 3);
}

TEST_F(Cli, HypothesisSwitchFromTheCommandLine) {
  const std::string sc = write("h.toml", R"(
name = "h"
duration = "2 d"
)");
  CliResult r =
      run_cli(fmt::format("run {} --out {} --hypothesis statin_ggpp", sc, (dir_ / "o").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("hypotheses on: statin_ggpp = 0.45"), std::string::npos) << r.output;
  std::ifstream js(dir_ / "o" / "summary.json");
  const nlohmann::json j = nlohmann::json::parse(js);
  EXPECT_EQ(j["hypotheses"]["statin_ggpp"]["on"], true);
  EXPECT_EQ(j["hypotheses"]["statin_ggpp"]["value"], 0.45);
  r = run_cli(fmt::format("run {} --hypothesis statin_gpp", sc));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("did you mean 'statin_ggpp'"), std::string::npos) << r.output;
  EXPECT_EQ(run_cli(fmt::format("run {} --hypothesis statin_ggpp=abc", sc)).code, 2);
  EXPECT_EQ(run_cli(fmt::format("run {} --hypothesis pasture_k2=-5", sc)).code, 2);
  EXPECT_EQ(run_cli(fmt::format("run {} --seed 4", sc)).code, 2);  // needs --uncertainty
  // --set wins over a switch, and the summary reports the value used.
  r = run_cli(fmt::format("run {} --out {} --hypothesis statin_ggpp --set statin_ggpp_effect=0.1",
                          sc, (dir_ / "o3").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream js3(dir_ / "o3" / "summary.json");
  EXPECT_EQ(nlohmann::json::parse(js3)["hypotheses"]["statin_ggpp"]["value"], 0.1);
  EXPECT_EQ(run_cli(fmt::format("run {} --hypothesis statin_ggpp=0.9 --out {}", sc,
                                (dir_ / "o2").string()))
                .code,
            2);
}

// The scenarios of docs/sensitivity.md parse (the analyses there take minutes to hours).
TEST(DocsExamples, SensitivityScenariosParse) {
  int count = 0;
  for (const auto& e :
       fs::directory_iterator(fs::path(K2SIM_SOURCE_DIR) / "docs" / "sensitivity")) {
    if (e.path().extension() != ".toml") continue;
    const Scenario sc = read_scenario(e.path().string());
    const PreparedRun p = prepare_run(sc);
    EXPECT_FALSE(p.table.parameters().empty()) << e.path();
    ++count;
  }
  EXPECT_GE(count, 3);
}

// Every ```toml example of docs/scenarios.md parses and runs.
TEST(DocsExamples, EveryScenarioExampleRuns) {
  const std::string docs = read_file(fs::path(K2SIM_SOURCE_DIR) / "docs" / "scenarios.md");
  std::size_t pos = 0;
  int count = 0;
  while ((pos = docs.find("```toml\n", pos)) != std::string::npos) {
    const std::size_t start = pos + 8;
    const std::size_t end = docs.find("```", start);
    ASSERT_NE(end, std::string::npos);
    const std::string text = docs.substr(start, end - start);
    const Scenario sc = parse_scenario(text, fmt::format("docs/scenarios.md example {}", count));
    const RunResult r = run_scenario(sc);
    EXPECT_TRUE(r.ok()) << text;
    ++count;
    pos = end + 3;
  }
  EXPECT_GE(count, 4);
}

}  // namespace
}  // namespace k2sim

namespace k2sim {
namespace {

// intake_<vitamer>_ug_per_d counts the oral doses of the 24 h before each output time.
TEST(Intake, OutputsCountTheDosesOfThePrecedingDay) {
  const Scenario sc = parse_scenario(
      "name = \"i\"\nduration = \"3 d\"\noutput_interval = \"6 h\"\n"
      "[[dose]]\nsubstance = \"K1\"\namount = \"100 ug\"\nevery = \"12 h\"\n"
      "[[dose]]\nsubstance = \"MK-7\"\namount = \"1 mg\"\nstart = \"1 d\"\n"
      "[[dose]]\nsubstance = \"MK-4\"\namount = \"5 mg\"\nroute = \"IV\"\n",
      "intake.toml");
  const RunResult r = run_scenario(sc);
  ASSERT_TRUE(r.ok());
  const ArmResult& a = r.arms[0];
  std::size_t k1 = 0;
  std::size_t mk7 = 0;
  for (std::size_t k = 0; k < a.outputs.size(); ++k) {
    if (a.outputs[k].name == "intake_k1_ug_per_d") k1 = k;
    if (a.outputs[k].name == "intake_mk7_ug_per_d") mk7 = k;
    EXPECT_NE(a.outputs[k].name, "intake_mk4_ug_per_d");  // IV doses are not intake
  }
  ASSERT_GT(k1, 0u);
  ASSERT_GT(mk7, 0u);
  const std::size_t n = a.outputs.size();
  for (std::size_t i = 0; i < a.time_h.size(); ++i) {
    EXPECT_DOUBLE_EQ(a.values[i * n + k1], 200.0) << a.time_h[i];
    // The single MK-7 dose at 24 h counts at outputs in (24 h, 48 h] (window [t - 24 h, t)).
    const double t = a.time_h[i];
    EXPECT_DOUBLE_EQ(a.values[i * n + mk7], (t > 24.0 && t <= 48.0) ? 1000.0 : 0.0) << t;
  }
  // A dose after the end of the run is never taken, so it is not intake either.
  const Scenario late = parse_scenario(
      "name = \"l\"\nduration = \"12 h\"\noutput_interval = \"6 h\"\n"
      "[[dose]]\nsubstance = \"K1\"\namount = \"100 ug\"\nstart = \"18 h\"\n",
      "late.toml");
  const RunResult rl = run_scenario(late);
  ASSERT_TRUE(rl.ok());
  const ArmResult& al = rl.arms[0];
  bool found = false;
  for (std::size_t k = 0; k < al.outputs.size(); ++k) {
    if (al.outputs[k].name != "intake_k1_ug_per_d") continue;
    found = true;
    for (std::size_t i = 0; i < al.time_h.size(); ++i) {
      EXPECT_EQ(al.values[i * al.outputs.size() + k], 0.0);
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace k2sim

namespace k2sim {
namespace {

// Every scenario shipped in scenarios/ reads and runs: one test per file (so that ctest runs them
// in parallel), named after the file.
std::vector<std::string> shipped_scenarios() {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(fs::path(K2SIM_SOURCE_DIR) / "scenarios")) {
    if (entry.path().extension() == ".toml") files.push_back(entry.path().stem().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class ShippedScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedScenario, Runs) {
  const fs::path file = fs::path(K2SIM_SOURCE_DIR) / "scenarios" / (GetParam() + ".toml");
  const Scenario sc = read_scenario(file.string());
  const RunResult r = run_scenario(sc);
  EXPECT_TRUE(r.ok()) << file;
  for (const ArmResult& a : r.arms) EXPECT_TRUE(a.solve.ok()) << a.name << ": " << a.solve.message;
}

INSTANTIATE_TEST_SUITE_P(Files, ShippedScenario, ::testing::ValuesIn(shipped_scenarios()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(ShippedScenarios, AtLeastTheWorkedExamples) { EXPECT_GE(shipped_scenarios().size(), 15u); }

}  // namespace
}  // namespace k2sim

namespace k2sim {
namespace {

/// The value of attribute `name` in the first tag of `html` that has it, or "".
std::string attribute(const std::string& html, const std::string& name, std::size_t from = 0) {
  const std::size_t p = html.find(" " + name + "=\"", from);
  if (p == std::string::npos) return "";
  const std::size_t start = p + name.size() + 3;
  return html.substr(start, html.find('"', start) - start);
}

// `k2sim report` as a user runs it, opened in headless Chromium: every output that is not 0
// throughout gets a chart (counted independently from summary.json), each chart's canvas shows
// its lines in the arms' colours, the page needs no network, and a screenshot is kept under
// build/<preset>/artifacts/ for CI.
TEST_F(Cli, ReportRendersInHeadlessChromium) {
  const std::string sc = write("r.toml",
                               "name = \"r\"\nmodel = \"vitk\"\nduration = \"20 d\"\n"
                               "output_interval = \"6 h\"\n"
                               "[[arm]]\nname = \"none\"\n"
                               "[[arm]]\nname = \"mk7\"\n"
                               "dose = [ { substance = \"MK-7\", amount = \"180 ug\", "
                               "every = \"1 d\" } ]\n");
  const fs::path run = dir_ / "run";
  CliResult r = run_cli(fmt::format("run {} --out {} -q", sc, run.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli(fmt::format("report {}", run.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  const fs::path html = run / "report.html";
  ASSERT_TRUE(fs::exists(html)) << r.output;
  const std::string page = read_file(html);
  // Self-contained: nothing is fetched at view time.
  EXPECT_EQ(page.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  // Body weight is the same in both arms: its difference shows as about 0, not as a number.
  EXPECT_NE(page.find("<td>60 (\u2248 0)</td>"), std::string::npos);

  // The outputs that are not 0 throughout, from summary.json.
  const nlohmann::json summary = nlohmann::json::parse(read_file(run / "summary.json"));
  std::map<std::string, bool> nonzero;
  for (const auto& [arm, a] : summary["arms"].items()) {
    for (const auto& [name, s] : a["outputs"].items()) {
      // null (NaN in the file) counts as not 0, as the chart of such an output is drawn too.
      nonzero[name] = nonzero[name] || !s["min"].is_number() || s["min"].get<double>() != 0.0 ||
                      !s["max"].is_number() || s["max"].get<double>() != 0.0;
    }
  }
  int expected = 0;
  for (const auto& [name, nz] : nonzero) expected += nz ? 1 : 0;
  ASSERT_GT(expected, 10);

  const char* chromium = "/usr/bin/chromium";
  ASSERT_TRUE(fs::exists(chromium)) << "Debian's chromium is needed (scripts/install-deps)";
  const std::string browser = fmt::format(
      "{} --headless --no-sandbox --disable-gpu --user-data-dir={} --virtual-time-budget=10000 "
      "--window-size=1280,2000",
      chromium, (dir_ / "profile").string());
  const std::string dom_file = (dir_ / "dom.html").string();
  ASSERT_EQ(std::system(fmt::format("{} --dump-dom file://{} > {} 2>/dev/null", browser,
                                    fs::absolute(html).string(), dom_file)
                            .c_str()),
            0);
  const std::string dom = read_file(dom_file);
  const std::size_t body = dom.find("<body");
  ASSERT_NE(body, std::string::npos) << dom.substr(0, 500);
  EXPECT_EQ(attribute(dom, "data-report", body), "rendered") << dom.substr(body, 300);
  EXPECT_EQ(attribute(dom, "data-charts", body), std::to_string(expected));
  EXPECT_EQ(attribute(dom, "data-painted", body), std::to_string(expected));
  // Plasma MK-7 is 0 without the supplement and rises with it: the mk7 arm's colour (the second
  // of the key) must be on that chart's canvas.
  const std::size_t chart = dom.find("data-output=\"plasma_mk7_nmol_per_L\"");
  ASSERT_NE(chart, std::string::npos);
  std::istringstream pixels(attribute(dom, "data-series-pixels", chart));
  int none_px = -1;
  int mk7_px = -1;
  pixels >> none_px >> mk7_px;
  EXPECT_GT(mk7_px, 100) << attribute(dom, "data-series-pixels", chart);

  const fs::path artifacts(K2SIM_ARTIFACT_DIR);
  fs::create_directories(artifacts);
  const fs::path shot = artifacts / "report.png";
  fs::remove(shot);
  ASSERT_EQ(std::system(fmt::format("{} --screenshot={} file://{} > /dev/null 2>&1", browser,
                                    shot.string(), fs::absolute(html).string())
                            .c_str()),
            0);
  ASSERT_TRUE(fs::exists(shot));
  EXPECT_GT(fs::file_size(shot), 20000u);
}

// A scenario with one [[arm]] called "main" writes trajectory_main.csv (only a scenario without
// arms writes trajectory.csv); the report finds it (from review).
TEST_F(Cli, ReportOfOneArmNamedMain) {
  const std::string sc = write("m.toml",
                               "name = \"m\"\nmodel = \"pk-1cmt\"\nduration = \"2 d\"\n"
                               "output_interval = \"6 h\"\n[[arm]]\nname = \"main\"\n"
                               "dose = [ { substance = \"MK-7\", amount = \"180 ug\" } ]\n");
  const fs::path run = dir_ / "run";
  CliResult r = run_cli(fmt::format("run {} --out {} -q", sc, run.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_TRUE(fs::exists(run / "trajectory_main.csv"));
  r = run_cli(fmt::format("report {} -q", run.string()));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(read_file(run / "report.html").find("plasma_mk7_nmol_per_L"), std::string::npos);
}

// compare gives no ratio to a reference arm whose value is negligible beside the others (solver
// noise such as -5e-41 nmol/L of plasma MK-7 without MK-7 printed ratios of x-1.2e+41): here a
// trace dose of 1e-9 ug against 180 ug, whose ratio the previous rule printed as 1.8e11.
TEST_F(Cli, CompareGivesNoRatioToAZeroReference) {
  const std::string sc = write("z.toml",
                               "name = \"z\"\nmodel = \"pk-1cmt\"\nduration = \"2 d\"\n"
                               "output_interval = \"6 h\"\n"
                               "[[arm]]\nname = \"trace\"\n"
                               "dose = [ { substance = \"MK-7\", amount = \"1e-9 ug\" } ]\n"
                               "[[arm]]\nname = \"mk7\"\n"
                               "dose = [ { substance = \"MK-7\", amount = \"180 ug\" } ]\n");
  const fs::path out = dir_ / "c";
  const CliResult r = run_cli(
      fmt::format("compare {} --out {} --outputs plasma_mk7_nmol_per_L -q", sc, out.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  std::istringstream csv(read_file(out / "compare.csv"));
  std::string line;
  std::getline(csv, line);
  ASSERT_TRUE(line.ends_with(",ratio")) << line;
  int rows = 0;
  while (std::getline(csv, line)) {
    if (line.rfind("mk7,", 0) != 0) continue;
    ++rows;
    EXPECT_TRUE(line.ends_with(",")) << line;  // no ratio
  }
  EXPECT_GT(rows, 0);
}

// Bad run directories: exit 5 when summary.json is missing, 3 with file:line for a malformed
// trajectory; no report file is left behind either way.
TEST_F(Cli, ReportRejectsBadRunDirectories) {
  CliResult r = run_cli(fmt::format("report {}", dir_.string()));
  EXPECT_EQ(r.code, 5) << r.output;
  EXPECT_NE(r.output.find("summary.json"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "report.html"));

  const std::string sc = write("b.toml",
                               "name = \"b\"\nmodel = \"pk-1cmt\"\nduration = \"2 d\"\n"
                               "output_interval = \"6 h\"\n");
  const fs::path run = dir_ / "run";
  r = run_cli(fmt::format("run {} --out {} -q", sc, run.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  std::string csv = read_file(run / "trajectory.csv");
  const std::size_t line3 = csv.find('\n', csv.find('\n') + 1) + 1;
  csv.insert(csv.find(',', line3) + 1, "x");  // line 3, second column
  std::ofstream(run / "trajectory.csv") << csv;
  r = run_cli(fmt::format("report {}", run.string()));
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("trajectory.csv:3:"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(run / "report.html"));
  EXPECT_TRUE(
      std::none_of(fs::directory_iterator(run), fs::directory_iterator(), [](const auto& e) {
        return e.path().filename().string().find(".tmp") != std::string::npos;
      }));
}

}  // namespace
}  // namespace k2sim

namespace k2sim {
namespace {

// Progress on a stderr that is not a terminal (a pipe here): plain lines with a percentage and
// the total time of anything that takes over a second; nothing with --quiet.
TEST_F(Cli, ProgressLinesUnlessQuiet) {
  const std::string out = (dir_ / "o").string();
  // Progress shows only for runs longer than a second: 40 members on one thread (about 0.12 s
  // each here since the sparse solver, so about 5 s).
  CliResult r =
      run_cli(fmt::format("run {}/scenarios/default.toml --out {} --uncertainty 40 --threads 1",
                          K2SIM_SOURCE_DIR, out));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("k2sim: ensemble: done in "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find('\r'), std::string::npos);  // no bar redrawn in place
  r = run_cli(fmt::format("run {}/scenarios/default.toml --out {} --uncertainty 4 -q",
                          K2SIM_SOURCE_DIR, out));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "");
}

}  // namespace
}  // namespace k2sim

namespace k2sim {
namespace {

// The command lines of the ```sh blocks of README.md and docs/*.md: each names a subcommand the
// binary has and scenario files that exist; the quick ones (foods, params, outputs, diet) run
// as written and succeed. The scenario examples themselves run in ShippedScenario and
// DocsExamples.EveryScenarioExampleRuns.
TEST(DocsExamples, CommandLinesNameRealSubcommandsAndFiles) {
  const fs::path root(K2SIM_SOURCE_DIR);
  std::vector<fs::path> docs = {root / "README.md"};
  for (const auto& e : fs::directory_iterator(root / "docs")) {
    if (e.path().extension() == ".md") docs.push_back(e.path());
  }
  const CliResult help = run_cli("--help");
  ASSERT_EQ(help.code, 0) << help.output;
  int commands = 0;
  int ran = 0;
  for (const fs::path& doc : docs) {
    std::istringstream in(read_file(doc));
    std::string line;
    bool in_sh = false;
    int line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.rfind("```", 0) == 0) {
        in_sh = !in_sh && line == "```sh";
        continue;
      }
      if (!in_sh) continue;
      std::istringstream words(line.substr(0, line.find('#')));
      std::string exe;
      std::string sub;
      words >> exe >> sub;
      if (exe != "k2sim" && !exe.ends_with("/k2sim")) continue;
      const std::string where = fmt::format("{}:{}: {}", doc.filename().string(), line_no, line);
      ++commands;
      EXPECT_NE(help.output.find("  " + sub + " "), std::string::npos) << where;
      std::vector<std::string> args;
      for (std::string w; words >> w;) args.push_back(w);
      for (const std::string& a : args) {
        if ((a.rfind("scenarios/", 0) == 0 || a.rfind("docs/", 0) == 0) && a.ends_with(".toml")) {
          EXPECT_TRUE(fs::exists(root / a)) << where;
        }
      }
      if (sub == "foods" || sub == "params" || sub == "outputs" || sub == "diet") {
        std::string cmd = sub;
        for (const std::string& a : args) {
          cmd += " " + ((a.rfind("scenarios/", 0) == 0) ? (root / a).string() : a);
        }
        const CliResult r = run_cli(cmd + " > /dev/null");
        EXPECT_EQ(r.code, 0) << where << "\n" << r.output;
        ++ran;
      }
    }
  }
  EXPECT_GE(commands, 20);
  EXPECT_GE(ran, 4);
}

// A small trial for the cohort tests: two arms, 1 year of model full with a continuous diet and
// MK-7 180 ug/d as a constant input (few solver restarts, so the tests stay quick).
constexpr const char* kSmallTrial = R"(
name = "small-trial"
model = "full"
duration = "1 y"
output_interval = "60 d"
[subject]
life_table = "Netherlands 1995-2000"
[diet]
preset = "netherlands"
intake = "continuous"
[population]
size = 40
seed = 5
age = { mean = "70 y", sd = "6 y", min = "60 y", max = "85 y" }
female = 0.5
diet_cv = 0.6
variability = { k_pl_mk7 = 0.3 }
[analysis]
kind = "trial"
outcomes = ["dp_ucmgp_pmol_per_L"]
endpoints = ["death"]
power_sizes = [10]
power_replicates = 50
[[arm]]
name = "placebo"
[[arm]]
name = "mk7"
dose = [ { substance = "MK-7", amount = "5040 ug", every = "28 d", rate = "7.5 ug/h" } ]
)";

// subjects.csv is byte-identical for 1 and 2 threads, for 2 MPI ranks, and after a kill -9 and
// --resume; the journal is renamed only when complete; the trial analysis is in summary.json.
TEST_F(Cli, CohortIsIdenticalAcrossThreadsAndAfterKillAndResume) {
  const std::string sc = write("trial.toml", kSmallTrial);
  const fs::path one = dir_ / "one";
  const fs::path two = dir_ / "two";
  const fs::path killed = dir_ / "killed";
  CliResult r = run_cli(fmt::format("cohort {} --out {} --threads 1 -q", sc, one.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli(fmt::format("cohort {} --out {} --threads 2", sc, two.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("mk7 vs placebo"), std::string::npos) << r.output;
  const std::string a = read_file(one / "subjects.csv");
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 41);
  EXPECT_EQ(a, read_file(two / "subjects.csv"));
  EXPECT_FALSE(fs::exists(one / "subjects.csv.partial"));
  // Two MPI ranks (OpenMPI refuses root without the two variables; OpenMPI's own allocations
  // are not this program's leaks).
  const fs::path ranks = dir_ / "ranks";
  r = run_cli_env(
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 "
      "mpirun -np 2 --oversubscribe",
      fmt::format("cohort {} --out {} --threads 1 -q", sc, ranks.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(a, read_file(ranks / "subjects.csv"));
  EXPECT_EQ(nlohmann::json::parse(read_file(ranks / "summary.json"))["population"]["ranks"], 2);
  // Kill the run once 5 subjects are in the journal, then resume it.
  const std::string partial = (killed / "subjects.csv.partial").string();
  const std::string script = fmt::format(
      "{} cohort {} --out {} --threads 1 -q & p=$!; n=0; "
      "while [ \"$(cat {} 2>/dev/null | wc -l)\" -lt 6 ] && [ $n -lt 600 ]; do sleep 0.1; "
      "n=$((n+1)); done; kill -9 $p; wait $p; echo killed",
      K2SIM_BINARY, sc, killed.string(), partial);
  const int status = std::system(("bash -c '" + script + "' >/dev/null 2>&1").c_str());
  ASSERT_EQ(status, 0);
  ASSERT_TRUE(fs::exists(partial));
  ASSERT_FALSE(fs::exists(killed / "subjects.csv"));
  const std::string before = read_file(partial);
  EXPECT_LT(std::count(before.begin(), before.end(), '\n'), 41) << "the run was not interrupted";
  r = run_cli(fmt::format("cohort {} --out {} --threads 2 --resume", sc, killed.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed after"), std::string::npos) << r.output;
  EXPECT_EQ(a, read_file(killed / "subjects.csv"));
  EXPECT_FALSE(fs::exists(partial));
  const nlohmann::json js = nlohmann::json::parse(read_file(two / "summary.json"));
  const auto& an = js["analysis"];
  EXPECT_EQ(an["kind"], "trial");
  EXPECT_EQ(an["subjects_ok"], 40);
  // MK-7 lowers dp-ucMGP: the population effect is negative, and the trial's estimate too.
  const auto& eff = an["outcomes"]["dp_ucmgp_pmol_per_L"]["effect_vs_reference"]["mk7"];
  EXPECT_LT(eff["population_effect"].get<double>(), 0.0);
  EXPECT_LT(eff["value"].get<double>(), 0.0);
  // A resume in a folder of another scenario is refused.
  const std::string other = write("other.toml", std::string(kSmallTrial) + "\n# changed\n");
  const std::string changed =
      std::string(kSmallTrial).replace(std::string(kSmallTrial).find("seed = 5"), 8, "seed = 6");
  r = run_cli(
      fmt::format("cohort {} --out {} --resume -q", write("changed.toml", changed), one.string()));
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
  (void)other;
}

// --resume with a larger --size extends a finished cohort with the same subjects a fresh run of
// that size gives; with the same size it only redoes the analysis.
TEST_F(Cli, CohortResumeExtendsAFinishedRun) {
  const std::string sc = write("trial.toml", kSmallTrial);
  const fs::path grown = dir_ / "grown";
  const fs::path fresh = dir_ / "fresh";
  CliResult r = run_cli(fmt::format("cohort {} --out {} --size 3 -q", sc, grown.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli(fmt::format("cohort {} --out {} --size 3 --resume -q", sc, grown.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli(fmt::format("cohort {} --out {} --size 5 --resume -q", sc, grown.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli(fmt::format("cohort {} --out {} --size 5 -q", sc, fresh.string()));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string a = read_file(grown / "subjects.csv");
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 6);
  EXPECT_EQ(a, read_file(fresh / "subjects.csv"));
  r = run_cli(fmt::format("cohort {} --out {} --size 4 --resume -q", sc, grown.string()));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("more than the population's size 4"), std::string::npos) << r.output;
}

// A subject whose run fails is a row with its status; the run goes on and exits 0.
TEST_F(Cli, CohortRecordsFailedSubjects) {
  std::string text = kSmallTrial;
  text.replace(text.find("size = 40"), 9, "size = 3");
  const std::string sc = write("trial.toml", text);
  const CliResult r = run_cli(
      fmt::format("cohort {} --out {} -q --set solver.max_steps=20", sc, (dir_ / "out").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string csv = read_file(dir_ / "out" / "subjects.csv");
  EXPECT_NE(csv.find("\n0,\"failed: "), std::string::npos) << csv.substr(0, 400);
  const nlohmann::json js = nlohmann::json::parse(read_file(dir_ / "out" / "summary.json"));
  EXPECT_EQ(js["population"]["failed"], 3);
}

// A cohort's own default tolerances (rtol 1e-6, atol 1e-10; k2sim run's are 1e-8 and 1e-12),
// each unless the scenario's [solver] or --set gives it; summary.json says which were used.
TEST_F(Cli, CohortTakesItsOwnTolerancesUnlessGiven) {
  std::string text = kSmallTrial;
  text.replace(text.find("size = 40"), 9, "size = 2");
  const std::string sc = write("trial.toml", text);
  const auto solver = [&](const std::string& file, const std::string& extra) {
    const fs::path out = dir_ / ("tol-" + std::to_string(std::hash<std::string>{}(file + extra)));
    const CliResult r = run_cli(fmt::format("cohort {} --out {} -q {}", file, out.string(), extra));
    EXPECT_EQ(r.code, 0) << r.output;
    return nlohmann::json::parse(read_file(out / "summary.json"))["solver"];
  };
  nlohmann::json s = solver(sc, "");
  EXPECT_EQ(s["rtol"], 1e-6);
  EXPECT_EQ(s["atol"], 1e-10);
  s = solver(sc, "--set solver.rtol=1e-9");
  EXPECT_EQ(s["rtol"], 1e-9);
  EXPECT_EQ(s["atol"], 1e-10);
  std::string given = text;
  given.replace(given.find("[population]"), 12, "[solver]\natol = 1e-13\n[population]");
  s = solver(write("given.toml", given), "");
  EXPECT_EQ(s["rtol"], 1e-6);
  EXPECT_EQ(s["atol"], 1e-13);
}

// Bad [population] and [analysis] input: file, line, value and rule.
TEST_F(Cli, CohortRejectsBadPopulations) {
  std::string text = kSmallTrial;
  text.replace(text.find("female = 0.5"), 12, "female = 1.5");
  CliResult r = run_cli("cohort " + write("a.toml", text) + " -q");
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.output.find("a.toml:15: population.female = 1.5 (rule: a fraction from 0 to 1)"),
            std::string::npos)
      << r.output;
  text = kSmallTrial;
  text.replace(text.find("\"dp_ucmgp_pmol_per_L\"]"), 22, "\"dp_ucmgp\"]");
  r = run_cli("cohort " + write("b.toml", text) + " -q");
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.output.find("analysis.outcomes: 'dp_ucmgp'"), std::string::npos) << r.output;
  text = kSmallTrial;
  text.replace(text.find("k_pl_mk7"), 8, "k_pl_mk7x");
  r = run_cli("cohort " + write("c.toml", text) + " -q");
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.output.find("population.variability"), std::string::npos) << r.output;
  r = run_cli("cohort " + std::string(K2SIM_SOURCE_DIR) + "/scenarios/default.toml -q");
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.output.find("no [population]"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace k2sim
