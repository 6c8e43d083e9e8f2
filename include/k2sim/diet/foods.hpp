// k2sim/diet/foods.hpp: the food composition table (data/foods/foods.csv, with its sources in
// data/foods/sources.csv; docs/diet.md).
//
// One row per food; per 100 g of the food, one value and one source per nutrient. A missing value
// is an empty cell (never 0); a value nobody could check against its source is listed in the
// row's `unverified` column.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace k2sim {

/// The nutrients of the table, in column order. Vitamins in ug, minerals in mg, fat in g (per
/// 100 g of food, canonical after reading).
enum class Nutrient : std::size_t {
  kK1,
  kMk4,
  kMk7,
  kMk8,
  kMk9,
  kMkOther,  ///< MK-5, MK-6, MK-10 and longer (reported; no model reads them)
  kDhp,
  kD3,
  kD2,
  kCa,
  kMg,
  kFat,
  kCount
};
inline constexpr std::size_t kNutrientCount = static_cast<std::size_t>(Nutrient::kCount);

struct NutrientInfo {
  std::string_view key;        ///< column prefix, e.g. "k1"
  std::string_view unit;       ///< canonical unit per 100 g: "ug", "mg" or "g"
  std::string_view substance;  ///< substance a model doses ("" when none: mk_other, fat)
  std::string_view label;      ///< for tables, e.g. "MK-7"
};

/// Key, unit, substance and label of each nutrient.
[[nodiscard]] const std::array<NutrientInfo, kNutrientCount>& nutrient_info();
[[nodiscard]] const NutrientInfo& info(Nutrient n);

/// Where vitamin K1 of a food is bound: leaves and vegetables (absorbed less; docs/model.md
/// eq. 12) or anything else (oils, fats, dairy, meat).
enum class FoodMatrix { kVegetable, kOther };

struct Food {
  std::string name;
  std::string group;  ///< e.g. "cheese", "vegetables", "oils and fats"
  FoodMatrix matrix = FoodMatrix::kOther;
  double portion_g = 0.0;
  std::string portion;  ///< e.g. "1 slice"
  std::array<std::optional<double>, kNutrientCount> per_100g{};
  std::array<std::string, kNutrientCount> source{};  ///< "key" or "key: locator"
  std::array<bool, kNutrientCount> unverified{};
  std::string notes;
  std::size_t line = 0;  ///< line in the table file
};

struct FoodSource {
  std::string key;
  std::string citation;
  std::string licence;
  std::string url;
};

class FoodTable {
 public:
  /// Parses the food table and its sources. Malformed input throws InputError naming the file,
  /// the line, the value and the rule.
  [[nodiscard]] static FoodTable parse(std::string_view foods_csv, const std::string& foods_file,
                                       std::string_view sources_csv,
                                       const std::string& sources_file);
  /// The built-in table (data/foods/foods.csv and sources.csv, compiled in).
  [[nodiscard]] static const FoodTable& builtin();

  [[nodiscard]] const std::vector<Food>& foods() const { return foods_; }
  [[nodiscard]] const std::vector<FoodSource>& sources() const { return sources_; }
  /// The food of this name (case does not matter); nullptr when there is none.
  [[nodiscard]] const Food* find(std::string_view name) const;
  /// The food of this name, or InputError naming `where` and the nearest names.
  [[nodiscard]] const Food& at(std::string_view name, std::string_view where) const;
  /// The source of a food's value ("key: locator" -> key).
  [[nodiscard]] const FoodSource& source_of(const std::string& source_field) const;
  /// Foods that match a query, best first: every word of the query appears in the name (or,
  /// failing that, the names closest by edit distance per word). At most `limit`.
  [[nodiscard]] std::vector<const Food*> search(std::string_view query,
                                                std::size_t limit = 10) const;
  [[nodiscard]] const std::string& file() const { return file_; }

 private:
  std::vector<Food> foods_;
  std::vector<FoodSource> sources_;
  std::string file_;
};

}  // namespace k2sim
