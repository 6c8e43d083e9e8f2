#include <string>

#include <gtest/gtest.h>

#include "k2sim/error.hpp"
#include "k2sim/params/parameter_table.hpp"

namespace k2sim {
namespace {

const std::string kHeader =
    "name,value,unit,lower,upper,ci_low,ci_high,provenance,source,meaning\n";

void expect_error(const std::string& rows, const std::string& fragment) {
  try {
    (void)ParameterTable::parse(kHeader + rows, "t.csv");
    ADD_FAILURE() << rows;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(ParameterTable, ParsesAndConvertsToCanonicalUnits) {
  const auto t = ParameterTable::parse(
      kHeader +
          "k,0.5,1/d,0,1,,,literature,\"Smith 2000, table 2\",a rate\nv,2000,mL,1,1e4,,,assumed,"
          "assumed: a guess,a volume\n",
      "t.csv");
  ASSERT_EQ(t.parameters().size(), 2u);
  EXPECT_EQ(t.at("k").source, "Smith 2000, table 2");
  EXPECT_NEAR(t.at("k").canonical(), 0.5 / 24.0, 1e-15);
  EXPECT_NEAR(t.at("v").canonical(), 2.0, 1e-15);
  const auto values = resolve(t, {"v", "k"}, {units::dim::volume(), units::dim::per_time()});
  EXPECT_NEAR(values[0], 2.0, 1e-15);
  EXPECT_THROW((void)resolve(t, {"k"}, {units::dim::volume()}), InputError);
}

TEST(ParameterTable, ReadsIntervals) {
  const auto t = ParameterTable::parse(
      kHeader + "k,0.5,1/h,0,1,0.4,0.6,calibrated,calibrated: X1,y\n", "t.csv");
  EXPECT_DOUBLE_EQ(*t.at("k").ci_low, 0.4);
  EXPECT_DOUBLE_EQ(*t.at("k").ci_high, 0.6);
}

TEST(ParameterTable, RowErrorsNameFileAndLine) {
  expect_error("k,abc,1/h,0,1,,,literature,x,y\n", "t.csv:2: value = 'abc'");
  expect_error("k,1,1/h,0,1,,,literature,x,y\nk,1,1/h,0,1,,,literature,x,y\n",
               "t.csv:3: duplicate");
  expect_error("k,1,1/hh,0,1,,,literature,x,y\n", "did you mean 'h'?");
  expect_error("k,2,1/h,0,1,,,literature,x,y\n", "outside its bounds");
  expect_error("k,1,1/h,0,1,,,literatur,x,y\n", "did you mean 'literature'?");
  expect_error("k,1,1/h,0,1,,,literature,,y\n", "has no source");
  expect_error("k,1,1/h,0,1,,,calibrated,Smith 2000,y\n", "'calibrated:'");
  expect_error("k,1,1/h,0,1,,,literature,x\n", "9 fields");
}

TEST(ParameterTable, SetChecksNameAndBounds) {
  auto t = ParameterTable::builtin("pk_1cmt");
  t.set("k_mk7_elim", "0.01", "--set");
  EXPECT_DOUBLE_EQ(t.at("k_mk7_elim").value, 0.01);
  try {
    t.set("k_mk7_elm", "0.01", "--set k_mk7_elm=0.01");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'k_mk7_elim'?"), std::string::npos);
  }
  EXPECT_THROW(t.set("k_mk7_elim", "5", "--set"), InputError);
  EXPECT_THROW(t.set("k_mk7_elim", "fast", "--set"), InputError);
}

TEST(ParameterTable, BuiltinTablesLoadWithSources) {
  const auto t = ParameterTable::builtin("pk_1cmt");
  for (const auto& p : t.parameters()) EXPECT_FALSE(p.source.empty()) << p.name;
  EXPECT_THROW((void)ParameterTable::builtin("nope"), InputError);
}

}  // namespace
}  // namespace k2sim
