#include "k2sim/io/scenario.hpp"

#include <array>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "k2sim/diet/diet.hpp"
#include "k2sim/diet/foods.hpp"
#include "k2sim/error.hpp"
#include "k2sim/units/substances.hpp"
#include "k2sim/units/units.hpp"

namespace k2sim {

namespace internal {
std::string_view embedded_file(std::string_view path);  // generated at build time
}

void SubjectSpec::override_with(const SubjectSpec& over) {
  if (over.age_y) age_y = over.age_y;
  if (over.sex) sex = over.sex;
  if (over.newborn) newborn = over.newborn;
  if (over.body_weight_kg) body_weight_kg = over.body_weight_kg;
  if (over.height_cm) height_cm = over.height_cm;
  if (over.egfr_mL_per_min_173) egfr_mL_per_min_173 = over.egfr_mL_per_min_173;
  if (over.dialysis) dialysis = over.dialysis;
  if (over.menopause_age_y) menopause_age_y = over.menopause_age_y;
  if (over.egfr_decline_to) egfr_decline_to = over.egfr_decline_to;
  if (over.egfr_decline_over_h) egfr_decline_over_h = over.egfr_decline_over_h;
  if (over.vkorc1) vkorc1 = over.vkorc1;
  if (over.cyp2c9) cyp2c9 = over.cyp2c9;
  if (over.feeding) feeding = over.feeding;
  if (over.sun) sun = over.sun;
  if (over.cholestasis) cholestasis = over.cholestasis;
  // A score and a percentile say the same thing: the one an override gives replaces the other.
  if (over.cac_au) {
    cac_au = over.cac_au;
    cac_percentile.reset();
  }
  if (over.cac_percentile) {
    cac_percentile = over.cac_percentile;
    cac_au.reset();
  }
  if (over.risk_factors) risk_factors = over.risk_factors;
  if (over.life_table) life_table = over.life_table;
}

SubjectCovariates SubjectSpec::covariates() const {
  SubjectCovariates c;
  if (egfr_mL_per_min_173) c.egfr = *egfr_mL_per_min_173 * 60.0 / 1000.0;  // -> L/h/1.73m2
  c.egfr_end = c.egfr;
  if (egfr_decline_to && egfr_decline_over_h) {
    c.egfr_end = *egfr_decline_to * 60.0 / 1000.0;
    c.egfr_decline_h = *egfr_decline_over_h;
  }
  c.dialysis = dialysis.value_or(false);
  c.vkorc1 = vkorc1.value_or("GG");
  c.cyp2c9 = cyp2c9.value_or("*1/*1");
  c.newborn = newborn.value_or(false);
  // Without a weight: a term newborn of 3.5 kg (assumed; WHO median birth weights are 3.2 kg for
  // girls and 3.3 kg for boys), or the model's reference adult (70 kg, weight_reference).
  c.body_weight_kg = body_weight_kg.value_or(c.newborn ? 3.5 : 70.0);
  c.feeding = feeding.value_or("none");
  c.height_cm = height_cm.value_or(170.0);
  c.age_y = age_y.value_or(60.0);
  c.female = sex.value_or("female") == "female";
  // Women with menopause_age: the estrogen decline of Peterson & Riggs centred there. Without
  // it (the reference adult has none) estrogen stays at its published reference level.
  c.menopause_age_y = c.female ? menopause_age_y.value_or(-1.0) : -1.0;
  c.sun = sun;
  c.cholestasis = cholestasis.value_or(false);
  c.cac_au = cac_au;
  c.cac_percentile = cac_percentile.value_or(50.0);
  if (risk_factors) c.risk_factors = *risk_factors;
  c.life_table = life_table.value_or("USA 2020");
  return c;
}

namespace {

// Keys of INTERFACES.md that later issues implement: named in errors as "not implemented yet",
// never silently ignored.
const std::vector<std::string> kTopKeys = {
    "name", "model",  "initialize", "duration",   "output_interval", "subject", "dose",
    "arm",  "solver", "diet",       "hypotheses", "population",      "analysis"};
const std::vector<std::string> kTopKeysLater = {};
const std::vector<std::string> kSubjectKeys = {"age",           "sex",
                                               "newborn",       "body_weight",
                                               "height",        "egfr",
                                               "dialysis",      "warfarin_genotype",
                                               "feeding",       "egfr_decline",
                                               "menopause_age", "sun",
                                               "cac",           "cac_percentile",
                                               "risk_factors",  "life_table",
                                               "cholestasis"};
const std::vector<std::string> kSubjectKeysLater = {};
const std::vector<std::string> kDoseKeys = {"substance", "amount",       "route",         "every",
                                            "start",     "stop",         "meal_fat",      "matrix",
                                            "rate",      "steady_state", "titrate_to_inr"};
const std::vector<std::string> kArmKeys = {"name", "dose", "subject", "diet"};
const std::vector<std::string> kArmKeysLater = {};
const std::vector<std::string>& kSolverKeys = SimulationOptions::names();

std::string show(const toml::node& n) {
  if (auto s = n.as_string()) return fmt::format("\"{}\"", s->get());
  std::ostringstream os;
  if (n.is_table()) return "a table";
  if (n.is_array()) return "an array";
  n.visit([&](const auto& v) { os << v; });
  return os.str();
}

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[nodiscard]] SourceLocation where(const toml::node& n) const {
    return {file_, static_cast<std::size_t>(n.source().begin.line)};
  }

  [[noreturn]] void fail(const toml::node& n, std::string_view key, const std::string& rule) const {
    throw InputError(fmt::format("{}: {} = {} (rule: {})", where(n).str(), key, show(n), rule));
  }

  void check_keys(const toml::table& t, std::string_view section,
                  const std::vector<std::string>& allowed,
                  const std::vector<std::string>& later = {}) const {
    for (auto&& [k, v] : t) {
      const std::string key(k.str());
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      const std::string path = section.empty() ? key : fmt::format("{}.{}", section, key);
      const std::size_t line = static_cast<std::size_t>(k.source().begin.line);
      if (std::find(later.begin(), later.end(), key) != later.end()) {
        throw InputError(fmt::format(
            "{}:{}: key '{}' is part of the scenario format but not implemented yet in this "
            "version of k2sim (rule: remove it for now)",
            file_, line, path));
      }
      std::vector<std::string> all = allowed;
      all.insert(all.end(), later.begin(), later.end());
      throw InputError(fmt::format("{}:{}: unknown key '{}' (rule: valid keys here are {}){}",
                                   file_, line, path, fmt::join(allowed, ", "),
                                   did_you_mean(key, all)));
    }
  }

  [[nodiscard]] std::string string(const toml::node& n, std::string_view key) const {
    if (auto s = n.as_string()) return s->get();
    fail(n, key, "a string");
  }

  [[nodiscard]] bool boolean(const toml::node& n, std::string_view key) const {
    if (auto b = n.as_boolean()) return b->get();
    fail(n, key, "true or false");
  }

  [[nodiscard]] units::Quantity quantity(const toml::node& n, std::string_view key,
                                         const units::Dimension& dim,
                                         std::string_view example) const {
    if (n.is_number()) {
      fail(n, key, fmt::format("a quantity is a string with a unit, e.g. \"{}\"", example));
    }
    const std::string text = string(n, key);
    try {
      return units::parse_quantity(text, dim);
    } catch (const UnitError& e) {
      throw InputError(
          fmt::format("{}: {} = \"{}\" (rule: {})", where(n).str(), key, text, e.what()));
    }
  }

  [[nodiscard]] double time_h(const toml::node& n, std::string_view key,
                              std::string_view example) const {
    return quantity(n, key, units::dim::time(), example).value;
  }

  [[nodiscard]] const std::string& file() const { return file_; }

 private:
  std::string file_;
};

