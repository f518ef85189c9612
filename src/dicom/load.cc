#include "dicom/load.h"

namespace bastion::dicom::internal {

Result<std::unique_ptr<DcmFileFormat>> LoadStructure(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return Status(Code::kNotFound, "object file not found");
  auto ff = std::make_unique<DcmFileFormat>();
  OFCondition cond = ff->loadFile(file.c_str(), EXS_Unknown, EGL_noChange, kMaxReadLength, ERM_autoDetect);
  if (cond.bad()) return Status(Code::kInvalidArgument, std::string("not a readable DICOM object: ") + cond.text());
  return ff;
}

}  // namespace bastion::dicom::internal
