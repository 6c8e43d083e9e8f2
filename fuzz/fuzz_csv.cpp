// libFuzzer target: the CSV readers. The first byte picks the reader, the rest is the file:
// 'f' food composition (foods.csv, with the built-in sources), 's' food sources (sources.csv, with
// the built-in foods), 't' validation targets (targets.csv), 'p' a parameter table. Bad input must
// end in a k2sim::Error with file:line, never in a crash or another exception.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "k2sim/calibration/validation.hpp"
#include "k2sim/diet/foods.hpp"
#include "k2sim/error.hpp"
#include "k2sim/params/parameter_table.hpp"

namespace k2sim::internal {
std::string_view embedded_file(std::string_view path);  // generated at build time
}  // namespace k2sim::internal

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  using k2sim::internal::embedded_file;
  try {
    switch (data[0]) {
      case 'f':
        (void)k2sim::FoodTable::parse(text, "foods.csv", embedded_file("data/foods/sources.csv"),
                                      "sources.csv");
        break;
      case 's':
        (void)k2sim::FoodTable::parse(embedded_file("data/foods/foods.csv"), "foods.csv", text,
                                      "sources.csv");
        break;
      case 't':
        (void)k2sim::parse_targets(text, "targets.csv");
        break;
      case 'p':
        (void)k2sim::ParameterTable::parse(text, "params.csv");
        break;
      default:
        break;
    }
  } catch (const k2sim::Error&) {  // a clear error is the right answer to bad input
  }
  return 0;
}