/// Day of the year (1-365) of a calendar date "MM-DD" (a common year; 29 February counts as
/// 1 March).
int day_of_year(const Reader& r, const toml::node& n, std::string_view key) {
  const std::string v = r.string(n, key);
  constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int month = 0;
  int day = 0;
  const bool shape = v.size() == 5 && v[2] == '-' &&
                     std::isdigit(static_cast<unsigned char>(v[0])) &&
                     std::isdigit(static_cast<unsigned char>(v[1])) &&
                     std::isdigit(static_cast<unsigned char>(v[3])) &&
                     std::isdigit(static_cast<unsigned char>(v[4]));
  if (shape) {
    month = (v[0] - '0') * 10 + (v[1] - '0');
    day = (v[3] - '0') * 10 + (v[4] - '0');
  }
  const bool leap_day = month == 2 && day == 29;
  if (!shape || month < 1 || month > 12 || day < 1 ||
      (!leap_day && day > kDays[static_cast<std::size_t>(month - 1)])) {
    r.fail(n, key, "a calendar date \"MM-DD\", e.g. \"06-21\"");
  }
  int doy = day;
  for (int m = 1; m < month; ++m) doy += kDays[static_cast<std::size_t>(m - 1)];
  return doy;  // 29 February: day 60, as 1 March of a common year
}

/// sun = { latitude = "52 deg", skin_type = 2, minutes_midday = "15 min", skin_exposed = 0.25,
///         start_date = "01-01" } (docs/model.md eq. 56).
SunExposure read_sun(const Reader& r, const toml::node& n, const std::string& section) {
  const toml::table* t = n.as_table();
  if (t == nullptr) {
    r.fail(n, section,
           "a table { latitude = \"52 deg\", skin_type = 2, minutes_midday = \"15 min\" }");
  }
  r.check_keys(*t, section,
               {"latitude", "skin_type", "minutes_midday", "skin_exposed", "start_date"});
  auto key = [&](std::string_view k) { return fmt::format("{}.{}", section, k); };
  for (const char* k : {"latitude", "skin_type", "minutes_midday"}) {
    if (t->get(k) == nullptr) {
      r.fail(n, section,
             fmt::format("the keys latitude, skin_type and minutes_midday (missing: {})", k));
    }
  }
  SunExposure sun;
  const toml::node& lat = *t->get("latitude");
  sun.latitude_deg =
      units::to_unit(r.quantity(lat, key("latitude"), units::dim::angle(), "52 deg"), "deg");
  if (!(sun.latitude_deg >= -90.0 && sun.latitude_deg <= 90.0)) {
    r.fail(lat, key("latitude"), "-90 to 90 deg (south negative)");
  }
  const toml::node& type = *t->get("skin_type");
  const auto type_value = type.as_integer();
  if (type_value == nullptr || type_value->get() < 1 || type_value->get() > 6) {
    r.fail(type, key("skin_type"), "a Fitzpatrick skin type, an integer 1 to 6");
  }
  sun.skin_type = static_cast<int>(type_value->get());
  const toml::node& minutes = *t->get("minutes_midday");
  sun.minutes_per_day = units::to_unit(
      r.quantity(minutes, key("minutes_midday"), units::dim::time(), "15 min"), "min");
  if (!(sun.minutes_per_day >= 0.0 && sun.minutes_per_day <= 240.0)) {
    r.fail(minutes, key("minutes_midday"), "0 to 240 min a day");
  }
  if (auto* e = t->get("skin_exposed")) {
    const auto v = e->value<double>();
    if (e->is_string() || !v || !(*v > 0.0 && *v <= 1.0)) {
      r.fail(*e, key("skin_exposed"), "a fraction of the body surface, more than 0 and at most 1");
    }
    sun.skin_exposed = *v;
  }
  if (auto* d = t->get("start_date")) sun.start_day_of_year = day_of_year(r, *d, key("start_date"));
  return sun;
}

/// risk_factors = { smoker = false, diabetes = false, systolic_bp = "130 mmHg",
/// total_cholesterol = "5.2 mmol/L", hdl_cholesterol = "1.4 mmol/L", lipid_lowering = false,
/// antihypertensive = false, family_history = false } (MESA's risk factors, docs/model.md eq. 64).
RiskFactors read_risk_factors(const Reader& r, const toml::node& n, const std::string& section) {
  const toml::table* t = n.as_table();
  if (t == nullptr) {
    r.fail(n, section, "a table { smoker = false, systolic_bp = \"130 mmHg\", ... }");
  }
  r.check_keys(*t, section,
               {"smoker", "diabetes", "lipid_lowering", "antihypertensive", "family_history",
                "systolic_bp", "total_cholesterol", "hdl_cholesterol"});
  auto key = [&](std::string_view k) { return fmt::format("{}.{}", section, k); };
  RiskFactors rf;
  if (auto* b = t->get("smoker")) rf.smoker = r.boolean(*b, key("smoker"));
  if (auto* b = t->get("diabetes")) rf.diabetes = r.boolean(*b, key("diabetes"));
  if (auto* b = t->get("lipid_lowering")) rf.lipid_lowering = r.boolean(*b, key("lipid_lowering"));
  if (auto* b = t->get("antihypertensive")) {
    rf.antihypertensive = r.boolean(*b, key("antihypertensive"));
  }
  if (auto* b = t->get("family_history")) rf.family_history = r.boolean(*b, key("family_history"));
  if (auto* v = t->get("systolic_bp")) {
    const double p = units::to_unit(
        r.quantity(*v, key("systolic_bp"), units::dim::pressure(), "130 mmHg"), "mmHg");
    if (!(p >= 70.0 && p <= 260.0)) r.fail(*v, key("systolic_bp"), "70 to 260 mmHg");
    rf.systolic_bp_mmHg = p;
  }
  // Cholesterol in mmol/L or mg/dL (386.65 g/mol), as MESA's coefficients are per mg/dL.
  auto cholesterol = [&](const char* k) {
    const toml::node* v = t->get(k);
    if (v == nullptr) return -1.0;
    const std::string text = r.string(*v, key(k));
    double mg_dl = 0.0;
    try {
      mg_dl =
          units::to_unit(units::parse_quantity(text, units::dim::amount_conc()), "mmol/L") * 38.665;
    } catch (const UnitError&) {
      try {
        mg_dl = units::to_unit(units::parse_quantity(text, units::dim::mass_conc()), "mg/L") / 10.0;
      } catch (const UnitError&) {
        r.fail(*v, key(k), "a concentration such as \"5.2 mmol/L\" or \"200 mg/dL\"");
      }
    }
    if (!(mg_dl >= 10.0 && mg_dl <= 600.0))
      r.fail(*v, key(k), "10 to 600 mg/dL (0.26-15.5 mmol/L)");
    return mg_dl;
  };
  rf.total_cholesterol_mg_per_dL = cholesterol("total_cholesterol");
  rf.hdl_cholesterol_mg_per_dL = cholesterol("hdl_cholesterol");
  return rf;
}

