// Byte-level text corpora for language models: documents read from a directory of text files or
// from the quotations of Debian's `fortunes` package, a deterministic train/validation split by
// document, and the corpus as a sequence of byte tokens (vocabulary 256).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"

namespace strata::io {

inline constexpr std::string_view kFortunesDir = "/usr/share/games/fortunes";

struct TextCorpus {
  std::vector<std::string> documents;
  int64_t bytes() const;  // summed over the documents
};

// One document per text file of dir, in order of path; with `recursive`, subdirectories too.
// Symbolic links are skipped (a file linked under a second name is read once), and so are files
// that are not text: a NUL byte or invalid UTF-8.
TextCorpus read_text_directory(const std::filesystem::path& dir, bool recursive = false);

// One document per quotation of the fortune files in dir (plain text, quotations separated by
// lines holding only `%`), files in order of name, without trailing newlines. The strfile
// indexes (.dat), their .u8 links and non-text files are skipped. About 2.5 MB in Debian 12.
TextCorpus read_fortunes(const std::filesystem::path& dir = kFortunesDir);

struct CorpusSplit {
  TextCorpus train;
  TextCorpus validation;
};

// Holds out round(validation_fraction * N) of the N documents (at least one when the fraction is
// positive and N > 1), chosen by a permutation seeded with `seed`; both parts keep corpus order.
CorpusSplit split_documents(const TextCorpus& corpus, double validation_fraction, uint64_t seed);

// The documents as byte tokens, each followed by separator: i64 [bytes + N * separator.size()],
// values in [0, 256).
Tensor encode_bytes(const TextCorpus& corpus, std::string_view separator = "\n");

// The bytes that tokens in [0, 256) stand for (an integer tensor of any shape, read row-major).
std::string decode_bytes(const Tensor& tokens);

}  // namespace strata::io
