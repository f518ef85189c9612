// What the scanner knows, kept as data: the checks (why each matters, the
// HIPAA safeguard, the fix per product), A-ASSOCIATE-RJ wording, DIMSE
// status wording, software recognition and the table of vulnerable versions.
// Private to scan/ (the unit tests include it too).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "scan/scan.h"

namespace bastion::scan {

struct CheckInfo {
  std::string_view id;
  std::string_view name;
  std::string_view why;
  std::string_view hipaa;
  std::string_view fix;          // generic
  std::string_view fix_orthanc;  // when the server is recognised as Orthanc
  std::string_view fix_dcm4chee;
  std::string_view fix_dcmtk;
  std::string_view fix_bastion;
};
const CheckInfo* FindCheck(std::string_view id);

// Strict-Transport-Security shorter than this lapses between a person's
// visits (W7 from the outside, S5 from the inside).
inline constexpr std::int64_t kMinHstsMaxAgeSeconds = 180 * 86400;
// The max-age of a Strict-Transport-Security value (RFC 6797 6.1.1), -1 when
// it has none or it is not a number.
std::int64_t HstsMaxAge(std::string_view value);
const std::vector<CheckInfo>& AllChecks();

// A finding for check `id`, with why/HIPAA/fix filled in from the table (the
// fix for `software` first when it is recognised).
Finding MakeFinding(std::string_view id, Severity severity, std::string target, std::string title,
                    std::string sent, std::string received, const Software& software);

// PS3.8 9.3.4: A-ASSOCIATE-RJ result / source / reason, in words.
struct RejectInfo {
  int result = 0;  // 1 permanent, 2 transient
  int source = 0;  // 1 service user, 2 service provider (ACSE), 3 service provider (presentation)
  int reason = 0;  // meaning depends on source
};
std::string DescribeReject(const RejectInfo& rj);
inline bool IsCallingAeReject(const RejectInfo& rj) { return rj.source == 1 && rj.reason == 3; }
inline bool IsCalledAeReject(const RejectInfo& rj) { return rj.source == 1 && rj.reason == 7; }

// "0xA801 Refused: Move Destination unknown" for the C-FIND/MOVE/GET/STORE statuses of PS3.4.
std::string DescribeDimseStatus(std::uint16_t status);

// From an A-ASSOCIATE-AC's implementation class UID and version name.
Software RecogniseDicom(std::string_view implementation_class_uid, std::string_view version_name);
// From HTTP: the Server header and, for Orthanc, /system's "Version".
Software RecogniseHttp(std::string_view server_header, std::string_view orthanc_version);

// Versions known to be vulnerable. Matching is by version string: a
// distribution may have backported the fix without changing it.
struct KnownVulnerability {
  std::string_view product;
  std::string_view fixed_in;  // affected: every version below this
  std::string_view cve;
  double cvss;
  std::string_view summary;
};
const std::vector<KnownVulnerability>& VulnerabilityTable();
std::vector<KnownVulnerability> VulnerabilitiesFor(const Software& software);
Severity SeverityForCvss(double cvss);
// -1, 0, 1 comparing dotted numeric versions ("3.6.7" < "3.6.10").
int CompareVersions(std::string_view a, std::string_view b);

}  // namespace bastion::scan
