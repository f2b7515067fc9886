// The closest of some names to a mistyped one, for "did you mean ...?" in error messages
// (command-line flags, config keys).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace strata::io {

// The candidate nearest to `word` by edit distance (insertions, deletions, substitutions), when it
// is a near miss: at most max_distance edits away, and fewer edits than the word has characters.
// Ties go to the earlier candidate.
std::optional<std::string> closest_match(const std::string& word,
                                         const std::vector<std::string>& candidates,
                                         size_t max_distance = 3);

}  // namespace strata::io