SubjectSpec read_subject(const Reader& r, const toml::table& t, std::string_view section) {
  r.check_keys(t, section, kSubjectKeys, kSubjectKeysLater);
  SubjectSpec s;
  auto key = [&](std::string_view k) { return fmt::format("{}.{}", section, k); };
  if (auto* n = t.get("age")) {
    const double y = units::to_unit(r.quantity(*n, key("age"), units::dim::time(), "60 y"), "y");
    if (!(y >= 0.0 && y <= 120.0)) r.fail(*n, key("age"), "0 to 120 y");
    s.age_y = y;
  }
  if (auto* n = t.get("sex")) {
    const std::string v = r.string(*n, key("sex"));
    if (v != "female" && v != "male") r.fail(*n, key("sex"), "female | male");
    s.sex = v;
  }
  if (auto* n = t.get("newborn")) {
    s.newborn = r.boolean(*n, key("newborn"));
    if (*s.newborn) {
      // A newborn run starts at birth; kidney function, dialysis and anticoagulant genotypes
      // are adult covariates.
      for (const char* k :
           {"age", "egfr", "egfr_decline", "dialysis", "warfarin_genotype", "menopause_age"}) {
        if (auto* other = t.get(k)) {
          r.fail(*other, key(k), "left out when newborn = true (a newborn run starts at birth)");
        }
      }
    }
  }
  if (auto* n = t.get("feeding")) {
    const std::string v = r.string(*n, key("feeding"));
    if (v != "breast milk" && v != "formula" && v != "none") {
      r.fail(*n, key("feeding"),
             "\"breast milk\" | \"formula\" | \"none\"" +
                 did_you_mean(v, {"breast milk", "formula", "none"}));
    }
    s.feeding = v;
  }
  if (auto* n = t.get("body_weight")) {
    const double kg =
        units::to_unit(r.quantity(*n, key("body_weight"), units::dim::mass(), "70 kg"), "kg");
    if (s.newborn.value_or(false) && !(kg >= 2.0 && kg <= 5.5)) {
      r.fail(*n, key("body_weight"), "2 to 5.5 kg for a term newborn");
    }
    if (!(kg > 0.0 && kg <= 500.0))
      r.fail(*n, key("body_weight"), "more than 0 and at most 500 kg");
    s.body_weight_kg = kg;
  }
  if (auto* n = t.get("height")) {
    const double cm =
        units::to_unit(r.quantity(*n, key("height"), units::dim::length(), "165 cm"), "cm");
    if (!(cm > 20.0 && cm <= 250.0)) r.fail(*n, key("height"), "more than 20 and at most 250 cm");
    s.height_cm = cm;
  }
  if (auto* n = t.get("egfr")) {
    const double v = units::to_unit(
        r.quantity(*n, key("egfr"), units::dim::gfr(), "90 mL/min/1.73m2"), "mL/min/1.73m2");
    if (!(v > 0.0 && v <= 200.0)) {
      r.fail(*n, key("egfr"), "more than 0 and at most 200 mL/min/1.73m2");
    }
    s.egfr_mL_per_min_173 = v;
  }
  if (auto* n = t.get("menopause_age")) {
    const double y =
        units::to_unit(r.quantity(*n, key("menopause_age"), units::dim::time(), "51 y"), "y");
    if (!(y >= 30.0 && y <= 70.0)) r.fail(*n, key("menopause_age"), "30 to 70 y");
    if (auto* sx = t.get("sex"); sx != nullptr && sx->value_or(std::string()) == "male") {
      r.fail(*n, key("menopause_age"), "women only (sex = \"female\")");
    }
    s.menopause_age_y = y;
  }
  if (auto* n = t.get("egfr_decline")) {
    // { to = "30 mL/min/1.73m2", over = "10 y" }: an exponential decline (docs/model.md eq. 44).
    const toml::table* d = n->as_table();
    if (d == nullptr) {
      r.fail(*n, key("egfr_decline"), "a table { to = \"30 mL/min/1.73m2\", over = \"10 y\" }");
    }
    r.check_keys(*d, key("egfr_decline"), {"to", "over"}, {});
    const toml::node* to = d->get("to");
    const toml::node* over = d->get("over");
    if (to == nullptr || over == nullptr) {
      r.fail(*n, key("egfr_decline"), "both keys: to (the eGFR reached) and over (the time)");
    }
    const double v = units::to_unit(
        r.quantity(*to, key("egfr_decline.to"), units::dim::gfr(), "30 mL/min/1.73m2"),
        "mL/min/1.73m2");
    if (!(v > 0.0 && v <= 200.0)) {
      r.fail(*to, key("egfr_decline.to"), "more than 0 and at most 200 mL/min/1.73m2");
    }
    const double h = units::to_unit(
        r.quantity(*over, key("egfr_decline.over"), units::dim::time(), "10 y"), "h");
    if (!(h > 0.0)) r.fail(*over, key("egfr_decline.over"), "a time more than 0");
    s.egfr_decline_to = v;
    s.egfr_decline_over_h = h;
  }
  if (auto* n = t.get("dialysis")) s.dialysis = r.boolean(*n, key("dialysis"));
  if (auto* n = t.get("warfarin_genotype")) {
    // "VKORC1 GG, CYP2C9 *1/*1": either gene may be left out (it then stays at the reference).
    const std::string v = r.string(*n, key("warfarin_genotype"));
    const std::string rule =
        "'VKORC1 GG|GA|AA, CYP2C9 *1/*1|*1/*2|*1/*3|*2/*2|*2/*3|*3/*3' (either part optional)";
    std::size_t pos = 0;
    bool any = false;
    while (pos <= v.size()) {
      const std::size_t comma = std::min(v.find(',', pos), v.size());
      std::string part = v.substr(pos, comma - pos);
      const auto b = part.find_first_not_of(' ');
      const auto e = part.find_last_not_of(' ');
      part = b == std::string::npos ? "" : part.substr(b, e - b + 1);
      const auto space = part.find(' ');
      const std::string gene = part.substr(0, space);
      const std::string allele = space == std::string::npos ? "" : part.substr(space + 1);
      if (gene == "VKORC1" && (allele == "GG" || allele == "GA" || allele == "AA")) {
        s.vkorc1 = allele;
      } else if (gene == "CYP2C9" &&
                 (allele == "*1/*1" || allele == "*1/*2" || allele == "*1/*3" ||
                  allele == "*2/*2" || allele == "*2/*3" || allele == "*3/*3")) {
        s.cyp2c9 = allele;
      } else {
        r.fail(*n, key("warfarin_genotype"), rule);
      }
      any = true;
      pos = comma + 1;
    }
    if (!any) r.fail(*n, key("warfarin_genotype"), rule);
  }
  if (auto* n = t.get("sun")) s.sun = read_sun(r, *n, key("sun"));
  if (auto* n = t.get("cholestasis")) {
    s.cholestasis = r.boolean(*n, key("cholestasis"));
  }
  if (auto* n = t.get("cac")) {
    const double v =
        units::to_unit(r.quantity(*n, key("cac"), units::dim::agatston(), "100 AU"), "AU");
    if (!(v >= 0.0 && v <= 20000.0)) r.fail(*n, key("cac"), "0 to 20000 AU");
    if (t.get("cac_percentile") != nullptr) {
      r.fail(*n, key("cac"), "cac or cac_percentile, not both (a score sets the percentile)");
    }
    s.cac_au = v;
  }
  if (auto* n = t.get("cac_percentile")) {
    const auto v = n->value<double>();
    if (n->is_string() || !v || !(*v > 0.0 && *v < 100.0)) {
      r.fail(*n, key("cac_percentile"), "a number more than 0 and less than 100");
    }
    s.cac_percentile = *v;
  }
  if (auto* n = t.get("life_table")) {
    const std::string v = r.string(*n, key("life_table"));
    const std::vector<std::string> names = {"USA 2020", "USA 2021", "Netherlands 1995-2000"};
    if (std::find(names.begin(), names.end(), v) == names.end()) {
      r.fail(*n, key("life_table"),
             fmt::format("one of {}", fmt::join(names, ", ")) + did_you_mean(v, names));
    }
    s.life_table = v;
  }
  if (auto* n = t.get("risk_factors"))
    s.risk_factors = read_risk_factors(r, *n, key("risk_factors"));
  return s;
}

/// [diet]: preset = "netherlands"; foods = [ { food = "natto", amount = "40 g", every = "1 d",
/// at = "8 h" } ] (docs/diet.md).
DietSpec read_diet(const Reader& r, const toml::node& n, const std::string& section) {
  const toml::table* t = n.as_table();
  if (t == nullptr) r.fail(n, section, "a table with preset and foods");
  r.check_keys(*t, section, {"preset", "foods", "pasture_k2_factor", "intake"});
  DietSpec diet;
  if (auto* p = t->get("intake")) {
    const std::string v = r.string(*p, section + ".intake");
    if (v != "meals" && v != "continuous") {
      r.fail(*p, section + ".intake",
             "meals | continuous" + did_you_mean(v, {"meals", "continuous"}));
    }
    diet.continuous = v == "continuous";
  }
  if (auto* p = t->get("pasture_k2_factor")) {
    const auto v = p->value<double>();
    if (p->is_string() || !v || !(*v > 0.0 && *v <= 20.0)) {
      r.fail(*p, section + ".pasture_k2_factor",
             "a number more than 0 and at most 20 (hypothesis: menaquinones of animal foods times "
             "this; 1 = no effect)");
    }
    diet.pasture_k2_factor = *v;
  }
  if (auto* p = t->get("preset")) {
    diet.preset = r.string(*p, section + ".preset");
    diet.preset_where = r.where(*p);
    (void)find_preset(*diet.preset, r.where(*p).str() + ": " + section);
  }
  if (auto* f = t->get("foods")) {
    const toml::array* arr = f->as_array();
    if (arr == nullptr) r.fail(*f, section + ".foods", "an array of { food, amount } tables");
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node& item = *arr->get(i);
      const std::string key = fmt::format("{}.foods[{}]", section, i);
      const toml::table* ft = item.as_table();
      if (ft == nullptr) r.fail(item, key, "a table { food = \"natto\", amount = \"40 g\" }");
      r.check_keys(*ft, key, {"food", "amount", "every", "at"});
      const toml::node* food = ft->get("food");
      const toml::node* amount = ft->get("amount");
      if (food == nullptr || amount == nullptr) r.fail(item, key, "both food and amount");
      FoodItem fi;
      fi.food = r.string(*food, key + ".food");
      fi.where = r.where(item);
      (void)FoodTable::builtin().at(fi.food, fi.where.str() + ": " + key + ".food");
      fi.grams =
          units::to_unit(r.quantity(*amount, key + ".amount", units::dim::mass(), "40 g"), "g");
      if (!(fi.grams > 0.0 && fi.grams <= 5000.0)) {
        r.fail(*amount, key + ".amount", "more than 0 and at most 5 kg");
      }
      if (auto* e = ft->get("every")) {
        fi.every_h = r.time_h(*e, key + ".every", "1 d");
        if (!(fi.every_h >= 24.0 &&
              std::abs(fi.every_h / 24.0 - std::round(fi.every_h / 24.0)) < 1e-9)) {
          r.fail(*e, key + ".every", "a whole number of days (the diet repeats by day)");
        }
      }
      if (auto* a = ft->get("at")) {
        const double h = r.time_h(*a, key + ".at", "8 h");
        if (!(h >= 0.0 && h < 24.0)) r.fail(*a, key + ".at", "a time of day, 0 to 24 h");
        fi.at_h = h;
      }
      diet.foods.push_back(fi);
    }
  }
  return diet;
}

