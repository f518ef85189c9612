// Re-encoding a stored object in another transfer syntax (WADO-RS asks for
// Explicit VR Little Endian by default; C-GET/C-MOVE peers may accept only
// uncompressed). The stored file itself is never changed.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include <mutex>
#include <vector>

#include "dicom/dicom.h"

namespace bastion::dicom {

void RegisterDecoders() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

Result<std::string> ReadPart10As(const std::filesystem::path& file, std::string_view transfer_syntax_uid) {
  DcmXfer target_xfer(std::string(transfer_syntax_uid).c_str());
  E_TransferSyntax target = target_xfer.getXfer();
  if (target == EXS_Unknown || target_xfer.isEncapsulated())
    return Status(Code::kUnsupported, "cannot encode in " + TransferSyntaxName(transfer_syntax_uid));
  RegisterDecoders();
  DcmFileFormat ff;
  OFCondition cond = ff.loadFile(file.c_str());
  if (cond.bad()) return Status(Code::kCorrupt, std::string("stored object unreadable: ") + cond.text());
  DcmDataset* ds = ff.getDataset();
  const std::string stored = DcmXfer(ds->getOriginalXfer()).getXferID();
  if (ds->chooseRepresentation(target, nullptr).bad() || !ds->canWriteXfer(target))
    return Status(Code::kUnsupported, "cannot convert " + TransferSyntaxName(stored) + " to " +
                                          TransferSyntaxName(transfer_syntax_uid));
  OFString sop_class, sop_instance;
  ds->findAndGetOFString(DCM_SOPClassUID, sop_class);
  ds->findAndGetOFString(DCM_SOPInstanceUID, sop_instance);
  BASTION_ASSIGN_OR_RETURN(std::string out, BuildFileMeta(sop_class.c_str(), sop_instance.c_str(), transfer_syntax_uid));

  std::vector<char> buffer(1 << 16);
  DcmOutputBufferStream stream(buffer.data(), buffer.size());
  auto drain = [&] {
    void* data = nullptr;
    offile_off_t length = 0;
    stream.flushBuffer(data, length);
    if (length > 0) out.append(static_cast<const char*>(data), static_cast<std::size_t>(length));
  };
  ds->transferInit();
  cond = ds->write(stream, target, EET_ExplicitLength, nullptr);
  while (cond == EC_StreamNotifyClient) {
    drain();
    cond = ds->write(stream, target, EET_ExplicitLength, nullptr);
  }
  ds->transferEnd();
  if (cond.bad()) return Status(Code::kInternal, std::string("encoding failed: ") + cond.text());
  stream.flush();
  drain();
  return out;
}

}  // namespace bastion::dicom
