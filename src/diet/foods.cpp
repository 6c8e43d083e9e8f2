#include "k2sim/diet/foods.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "k2sim/error.hpp"
#include "k2sim/params/parameter_table.hpp"
#include "k2sim/units/units.hpp"

namespace k2sim {

namespace internal {
std::string_view embedded_file(std::string_view path);  // generated at build time
}

namespace {

constexpr std::string_view kSourcesHeader = "key,citation,licence,url";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Case-insensitive equality without copies (a diet looks its foods up once per subject).
bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') {
      cur.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

// Lines of a CSV text with their numbers (1-based); a trailing empty line is dropped.
std::vector<std::pair<std::size_t, std::string_view>> lines_of(std::string_view text) {
  std::vector<std::pair<std::size_t, std::string_view>> out;
  std::size_t pos = 0;
  std::size_t n = 0;
  while (pos < text.size()) {
    const std::size_t nl = std::min(text.find('\n', pos), text.size());
    ++n;
    std::string_view line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.emplace_back(n, line);
    pos = nl + 1;
  }
  return out;
}

double number(const std::string& text, const std::string& where, std::string_view column) {
  double v = 0.0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end || !std::isfinite(v) || v < 0.0) {
    throw InputError(
        fmt::format("{}: {} = '{}' (rule: a finite number >= 0, or empty when not measured)", where,
                    column, text));
  }
  return v;
}

std::vector<FoodSource> parse_sources(std::string_view text, const std::string& file) {
  std::vector<FoodSource> out;
  std::set<std::string> keys;
  for (const auto& [n, line] : lines_of(text)) {
    const std::string where = fmt::format("{}:{}", file, n);
    if (n == 1) {
      if (line != kSourcesHeader) {
        throw InputError(fmt::format("{}: header '{}' (rule: '{}')", where, line, kSourcesHeader));
      }
      continue;
    }
    if (line.empty()) continue;
    const std::vector<std::string> f = split_csv_line(line);
    if (f.size() != 4) {
      throw InputError(
          fmt::format("{}: {} fields (rule: 4, key,citation,licence,url)", where, f.size()));
    }
    if (f[0].empty() || f[0].find_first_of(" :") != std::string::npos) {
      throw InputError(
          fmt::format("{}: key = '{}' (rule: a word without spaces or ':')", where, f[0]));
    }
    if (f[1].empty() || f[2].empty()) {
      throw InputError(
          fmt::format("{}: source '{}' (rule: a citation and a licence)", where, f[0]));
    }
    if (!keys.insert(f[0]).second) {
      throw InputError(fmt::format("{}: key = '{}' (rule: each source once)", where, f[0]));
    }
    out.push_back({f[0], f[1], f[2], f[3]});
  }
  return out;
}

}  // namespace

const std::array<NutrientInfo, kNutrientCount>& nutrient_info() {
  static const std::array<NutrientInfo, kNutrientCount> kInfo = {{
      {"k1", "ug", "K1", "K1"},
      {"mk4", "ug", "MK-4", "MK-4"},
      {"mk7", "ug", "MK-7", "MK-7"},
      {"mk8", "ug", "MK-8", "MK-8"},
      {"mk9", "ug", "MK-9", "MK-9"},
      {"mk_other", "ug", "", "MK-5,6,10+"},
      {"dhp", "ug", "DHP", "DHP"},
      {"d3", "ug", "D3", "D3"},
      {"d2", "ug", "D2", "D2"},
      {"ca", "mg", "calcium", "calcium"},
      {"mg", "mg", "magnesium", "magnesium"},
      {"fat", "g", "", "fat"},
  }};
  return kInfo;
}

const NutrientInfo& info(Nutrient n) { return nutrient_info()[static_cast<std::size_t>(n)]; }