/// A number (not a string) in [lo, hi].
double fraction_or_number(const Reader& r, const toml::node& n, std::string_view key, double lo,
                          double hi, std::string_view rule) {
  const auto v = n.value<double>();
  if (n.is_string() || n.is_boolean() || !v || !(*v >= lo && *v <= hi))
    r.fail(n, key, std::string(rule));
  return *v;
}

/// A covariate distribution: a quantity (fixed), { mean, sd }, { median, cv } or { min, max }
/// (uniform); mean/sd and median/cv may add min and max (truncation). Values in `unit`.
Distribution read_distribution(const Reader& r, const toml::node& n, const std::string& key,
                               const units::Dimension& dim, const std::string& unit,
                               std::string_view example, double lo, double hi) {
  Distribution d;
  d.where = r.where(n);
  auto q = [&](const toml::node& v, const std::string& k) {
    const double x = units::to_unit(r.quantity(v, k, dim, example), unit);
    if (!(x >= lo && x <= hi)) r.fail(v, k, fmt::format("{} to {} {}", lo, hi, unit));
    return x;
  };
  if (!n.is_table()) {
    d.kind = Distribution::Kind::kFixed;
    d.a = q(n, key);
    return d;
  }
  const toml::table& t = *n.as_table();
  r.check_keys(t, key, {"mean", "sd", "median", "cv", "min", "max"});
  const toml::node* mean = t.get("mean");
  const toml::node* sd = t.get("sd");
  const toml::node* median = t.get("median");
  const toml::node* cv = t.get("cv");
  const toml::node* mn = t.get("min");
  const toml::node* mx = t.get("max");
  if (mn) d.min = q(*mn, key + ".min");
  if (mx) d.max = q(*mx, key + ".max");
  if (mn && mx && !(d.min < d.max)) r.fail(*mx, key + ".max", "more than min");
  if (mean || sd) {
    if (!mean || !sd || median || cv) {
      r.fail(n, key, "a normal distribution { mean, sd [, min, max] }");
    }
    d.kind = Distribution::Kind::kNormal;
    d.a = q(*mean, key + ".mean");
    d.b = units::to_unit(r.quantity(*sd, key + ".sd", dim, example), unit);
    if (!(d.b >= 0.0)) r.fail(*sd, key + ".sd", "a spread >= 0");
  } else if (median || cv) {
    if (!median || !cv) r.fail(n, key, "a log-normal distribution { median, cv [, min, max] }");
    d.kind = Distribution::Kind::kLogNormal;
    d.a = q(*median, key + ".median");
    if (!(d.a > 0.0)) r.fail(*median, key + ".median", "more than 0");
    d.b = fraction_or_number(r, *cv, key + ".cv", 0.0, 5.0,
                             "a coefficient of variation, a number from 0 to 5");
  } else {
    if (!mn || !mx) {
      r.fail(n, key, "a quantity, { mean, sd }, { median, cv } or a uniform { min, max }");
    }
    d.kind = Distribution::Kind::kUniform;
    d.a = d.min;
    d.b = d.max;
  }
  if (d.kind != Distribution::Kind::kUniform && (d.a < d.min || d.a > d.max)) {
    r.fail(n, key, "a centre (mean or median) within [min, max]");
  }
  return d;
}

/// name = number tables: { "cheese" = 0.8 } (food name parts), { k_mk7_elim = 0.3 }, genotypes.
std::vector<std::pair<std::string, double>> read_number_table(const Reader& r, const toml::node& n,
                                                              const std::string& key, double lo,
                                                              double hi, std::string_view rule) {
  const toml::table* t = n.as_table();
  if (t == nullptr) r.fail(n, key, fmt::format("a table {{ name = number }} ({})", rule));
  std::vector<std::pair<std::string, double>> out;
  for (auto&& [k, v] : *t) {
    out.emplace_back(std::string(k.str()),
                     fraction_or_number(r, v, fmt::format("{}.{}", key, k.str()), lo, hi, rule));
  }
  return out;
}

