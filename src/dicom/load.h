// Inside dicom/ only (DCMTK types): loading a stored object's structure.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include <filesystem>
#include <memory>

#include "util/status.h"

namespace bastion::dicom::internal {

// Values longer than this stay in the file while the structure is parsed and
// are read on demand (pixel data, fragments; for bulk data only lengths are used).
inline constexpr Uint32 kMaxReadLength = 4096;

// kNotFound for a missing file, kInvalidArgument for one DCMTK cannot parse.
Result<std::unique_ptr<DcmFileFormat>> LoadStructure(const std::filesystem::path& file);

}  // namespace bastion::dicom::internal
