#include "dicom/dicom.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcspchrs.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <iconv.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <mutex>
#include <set>

#include "util/text.h"

namespace bastion::dicom {

void QuietToolkitLogs() { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); }

bool IsValidUid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = uid.find('.', start);
    std::string_view comp = uid.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (comp.empty()) return false;
    for (char c : comp)
      if (c < '0' || c > '9') return false;
    if (comp.size() > 1 && comp[0] == '0') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

const std::vector<std::string>& StorageSopClasses() {
  static const std::vector<std::string> kClasses = [] {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i) {
      const char* uid = dcmAllStorageSOPClassUIDs[i];
      if (uid && dcmIsaStorageSOPClassUID(uid, ESSC_Patient) && seen.insert(uid).second) out.emplace_back(uid);
    }
    return out;
  }();
  return kClasses;
}

bool IsStorageSopClass(std::string_view uid) {
  static const std::set<std::string, std::less<>> kSet(StorageSopClasses().begin(), StorageSopClasses().end());
  return kSet.contains(uid);
}

const std::vector<std::string>& AcceptedTransferSyntaxes() {
  static const std::vector<std::string> kSyntaxes = {
      UID_LittleEndianExplicitTransferSyntax,
      UID_LittleEndianImplicitTransferSyntax,
      UID_BigEndianExplicitTransferSyntax,
      UID_DeflatedExplicitVRLittleEndianTransferSyntax,
      UID_JPEGProcess1TransferSyntax,
      UID_JPEGProcess2_4TransferSyntax,
      UID_JPEGProcess14TransferSyntax,
      UID_JPEGProcess14SV1TransferSyntax,
      UID_JPEGLSLosslessTransferSyntax,
      UID_JPEGLSLossyTransferSyntax,
      UID_JPEG2000LosslessOnlyTransferSyntax,
      UID_JPEG2000TransferSyntax,
      UID_JPEG2000Part2MulticomponentImageCompressionLosslessOnlyTransferSyntax,
      UID_JPEG2000Part2MulticomponentImageCompressionTransferSyntax,
      UID_RLELosslessTransferSyntax,
      UID_MPEG2MainProfileAtMainLevelTransferSyntax,
      UID_MPEG2MainProfileAtHighLevelTransferSyntax,
      UID_MPEG4HighProfileLevel4_1TransferSyntax,
      UID_MPEG4BDcompatibleHighProfileLevel4_1TransferSyntax,
      UID_MPEG4HighProfileLevel4_2_For2DVideoTransferSyntax,
      UID_MPEG4HighProfileLevel4_2_For3DVideoTransferSyntax,
      UID_MPEG4StereoHighProfileLevel4_2TransferSyntax,
      UID_HEVCMainProfileLevel5_1TransferSyntax,
      UID_HEVCMain10ProfileLevel5_1TransferSyntax,
  };
  return kSyntaxes;
}

bool IsAcceptedTransferSyntax(std::string_view ts) {
  for (const auto& s : AcceptedTransferSyntaxes())
    if (s == ts) return true;
  return false;
}

namespace {

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value, OFFalse).good()) return std::string(Trim(value.c_str()));
  return {};
}

std::optional<std::int64_t> GetInteger(DcmItem& item, const DcmTagKey& tag) {
  std::string s = GetString(item, tag);
  if (s.empty()) return std::nullopt;
  // IS values may carry a sign and padding; US values come back as decimal strings.
  std::size_t bs = s.find('\\');
  if (bs != std::string::npos) s.resize(bs);
  std::string_view v = Trim(s);
  if (!v.empty() && v.front() == '+') v.remove_prefix(1);
  std::int64_t out = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || ptr != v.data() + v.size()) return std::nullopt;
  return out;
}

}  // namespace