PopulationSpec read_population(const Reader& r, const toml::node& n) {
  const toml::table* t = n.as_table();
  if (t == nullptr) r.fail(n, "population", "a table [population]");
  r.check_keys(*t, "population",
               {"size", "seed", "age", "body_weight", "egfr", "systolic_bp", "cac_percentile",
                "female", "smoker", "diabetes", "statin", "vka", "vkorc1", "diet_cv",
                "diet_correlation", "food_cv", "variability", "confounder"});
  PopulationSpec p;
  p.where = r.where(n);
  const toml::node* size = t->get("size");
  if (size == nullptr) r.fail(n, "population", "a size (the number of subjects)");
  {
    const auto v = size->value<std::int64_t>();
    if (!size->is_integer() || !v || *v < 1 || *v > 100'000'000) {
      r.fail(*size, "population.size", "an integer from 1 to 100000000");
    }
    p.size = static_cast<std::size_t>(*v);
  }
  if (auto* s = t->get("seed")) {
    const auto v = s->value<std::int64_t>();
    if (!s->is_integer() || !v || *v < 0) r.fail(*s, "population.seed", "an integer >= 0");
    p.seed = static_cast<std::uint64_t>(*v);
  }
  if (auto* v = t->get("age"))
    p.age_y =
        read_distribution(r, *v, "population.age", units::dim::time(), "y", "69 y", 18.0, 110.0);
  if (auto* v = t->get("body_weight"))
    p.body_weight_kg = read_distribution(r, *v, "population.body_weight", units::dim::mass(), "kg",
                                         "75 kg", 25.0, 300.0);
  if (auto* v = t->get("egfr"))
    p.egfr_mL_per_min = read_distribution(r, *v, "population.egfr", units::dim::gfr(),
                                          "mL/min/1.73m2", "75 mL/min/1.73m2", 5.0, 200.0);
  if (auto* v = t->get("systolic_bp"))
    p.systolic_bp_mmHg = read_distribution(r, *v, "population.systolic_bp", units::dim::pressure(),
                                           "mmHg", "135 mmHg", 70.0, 260.0);
  if (auto* v = t->get("cac_percentile")) {
    const toml::table* ct = v->as_table();
    if (ct == nullptr) r.fail(*v, "population.cac_percentile", "a table { min = 0, max = 100 }");
    r.check_keys(*ct, "population.cac_percentile", {"min", "max"});
    Distribution d;
    d.kind = Distribution::Kind::kUniform;
    d.where = r.where(*v);
    d.a = ct->get("min") ? fraction_or_number(r, *ct->get("min"), "population.cac_percentile.min",
                                              0.0, 100.0, "a percentile 0 to 100")
                         : 0.0;
    d.b = ct->get("max") ? fraction_or_number(r, *ct->get("max"), "population.cac_percentile.max",
                                              0.0, 100.0, "a percentile 0 to 100")
                         : 100.0;
    if (!(d.a < d.b)) r.fail(*v, "population.cac_percentile", "min < max");
    p.cac_percentile = d;
  }
  auto frac = [&](const char* k, std::optional<double>& out) {
    if (auto* v = t->get(k)) {
      out = fraction_or_number(r, *v, fmt::format("population.{}", k), 0.0, 1.0,
                               "a fraction from 0 to 1");
    }
  };
  frac("female", p.female);
  frac("smoker", p.smoker);
  frac("diabetes", p.diabetes);
  frac("statin", p.statin);
  frac("vka", p.vka);
  if (auto* v = t->get("vkorc1")) {
    p.vkorc1 = read_number_table(r, *v, "population.vkorc1", 0.0, 1.0,
                                 "genotype frequencies GG, GA, AA from 0 to 1");
    double sum = 0.0;
    for (const auto& [g, f] : p.vkorc1) {
      if (g != "GG" && g != "GA" && g != "AA") {
        r.fail(*v, "population.vkorc1", fmt::format("genotypes GG, GA and AA (not '{}')", g));
      }
      sum += f;
    }
    if (std::abs(sum - 1.0) > 1e-6) {
      r.fail(*v, "population.vkorc1",
             fmt::format("frequencies summing to 1 (they sum to {})", sum));
    }
  }
  if (auto* v = t->get("diet_cv"))
    p.diet_cv = fraction_or_number(r, *v, "population.diet_cv", 0.0, 5.0,
                                   "a coefficient of variation, a number from 0 to 5");
  if (auto* v = t->get("diet_correlation"))
    p.diet_correlation = fraction_or_number(r, *v, "population.diet_correlation", 0.0, 1.0,
                                            "a correlation from 0 to 1");
  if (auto* v = t->get("food_cv")) {
    p.food_cv = read_number_table(r, *v, "population.food_cv", 0.0, 5.0,
                                  "a coefficient of variation per food name part, 0 to 5");
  }
  if (auto* v = t->get("variability")) {
    p.variability = read_number_table(r, *v, "population.variability", 0.0, 5.0,
                                      "a coefficient of variation per parameter, 0 to 5");
  }
  if (auto* v = t->get("confounder")) {
    const toml::table* ct = v->as_table();
    if (ct == nullptr) {
      r.fail(
          *v, "population.confounder",
          "a table { foods = [\"cheese\"], log_effect_per_sd = 0.2, hazard_ratio_per_sd = 0.8 }");
    }
    r.check_keys(*ct, "population.confounder",
                 {"foods", "log_effect_per_sd", "hazard_ratio_per_sd"});
    ConfounderSpec c;
    c.where = r.where(*v);
    if (auto* f = ct->get("foods")) {
      const toml::array* arr = f->as_array();
      if (arr == nullptr) r.fail(*f, "population.confounder.foods", "an array of food name parts");
      for (std::size_t i = 0; i < arr->size(); ++i) {
        c.foods.push_back(
            r.string(*arr->get(i), fmt::format("population.confounder.foods[{}]", i)));
      }
    }
    if (auto* x = ct->get("log_effect_per_sd"))
      c.log_effect_per_sd = fraction_or_number(r, *x, "population.confounder.log_effect_per_sd",
                                               -3.0, 3.0, "a number from -3 to 3");
    if (auto* x = ct->get("hazard_ratio_per_sd"))
      c.hazard_ratio_per_sd = fraction_or_number(r, *x, "population.confounder.hazard_ratio_per_sd",
                                                 0.05, 20.0, "a ratio from 0.05 to 20");
    p.confounder = c;
  }
  return p;
}

std::vector<std::string> read_strings(const Reader& r, const toml::node& n, const std::string& key,
                                      const std::vector<std::string>& allowed) {
  const toml::array* arr = n.as_array();
  if (arr == nullptr) r.fail(n, key, "an array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const std::string k = fmt::format("{}[{}]", key, i);
    std::string v = r.string(*arr->get(i), k);
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      r.fail(*arr->get(i), k,
             fmt::format("one of {}", fmt::join(allowed, ", ")) + did_you_mean(v, allowed));
    }
    out.push_back(std::move(v));
  }
  return out;
}

AnalysisSpec read_analysis(const Reader& r, const toml::node& n) {
  const toml::table* t = n.as_table();
  if (t == nullptr) r.fail(n, "analysis", "a table [analysis]");
  AnalysisSpec a;
  a.where = r.where(n);
  const toml::node* kind = t->get("kind");
  if (kind == nullptr) r.fail(n, "analysis", "a kind: \"cohort\" or \"trial\"");
  const std::string k = r.string(*kind, "analysis.kind");
  if (k == "cohort") {
    a.kind = AnalysisSpec::Kind::kCohort;
    r.check_keys(*t, "analysis",
                 {"kind", "exposure", "groups", "endpoints", "adjust", "exposure_error_cv",
                  "severe_aac_score", "published"});
    const toml::node* e = t->get("exposure");
    if (e == nullptr) r.fail(n, "analysis", "an exposure (e.g. \"intake_mk_total_ug_per_d\")");
    a.exposure = r.string(*e, "analysis.exposure");
    a.where = r.where(*e);
    if (auto* g = t->get("groups")) {
      a.groups = static_cast<int>(fraction_or_number(r, *g, "analysis.groups", 2, 10,
                                                     "an integer from 2 to 10 (3: tertiles)"));
      if (!g->is_integer()) r.fail(*g, "analysis.groups", "an integer from 2 to 10 (3: tertiles)");
    }
    const std::vector<std::string> endpoints = {"chd_event", "chd_death", "death", "severe_aac"};
    if (auto* v = t->get("endpoints")) {
      a.endpoints = read_strings(r, *v, "analysis.endpoints", endpoints);
    } else {
      a.endpoints = endpoints;
    }
    if (auto* v = t->get("adjust")) {
      a.adjust = read_strings(r, *v, "analysis.adjust",
                              {"age", "sex", "smoker", "diabetes", "statin", "vka", "egfr"});
    }
    if (auto* v = t->get("exposure_error_cv"))
      a.exposure_error_cv = fraction_or_number(r, *v, "analysis.exposure_error_cv", 0.0, 5.0,
                                               "a coefficient of variation from 0 to 5");
    if (auto* v = t->get("severe_aac_score"))
      a.severe_aac_score = fraction_or_number(r, *v, "analysis.severe_aac_score", 0.0, 24.0,
                                              "an AAC-24 score from 0 to 24");
    if (auto* v = t->get("published")) {
      a.published = read_number_table(r, *v, "analysis.published", 1e-3, 1e3,
                                      "a published ratio per endpoint, more than 0");
      for (const auto& [ep, x] : a.published) {
        if (std::find(a.endpoints.begin(), a.endpoints.end(), ep) == a.endpoints.end()) {
          r.fail(*v, "analysis.published",
                 fmt::format("endpoints of analysis.endpoints (not '{}')", ep));
        }
      }
    }
  } else if (k == "trial") {
    a.kind = AnalysisSpec::Kind::kTrial;
    r.check_keys(*t, "analysis",
                 {"kind", "outcomes", "endpoints", "power_sizes", "power_replicates", "alpha"});
    if (auto* v = t->get("outcomes")) a.outcomes = read_strings(r, *v, "analysis.outcomes", {});
    if (auto* v = t->get("endpoints")) {
      a.endpoints = read_strings(r, *v, "analysis.endpoints", {"chd_event", "chd_death", "death"});
    }
    if (a.outcomes.empty() && a.endpoints.empty()) {
      r.fail(n, "analysis", "outcomes (outputs compared as change from baseline) or endpoints");
    }
    if (auto* v = t->get("power_sizes")) {
      const toml::array* arr = v->as_array();
      if (arr == nullptr) r.fail(*v, "analysis.power_sizes", "an array of subjects per arm");
      for (std::size_t i = 0; i < arr->size(); ++i) {
        const toml::node& x = *arr->get(i);
        const auto s = x.value<std::int64_t>();
        if (!x.is_integer() || !s || *s < 2 || *s > 1'000'000) {
          r.fail(x, fmt::format("analysis.power_sizes[{}]", i), "an integer from 2 to 1000000");
        }
        a.power_sizes.push_back(static_cast<std::size_t>(*s));
      }
    }
    if (auto* v = t->get("power_replicates")) {
      const auto s = v->value<std::int64_t>();
      if (!v->is_integer() || !s || *s < 10 || *s > 100'000) {
        r.fail(*v, "analysis.power_replicates", "an integer from 10 to 100000");
      }
      a.power_replicates = static_cast<std::size_t>(*s);
    }
    if (auto* v = t->get("alpha"))
      a.alpha = fraction_or_number(r, *v, "analysis.alpha", 1e-6, 0.5, "a level from 1e-6 to 0.5");
  } else {
    r.fail(*kind, "analysis.kind", "cohort | trial" + did_you_mean(k, {"cohort", "trial"}));
  }
  return a;
}

