// Fuzz target: everything Bastion does with bytes that came off the wire or
// out of a file before they are trusted — the Part 10 meta walk, the DCMTK
// header parse used for validation, and the file meta we rebuild.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "dicom/dicom.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = (bastion::dicom::QuietToolkitLogs(), true);
  (void)quiet;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);

  auto layout = bastion::dicom::ParsePart10Layout(bytes);
  if (layout.ok() && layout->dataset_offset > size) __builtin_trap();  // must stay inside the input

  // ReadHeader reads a file: give it one per process, rewritten each time.
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("bastion-fuzz-" + std::to_string(::getpid()) + ".dcm");
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    auto header = bastion::dicom::ReadHeader(path);
    if (header.ok() && bastion::dicom::IsValidUid(header->sop_instance_uid) &&
        bastion::dicom::IsValidUid(header->sop_class_uid)) {
      auto meta = bastion::dicom::BuildFileMeta(header->sop_class_uid, header->sop_instance_uid,
                                                header->transfer_syntax_uid);
      if (meta.ok()) {
        auto again = bastion::dicom::ParsePart10Layout(*meta);
        if (!again.ok() || again->sop_instance_uid != header->sop_instance_uid) __builtin_trap();
      }
    }
  }
  return 0;
}
