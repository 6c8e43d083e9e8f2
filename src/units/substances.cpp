#include "k2sim/units/substances.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "k2sim/error.hpp"

namespace k2sim::units {

namespace {

// Molar masses: PubChem compound records (computed from the formula with IUPAC standard atomic
// weights); the test tests/unit/substances_test.cpp recomputes each from its formula. Minerals are
// given per mole of the element, as intakes are reported (mg of calcium, phosphorus, magnesium).
// Vitamin D: 1 ug = 40 IU (WHO international unit; IOM 2011 DRI report, Ross et al.).
const std::vector<Substance> kSubstances = {
    {"K1", "C31H46O2", 450.707, InternalAmount::kNmol, 0.0, "phylloquinone",
     "PubChem CID 5284607 (phylloquinone)"},
    {"DHP", "C31H48O2", 452.723, InternalAmount::kNmol, 0.0, "2',3'-dihydrophylloquinone",
     "PubChem (dihydrophylloquinone), molar mass from formula"},
    {"MK-4", "C31H40O2", 444.659, InternalAmount::kNmol, 0.0, "menaquinone-4 (menatetrenone)",
     "PubChem CID 5282367 (menatetrenone)"},
    {"MK-7", "C46H64O2", 649.016, InternalAmount::kNmol, 0.0, "menaquinone-7",
     "PubChem CID 5287554 (menaquinone 7)"},
    {"MK-8", "C51H72O2", 717.135, InternalAmount::kNmol, 0.0, "menaquinone-8",
     "PubChem (menaquinone 8), molar mass from formula"},
    {"MK-9", "C56H80O2", 785.254, InternalAmount::kNmol, 0.0, "menaquinone-9",
     "PubChem (menaquinone 9), molar mass from formula"},
    {"D3", "C27H44O", 384.648, InternalAmount::kNmol, 40.0, "cholecalciferol",
     "PubChem CID 5280795; 40 IU = 1 ug (IOM 2011)"},
    {"D2", "C28H44O", 396.659, InternalAmount::kNmol, 40.0, "ergocalciferol",
     "PubChem CID 5280793; 40 IU = 1 ug (IOM 2011)"},
    {"warfarin", "C19H16O4", 308.333, InternalAmount::kNmol, 0.0, "warfarin (racemic)",
     "PubChem CID 54678486"},
    {"acenocoumarol", "C19H15NO6", 353.330, InternalAmount::kNmol, 0.0, "acenocoumarol",
     "PubChem CID 54676537"},
    {"atorvastatin", "C33H35FN2O5", 558.650, InternalAmount::kNmol, 0.0, "atorvastatin (free acid)",
     "PubChem CID 60823"},
    {"teriparatide", "C181H291N55O51S2", 4117.77, InternalAmount::kNmol, 0.0,
     "teriparatide, recombinant human PTH(1-34)", "PubChem CID 16133793"},
    {"denosumab", "C6404H9912N1724O2004S50", 144722.8, InternalAmount::kNmol, 0.0,
     "denosumab, human IgG2 monoclonal antibody against RANKL",
     "molecular formula as listed for denosumab in drug databases (DrugBank DB06643; recalled, "
     "not re-read); the molar mass is computed from it"},
    {"calcium", "Ca", 40.078, InternalAmount::kMmol, 0.0, "elemental calcium",
     "IUPAC standard atomic weight of Ca"},
    {"phosphate", "P", 30.974, InternalAmount::kMmol, 0.0, "phosphate, as elemental phosphorus",
     "IUPAC standard atomic weight of P"},
    {"magnesium", "Mg", 24.305, InternalAmount::kMmol, 0.0, "elemental magnesium",
     "IUPAC standard atomic weight of Mg (conventional value)"},
};

std::string normalise(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '-' || c == '_' || c == ' ') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

}  // namespace

const std::vector<Substance>& substances() { return kSubstances; }

const Substance& find_substance(std::string_view name) {
  const std::string key = normalise(name);
  for (const auto& s : kSubstances) {
    if (normalise(s.name) == key) return s;
  }
  std::vector<std::string> names;
  std::vector<std::string> keys;
  for (const auto& s : kSubstances) {
    names.emplace_back(s.name);
    keys.push_back(normalise(s.name));
  }
  // Suggest by the normalised spelling ("MK7x" is one edit from "mk7").
  const std::string near = nearest(key, keys);
  std::string hint;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == near) hint = fmt::format(" (did you mean '{}'?)", names[i]);
  }
  throw InputError(fmt::format("unknown substance '{}' (rule: one of {}){}", name,
                               fmt::join(names, ", "), hint));
}

std::string_view internal_unit(const Substance& s) {
  return s.internal == InternalAmount::kNmol ? "nmol" : "mmol";
}

namespace {
double amount_nmol(const Substance& s, const Quantity& q, const Dimension& per) {
  if (q.dimension == dim::mass() / per) {
    return q.value / s.mw_g_per_mol * 1e3;  // ug / (g/mol) = umol; x1000 -> nmol
  }
  if (q.dimension == dim::amount() / per) return q.value;
  if (q.dimension == dim::iu() / per) {
    if (s.iu_per_ug <= 0.0) {
      throw UnitError(fmt::format(
          "IU is defined only for vitamin D (rule: give {} as a mass or amount, e.g. \"1 mg\")",
          s.name));
    }
    return q.value / s.iu_per_ug / s.mw_g_per_mol * 1e3;
  }
  throw UnitError(fmt::format("{} given in units of {} (rule: expected {}{}{})", s.name,
                              q.dimension.canonical_unit(), (dim::mass() / per).canonical_unit(),
                              " or ", (dim::amount() / per).canonical_unit()));
}
}  // namespace

double to_internal_amount(const Substance& s, const Quantity& q) {
  const double nmol = amount_nmol(s, q, Dimension::none());
  return s.internal == InternalAmount::kNmol ? nmol : nmol * 1e-6;
}

double to_internal_rate(const Substance& s, const Quantity& q) {
  const double nmol_per_h = amount_nmol(s, q, dim::time());
  return s.internal == InternalAmount::kNmol ? nmol_per_h : nmol_per_h * 1e-6;
}

double internal_amount_to_ug(const Substance& s, double amount) {
  const double nmol = s.internal == InternalAmount::kNmol ? amount : amount * 1e6;
  return nmol * s.mw_g_per_mol * 1e-3;
}

}  // namespace k2sim::units