Route parse_route(const Reader& r, const toml::node& n, std::string_view key) {
  const std::string v = r.string(n, key);
  if (v == "oral") return Route::kOral;
  if (v == "IM") return Route::kIm;
  if (v == "SC") return Route::kSc;
  if (v == "IV") return Route::kIv;
  r.fail(n, key, "oral | IM | SC | IV" + did_you_mean(v, {"oral", "IM", "SC", "IV"}));
}

DoseSpec read_dose(const Reader& r, const toml::table& t, std::string_view section) {
  r.check_keys(t, section, kDoseKeys);
  auto key = [&](std::string_view k) { return fmt::format("{}.{}", section, k); };
  DoseSpec d;
  d.where = r.where(t);
  const toml::node* sub = t.get("substance");
  if (!sub) throw InputError(fmt::format("{}: {} has no 'substance'", d.where.str(), section));
  const toml::node* amt = t.get("amount");
  if (!amt) throw InputError(fmt::format("{}: {} has no 'amount'", d.where.str(), section));
  const units::Substance* s = nullptr;
  try {
    s = &units::find_substance(r.string(*sub, key("substance")));
  } catch (const InputError& e) {
    if (dynamic_cast<const UnitError*>(&e)) throw;
    throw InputError(fmt::format("{}: {} = {}: {}", r.where(*sub).str(), key("substance"),
                                 show(*sub), e.what()));
  }
  d.substance = s->name;
  auto amount_of = [&](const toml::node& n, std::string_view k, bool rate) {
    if (n.is_number()) {
      r.fail(n, k,
             rate ? "a rate is a string with a unit, e.g. \"1 mg/h\""
                  : "an amount is a string with a unit, e.g. \"180 ug\"");
    }
    const std::string text = r.string(n, k);
    double v = 0.0;
    try {
      const units::Quantity q = units::parse_quantity(text);
      v = rate ? units::to_internal_rate(*s, q) : units::to_internal_amount(*s, q);
    } catch (const UnitError& e) {
      throw InputError(
          fmt::format("{}: {} = \"{}\" (rule: {})", r.where(n).str(), k, text, e.what()));
    }
    if (!(v > 0.0)) r.fail(n, k, rate ? "a rate > 0" : "an amount > 0");
    return v;
  };
  d.amount = amount_of(*amt, key("amount"), false);
  if (auto* n = t.get("route")) d.route = parse_route(r, *n, key("route"));
  if (auto* n = t.get("every")) {
    d.every_h = r.time_h(*n, key("every"), "1 d");
    if (!(*d.every_h > 0.0)) r.fail(*n, key("every"), "an interval > 0");
  }
  if (auto* n = t.get("start")) {
    d.start_h = r.time_h(*n, key("start"), "0 d");
    if (!(d.start_h >= 0.0)) r.fail(*n, key("start"), "a time >= 0");
  }
  if (auto* n = t.get("stop")) {
    d.stop_h = r.time_h(*n, key("stop"), "3 y");
    if (!(*d.stop_h > d.start_h)) {
      r.fail(*n, key("stop"), fmt::format("stop after start ({} h)", d.start_h));
    }
    if (!d.every_h) r.fail(*n, key("stop"), "'stop' needs 'every' (a single dose has no stop)");
  }
  if (auto* n = t.get("meal_fat")) {
    if (n->is_number()) r.fail(*n, key("meal_fat"), "fasting | with meal | high-fat meal | grams");
    const std::string v = r.string(*n, key("meal_fat"));
    if (v == "fasting") {
      d.meal_fat = MealFat::kFasting;
    } else if (v == "with meal") {
      d.meal_fat = MealFat::kWithMeal;
    } else if (v == "high-fat meal") {
      d.meal_fat = MealFat::kHighFatMeal;
    } else {
      units::Quantity q;
      try {
        q = units::parse_quantity(v, units::dim::mass());
      } catch (const UnitError&) {
        r.fail(*n, key("meal_fat"),
               "fasting | with meal | high-fat meal | grams of fat, e.g. \"20 g\"" +
                   did_you_mean(v, {"fasting", "with meal", "high-fat meal"}));
      }
      d.meal_fat = MealFat::kGrams;
      d.meal_fat_g = units::to_unit(q, "g");
      if (!(d.meal_fat_g >= 0.0 && d.meal_fat_g <= 200.0)) {
        r.fail(*n, key("meal_fat"), "0 to 200 g of fat");
      }
    }
  }
  if (auto* n = t.get("matrix")) {
    const std::string v = r.string(*n, key("matrix"));
    if (v == "supplement" || v == "oil") {
      d.matrix = Matrix::kSupplement;
    } else if (v == "vegetable") {
      d.matrix = Matrix::kVegetable;
    } else if (v == "micelle") {
      d.matrix = Matrix::kMicelle;
    } else {
      r.fail(*n, key("matrix"),
             "supplement | oil | micelle | vegetable" +
                 did_you_mean(v, {"supplement", "oil", "micelle", "vegetable"}));
    }
  }
  if (auto* n = t.get("rate")) d.rate_per_h = amount_of(*n, key("rate"), true);
  if (auto* n = t.get("steady_state")) {
    d.steady_state = r.boolean(*n, key("steady_state"));
    if (d.steady_state && !d.every_h) {
      r.fail(*n, key("steady_state"), "steady_state = true needs 'every'");
    }
  }
  if (auto* n = t.get("titrate_to_inr")) {
    const std::string k = key("titrate_to_inr");
    if (!n->is_number()) r.fail(*n, k, "a number (INR has no unit), e.g. 2.0");
    const double v = n->value<double>().value_or(0.0);
    // Eq. (25) is fitted for INR up to about 7 (all factors at 5%).
    if (!(v > 1.0 && v <= 6.0)) r.fail(*n, k, "an INR above 1 and at most 6");
    if (d.substance != "warfarin" && d.substance != "acenocoumarol") {
      r.fail(*n, k, "titration applies to warfarin or acenocoumarol");
    }
    if (!d.steady_state) {
      r.fail(*n, k,
             "titration needs steady_state = true (the amount is chosen so that the mean INR "
             "over one interval of the steady state is the target)");
    }
    d.titrate_to_inr = v;
  }
  if (d.rate_per_h && d.every_h && d.steady_state &&
      d.amount / *d.rate_per_h > *d.every_h * (1.0 + 1e-12)) {
    throw InputError(
        fmt::format("{}: {}: infusion lasts {} h, longer than 'every' ({} h) "
                    "(rule: with steady_state the infusion ends before the next dose)",
                    d.where.str(), section, d.amount / *d.rate_per_h, *d.every_h));
  }
  return d;
}

std::vector<DoseSpec> read_doses(const Reader& r, const toml::node& n, std::string_view section) {
  std::vector<DoseSpec> doses;
  const toml::array* arr = n.as_array();
  if (!arr) r.fail(n, section, "an array of tables ([[dose]] or dose = [ {...} ])");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& item = *arr->get(i);
    const std::string name = fmt::format("{}[{}]", section, i);
    const toml::table* t = item.as_table();
    if (!t) r.fail(item, name, "a table with substance, amount, ...");
    doses.push_back(read_dose(r, *t, name));
  }
  return doses;
}

void read_solver(const Reader& r, const toml::table& t, SimulationOptions& opt) {
  r.check_keys(t, "solver", kSolverKeys);
  for (auto&& [k, v] : t) {
    const std::string key = fmt::format("solver.{}", k.str());
    std::string text;
    if (v.is_number() || v.is_string()) {
      text = v.is_string() ? v.as_string()->get() : show(v);
    } else {
      r.fail(v, key,
             "a number, a time with a unit (max_step) or dense | klu | auto (linear_solver)");
    }
    try {
      opt.set(std::string(k.str()), text);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", r.where(v).str(), e.what()));
    }
  }
  opt.validate();
}

