// Text corpora: directory listing, text detection, fortune splitting, document split and byte
// encoding (text_dataset.hpp).
#include "io/text_dataset.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/factories.hpp"
#include "io/file.hpp"
#include "io/permutation.hpp"

namespace strata::io {
namespace {

// The regular files (not links) in dir, sorted by path.
std::vector<std::filesystem::path> list_files(const std::filesystem::path& dir, bool recursive,
                                              const char* op) {
  STRATA_CHECK(std::filesystem::is_directory(dir), op, ": ", dir, " is not a directory");
  std::vector<std::filesystem::path> files;
  auto add = [&](const std::filesystem::directory_entry& entry) {
    if (entry.is_regular_file() && !entry.is_symlink()) files.push_back(entry.path());
  };
  if (recursive)
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) add(entry);
  else
    for (const auto& entry : std::filesystem::directory_iterator(dir)) add(entry);
  std::sort(files.begin(), files.end());
  return files;
}

// Text: no NUL byte, and well-formed UTF-8 sequences (a lead byte and its continuation bytes).
bool is_text(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    auto lead = static_cast<unsigned char>(bytes[i]);
    if (lead == 0) return false;
    size_t continuation = lead < 0x80           ? 0
                          : (lead >> 5) == 0x06 ? 1
                          : (lead >> 4) == 0x0E ? 2
                          : (lead >> 3) == 0x1E ? 3
                                                : 4;
    if (continuation == 4 || continuation >= bytes.size() - i) return false;
    for (size_t k = 1; k <= continuation; ++k)
      if ((static_cast<unsigned char>(bytes[i + k]) & 0xC0) != 0x80) return false;
    i += 1 + continuation;
  }
  return true;
}

// Appends the quotations of one fortune file: the text between lines that hold only `%`.
void split_fortunes(std::string_view text, std::vector<std::string>& documents) {
  std::string quotation;
  auto finish = [&] {
    while (!quotation.empty() && quotation.back() == '\n') quotation.pop_back();
    bool blank = std::all_of(quotation.begin(), quotation.end(),
                             [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
    if (!blank) documents.push_back(quotation);
    quotation.clear();
  };
  for (size_t pos = 0; pos < text.size();) {
    size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    if (line == "%") {
      finish();
    } else {
      quotation.append(line);
      quotation.push_back('\n');
    }
    pos = end + 1;
  }
  finish();
}

}  // namespace

int64_t TextCorpus::bytes() const {
  int64_t total = 0;
  for (const std::string& document : documents) total += static_cast<int64_t>(document.size());
  return total;
}

TextCorpus read_text_directory(const std::filesystem::path& dir, bool recursive) {
  TextCorpus corpus;
  for (const auto& path : list_files(dir, recursive, "read_text_directory")) {
    std::string bytes = read_file(path, "read_text_directory");
    if (is_text(bytes)) corpus.documents.push_back(std::move(bytes));
  }
  return corpus;
}

TextCorpus read_fortunes(const std::filesystem::path& dir) {
  STRATA_CHECK(
      std::filesystem::is_directory(dir), "read_fortunes: ", dir,
      " is not a directory; install Debian's fortune quotations with `sudo apt-get "
      "install fortunes` (or run scripts/setup.sh), or pass the directory that holds them");
  TextCorpus corpus;
  for (const auto& path : list_files(dir, false, "read_fortunes")) {
    if (path.extension() == ".dat" || path.extension() == ".u8") continue;
    std::string bytes = read_file(path, "read_fortunes");
    if (is_text(bytes)) split_fortunes(bytes, corpus.documents);
  }
  STRATA_CHECK(!corpus.documents.empty(), "read_fortunes: ", dir, " holds no quotations");
  return corpus;
}

CorpusSplit split_documents(const TextCorpus& corpus, double validation_fraction, uint64_t seed) {
  STRATA_CHECK(validation_fraction >= 0 && validation_fraction < 1,
               "split_documents: validation fraction ", validation_fraction,
               "; expected a value in [0, 1)");
  auto n = static_cast<int64_t>(corpus.documents.size());
  auto held_out = static_cast<int64_t>(std::llround(validation_fraction * n));
  if (validation_fraction > 0 && n > 1) held_out = std::clamp<int64_t>(held_out, 1, n - 1);

  std::vector<int64_t> order = random_permutation(n, seed);
  std::vector<bool> is_validation(n, false);
  for (int64_t i = 0; i < held_out; ++i) is_validation[order[i]] = true;
  CorpusSplit split;
  for (int64_t i = 0; i < n; ++i)
    (is_validation[i] ? split.validation : split.train).documents.push_back(corpus.documents[i]);
  return split;
}

Tensor encode_bytes(const TextCorpus& corpus, std::string_view separator) {
  int64_t length =
      corpus.bytes() + static_cast<int64_t>(corpus.documents.size() * separator.size());
  Tensor tokens = empty({length}, {DType::i64});
  int64_t* out = tokens.data<int64_t>();
  auto append = [&](std::string_view bytes) {
    for (char c : bytes) *out++ = static_cast<unsigned char>(c);
  };
  for (const std::string& document : corpus.documents) {
    append(document);
    append(separator);
  }
  return tokens;
}

std::string decode_bytes(const Tensor& tokens) {
  STRATA_CHECK(tokens.dtype() == DType::i32 || tokens.dtype() == DType::i64,
               "decode_bytes: tokens have dtype ", dtype_name(tokens.dtype()),
               "; expected i32 or i64 byte tokens");
  std::string text;
  for (int64_t token : tokens.to_vector<int64_t>()) {
    STRATA_CHECK(token >= 0 && token < 256, "decode_bytes: token ", token,
                 " is not a byte; expected values in [0, 256)");
    text.push_back(static_cast<char>(token));
  }
  return text;
}

}  // namespace strata::io
