// k2sim/error.hpp: the one exception hierarchy for bad input and I/O (STYLE.md, "Errors").
// Numerical outcomes are not exceptions: they are [[nodiscard]] status objects
// (engine/simulation.hpp).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace k2sim {

/// Root of every error k2sim throws for bad input or failed I/O.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A scenario, parameter override, data file or quantity string breaks a rule. The message names
/// where (file:line or option), the value and the rule, and suggests the nearest valid name.
/// CLI exit code 3.
class InputError : public Error {
 public:
  using Error::Error;
};

/// A quantity string that cannot be parsed or has the wrong dimension (an InputError).
class UnitError : public InputError {
 public:
  using InputError::InputError;
};

/// A command-line option with a bad value (for example `--set` of an unknown parameter).
/// CLI exit code 2.
class OptionError : public InputError {
 public:
  using InputError::InputError;
};

/// A file that cannot be read or written. CLI exit code 5.
class IoError : public Error {
 public:
  using Error::Error;
};

/// Levenshtein edit distance between two strings (case-sensitive).
[[nodiscard]] std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate nearest to `word` (case-insensitive edit distance), or empty when none is within
/// half of the word's length (at least 2 edits). Used for "did you mean" suggestions.
[[nodiscard]] std::string nearest(std::string_view word,
                                  const std::vector<std::string>& candidates);

/// " (did you mean 'x'?)" when a near candidate exists, else "".
[[nodiscard]] std::string did_you_mean(std::string_view word,
                                       const std::vector<std::string>& candidates);

}  // namespace k2sim
