// k2sim/io/source_location.hpp: where a value of an input file came from, for error messages.
#pragma once

#include <cstddef>
#include <string>

namespace k2sim {

/// Where a value came from, for error messages.
struct SourceLocation {
  std::string file;
  std::size_t line = 0;
  [[nodiscard]] std::string str() const { return file + ":" + std::to_string(line); }
};

}  // namespace k2sim
