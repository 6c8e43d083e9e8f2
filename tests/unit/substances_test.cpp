#include <cctype>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "k2sim/error.hpp"
#include "k2sim/units/substances.hpp"

namespace k2sim::units {
namespace {

// IUPAC standard atomic weights (conventional values, CIAAW 2021), independent of the table.
double molar_mass_of_formula(std::string_view f) {
  const std::map<std::string, double> w = {{"C", 12.011}, {"H", 1.008},   {"O", 15.999},
                                           {"N", 14.007}, {"F", 18.998},  {"Ca", 40.078},
                                           {"P", 30.974}, {"Mg", 24.305}, {"S", 32.06}};
  double m = 0.0;
  std::size_t i = 0;
  while (i < f.size()) {
    std::string el(1, f[i++]);
    while (i < f.size() && std::islower(static_cast<unsigned char>(f[i]))) el += f[i++];
    int count = 0;
    while (i < f.size() && std::isdigit(static_cast<unsigned char>(f[i])))
      count = count * 10 + (f[i++] - '0');
    m += w.at(el) * (count == 0 ? 1 : count);
  }
  return m;
}

TEST(Substances, MolarMassesAgreeWithTheirFormulas) {
  for (const Substance& s : substances()) {
    EXPECT_NEAR(s.mw_g_per_mol, molar_mass_of_formula(s.formula), 0.01) << s.name;
    EXPECT_FALSE(s.source.empty()) << s.name;
  }
}

TEST(Substances, AgreeWithPublishedMolarMasses) {
  // PubChem "molecular weight" (one decimal) of each compound.
  EXPECT_NEAR(find_substance("K1").mw_g_per_mol, 450.7, 0.05);
  EXPECT_NEAR(find_substance("MK-4").mw_g_per_mol, 444.7, 0.05);
  EXPECT_NEAR(find_substance("MK-7").mw_g_per_mol, 649.0, 0.05);
  EXPECT_NEAR(find_substance("D3").mw_g_per_mol, 384.6, 0.05);
  EXPECT_NEAR(find_substance("D2").mw_g_per_mol, 396.6, 0.1);
  EXPECT_NEAR(find_substance("warfarin").mw_g_per_mol, 308.3, 0.05);
}

TEST(Substances, ConversionsToInternalAmounts) {
  const Substance& mk7 = find_substance("mk7");
  EXPECT_EQ(mk7.name, "MK-7");
  // 180 ug / 649.016 g/mol = 277.35 nmol (Sato 2012 quotes 420 ug as 647 nmol).
  EXPECT_NEAR(to_internal_amount(mk7, parse_quantity("180 ug")), 277.35, 0.01);
  EXPECT_NEAR(to_internal_amount(mk7, parse_quantity("420 ug")), 647.0, 0.5);
  EXPECT_NEAR(to_internal_amount(mk7, parse_quantity("5 nmol")), 5.0, 1e-12);
  // Vitamin D: 40 IU = 1 ug, so 1000 IU = 25 ug = 25 / 384.648 umol = 64.99 nmol.
  const Substance& d3 = find_substance("D3");
  EXPECT_NEAR(to_internal_amount(d3, parse_quantity("1000 IU")), 25.0 / 384.648 * 1e3, 1e-9);
  EXPECT_NEAR(internal_amount_to_ug(d3, to_internal_amount(d3, parse_quantity("1000 IU"))), 25.0,
              1e-12);
  // Calcium in mmol: 1000 mg / 40.078 = 24.95 mmol.
  const Substance& ca = find_substance("calcium");
  EXPECT_EQ(internal_unit(ca), "mmol");
  EXPECT_NEAR(to_internal_amount(ca, parse_quantity("1000 mg")), 24.951, 0.001);
  EXPECT_NEAR(to_internal_amount(find_substance("magnesium"), parse_quantity("24.305 mg")), 1.0,
              1e-12);
  // Rates: 1 mg/h of warfarin = 3.243 umol/h.
  EXPECT_NEAR(to_internal_rate(find_substance("warfarin"), parse_quantity("1 mg/h")), 3243.2, 0.1);
  // Round trip for every substance.
  for (const Substance& s : substances()) {
    const double amount = to_internal_amount(s, parse_quantity("123 ug"));
    EXPECT_NEAR(internal_amount_to_ug(s, amount), 123.0, 1e-9) << s.name;
  }
}

TEST(Substances, Errors) {
  EXPECT_THROW((void)to_internal_amount(find_substance("MK-7"), parse_quantity("1000 IU")),
               UnitError);
  EXPECT_THROW((void)to_internal_amount(find_substance("MK-7"), parse_quantity("3 h")), UnitError);
  try {
    (void)find_substance("MK-77");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'MK-7'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace k2sim::units