namespace {

// Japanese ISO 2022 (ISO 2022 IR 13 / IR 87 / IR 159, PS3.5 6.1.2.5) to UTF-8:
// the escape sequences are turned into EUC-JP, which glibc's iconv knows.
Result<std::string> JapaneseIso2022ToUtf8(std::string_view raw, bool katakana_g1) {
  enum class G0 { kAscii, kJisX0208, kJisX0212 } g0 = G0::kAscii;
  std::string euc;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    auto b = static_cast<unsigned char>(raw[i]);
    if (b == 0x1B) {
      std::string_view esc = raw.substr(i + 1, 3);
      if (esc.starts_with("$B") || esc.starts_with("$@")) g0 = G0::kJisX0208, i += 2;
      else if (esc.starts_with("$(D")) g0 = G0::kJisX0212, i += 3;
      else if (esc.starts_with("(B") || esc.starts_with("(J")) g0 = G0::kAscii, i += 2;
      else if (esc.starts_with(")I")) katakana_g1 = true, i += 2;
      else return Status(Code::kUnsupported, "unknown ISO 2022 escape sequence");
      continue;
    }
    if (b >= 0x80) {
      if (!katakana_g1 || b < 0xA1 || b > 0xDF) return Status(Code::kUnsupported, "byte outside the character set");
      euc += '\x8E';
      euc += static_cast<char>(b);
      continue;
    }
    if (g0 == G0::kAscii || b < 0x21 || b > 0x7E) {
      euc += static_cast<char>(b);
      continue;
    }
    if (i + 1 >= raw.size()) return Status(Code::kUnsupported, "truncated two-byte character");
    if (g0 == G0::kJisX0212) euc += '\x8F';
    euc += static_cast<char>(b | 0x80);
    euc += static_cast<char>(static_cast<unsigned char>(raw[++i]) | 0x80);
  }
  iconv_t cd = iconv_open("UTF-8", "EUC-JP");
  if (cd == reinterpret_cast<iconv_t>(-1)) return Status(Code::kUnsupported, "no EUC-JP converter");
  std::string out(euc.size() * 2 + 4, '\0');
  char* in_ptr = euc.data();
  char* out_ptr = out.data();
  std::size_t in_left = euc.size(), out_left = out.size();
  std::size_t rc = iconv(cd, &in_ptr, &in_left, &out_ptr, &out_left);
  iconv_close(cd);
  if (rc == static_cast<std::size_t>(-1)) return Status(Code::kUnsupported, "invalid Japanese text");
  out.resize(out.size() - out_left);
  return out;
}

}  // namespace

Result<std::string> ConvertToUtf8(std::string_view raw, std::string_view specific_character_set) {
  bool plain = std::all_of(raw.begin(), raw.end(), [](char c) { return c != 0x1B && (c & 0x80) == 0; });
  if (plain) return std::string(raw);
  std::vector<std::string_view> terms;
  for (std::size_t start = 0;;) {
    std::size_t bs = specific_character_set.find('\\', start);
    terms.push_back(Trim(specific_character_set.substr(start, bs == std::string_view::npos ? bs : bs - start)));
    if (bs == std::string_view::npos) break;
    start = bs + 1;
  }
  if (terms.size() == 1 && (terms[0] == "ISO_IR 192" || terms[0].empty() || terms[0] == "ISO_IR 6")) {
    if (terms[0] == "ISO_IR 192") return std::string(raw);
    return Status(Code::kUnsupported, "bytes outside the default character repertoire");
  }
  static const std::set<std::string_view> kJapanese = {"", "ISO 2022 IR 6", "ISO_IR 13", "ISO 2022 IR 13",
                                                      "ISO 2022 IR 87", "ISO 2022 IR 159"};
  bool japanese = std::all_of(terms.begin(), terms.end(), [](auto t) { return kJapanese.contains(t); }) &&
                  std::any_of(terms.begin(), terms.end(), [](auto t) { return !t.empty() && t != "ISO 2022 IR 6"; });
  if (japanese) return JapaneseIso2022ToUtf8(raw, terms[0] == "ISO_IR 13" || terms[0] == "ISO 2022 IR 13");
  DcmSpecificCharacterSet converter;
  OFCondition cond = converter.selectCharacterSet(std::string(specific_character_set).c_str(), "ISO_IR 192");
  OFString out;
  if (cond.good()) cond = converter.convertString(OFString(raw.data(), raw.size()), out, "\\^=");
  if (cond.bad()) return Status(Code::kUnsupported, std::string("character set conversion: ") + cond.text());
  return std::string(out.c_str(), out.length());
}

