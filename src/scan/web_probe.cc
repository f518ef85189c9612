// The web checks W1-W7: REST, DICOMweb, default credentials, viewers, admin
// routes and hardening, over libcurl. Answers are parsed for counts only;
// bodies are never reported.
//
// libcurl is loaded when the first web check runs, not linked into the
// binary: `bastion serve` never makes an HTTP request, and linking it mapped
// libcurl and 18 libraries only it needs (LDAP, SASL, SSH, RTMP, HTTP/2,
// GnuTLS...) into the archive's process: 3.9 MB of its resident memory, and
// code a server of patient data has no use for.
#include <curl/curl.h>
#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "scan/knowledge.h"
#include "scan/probe.h"
#include "util/net.h"
#include "util/text.h"

namespace bastion::scan {

namespace {

constexpr std::size_t kMaxBody = 1 << 20;

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* user) {
  auto* a = static_cast<HttpAnswer*>(user);
  std::size_t len = size * n;
  if (a->body.size() < kMaxBody) a->body.append(data, std::min(len, kMaxBody - a->body.size()));
  return len;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* user) {
  auto* a = static_cast<HttpAnswer*>(user);
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    std::string value(Trim(line.substr(colon + 1)));
    auto& slot = a->headers[name];
    slot += (slot.empty() ? "" : "\n") + value;
  } else if (line.rfind("HTTP/", 0) == 0) {
    a->headers.clear();  // a new response (e.g. after 100 Continue)
  }
  return size * n;
}

// The part of libcurl's API the checks use, typed from its header.
struct CurlApi {
  decltype(&curl_global_init) global_init = nullptr;
  decltype(&curl_easy_init) easy_init = nullptr;
  decltype(&curl_easy_setopt) easy_setopt = nullptr;
  decltype(&curl_easy_perform) easy_perform = nullptr;
  decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&curl_easy_strerror) easy_strerror = nullptr;
  decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&curl_slist_append) slist_append = nullptr;
  decltype(&curl_slist_free_all) slist_free_all = nullptr;
};

// Loads libcurl once (and keeps it loaded); nullptr and `error` when it cannot.
const CurlApi* Curl(std::string& error) {
  static CurlApi api;
  static std::string load_error;
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* why = ::dlerror();
      load_error = std::string("libcurl could not be loaded (") + (why ? why : "unknown") +
                   "); install Debian's libcurl4 package for the web checks";
      return;
    }
    bool all = true;
    auto bind = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
      if (!fn) all = false;
    };
    bind(api.global_init, "curl_global_init");
    bind(api.easy_init, "curl_easy_init");
    bind(api.easy_setopt, "curl_easy_setopt");
    bind(api.easy_perform, "curl_easy_perform");
    bind(api.easy_getinfo, "curl_easy_getinfo");
    bind(api.easy_strerror, "curl_easy_strerror");
    bind(api.easy_cleanup, "curl_easy_cleanup");
    bind(api.slist_append, "curl_slist_append");
    bind(api.slist_free_all, "curl_slist_free_all");
    if (!all) {
      load_error = "libcurl.so.4 lacks functions the web checks need; install Debian's libcurl4 package";
      return;
    }
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) load_error = "libcurl failed to initialise";
  });
  if (!load_error.empty()) {
    error = load_error;
    return nullptr;
  }
  return &api;
}