/// [hypotheses]: each key a switch of data/parameters/hypotheses.csv; true (the stated strength),
/// false, or a strength: a number for a dimensionless parameter, else a string with its unit.
std::vector<HypothesisSetting> read_hypotheses(const Reader& r, const toml::table& t) {
  std::vector<std::string> names;
  for (const Hypothesis& h : hypotheses()) names.push_back(h.name);
  r.check_keys(t, "hypotheses", names);
  std::vector<HypothesisSetting> out;
  for (auto&& [k, v] : t) {
    const Hypothesis& h = hypothesis(k.str());
    const std::string key = fmt::format("hypotheses.{}", k.str());
    HypothesisSetting s;
    s.name = h.name;
    s.where = fmt::format("{} {}", r.where(v).str(), key);
    if (auto b = v.as_boolean()) {
      s.on = b->get();
      s.value = s.on ? h.strength : h.neutral;
    } else if (h.unit == "1" && v.is_number()) {
      s.on = true;
      s.value = v.value<double>().value_or(0.0);
    } else if (v.is_string()) {
      const units::Unit u = units::parse_unit(h.unit);
      const units::Quantity q =
          r.quantity(v, key, u.dimension, fmt::format("{} {}", h.strength, h.unit));
      s.on = true;
      s.value = q.value / u.factor;
    } else {
      r.fail(v, key,
             fmt::format("true, false or a strength in {} (stated strength {} {})",
                         h.unit == "1" ? "1, a number" : h.unit + ", a string with the unit",
                         h.strength, h.unit));
    }
    if (h.parameter == "diet.pasture_k2_factor" && s.on && !(s.value > 0.0 && s.value <= 20.0)) {
      r.fail(v, key, "a factor more than 0 and at most 20 (1 = no effect)");
    }
    if (!std::isfinite(s.value)) r.fail(v, key, "a finite strength");
    out.push_back(s);
  }
  return out;
}

Scenario parse_table(const toml::table& root, const Reader& r) {
  r.check_keys(root, "", kTopKeys, kTopKeysLater);
  Scenario sc;
  sc.file = r.file();
  auto require = [&](std::string_view k) -> const toml::node& {
    const toml::node* n = root.get(k);
    if (!n) {
      throw InputError(fmt::format(
          "{}: missing key '{}' (rule: a scenario needs name and duration)", r.file(), k));
    }
    return *n;
  };
  {
    const toml::node& n = require("name");
    sc.name = r.string(n, "name");
    const bool ok = !sc.name.empty() &&
                    sc.name.find_first_not_of(
                        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789-_.") == std::string::npos &&
                    sc.name.front() != '.';
    if (!ok) r.fail(n, "name", "letters, digits, '-', '_' and '.' (it names the output folder)");
  }
  if (auto* n = root.get("model")) {
    sc.model = r.string(*n, "model");
    const auto names = model_names();
    if (std::find(names.begin(), names.end(), sc.model) == names.end()) {
      r.fail(*n, "model",
             fmt::format("one of {} in this version{}", fmt::join(names, ", "),
                         did_you_mean(sc.model, names)));
    }
  }
  if (auto* n = root.get("initialize")) {
    const std::string v = r.string(*n, "initialize");
    sc.initialize_given = true;
    if (v == "steady-state") {
      sc.initialize = Initialize::kSteadyState;
    } else if (v == "reference") {
      sc.initialize = Initialize::kReference;
    } else {
      r.fail(*n, "initialize",
             "steady-state | reference" + did_you_mean(v, {"steady-state", "reference"}));
    }
  }
  {
    const toml::node& n = require("duration");
    sc.duration_h = r.time_h(n, "duration", "90 d");
    if (!(sc.duration_h > 0.0)) r.fail(n, "duration", "a duration > 0");
    if (sc.duration_h > 150.0 * 8766.0) r.fail(n, "duration", "at most 150 y");
  }
  if (auto* n = root.get("output_interval")) {
    sc.output_interval_h = r.time_h(*n, "output_interval", "1 d");
    if (!(sc.output_interval_h > 0.0)) r.fail(*n, "output_interval", "an interval > 0");
    if (sc.duration_h / sc.output_interval_h > 1e7) {
      r.fail(*n, "output_interval", "at most 10 million output rows (duration / interval)");
    }
  }
  if (auto* n = root.get("subject")) {
    const toml::table* t = n->as_table();
    if (!t) r.fail(*n, "subject", "a table [subject]");
    sc.subject = read_subject(r, *t, "subject");
  }
  if (auto* n = root.get("dose")) sc.doses = read_doses(r, *n, "dose");
  if (auto* n = root.get("diet")) sc.diet = read_diet(r, *n, "diet");
  if (auto* n = root.get("solver")) {
    const toml::table* t = n->as_table();
    if (!t) r.fail(*n, "solver", "a table [solver]");
    read_solver(r, *t, sc.solver);
  }
  if (auto* n = root.get("hypotheses")) {
    const toml::table* t = n->as_table();
    if (!t) r.fail(*n, "hypotheses", "a table [hypotheses]");
    sc.hypotheses = read_hypotheses(r, *t);
  }
  if (auto* n = root.get("population")) sc.population = read_population(r, *n);
  if (auto* n = root.get("analysis")) {
    sc.analysis = read_analysis(r, *n);
    if (!sc.population) r.fail(*n, "analysis", "a [population] to analyse");
  }
  if (auto* n = root.get("arm")) {
    const toml::array* arr = n->as_array();
    if (!arr) r.fail(*n, "arm", "an array of tables [[arm]]");
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node& item = *arr->get(i);
      const std::string section = fmt::format("arm[{}]", i);
      const toml::table* t = item.as_table();
      if (!t) r.fail(item, section, "a table with name, dose, subject");
      r.check_keys(*t, section, kArmKeys, kArmKeysLater);
      ArmSpec arm;
      arm.where = r.where(item);
      const toml::node* nn = t->get("name");
      if (!nn) throw InputError(fmt::format("{}: {} has no 'name'", arm.where.str(), section));
      arm.name = r.string(*nn, section + ".name");
      if (arm.name.empty() ||
          arm.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"
                                     "NOPQRSTUVWXYZ0123456789-_.") != std::string::npos) {
        r.fail(*nn, section + ".name", "letters, digits, '-', '_' and '.' (it names files)");
      }
      for (const auto& other : sc.arms) {
        if (other.name == arm.name) {
          r.fail(*nn, section + ".name",
                 fmt::format("arm names are unique ('{}' is also at {})", arm.name,
                             other.where.str()));
        }
      }
      if (auto* d = t->get("dose")) arm.doses = read_doses(r, *d, section + ".dose");
      if (auto* d = t->get("diet")) arm.diet = read_diet(r, *d, section + ".diet");
      if (auto* s = t->get("subject")) {
        const toml::table* st = s->as_table();
        if (!st) r.fail(*s, section + ".subject", "a table");
        arm.subject = read_subject(r, *st, section + ".subject");
      }
      sc.arms.push_back(std::move(arm));
    }
  }
  std::ostringstream json;
  json << toml::json_formatter{root};
  sc.echo = nlohmann::json::parse(json.str());
  return sc;
}