FoodTable FoodTable::parse(std::string_view foods_csv, const std::string& foods_file,
                           std::string_view sources_csv, const std::string& sources_file) {
  FoodTable t;
  t.file_ = foods_file;
  t.sources_ = parse_sources(sources_csv, sources_file);
  std::set<std::string> source_keys;
  for (const FoodSource& s : t.sources_) source_keys.insert(s.key);
  // Columns: food, group, matrix, portion_g, portion, then value and source of each nutrient,
  // then unverified and notes. The unit of each value column is in its name and is checked.
  constexpr std::size_t kFirst = 5;
  const std::size_t n_columns = kFirst + 2 * kNutrientCount + 2;
  std::array<double, kNutrientCount> factor{};  // file unit -> canonical unit
  std::set<std::string> names;
  for (const auto& [n, line] : lines_of(foods_csv)) {
    const std::string where = fmt::format("{}:{}", foods_file, n);
    const std::vector<std::string> f = split_csv_line(line);
    if (n == 1) {
      const std::vector<std::string> fixed = {"food", "group", "matrix", "portion_g", "portion"};
      bool ok = f.size() == n_columns && std::equal(fixed.begin(), fixed.end(), f.begin()) &&
                f[n_columns - 2] == "unverified" && f[n_columns - 1] == "notes";
      for (std::size_t k = 0; ok && k < kNutrientCount; ++k) {
        const NutrientInfo& ni = nutrient_info()[k];
        const std::string& value_col = f[kFirst + 2 * k];
        const std::string prefix = std::string(ni.key) + "_";
        const std::string suffix = "_per_100g";
        ok = f[kFirst + 2 * k + 1] == prefix + "source" && value_col.starts_with(prefix) &&
             value_col.ends_with(suffix) && value_col.size() > prefix.size() + suffix.size();
        if (!ok) break;
        const std::string unit =
            value_col.substr(prefix.size(), value_col.size() - prefix.size() - suffix.size());
        try {
          const units::Unit u = units::parse_unit(unit);
          const units::Unit canonical = units::parse_unit(ni.unit);
          if (!(u.dimension == canonical.dimension)) {
            throw UnitError(fmt::format("'{}' is not a mass", unit));
          }
          factor[k] = u.factor / canonical.factor;
        } catch (const UnitError& e) {
          throw InputError(fmt::format("{}: column {} (rule: {}_<mass unit>_per_100g; {})", where,
                                       value_col, ni.key, e.what()));
        }
      }
      if (!ok) {
        std::string expected = "food,group,matrix,portion_g,portion";
        for (const NutrientInfo& ni : nutrient_info()) {
          expected += fmt::format(",{0}_{1}_per_100g,{0}_source", ni.key, ni.unit);
        }
        throw InputError(fmt::format("{}: header (rule: {},unverified,notes)", where, expected));
      }
      continue;
    }
    if (line.empty()) continue;
    if (f.size() != n_columns) {
      throw InputError(
          fmt::format("{}: {} fields (rule: {}, as the header)", where, f.size(), n_columns));
    }
    Food food;
    food.line = n;
    food.name = f[0];
    if (food.name.empty()) throw InputError(fmt::format("{}: food (rule: a name)", where));
    if (!names.insert(lower(food.name)).second) {
      throw InputError(
          fmt::format("{}: food = '{}' (rule: each food once; names differ in more than case)",
                      where, food.name));
    }
    food.group = f[1];
    if (food.group.empty()) throw InputError(fmt::format("{}: group (rule: a food group)", where));
    if (f[2] == "vegetable") {
      food.matrix = FoodMatrix::kVegetable;
    } else if (f[2] == "other") {
      food.matrix = FoodMatrix::kOther;
    } else {
      throw InputError(fmt::format("{}: matrix = '{}' (rule: vegetable | other)", where, f[2]));
    }
    food.portion_g = number(f[3], where, "portion_g");
    if (!(food.portion_g > 0.0)) {
      throw InputError(fmt::format("{}: portion_g = '{}' (rule: more than 0 g)", where, f[3]));
    }
    food.portion = f[4];
    for (std::size_t k = 0; k < kNutrientCount; ++k) {
      const std::string& value = f[kFirst + 2 * k];
      const std::string& source = f[kFirst + 2 * k + 1];
      const std::string column = fmt::format("{}_per_100g", nutrient_info()[k].key);
      if (value.empty()) {
        if (!source.empty()) {
          throw InputError(
              fmt::format("{}: {}_source = '{}' without a value (rule: a source "
                          "belongs to a value)",
                          where, nutrient_info()[k].key, source));
        }
        continue;
      }
      food.per_100g[k] = number(value, where, column) * factor[k];
      const std::string key = source.substr(0, source.find(':'));
      if (!source_keys.count(key)) {
        std::vector<std::string> all(source_keys.begin(), source_keys.end());
        throw InputError(fmt::format(
            "{}: {}_source = '{}' (rule: a key of {} for every value, 'key' or 'key: locator'){}",
            where, nutrient_info()[k].key, source, sources_file, did_you_mean(key, all)));
      }
      food.source[k] = source;
    }
    if (food.per_100g[static_cast<std::size_t>(Nutrient::kFat)] &&
        *food.per_100g[static_cast<std::size_t>(Nutrient::kFat)] > 100.0) {
      throw InputError(fmt::format("{}: fat = {} g per 100 g (rule: at most 100 g)", where,
                                   *food.per_100g[static_cast<std::size_t>(Nutrient::kFat)]));
    }
    // unverified: nutrient keys separated by ';', each with a value in this row.
    std::string_view rest = f[kFirst + 2 * kNutrientCount];
    while (!rest.empty()) {
      const std::size_t semi = std::min(rest.find(';'), rest.size());
      std::string key(rest.substr(0, semi));
      key.erase(std::remove(key.begin(), key.end(), ' '), key.end());
      rest.remove_prefix(std::min(semi + 1, rest.size()));
      if (key.empty()) continue;
      const auto it = std::find_if(nutrient_info().begin(), nutrient_info().end(),
                                   [&](const NutrientInfo& ni) { return ni.key == key; });
      const auto k = static_cast<std::size_t>(it - nutrient_info().begin());
      if (it == nutrient_info().end() || !food.per_100g[k]) {
        throw InputError(fmt::format(
            "{}: unverified = '{}' (rule: nutrient keys with a value in this row, separated by "
            "';')",
            where, key));
      }
      food.unverified[k] = true;
    }
    food.notes = f[kFirst + 2 * kNutrientCount + 1];
    t.foods_.push_back(std::move(food));
  }
  if (t.foods_.empty()) throw InputError(fmt::format("{}: no foods", foods_file));
  return t;
}