HttpAnswer Perform(const Options& options, Pacer& pacer, const std::string& url,
                   const std::string* post, const std::string& content_type,
                   const std::string& user, const std::string& password, const char* accept) {
  HttpAnswer a;
  const CurlApi* curl = Curl(a.error);
  if (!curl) return a;
  CURL* c = curl->easy_init();
  if (!c) {
    a.error = "curl_easy_init failed";
    return a;
  }
  curl_slist* headers = nullptr;
  if (accept) headers = curl->slist_append(headers, (std::string("Accept: ") + accept).c_str());
  if (post) headers = curl->slist_append(headers, ("Content-Type: " + content_type).c_str());
  curl->easy_setopt(c, CURLOPT_URL, url.c_str());
  curl->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options.connect_timeout_seconds));
  curl->easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(options.acse_timeout_seconds));
  curl->easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);  // the certificate is judged by W7, not here
  curl->easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  curl->easy_setopt(c, CURLOPT_USERAGENT, "bastion-scan/0.1 (PACS exposure check)");
  curl->easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl->easy_setopt(c, CURLOPT_WRITEDATA, &a);
  curl->easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl->easy_setopt(c, CURLOPT_HEADERDATA, &a);
  curl->easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  if (headers) curl->easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (!user.empty()) {
    curl->easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl->easy_setopt(c, CURLOPT_USERNAME, user.c_str());
    curl->easy_setopt(c, CURLOPT_PASSWORD, password.c_str());
  }
  if (post) {
    curl->easy_setopt(c, CURLOPT_POST, 1L);
    curl->easy_setopt(c, CURLOPT_POSTFIELDS, post->data());
    curl->easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(post->size()));
  }
  pacer.Wait();
  CURLcode rc = curl->easy_perform(c);
  if (rc == CURLE_OK)
    curl->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
  else
    a.error = curl->easy_strerror(rc);
  curl->slist_free_all(headers);
  curl->easy_cleanup(c);
  return a;
}

using nlohmann::json;

// Items in a JSON array answer (Orthanc lists, QIDO), or -1 when it is not one.
long JsonCount(const HttpAnswer& a) {
  if (a.status != 200) return -1;
  json j = json::parse(a.body, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return -1;
  return static_cast<long>(j.size());
}

std::string Status(const HttpAnswer& a) {
  if (a.status == 0) return "no answer (" + a.error + ")";
  return "HTTP " + std::to_string(a.status);
}

struct Base {
  std::string scheme, host, port, root;  // root: the URL without a trailing slash
};

Base ParseUrl(const std::string& url) {
  Base b;
  std::string u = url;
  while (!u.empty() && u.back() == '/') u.pop_back();
  b.root = u;
  auto scheme_end = u.find("://");
  b.scheme = scheme_end == std::string::npos               ? "http"
             : ToUpper(u.substr(0, scheme_end)) == "HTTPS" ? "https"
                                                           : "http";
  std::string rest = scheme_end == std::string::npos ? u : u.substr(scheme_end + 3);
  std::string authority = rest.substr(0, rest.find('/'));
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    b.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      b.port = authority.substr(close + 2);
  } else {
    auto colon = authority.find(':');
    b.host = authority.substr(0, colon);
    if (colon != std::string::npos) b.port = authority.substr(colon + 1);
  }
  if (b.port.empty()) b.port = b.scheme == "https" ? "443" : "80";
  return b;
}

}  // namespace

HttpAnswer HttpClient::Get(const std::string& url, const std::string& user,
                           const std::string& password) {
  return Perform(options, pacer, url, nullptr, "", user, password,
                 "application/json, application/dicom+json;q=0.9, */*;q=0.5");
}

HttpAnswer HttpClient::Post(const std::string& url, const std::string& content_type,
                            const std::string& body, const std::string& user,
                            const std::string& password) {
  return Perform(options, pacer, url, &body, content_type, user, password,
                 "application/json, */*;q=0.5");
}