// toml++ 3.3 (Debian 12) reaches __builtin_unreachable() when it asks whether a non-ASCII
// character is whitespace (tomlplusplus issues 190 and 295, fixed upstream in 2026): in keys,
// values other than strings and table headers, in its look-ahead over a number, date or time
// (up to whitespace, ',', ']', '}' or '#', quotes included), and after a backslash in a basic
// string. Such text is refused here first, with file:line. Non-ASCII text inside strings (units
// such as "µg") and comments stays allowed. Found by fuzz/fuzz_scenario; the regressions are in
// fuzz/corpus/scenario/ and tests/unit/scenario_test.cpp.
void check_toml_ascii(std::string_view text, const std::string& file) {
  enum class State { kCode, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral };
  State state = State::kCode;
  std::size_t line = 1;
  bool after_line_backslash = false;  // in a multi-line basic string, before the next text
  // The last character of code (spaces and tabs aside): a quote opens a string only at the start
  // of a line or after '=', '[', ',' or '{'.
  char last = '\n';
  bool run = false;  // in a value that starts with a digit or a sign, which toml++ reads ahead
  auto refuse = [&](const char* where) {
    throw InputError(fmt::format(
        "{}:{}: non-ASCII character {} (rule: keys, values other than strings, and table names "
        "are ASCII; strings and comments may hold any UTF-8 text)",
        file, line, where));
  };
  auto is_space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; };
  // At a backslash in a basic string: toml++ looks at the characters after it (and after the
  // spaces that follow) for whitespace. Returns whether a line ends there (a line-ending
  // backslash of a multi-line string).
  auto backslash = [&](std::size_t at_backslash) {
    std::size_t j = at_backslash + 1;
    while (j < text.size() && is_space(text[j])) ++j;
    if (j < text.size() && static_cast<unsigned char>(text[j]) >= 0x80) {
      refuse("after a backslash in a string");
    }
    return j < text.size() && text[j] == '\n';
  };
  std::size_t i = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // a UTF-8 byte order mark, which toml++ skips
  for (; i < text.size(); ++i) {
    const char c = text[i];
    const bool ascii = static_cast<unsigned char>(c) < 0x80;
    const auto at = [&](std::string_view s) { return text.substr(i, s.size()) == s; };
    if (c == '\n') ++line;
    switch (state) {
      case State::kCode: {
        if (!ascii) refuse("outside a string or comment");
        if (run) {
          if (std::string_view(" \t\r\n,]}#").find(c) == std::string_view::npos) {
            last = c;
            break;  // quotes here open no string
          }
          run = false;
        }
        const bool value_start = std::string_view("=[,{").find(last) != std::string_view::npos;
        const bool line_start = last == '\n';
        if (!is_space(c)) last = c;
        if (value_start && (std::isdigit(static_cast<unsigned char>(c)) || c == '+' || c == '-')) {
          run = true;
        } else if ((c == '"' || c == '\'') && !value_start && !line_start) {
          // a quote where no string can start: toml++ reports a syntax error
        } else if (c == '#') {
          state = State::kComment;
        } else if (at("\"\"\"")) {
          state = State::kMultiBasic;
          i += 2;
        } else if (at("'''")) {
          state = State::kMultiLiteral;
          i += 2;
        } else if (c == '"') {
          state = State::kBasic;
        } else if (c == '\'') {
          state = State::kLiteral;
        }
        break;
      }
      case State::kComment:
        if (c == '\n') {
          state = State::kCode;
          last = '\n';
        }
        break;
      case State::kBasic:
        if (c == '\\') {
          (void)backslash(i);
          ++i;  // the escaped character (a newline here is a syntax error toml++ reports)
          if (i < text.size() && text[i] == '\n') ++line;
        } else if (c == '"' || c == '\n') {
          state = State::kCode;
          if (c == '\n') last = '\n';
        }
        break;
      case State::kLiteral:
        if (c == '\'' || c == '\n') {
          state = State::kCode;
          if (c == '\n') last = '\n';
        }
        break;
      case State::kMultiBasic:
        if (after_line_backslash) {
          if (is_space(c) || c == '\n') break;
          if (!ascii) refuse("after the line-ending backslash of a multi-line string");
          after_line_backslash = false;
        }
        if (c == '\\') {
          if (backslash(i)) {
            after_line_backslash = true;
          } else {
            ++i;  // the escaped character
          }
        } else if (at("\"\"\"")) {
          state = State::kCode;
          i += 2;
          while (i + 1 < text.size() && text[i + 1] == '"') ++i;  // up to two quotes end the text
        }
        break;
      case State::kMultiLiteral:
        if (at("'''")) {
          state = State::kCode;
          i += 2;
          while (i + 1 < text.size() && text[i + 1] == '\'') ++i;
        }
        break;
    }
  }
}

toml::table parse_toml(std::string_view text, const std::string& file) {
  check_toml_ascii(text, file);
  try {
    return toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    throw InputError(
        fmt::format("{}:{}: TOML syntax error: {}", file, e.source().begin.line, e.description()));
  }
}

}  // namespace

std::vector<ArmSpec> Scenario::resolved_arms() const {
  // The scenario's subject over the reference adult; a newborn starts from nothing of the adult.
  auto resolved = [&](const SubjectSpec* arm) {
    const bool newborn = (arm && arm->newborn) ? *arm->newborn : subject.newborn.value_or(false);
    SubjectSpec s = newborn ? SubjectSpec{} : reference_subject();
    s.override_with(subject);
    if (arm) s.override_with(*arm);
    return s;
  };
  std::vector<ArmSpec> out;
  if (arms.empty()) {
    ArmSpec main_arm;
    main_arm.name = "main";
    main_arm.doses = doses;
    main_arm.subject = resolved(nullptr);
    main_arm.where = SourceLocation{file, 0};
    main_arm.diet = diet;
    out.push_back(std::move(main_arm));
    return out;
  }
  for (const ArmSpec& a : arms) {
    ArmSpec merged = a;
    merged.doses = doses;
    merged.doses.insert(merged.doses.end(), a.doses.begin(), a.doses.end());
    merged.subject = resolved(&a.subject);
    merged.diet = diet;
    merged.diet.override_with(a.diet);
    out.push_back(std::move(merged));
  }
  return out;
}

Scenario parse_scenario(std::string_view text, const std::string& file) {
  const toml::table root = parse_toml(text, file);
  return parse_table(root, Reader(file));
}

ExtendedScenario parse_extended_scenario(std::string_view text, const std::string& file,
                                         const std::string& extension) {
  toml::table root = parse_toml(text, file);
  ExtendedScenario out;
  const toml::node* ext = root.get(extension);
  if (!ext || !ext->is_table()) {
    throw InputError(fmt::format("{}: missing table [{}]", file, extension));
  }
  out.extension_line = static_cast<std::size_t>(ext->source().begin.line);
  std::ostringstream json;
  json << toml::json_formatter{*ext->as_table()};
  out.extension = nlohmann::json::parse(json.str());
  root.erase(extension);
  out.has_scenario = !root.empty();
  if (out.has_scenario) out.scenario = parse_table(root, Reader(file));
  return out;
}

Scenario read_scenario(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("{}: cannot open the scenario file for reading", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw IoError(fmt::format("{}: read error", path));
  return parse_scenario(text.str(), path);
}

const SubjectSpec& reference_subject() {
  static const SubjectSpec kReference = [] {
    const std::string file = "data/reference/subject.toml";
    const toml::table t = parse_toml(internal::embedded_file(file), file);
    return read_subject(Reader(file), t, "subject");
  }();
  return kReference;
}

std::vector<DoseRecord> dose_records(const Model& model, const std::vector<DoseSpec>& doses,
                                     double duration_h) {
  std::vector<DoseRecord> records;
  for (const DoseSpec& d : doses) {
    DoseTarget target;
    try {
      target =
          model.dose_target(DoseContext{d.substance, d.route, d.matrix, d.meal_fat, d.meal_fat_g});
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", d.where.str(), e.what()));
    }
    DoseRecord rec;
    rec.time_h = d.start_h;
    rec.cmt = target.cmt;
    rec.amt = d.amount * target.fraction;
    rec.rate = d.rate_per_h ? *d.rate_per_h * target.fraction : 0.0;
    if (d.every_h) {
      const double stop = std::min(d.stop_h.value_or(duration_h), duration_h);
      // Doses at start + k * every, strictly before stop (a dose at the last instant of the run
      // would show nothing).
      const double span = stop - d.start_h;
      // A steady-state regimen whose first dose falls after the end still sets the periodic
      // state at its reset (a short run on a diet: the evening meal after a 12 h run).
      if (span <= 0.0 && !(d.steady_state && d.start_h - d.ss_lead_h < duration_h)) continue;
      const double n = std::ceil(span / *d.every_h * (1.0 - 1e-12)) - 1.0;
      rec.ii_h = *d.every_h;
      rec.addl = static_cast<std::size_t>(std::max(0.0, n));
      rec.ss = d.steady_state ? 1 : 0;
      rec.ss_lead_h = d.steady_state ? d.ss_lead_h : 0.0;
    } else if (d.start_h >= duration_h) {
      continue;
    }
    rec.validate(model.state_count(), d.where.str());
    records.push_back(rec);
  }
  return records;
}

}  // namespace k2sim