const FoodTable& FoodTable::builtin() {
  static const FoodTable kTable =
      parse(internal::embedded_file("data/foods/foods.csv"), "data/foods/foods.csv",
            internal::embedded_file("data/foods/sources.csv"), "data/foods/sources.csv");
  return kTable;
}

const Food* FoodTable::find(std::string_view name) const {
  for (const Food& f : foods_) {
    if (equal_ignoring_case(f.name, name)) return &f;
  }
  return nullptr;
}

const Food& FoodTable::at(std::string_view name, std::string_view where) const {
  if (const Food* f = find(name)) return *f;
  std::vector<std::string> close;
  for (const Food* f : search(name, 3)) close.push_back("'" + f->name + "'");
  throw InputError(fmt::format(
      "{}: food = \"{}\" (rule: a food of the table, see `k2sim foods`){}", where, name,
      close.empty() ? std::string() : fmt::format(" (closest: {})", fmt::join(close, ", "))));
}

const FoodSource& FoodTable::source_of(const std::string& source_field) const {
  const std::string key = source_field.substr(0, source_field.find(':'));
  for (const FoodSource& s : sources_) {
    if (s.key == key) return s;
  }
  throw InputError(fmt::format("food source '{}' (rule: a key of the sources table)", key));
}

std::vector<const Food*> FoodTable::search(std::string_view query, std::size_t limit) const {
  const std::vector<std::string> q = words(query);
  struct Hit {
    double score;
    const Food* food;
  };
  std::vector<Hit> hits;
  for (const Food& f : foods_) {
    const std::vector<std::string> w = words(f.name + " " + f.group);
    const std::string name = lower(f.name);
    double score = 0.0;
    bool all = true;
    for (const std::string& token : q) {
      // A word of the name that starts with the token scores best, one that contains it next;
      // otherwise the nearest word by edit distance, if within a third of the token's length.
      double best = 1e9;
      for (const std::string& word : w) {
        if (word.starts_with(token)) {
          best = std::min(best, 0.0);
        } else if (word.find(token) != std::string::npos) {
          best = std::min(best, 0.5);
        } else {
          const std::size_t d = edit_distance(token, word.substr(0, token.size() + 1));
          if (3 * d <= token.size()) best = std::min(best, 1.0 + static_cast<double>(d));
        }
      }
      if (best > 1e8) {
        all = false;
        break;
      }
      score += best;
    }
    if (!all) continue;
    if (name == lower(query)) score -= 10.0;
    score += 1e-3 * static_cast<double>(name.size());  // shorter names first on ties
    hits.push_back({score, &f});
  }
  std::stable_sort(hits.begin(), hits.end(),
                   [](const Hit& a, const Hit& b) { return a.score < b.score; });
  std::vector<const Food*> out;
  for (std::size_t i = 0; i < hits.size() && i < limit; ++i) out.push_back(hits[i].food);
  return out;
}

}  // namespace k2sim