void ScanWeb(const Options& options, Pacer& pacer, const std::string& url, Report& report) {
  HttpClient http(options, pacer);
  Base b = ParseUrl(url);
  const std::string& root = b.root;
  const bool https = b.scheme == "https";
  const bool loopback = IsLoopbackAddress(b.host) || b.host == "localhost";
  Service svc;
  svc.endpoint = root;
  svc.protocol = b.scheme;

  HttpAnswer home = http.Get(root + "/");
  if (home.status == 0) {
    svc.protocol = "closed";
    svc.details["answer"] = Status(home);
    report.services.push_back(svc);
    return;
  }
  HttpAnswer system = http.Get(root + "/system");
  std::string orthanc_version;
  if (system.status == 200) {
    json j = json::parse(system.body, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("Version") && j["Version"].is_string())
      orthanc_version = j["Version"].get<std::string>();
  }
  Software sw =
      RecogniseHttp(home.headers.count("server") ? home.headers["server"] : "", orthanc_version);
  svc.software = sw;
  bool auth_required = false;
  bool basic_auth_offered = false;
  for (const auto* a : {&home, &system})
    if (a->status == 401) {
      auth_required = true;
      if (a->headers.count("www-authenticate") &&
          ToUpper(a->headers.at("www-authenticate")).find("BASIC") == 0)
        basic_auth_offered = true;
    }

  bool phi_over_http = false;
  std::vector<std::string> open_data;

  // W2: REST.
  HttpAnswer patients = http.Get(root + "/patients");
  long npatients = JsonCount(patients);
  bool system_json = false;
  {
    json j = json::parse(system.body, nullptr, false);
    system_json = system.status == 200 && !j.is_discarded() && j.is_object();
  }
  // Product-specific POSTs only where the answers so far look like Orthanc
  // (its /system, its /patients list, or its login realm): polite, and no
  // false alarms from servers that answer every path with a page.
  auto realm = [](const HttpAnswer& a) {
    return a.headers.count("www-authenticate") &&
           a.headers.at("www-authenticate").find("Orthanc") != std::string::npos;
  };
  const bool orthanc_like =
      sw.product == "Orthanc" || npatients >= 0 || realm(system) || realm(patients);
  HttpAnswer find;
  if (orthanc_like)
    find = http.Post(root + "/tools/find", "application/json",
                     R"({"Level":"Patient","Query":{"PatientName":"*"},"Limit":1000})");
  long nfind = JsonCount(find);
  HttpAnswer aets = http.Get(root + "/dcm4chee-arc/aets");
  long naets = JsonCount(aets);
  if (patients.status == 401 || find.status == 401) auth_required = true;
  {
    std::string sent = "GET " + root +
                       "/system, GET /patients, POST /tools/find {Level: Patient, PatientName: *}, "
                       "GET /dcm4chee-arc/aets; no credentials";
    std::string received =
        "/system " + Status(system) + (system.status == 200 && !system_json ? " (not JSON)" : "") +
        ", /patients " + Status(patients) +
        (npatients >= 0 ? " (" + std::to_string(npatients) + " patients)" : "") +
        (orthanc_like ? ", /tools/find " + Status(find) : ", /tools/find not tried (not Orthanc)") +
        (nfind >= 0 ? " (" + std::to_string(nfind) + " answers)" : "") + ", /dcm4chee-arc/aets " +
        Status(aets) + (naets >= 0 ? " (" + std::to_string(naets) + " AEs)" : "") +
        ". Values were neither kept nor printed.";
    if (npatients > 0 || nfind > 0) {
      phi_over_http = !https;
      open_data.push_back("REST");
      report.findings.push_back(MakeFinding("W2", Severity::kCritical, root,
                                            "the REST API lists " +
                                                std::to_string(std::max(npatients, nfind)) +
                                                " patients without login",
                                            sent, received, sw));
    } else if (npatients == 0 || nfind == 0 || system_json || naets > 0) {
      report.findings.push_back(
          MakeFinding("W2", naets > 0 ? Severity::kHigh : Severity::kMedium, root,
                      naets > 0 ? "the archive's REST API answers without login"
                                : "the REST API answers without login (no patients listed: an "
                                  "empty archive?)",
                      sent, received, sw));
    } else {
      report.findings.push_back(MakeFinding("W2", Severity::kInfo, root,
                                            "REST routes require a login or are absent", sent,
                                            received, sw));
    }
  }

  // W3: DICOMweb (QIDO, WADO-RS; STOW only with --allow-write).
  std::vector<std::string> bases = {root + "/dicom-web", root};
  if (aets.status == 200) {
    json j = json::parse(aets.body, nullptr, false);
    if (!j.is_discarded() && j.is_array() && !j.empty() && j[0].is_object() &&
        j[0].contains("dicomAETitle") && j[0]["dicomAETitle"].is_string())
      bases.insert(bases.begin(),
                   root + "/dcm4chee-arc/aets/" + j[0]["dicomAETitle"].get<std::string>() + "/rs");
  }
  std::string qido_base;
  std::string qido_refused;  // the first base that asked for a login
  for (const auto& base : bases) {
    HttpAnswer q = http.Get(base + "/studies?limit=1");
    if (q.status == 401) {
      auth_required = true;
      if (qido_refused.empty()) qido_refused = base;
    }
    long n = JsonCount(q);
    if (n < 0) continue;
    qido_base = base;
    std::string sent = "GET " + base + "/studies?limit=1 (QIDO-RS), no credentials";
    std::string received = Status(q) + ", " + std::to_string(n) + " studies";
    // WADO-RS: the study's metadata, counted (the UID stays in memory).
    std::string uid;
    json j = json::parse(q.body, nullptr, false);
    if (n > 0 && j[0].is_object() && j[0].contains("0020000D")) {
      const auto& v = j[0]["0020000D"];
      if (v.contains("Value") && v["Value"].is_array() && !v["Value"].empty() &&
          v["Value"][0].is_string())
        uid = v["Value"][0].get<std::string>();
    }
    if (!options.canary_study.empty()) uid = options.canary_study;
    if (!uid.empty()) {
      HttpAnswer w = http.Get(base + "/studies/" + uid + "/metadata");
      long instances = JsonCount(w);
      sent += "; GET " + base + "/studies/{" +
              (options.canary_study.empty() ? "that study" : "canary") + "}/metadata (WADO-RS)";
      received +=
          "; WADO-RS " + Status(w) +
          (instances >= 0 ? ", metadata of " + std::to_string(instances) + " instances" : "");
    }
    received += ". Values were neither kept nor printed.";
    if (n > 0) {
      phi_over_http |= !https;
      open_data.push_back("DICOMweb");
    }
    report.findings.push_back(
        MakeFinding("W3", n > 0 ? Severity::kCritical : Severity::kMedium, root,
                    n > 0 ? "DICOMweb search (QIDO-RS) returns studies without login"
                          : "DICOMweb answers without login (no studies returned)",
                    sent, received, sw));
    break;
  }
  if (qido_base.empty() && !qido_refused.empty())
    report.findings.push_back(MakeFinding(
        "W3", Severity::kInfo, root, "DICOMweb (QIDO-RS) requires a login",
        "GET " + qido_refused + "/studies?limit=1 (QIDO-RS), no credentials", "HTTP 401", sw));
  if (!qido_base.empty() && options.allow_write) {
    std::string part10 = SyntheticInstancePart10();
    std::string boundary = "bastion-scan-boundary-7f3a";
    std::string body = "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n" + part10 +
                       "\r\n--" + boundary + "--\r\n";
    HttpAnswer s =
        http.Post(qido_base + "/studies",
                  "multipart/related; type=\"application/dicom\"; boundary=" + boundary, body);
    bool stored = s.status == 200 || s.status == 202;
    report.findings.push_back(MakeFinding("W3", stored ? Severity::kHigh : Severity::kInfo, root,
                                          stored
                                              ? "DICOMweb STOW-RS stored an instance without login"
                                              : "DICOMweb STOW-RS was refused",
                                          "POST " + qido_base +
                                              "/studies (STOW-RS) of the synthetic instance "
                                              "(patient BASTION^SCAN^SYNTHETIC), no credentials",
                                          Status(s), sw));
  }

  // W4: default credentials, only where a login is asked for.
  std::string good_user, good_password;
  if (auth_required) {
    for (const auto& [u, p] : std::vector<std::pair<std::string, std::string>>{
             {"orthanc", "orthanc"}, {"admin", "admin"}}) {
      HttpAnswer a = http.Get(root + "/system", u, p);
      HttpAnswer a2 = a.status == 200 ? a : http.Get(root + "/patients", u, p);
      if (a.status == 200 || a2.status == 200) {
        good_user = u;
        good_password = p;
        HttpAnswer pts = http.Get(root + "/patients", u, p);
        long n = JsonCount(pts);
        if (sw.product.empty() && a.status == 200) {
          json j = json::parse(a.body, nullptr, false);
          if (!j.is_discarded() && j.is_object() && j.contains("Version") &&
              j["Version"].is_string())
            sw = RecogniseHttp("", j["Version"].get<std::string>());
          svc.software = sw;
        }
        if (n > 0) phi_over_http |= !https;
        report.findings.push_back(MakeFinding(
            "W4", Severity::kCritical, root, "default credentials " + u + "/" + p + " accepted",
            "GET " + root + "/system and /patients with HTTP Basic " + u + ":" + p,
            "/system " + Status(a) + ", /patients " + Status(pts) +
                (n >= 0 ? " (" + std::to_string(n) + " patients; values neither kept nor printed)"
                        : ""),
            sw));
        break;
      }
    }
    if (good_user.empty())
      report.findings.push_back(MakeFinding(
          "W4", Severity::kInfo, root, "default credentials refused",
          "GET " + root + "/system with HTTP Basic orthanc:orthanc and admin:admin", "no 200", sw));
  }

  // W5: viewers.
  {
    struct Viewer {
      const char* path;
      const char* name;
      const char* marker;
    };
    const Viewer viewers[] = {{"/app/explorer.html", "Orthanc Explorer", "orthanc"},
                              {"/ui/app/", "Orthanc Explorer 2", "orthanc"},
                              {"/stone-webviewer/index.html", "Stone Web Viewer", "stone"},
                              {"/ohif/", "OHIF Viewer", "ohif"},
                              {"/pacs/login.php", "MedDream", "meddream"}};
    for (const auto& v : viewers) {
      HttpAnswer a = http.Get(root + v.path);
      if (a.status != 200) continue;
      std::string lower = a.body;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (lower.find(v.marker) == std::string::npos) continue;
      bool shows = !open_data.empty() && std::string(v.name) != "MedDream";
      report.findings.push_back(MakeFinding(
          "W5", shows ? Severity::kCritical : Severity::kInfo, root,
          shows
              ? std::string(v.name) + " is served without login, and the data it reads (" +
                    std::string(open_data.front()) + ") is open too: studies are visible to anyone"
              : std::string(v.name) + " is served (its data requires a login)",
          "GET " + root + v.path + ", no credentials", Status(a) + ", the viewer's page", sw));
    }
  }

  // W6: script execution. The script is a Lua comment: it runs nothing.
  if (orthanc_like || !good_user.empty()) {
    const std::string script = "-- bastion scan: reachability probe, a comment that runs nothing";
    HttpAnswer a = http.Post(root + "/tools/execute-script", "text/plain", script);
    std::string how = "no credentials";
    if (a.status == 401 && !good_user.empty()) {
      a = http.Post(root + "/tools/execute-script", "text/plain", script, good_user, good_password);
      how = "the default credentials " + good_user + "/" + good_password;
    }
    if (a.status == 200)
      report.findings.push_back(MakeFinding(
          "W6", Severity::kCritical, root,
          "/tools/execute-script runs Lua sent by anyone with " + how,
          "POST " + root + "/tools/execute-script with a Lua comment, " + how, Status(a), sw));
    else if (a.status != 404 && a.status != 0)
      report.findings.push_back(MakeFinding(
          "W6", Severity::kInfo, root, "/tools/execute-script is not open",
          "POST " + root + "/tools/execute-script with a Lua comment, " + how, Status(a), sw));
  }

  // W1: what crosses the network in clear text.
  if (!https) {
    std::string what = phi_over_http ? "PHI is served over plain HTTP"
                       : basic_auth_offered
                           ? "HTTP Basic login over plain HTTP (passwords in clear text)"
                           : "the web front end answers over plain HTTP";
    Severity sev = (phi_over_http || basic_auth_offered)
                       ? (loopback ? Severity::kLow : Severity::kHigh)
                       : Severity::kInfo;
    if (loopback && sev == Severity::kLow)
      what += " (loopback target: the traffic stays on this host)";
    report.findings.push_back(
        MakeFinding("W1", sev, root, what, "GET " + root + "/", Status(home), sw));
  } else {
    // W7: TLS and headers.
    auto port = static_cast<std::uint16_t>(std::stoi(b.port));
    std::string address = b.host;
    if (!IpAddress::Parse(address)) {
      auto hosts = ExpandTargets({b.host}, 1);
      if (hosts.ok()) address = (*hosts)[0].address;
    }
    TlsOutcome t = ProbeTls(address, port, b.host, options, pacer);
    TlsFindings("W7", root, t, sw, false, !options.ca_file.empty(), report, svc);
    if (!home.headers.count("strict-transport-security")) {
      report.findings.push_back(
          MakeFinding("W7", Severity::kMedium, root, "no Strict-Transport-Security header",
                      "GET " + root + "/", Status(home) + " without HSTS", sw));
    } else {
      // max-age=0 tells browsers to forget HSTS; a short one lapses between visits.
      const std::string& hsts = home.headers.at("strict-transport-security");
      std::int64_t max_age = HstsMaxAge(hsts);
      std::string received = Status(home) + ", Strict-Transport-Security: " + Printable(hsts);
      if (max_age <= 0)
        report.findings.push_back(MakeFinding(
            "W7", Severity::kMedium, root,
            max_age == 0 ? "Strict-Transport-Security with max-age=0 (HSTS switched off)"
                         : "Strict-Transport-Security without a valid max-age",
            "GET " + root + "/", received, sw));
      else if (max_age < kMinHstsMaxAgeSeconds)
        report.findings.push_back(MakeFinding("W7", Severity::kLow, root,
                                              "Strict-Transport-Security max-age " +
                                                  std::to_string(max_age / 86400) +
                                                  " days (less than 180)",
                                              "GET " + root + "/", received, sw));
    }
  }
  for (const auto* a : {&home, &system, &patients}) {
    if (!a->headers.count("set-cookie")) continue;
    for (const auto& cookie : Split(a->headers.at("set-cookie"), '\n')) {
      std::string upper = ToUpper(cookie);
      std::string name = cookie.substr(0, cookie.find('='));
      std::vector<std::string> missing;
      if (https && upper.find("SECURE") == std::string::npos) missing.push_back("Secure");
      if (upper.find("HTTPONLY") == std::string::npos) missing.push_back("HttpOnly");
      if (!missing.empty())
        report.findings.push_back(
            MakeFinding("W7", Severity::kMedium, root,
                        "cookie " + Printable(name) + " without " + missing[0] +
                            (missing.size() > 1 ? " and " + missing[1] : ""),
                        "GET " + root, "Set-Cookie " + Printable(name) + "=...", sw));
    }
  }
  if (sw.known()) {
    auto vulns = VulnerabilitiesFor(sw);
    Finding f = MakeFinding("D14", Severity::kInfo, root, "software: " + sw.ToString(),
                            "HTTP requests above", sw.evidence, sw);
    if (!vulns.empty()) {
      double worst = 0;
      std::string list;
      for (const auto& v : vulns) {
        worst = std::max(worst, v.cvss);
        f.cves.push_back(std::string(v.cve));
        list += (list.empty() ? "" : "; ") + std::string(v.cve) + " (fixed in " +
                std::string(v.fixed_in) + "): " + std::string(v.summary);
      }
      f.severity = SeverityForCvss(worst);
      f.title =
          sw.ToString() + " is in the affected range of " + std::to_string(vulns.size()) +
          " published vulnerabilities (by version; a backported fix does not change the version)";
      f.received = sw.evidence + ". " + list;
    }
    report.findings.push_back(std::move(f));
  }
  report.services.push_back(svc);
}

}  // namespace bastion::scan
