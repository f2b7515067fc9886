// Text corpora: which files are read, how fortune files split into quotations, the real fortunes
// corpus, the seeded document split, byte encoding, and the unigram entropy.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "core/factories.hpp"
#include "io/text_dataset.hpp"
#include "io/unigram_entropy.hpp"
#include "io_files.hpp"
#include "test_support.hpp"

using namespace strata;
using strata::test::contains;
using strata::test::error_of;
using Documents = std::vector<std::string>;

TEST_CASE("read_text_directory reads text files in path order, skipping links and binaries") {
  test::TempDir dir;
  test::write_bytes(dir / "b.txt", "second");
  test::write_bytes(dir / "a.txt", "first, caf\xc3\xa9");
  test::write_bytes(dir / "binary", std::string("x\0y", 3));
  test::write_bytes(dir / "latin1", "caf\xe9");  // not UTF-8
  std::filesystem::create_symlink(dir / "a.txt", dir / "a.link");
  std::filesystem::create_directory(dir / "sub");
  test::write_bytes(dir / "sub" / "c.txt", "third");

  CHECK(io::read_text_directory(dir.path()).documents == Documents{"first, caf\xc3\xa9", "second"});
  io::TextCorpus all = io::read_text_directory(dir.path(), /*recursive=*/true);
  CHECK(all.documents == Documents{"first, caf\xc3\xa9", "second", "third"});
  CHECK(all.bytes() == 12 + 6 + 5);
  CHECK(contains(error_of([&] { io::read_text_directory(dir / "none"); }), "is not a directory"));
}

TEST_CASE("read_fortunes splits files into quotations at lines holding only %") {
  test::TempDir dir;
  test::write_bytes(dir / "quotes", "One.\n%\nTwo\n\t-- lines\n%\n%\n  \n%\n100% sure\n");
  test::write_bytes(dir / "more", "Last %\n%\n");
  test::write_bytes(dir / "quotes.dat", std::string("\0\0\0\x02", 4));
  std::filesystem::create_symlink(dir / "quotes", dir / "quotes.u8");
  CHECK(io::read_fortunes(dir.path()).documents ==
        Documents{"Last %", "One.", "Two\n\t-- lines", "100% sure"});

  std::string missing = error_of([&] { io::read_fortunes(dir / "none"); });
  CHECK(contains(missing, "apt-get install fortunes"));
}

TEST_CASE("Debian's fortunes: ~2.5 MB of quotations, split deterministically") {
  io::TextCorpus corpus = io::read_fortunes();
  CHECK(corpus.bytes() > 2'000'000);
  CHECK(corpus.bytes() < 3'000'000);
  CHECK(corpus.documents.size() > 10'000);
  for (const std::string& quotation : corpus.documents) {
    REQUIRE(!quotation.empty());
    REQUIRE(quotation.back() != '\n');
    REQUIRE(!contains(quotation, "\n%\n"));
  }

  io::CorpusSplit split = io::split_documents(corpus, 0.1, /*seed=*/1234);
  size_t n = corpus.documents.size();
  CHECK(split.validation.documents.size() == static_cast<size_t>(std::llround(0.1 * n)));
  CHECK(split.train.documents.size() + split.validation.documents.size() == n);
  CHECK(split.train.bytes() + split.validation.bytes() == corpus.bytes());
  io::CorpusSplit again = io::split_documents(corpus, 0.1, 1234);
  CHECK(again.validation.documents == split.validation.documents);
  CHECK(io::split_documents(corpus, 0.1, 1235).validation.documents != split.validation.documents);

  Tensor tokens = io::encode_bytes(split.train);
  CHECK(tokens.dtype() == DType::i64);
  CHECK(tokens.numel() == split.train.bytes() + static_cast<int64_t>(split.train.documents.size()));
  io::Entropy entropy = io::unigram_entropy(tokens);
  CHECK(entropy.bits > 4.0);  // English text in bytes: about 4.5-5 bits per byte
  CHECK(entropy.bits < 5.5);
}

TEST_CASE("split_documents keeps corpus order in both parts") {
  io::TextCorpus corpus{{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}};
  io::CorpusSplit split = io::split_documents(corpus, 0.3, 5);
  CHECK(split.validation.documents.size() == 3);
  CHECK(std::is_sorted(split.train.documents.begin(), split.train.documents.end()));
  CHECK(std::is_sorted(split.validation.documents.begin(), split.validation.documents.end()));
  CHECK(io::split_documents(corpus, 0.01, 5).validation.documents.size() == 1);
  CHECK(io::split_documents(corpus, 0.0, 5).train.documents == corpus.documents);
  CHECK(contains(error_of([&] { io::split_documents(corpus, 1.0, 5); }),
                 "expected a value in [0, 1)"));
}

TEST_CASE("encode_bytes and decode_bytes round-trip, separator after every document") {
  io::TextCorpus corpus{{"hi", "caf\xc3\xa9"}};
  Tensor tokens = io::encode_bytes(corpus, "|");
  CHECK(tokens.to_vector<int64_t>() ==
        std::vector<int64_t>{'h', 'i', '|', 'c', 'a', 'f', 0xC3, 0xA9, '|'});
  CHECK(io::decode_bytes(tokens) == "hi|caf\xc3\xa9|");
  CHECK(contains(error_of([] {
                   io::decode_bytes(from_vector(std::vector<int64_t>{65, 256}));
                 }),
                 "token 256 is not a byte"));
}

TEST_CASE("unigram_entropy of known distributions") {
  io::Entropy uniform =
      io::unigram_entropy(from_vector(std::vector<int64_t>{3, 1, 2, 0, 0, 1, 2, 3}));
  CHECK(uniform.bits == doctest::Approx(2.0).epsilon(1e-12));
  CHECK(uniform.nats == doctest::Approx(std::log(4.0)).epsilon(1e-12));
  // p = (1/2, 1/4, 1/4): 1.5 bits.
  io::Entropy skewed = io::unigram_entropy(from_vector(std::vector<int32_t>{7, 7, 9, 8}));
  CHECK(skewed.bits == doctest::Approx(1.5).epsilon(1e-12));
  CHECK(skewed.nats == doctest::Approx(1.5 * std::numbers::ln2).epsilon(1e-12));
  CHECK(io::unigram_entropy(from_vector(std::vector<int64_t>{5, 5, 5})).bits == 0.0);
  CHECK(contains(error_of([] { io::unigram_entropy(from_vector(std::vector<float>{1})); }),
                 "expected i32 or i64"));
}
