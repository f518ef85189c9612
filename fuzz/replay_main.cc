// Without libFuzzer (g++ builds, CTest): runs the fuzz target over seed files
// and deterministic damage of each — every prefix length on a coarse grid and
// single-byte flips — so the same inputs run in every `make test` (and under
// `make sanitize`).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

static void Run(const std::vector<std::uint8_t>& bytes, long& count) {
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  ++count;
}

int main(int argc, char** argv) {
  long count = 0;
  for (int i = 1; i < argc; ++i) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(argv[i])) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(argv[i]))
        if (e.is_regular_file() && e.file_size() <= (1u << 20)) files.push_back(e.path());
    } else {
      files.emplace_back(argv[i]);
    }
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      Run(bytes, count);
      std::size_t step = bytes.size() / 16 + 1;
      for (std::size_t cut = 0; cut < bytes.size(); cut += step) Run({bytes.begin(), bytes.begin() + cut}, count);
      for (std::size_t at = 0; at < std::min<std::size_t>(bytes.size(), 512); at += 7) {
        auto damaged = bytes;
        damaged[at] ^= 0xFF;
        Run(damaged, count);
      }
    }
  }
  std::printf("replayed %ld inputs without a crash\n", count);
  return count > 0 ? 0 : 1;
}
