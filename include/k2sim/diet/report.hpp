// k2sim/diet/report.hpp: text reports of the food table (`k2sim foods`) and of a scenario's diets
// (`k2sim diet`).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace k2sim {

class FoodTable;
struct Scenario;

/// Foods matching `query` (at most `limit`), per 100 g and per portion, with their sources; the
/// list of all foods by group when the query is empty.
[[nodiscard]] std::string foods_report(const FoodTable& table, std::string_view query,
                                       std::size_t limit = 5);

/// For each arm with a diet: the daily intake per vitamer and mineral, the `top` foods that give
/// most of each, and a preset's published means beside what it gives.
[[nodiscard]] std::string diet_report(const Scenario& scenario, std::size_t top = 4);

}  // namespace k2sim
