// The dicom/ layer: everything Bastion needs from DCMTK's data side, behind
// our own types. Nothing above this layer (or dimse/) includes DCMTK.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace bastion::dicom {

// Silences DCMTK's own logging (it writes to stderr, and at some levels shows
// element values, which may be PHI). Failures reach us as conditions and are
// reported by Bastion. Call once at start-up.
void QuietToolkitLogs();

// PS3.5 9.1: 1-64 characters, digits and dots, components without leading
// zeros (except "0" itself), no empty components.
bool IsValidUid(std::string_view uid);

// True for a storage SOP class in the patient/study/series hierarchy that
// DCMTK knows (PS3.4 Annex B). Non-patient objects (hanging protocols,
// colour palettes) have no study to file them under and are not accepted.
bool IsStorageSopClass(std::string_view sop_class_uid);
// Every such SOP class, for presentation-context negotiation.
const std::vector<std::string>& StorageSopClasses();

inline constexpr std::string_view kVerificationSopClass = "1.2.840.10008.1.1";

// How Bastion names itself in A-ASSOCIATE-AC/RQ (PS3.7 D.3.3.2): its own
// implementation, not the toolkit's (a UUID-derived UID, PS3.5 B.2).
inline constexpr const char* kImplementationClassUid = "2.25.17741525645780869754257428525189224797";
inline constexpr const char* kImplementationVersionName = "BASTION_0_1";

// The transfer syntaxes we receive and store as received: uncompressed,
// deflated, and the JPEG, JPEG-LS, JPEG 2000 and RLE families.
const std::vector<std::string>& AcceptedTransferSyntaxes();
bool IsAcceptedTransferSyntax(std::string_view ts_uid);

// A stored object's header: what the catalog indexes and ingest validates.
// Strings are UTF-8 (converted from the object's Specific Character Set when
// DCMTK can), trailing padding removed.
struct InstanceHeader {
  std::string sop_class_uid, sop_instance_uid, transfer_syntax_uid, specific_character_set;
  std::string patient_id, issuer_of_patient_id, patient_name, patient_birth_date, patient_sex;
  std::string study_instance_uid, study_date, study_time, accession_number, study_id, study_description,
      referring_physician_name;
  std::string series_instance_uid, modality, series_description, body_part_examined, series_date, series_time;
  std::optional<std::int64_t> series_number, instance_number;
  std::optional<std::int64_t> rows, columns, number_of_frames;
  // True when the names/strings above could not be converted to UTF-8 and are raw.
  bool charset_conversion_failed = false;
};

// A string value in `specific_character_set` (the attribute's value, terms
// separated by backslashes) converted to UTF-8. Besides what DCMTK converts,
// handles Japanese ISO 2022 (IR 13/87/159), which glibc's iconv cannot do
// for DCMTK.
Result<std::string> ConvertToUtf8(std::string_view raw, std::string_view specific_character_set);

// Parses a Part 10 file's structure; values over 4 KiB (pixel data) are not
// loaded. Fails with kInvalidArgument for a file DCMTK cannot parse, including
// a truncated one.
Result<InstanceHeader> ReadHeader(const std::filesystem::path& file);

// Where the dataset starts in a Part 10 file, and its transfer syntax, from
// the file meta group alone (always explicit VR little endian, PS3.10 7.1).
struct Part10Layout {
  std::uint64_t dataset_offset = 0;
  std::string transfer_syntax_uid;
  std::string sop_class_uid, sop_instance_uid;  // from the meta header
};
// `head` is the beginning of the file (the first few KiB suffice).
Result<Part10Layout> ParsePart10Layout(std::string_view head);

// Bastion's own Part 10 preamble + file meta group for a dataset of the given
// identity and transfer syntax. Deterministic: the same inputs give the same
// bytes, so the same dataset received twice is the same stored file.
Result<std::string> BuildFileMeta(std::string_view sop_class_uid, std::string_view sop_instance_uid,
                                  std::string_view transfer_syntax_uid);

// Registers DCMTK's decoders (JPEG, JPEG-LS, RLE) once; thread-safe.
void RegisterDecoders();

// A stored Part 10 file re-encoded in an uncompressed transfer syntax
// (Explicit VR Little Endian for the web), decompressing when DCMTK can:
// kUnsupported for a stored syntax it cannot decode (JPEG 2000 with DCMTK
// 3.6.7) or a compressed target. The whole result is in memory (objects are
// bounded by [storage] max_object_bytes); callers that can send the stored
// bytes as they are should stream the file instead.
Result<std::string> ReadPart10As(const std::filesystem::path& file, std::string_view transfer_syntax_uid);

// "Explicit VR Little Endian" style name for a transfer syntax UID, for logs.
std::string TransferSyntaxName(std::string_view ts_uid);

}  // namespace bastion::dicom
