#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "k2sim/error.hpp"
#include "k2sim/units/units.hpp"

namespace k2sim::units {
namespace {

TEST(Units, ParsesTheQuantitiesOfTheScenarioFormat) {
  // Canonical units: h, ug, nmol, L, cm; independent figures from the unit definitions.
  EXPECT_DOUBLE_EQ(parse_quantity("180 ug", dim::mass()).value, 180.0);
  EXPECT_DOUBLE_EQ(parse_quantity("1 mg", dim::mass()).value, 1000.0);
  EXPECT_DOUBLE_EQ(parse_quantity("40 g", dim::mass()).value, 40e6);
  EXPECT_DOUBLE_EQ(parse_quantity("3 y", dim::time()).value, 3 * 365.25 * 24);
  EXPECT_DOUBLE_EQ(parse_quantity("12 h", dim::time()).value, 12.0);
  EXPECT_DOUBLE_EQ(parse_quantity("2 wk", dim::time()).value, 336.0);
  EXPECT_DOUBLE_EQ(parse_quantity("90 min", dim::time()).value, 1.5);
  EXPECT_DOUBLE_EQ(parse_quantity("1000 IU", dim::iu()).value, 1000.0);
  // 90 mL/min = 90 * 60 / 1000 L/h = 5.4 L/h
  EXPECT_NEAR(parse_quantity("90 mL/min/1.73m2", dim::gfr()).value, 5.4, 1e-12);
  EXPECT_DOUBLE_EQ(parse_quantity("2.5 mmol/L", dim::amount_conc()).value, 2.5e6);
  EXPECT_DOUBLE_EQ(parse_quantity("1 mg/h", dim::mass_rate()).value, 1000.0);
  EXPECT_NEAR(parse_quantity("0.5 1/h", dim::per_time()).value, 0.5, 0);
  EXPECT_DOUBLE_EQ(parse_quantity("165cm", dim::length()).value, 165.0);
  EXPECT_DOUBLE_EQ(parse_quantity("  52 deg ", dim::angle()).value, 52.0);
  EXPECT_DOUBLE_EQ(parse_quantity("130 mmHg", dim::pressure()).value, 130.0);
  EXPECT_DOUBLE_EQ(parse_quantity("50 %", Dimension::none()).value, 0.5);
  EXPECT_DOUBLE_EQ(parse_quantity("1e3 ng", dim::mass()).value, 1.0);
  EXPECT_NEAR(parse_quantity("27.55 nmol*h/L").value, 27.55, 1e-12);
  EXPECT_EQ(parse_quantity("27.55 nmol*h/L").dimension,
            dim::amount() * dim::time() / dim::volume());
}

TEST(Units, RoundTripsWithinEachDimension) {
  const std::vector<std::vector<std::string>> families = {
      {"s", "min", "h", "d", "wk", "mo", "y"},
      {"pg", "ng", "ug", "mcg", "mg", "g", "kg"},
      {"fmol", "pmol", "nmol", "umol", "mmol", "mol"},
      {"uL", "mL", "dL", "L"},
      {"mm", "cm", "m"},
      {"mmHg", "kPa"},
      {"ng/mL", "ug/L", "mg/dL", "mg/L"},
      {"pmol/L", "nmol/L", "umol/L", "mmol/L"},
      {"mL/min/1.73m2", "L/h/1.73m2", "L/d/1.73m2"}};
  for (const auto& fam : families) {
    for (const auto& a : fam) {
      for (const auto& b : fam) {
        const double x = 123.456;
        const double back = convert(convert(x, a, b), b, a);
        EXPECT_NEAR(back, x, 1e-12 * x) << a << " <-> " << b;
      }
    }
  }
  // Independent figures: 1 ng/mL = 1 ug/L; 1 mg/dL = 10 mg/L; 1 kPa = 7.50062 mmHg.
  EXPECT_NEAR(convert(1.0, "ng/mL", "ug/L"), 1.0, 1e-15);
  EXPECT_NEAR(convert(1.0, "mg/dL", "mg/L"), 10.0, 1e-12);
  EXPECT_NEAR(convert(1.0, "kPa", "mmHg"), 7.50062, 1e-5);
  EXPECT_NEAR(convert(1.0, "y", "d"), 365.25, 1e-12);
}

void expect_unit_error(const std::string& text, const std::string& fragment) {
  try {
    (void)parse_quantity(text, dim::mass());
    ADD_FAILURE() << "no error for \"" << text << "\"";
  } catch (const UnitError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message for \"" << text << "\": " << e.what();
  }
}

TEST(Units, MalformedQuantitiesGiveTheDocumentedErrors) {
  expect_unit_error("", "empty quantity");
  expect_unit_error("180", "missing unit");
  expect_unit_error("ug", "no number");
  expect_unit_error("180 ugg", "unknown unit 'ugg' (did you mean 'ug'?)");
  expect_unit_error("180 ug extra", "unknown unit");
  expect_unit_error("nan ug", "not finite");
  expect_unit_error("inf ug", "not finite");
  expect_unit_error("180 h", "wrong dimension (rule: expected a quantity in units of ug, got h)");
  expect_unit_error("1 mg//h", "empty part");
}

TEST(Units, CanonicalUnitNames) {
  EXPECT_EQ(dim::amount_conc().canonical_unit(), "nmol/L");
  EXPECT_EQ(dim::gfr().canonical_unit(), "L/h/1.73m2");
  EXPECT_EQ(Dimension::none().canonical_unit(), "1");
}

}  // namespace
}  // namespace k2sim::units