Result<InstanceHeader> ReadHeader(const std::filesystem::path& file) {
  DcmFileFormat ff;
  // The whole structure is parsed, so that a truncated object (a value running
  // past the end of the file) is refused, but values over 4 KiB (pixel data)
  // are not loaded: only their lengths are checked against the file.
  OFCondition cond = ff.loadFile(file.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
  if (cond.bad()) return Status(Code::kInvalidArgument, std::string("not a readable DICOM object: ") + cond.text());
  DcmDataset& ds = *ff.getDataset();
  DcmMetaInfo& meta = *ff.getMetaInfo();

  InstanceHeader h;
  h.transfer_syntax_uid = GetString(meta, DCM_TransferSyntaxUID);
  if (h.transfer_syntax_uid.empty()) {
    DcmXfer xfer(ds.getOriginalXfer());
    h.transfer_syntax_uid = xfer.getXferID();
  }
  h.specific_character_set = GetString(ds, DCM_SpecificCharacterSet);
  struct TextField {
    std::string InstanceHeader::*member;
    const DcmTagKey& tag;
  };
  static const TextField kFields[] = {
      {&InstanceHeader::sop_class_uid, DCM_SOPClassUID},
      {&InstanceHeader::sop_instance_uid, DCM_SOPInstanceUID},
      {&InstanceHeader::patient_id, DCM_PatientID},
      {&InstanceHeader::issuer_of_patient_id, DCM_IssuerOfPatientID},
      {&InstanceHeader::patient_name, DCM_PatientName},
      {&InstanceHeader::patient_birth_date, DCM_PatientBirthDate},
      {&InstanceHeader::patient_sex, DCM_PatientSex},
      {&InstanceHeader::study_instance_uid, DCM_StudyInstanceUID},
      {&InstanceHeader::study_date, DCM_StudyDate},
      {&InstanceHeader::study_time, DCM_StudyTime},
      {&InstanceHeader::accession_number, DCM_AccessionNumber},
      {&InstanceHeader::study_id, DCM_StudyID},
      {&InstanceHeader::study_description, DCM_StudyDescription},
      {&InstanceHeader::referring_physician_name, DCM_ReferringPhysicianName},
      {&InstanceHeader::series_instance_uid, DCM_SeriesInstanceUID},
      {&InstanceHeader::modality, DCM_Modality},
      {&InstanceHeader::series_description, DCM_SeriesDescription},
      {&InstanceHeader::body_part_examined, DCM_BodyPartExamined},
      {&InstanceHeader::series_date, DCM_SeriesDate},
      {&InstanceHeader::series_time, DCM_SeriesTime},
  };
  for (const auto& f : kFields) h.*f.member = GetString(ds, f.tag);
  if (!h.specific_character_set.empty() && h.specific_character_set != "ISO_IR 192" &&
      h.specific_character_set != "ISO_IR 6") {
    // Names in other repertoires are indexed as UTF-8 so that queries match them.
    if (ds.convertToUTF8().good()) {
      for (const auto& f : kFields) h.*f.member = GetString(ds, f.tag);
    } else {
      // DCMTK converts with iconv, and glibc's iconv has no JIS X 0208 of its
      // own: Japanese ISO 2022 values are converted here (the dataset may be
      // half converted: start again from the raw values read above).
      for (const auto& f : kFields) {
        auto converted = ConvertToUtf8(h.*f.member, h.specific_character_set);
        if (converted.ok()) h.*f.member = std::move(*converted);
        else h.charset_conversion_failed = true;
      }
    }
  }
  h.series_number = GetInteger(ds, DCM_SeriesNumber);
  h.instance_number = GetInteger(ds, DCM_InstanceNumber);
  h.rows = GetInteger(ds, DCM_Rows);
  h.columns = GetInteger(ds, DCM_Columns);
  h.number_of_frames = GetInteger(ds, DCM_NumberOfFrames);
  return h;
}

Result<Part10Layout> ParsePart10Layout(std::string_view head) {
  if (head.size() < 132 || head.substr(128, 4) != "DICM")
    return Status(Code::kInvalidArgument, "no DICOM Part 10 preamble (\"DICM\" at offset 128)");
  Part10Layout layout;
  std::size_t pos = 132;
  auto u16 = [&](std::size_t at) {
    return static_cast<std::uint16_t>(static_cast<unsigned char>(head[at]) |
                                      (static_cast<unsigned char>(head[at + 1]) << 8));
  };
  auto u32 = [&](std::size_t at) {
    return static_cast<std::uint32_t>(u16(at)) | (static_cast<std::uint32_t>(u16(at + 2)) << 16);
  };
  while (true) {
    if (pos == head.size()) break;  // the meta group ends the file: an empty dataset
    if (pos + 8 > head.size()) return Status(Code::kInvalidArgument, "file meta information is truncated");
    std::uint16_t group = u16(pos);
    if (group != 0x0002) break;
    std::uint16_t element = u16(pos + 2);
    std::string_view vr = head.substr(pos + 4, 2);
    for (char c : vr)
      if (c < 'A' || c > 'Z') return Status(Code::kInvalidArgument, "file meta information is not explicit VR");
    std::uint64_t length;
    std::size_t value_at;
    if (vr == "OB" || vr == "OW" || vr == "OF" || vr == "SQ" || vr == "UT" || vr == "UN" || vr == "UC" ||
        vr == "UR" || vr == "OD" || vr == "OL" || vr == "OV") {
      if (pos + 12 > head.size()) return Status(Code::kInvalidArgument, "file meta information is truncated");
      length = u32(pos + 8);
      value_at = pos + 12;
    } else {
      length = u16(pos + 6);
      value_at = pos + 8;
    }
    if (length == 0xFFFFFFFFu || value_at + length > head.size())
      return Status(Code::kInvalidArgument, "file meta information element has a bad length");
    std::string value(Trim(head.substr(value_at, length)));
    if (element == 0x0010) layout.transfer_syntax_uid = value;
    if (element == 0x0002) layout.sop_class_uid = value;
    if (element == 0x0003) layout.sop_instance_uid = value;
    pos = value_at + length;
  }
  if (layout.transfer_syntax_uid.empty())
    return Status(Code::kInvalidArgument, "file meta information has no Transfer Syntax UID");
  layout.dataset_offset = pos;
  return layout;
}

Result<std::string> BuildFileMeta(std::string_view sop_class_uid, std::string_view sop_instance_uid,
                                  std::string_view transfer_syntax_uid) {
  DcmXfer xfer(std::string(transfer_syntax_uid).c_str());
  if (xfer.getXfer() == EXS_Unknown) return Status(Code::kUnsupported, "unknown transfer syntax");
  DcmFileFormat ff;
  DcmDataset* ds = ff.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, std::string(sop_class_uid).c_str());
  ds->putAndInsertString(DCM_SOPInstanceUID, std::string(sop_instance_uid).c_str());
  OFCondition cond = ff.validateMetaInfo(xfer.getXfer());
  if (cond.bad()) return Status(Code::kInternal, std::string("building file meta: ") + cond.text());
  DcmMetaInfo* meta = ff.getMetaInfo();
  // A fixed implementation version so the bytes do not depend on who wrote them.
  meta->putAndInsertString(DCM_ImplementationVersionName, "BASTION_0");
  meta->findAndDeleteElement(DCM_SourceApplicationEntityTitle);
  // validateMetaInfo computed the group length before our edit; recompute it.
  meta->findAndDeleteElement(DCM_FileMetaInformationGroupLength);
  std::uint32_t group_length = 0;
  for (unsigned long i = 0; i < meta->card(); ++i) {
    DcmObject* el = meta->getElement(i);
    group_length += el->calcElementLength(EXS_LittleEndianExplicit, EET_ExplicitLength);
  }
  meta->putAndInsertUint32(DCM_FileMetaInformationGroupLength, group_length);

  std::string buffer(8192, '\0');
  DcmOutputBufferStream out(buffer.data(), static_cast<offile_off_t>(buffer.size()));
  meta->transferInit();
  cond = meta->write(out, EXS_LittleEndianExplicit, EET_ExplicitLength, nullptr);
  meta->transferEnd();
  if (cond.bad()) return Status(Code::kInternal, std::string("writing file meta: ") + cond.text());
  void* data = nullptr;
  offile_off_t length = 0;
  out.flushBuffer(data, length);
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(length));
}

std::string TransferSyntaxName(std::string_view ts_uid) {
  DcmXfer xfer(std::string(ts_uid).c_str());
  return xfer.getXferName();
}

}  // namespace bastion::dicom
