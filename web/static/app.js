// Bastion's web UI: the study list for readers, and the admin and auditor
// pages. No framework and no build step: the server compiles this file into
// its binary. Data comes from DICOMweb (QIDO-RS) and /api/*, with the
// session cookie; every change sends the session's CSRF token. Text from the
// server is only ever set as textContent, never parsed as HTML.
"use strict";
(function () {
  const main = document.getElementById("main");
  const banner = document.getElementById("banner");
  let session = null;

  // --- Small helpers ---------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v === true) node.setAttribute(k, "");
      else node.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  // Replaces a node's children; absent ones (null, false) are skipped, never shown as text.
  function put(node, ...children) {
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  }

  function show(message, kind) {
    banner.textContent = message;
    banner.className = kind || "error";
    banner.hidden = false;
    window.scrollTo(0, 0);
  }
  function clearBanner() { banner.hidden = true; }

  class HttpError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  // fetch() with the session; a lapsed session goes to the login page.
  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["X-CSRF-Token"] = session ? session.csrf_token : "";
      if (body !== undefined) headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(url, {
        method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new HttpError(0, "The server cannot be reached. Check the network and try again.");
    }
    if (response.status === 401) {
      window.bastionSessionExpired();
      throw new HttpError(401, "Your session has ended.");
    }
    if (response.status === 204) return null;
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) data = await response.json();
    if (!response.ok) {
      let detail = (data && data.detail) || response.statusText;
      if (response.status === 403) detail = "Your role does not allow this. " + (data && data.detail ? "(" + data.detail + ")" : "");
      throw new HttpError(response.status, detail);
    }
    return data;
  }

  function failed(e) { show(e.message || String(e)); }

  function may(permission) { return session && session.permissions.includes(permission); }

  // DICOM JSON attribute value helpers.
  function value(obj, tag) {
    const a = obj[tag];
    if (!a || !a.Value || !a.Value.length) return "";
    const v = a.Value[0];
    if (a.vr === "PN") return (v && v.Alphabetic) || "";
    return v;
  }
  function values(obj, tag) {
    const a = obj[tag];
    return a && a.Value ? a.Value.join(", ") : "";
  }
  function dicomDate(d) {
    return d && d.length === 8 ? d.slice(0, 4) + "-" + d.slice(4, 6) + "-" + d.slice(6, 8) : d || "";
  }
  function personName(pn) { return String(pn || "").replace(/\^+/g, ", ").replace(/, $/, ""); }
  function when(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : ""; }

  function page(title, ...content) {
    document.title = title + " — Bastion";
    put(main, el("h1", {}, title), ...content);
  }

  function formData(form) {
    const out = {};
    for (const [k, v] of new FormData(form).entries()) out[k] = typeof v === "string" ? v.trim() : v;
    return out;
  }

  // A secret shown once (generated password, API token), with a copy button.
  function secretBox(label, secret, note) {
    const code = el("code", { class: "secret" }, secret);
    return el("div", { class: "once", role: "status" },
      el("p", {}, el("strong", {}, label), " ", note),
      code,
      el("button", { type: "button", class: "small", onclick: async () => {
        try { await navigator.clipboard.writeText(secret); } catch (e) { /* not allowed: select it instead */ }
        const range = document.createRange(); range.selectNodeContents(code);
        const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      } }, "Copy"));
  }

  // --- Studies ---------------------------------------------------------------

  const PAGE_SIZE = 25;
  const MODALITIES = ["", "CT", "MR", "CR", "DX", "MG", "US", "NM", "PT", "XA", "RF", "OT", "SC", "SR"];

  function studiesPage() {
    const params = new URLSearchParams(window.location.search);
    const form = el("form", { class: "search", id: "search" },
      field("Patient name", el("input", { name: "name", value: params.get("name") || "", placeholder: "e.g. SMITH or SMI*", maxlength: 64 })),
      field("Patient ID", el("input", { name: "id", value: params.get("id") || "", maxlength: 64 })),
      field("Accession", el("input", { name: "accession", value: params.get("accession") || "", maxlength: 16 })),
      field("Study date from", el("input", { name: "from", type: "date", value: params.get("from") || "" })),
      field("to", el("input", { name: "to", type: "date", value: params.get("to") || "" })),
      field("Modality", el("select", { name: "modality" },
        MODALITIES.map((m) => el("option", { value: m, selected: (params.get("modality") || "") === m }, m || "any")))),
      el("div", { class: "actions" },
        el("button", { type: "submit" }, "Search"),
        el("button", { type: "button", class: "secondary", onclick: () => { history.pushState(null, "", "/studies"); route(); } }, "Clear")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(formData(form))) if (v) q.set(k, v);
      history.pushState(null, "", "/studies" + (q.toString() ? "?" + q : ""));
      route();
    });
    const results = el("div", { id: "results" }, el("p", { class: "muted" }, "Searching…"));
    page("Studies", form, results);
    searchStudies(params, results);
  }

  function field(label, input) {
    const id = "f-" + input.name;
    input.id = id;
    return el("div", { class: "field" }, el("label", { for: id }, label), input);
  }

  async function searchStudies(params, results) {
    const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
    const q = new URLSearchParams();
    const name = params.get("name");
    if (name) q.set("PatientName", /[*?]/.test(name) ? name : name + "*");
    if (params.get("id")) q.set("PatientID", params.get("id"));
    if (params.get("accession")) q.set("AccessionNumber", params.get("accession"));
    const from = (params.get("from") || "").replaceAll("-", "");
    const to = (params.get("to") || "").replaceAll("-", "");
    if (from || to) q.set("StudyDate", from === to ? from : from + "-" + to);
    if (params.get("modality")) q.set("ModalitiesInStudy", params.get("modality"));
    q.set("limit", String(PAGE_SIZE + 1));
    q.set("offset", String(offset));
    q.set("includefield", "StudyDescription,NumberOfStudyRelatedSeries,NumberOfStudyRelatedInstances,ModalitiesInStudy,PatientBirthDate");
    let studies;
    try {
      const r = await fetch("/dicom-web/studies?" + q, { credentials: "same-origin", headers: { Accept: "application/dicom+json" } });
      if (r.status === 401) { window.bastionSessionExpired(); return; }
      if (r.status === 204) studies = [];
      else if (!r.ok) {
        let detail = r.statusText;
        try { detail = (await r.json()).detail || detail; } catch (e) { /* not JSON */ }
        if (r.status === 403) detail = "Your role does not allow searching studies.";
        put(results, el("p", { class: "error" }, detail));
        return;
      } else studies = await r.json();
    } catch (e) {
      put(results, el("p", { class: "error" }, "The server cannot be reached."));
      return;
    }
    const more = studies.length > PAGE_SIZE;
    studies = studies.slice(0, PAGE_SIZE);
    if (!studies.length) {
      put(results, el("p", { class: "muted" }, offset ? "No more studies." : "No study matches."));
      return;
    }
    const rows = studies.map((s) => {
      const uid = value(s, "0020000D");
      const open = "/viewer/viewer?StudyInstanceUIDs=" + encodeURIComponent(uid);
      return el("tr", {},
        el("td", {}, may("view") ? el("a", { href: open, class: "open" }, personName(value(s, "00100010")) || "(no name)") : personName(value(s, "00100010"))),
        el("td", {}, value(s, "00100020")),
        el("td", {}, dicomDate(value(s, "00100030"))),
        el("td", {}, dicomDate(value(s, "00080020"))),
        el("td", {}, values(s, "00080061")),
        el("td", {}, value(s, "00081030")),
        el("td", {}, value(s, "00080050")),
        el("td", { class: "num" }, value(s, "00201206") + " / " + value(s, "00201208")),
        el("td", {}, may("view") ? el("a", { href: open, class: "button small" }, "Open") : ""));
    });
    const pager = el("div", { class: "pager" },
      el("span", { class: "muted" }, `Studies ${offset + 1}–${offset + studies.length}`),
      offset > 0 ? el("button", { type: "button", class: "secondary small", onclick: () => go(offset - PAGE_SIZE) }, "Previous") : null,
      more ? el("button", { type: "button", class: "secondary small", onclick: () => go(offset + PAGE_SIZE) }, "Next") : null);
    put(results, 
      el("table", { class: "list", id: "studies" },
        el("thead", {}, el("tr", {}, ["Patient", "Patient ID", "Born", "Study date", "Modalities", "Description", "Accession", "Series / images", ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows)),
      pager);
    function go(newOffset) {
      const p = new URLSearchParams(window.location.search);
      if (newOffset > 0) p.set("offset", String(newOffset)); else p.delete("offset");
      history.pushState(null, "", "/studies?" + p);
      route();
    }
  }

  // --- Users -----------------------------------------------------------------

  const ROLES = ["reader", "uploader", "auditor", "admin"];

  async function usersPage() {
    const list = el("div", {}, el("p", { class: "muted" }, "Loading…"));
    const notice = el("div");
    const form = el("form", { class: "inline", id: "add-user" },
      field("User name", el("input", { name: "name", required: true, maxlength: 64, autocomplete: "off" })),
      field("Role", el("select", { name: "role" }, ROLES.map((r) => el("option", { value: r }, r)))),
      field("Password (empty: generate one)", el("input", { name: "password", type: "password", autocomplete: "new-password", maxlength: 256 })),
      el("div", { class: "actions" }, el("button", { type: "submit" }, "Add user")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearBanner();
      const data = formData(form);
      try {
        const r = await api("POST", "/api/users", { name: data.name, role: data.role, password: data.password || undefined });
        form.reset();
        put(notice, r.password
          ? secretBox(`User ${r.name} created.`, r.password, "Its password is shown only now: give it to the person, who should change it.")
          : el("p", { class: "ok" }, `User ${r.name} created.`));
        load();
      } catch (e) { failed(e); }
    });
    page("Users", notice, list, el("h2", {}, "Add a user"), form);
    async function load() {
      try {
        const { users } = await api("GET", "/api/users");
        put(list, el("table", { class: "list", id: "users" },
          el("thead", {}, el("tr", {}, ["Name", "Role", "Status", "Created", "Changed", ""].map((h) => el("th", {}, h)))),
          el("tbody", {}, users.map((u) => userRow(u)))));
      } catch (e) { failed(e); }
    }
    function userRow(u) {
      const role = el("select", { "aria-label": "Role of " + u.name }, ROLES.map((r) => el("option", { value: r, selected: r === u.role }, r)));
      async function act(method, url, body, done) {
        clearBanner();
        try { const r = await api(method, url, body); if (done) done(r); load(); } catch (e) { failed(e); }
      }
      const base = "/api/users/" + encodeURIComponent(u.name);
      return el("tr", { "data-user": u.name },
        el("td", {}, u.name),
        el("td", {}, role, " ", el("button", { type: "button", class: "small secondary", onclick: () => act("POST", base + "/role", { role: role.value }) }, "Set")),
        el("td", {}, u.disabled ? el("span", { class: "bad" }, "disabled") : "enabled"),
        el("td", {}, when(u.created)),
        el("td", {}, when(u.changed)),
        el("td", { class: "row-actions" },
          u.disabled
            ? el("button", { type: "button", class: "small secondary", onclick: () => act("POST", base + "/enable", {}) }, "Enable")
            : el("button", { type: "button", class: "small danger", onclick: () => {
              if (confirm(`Disable ${u.name}? Their sessions and API tokens stop working.`)) act("POST", base + "/disable", {});
            } }, "Disable"),
          el("button", { type: "button", class: "small secondary", onclick: () => {
            if (confirm(`Give ${u.name} a new generated password? The old one stops working.`))
              act("POST", base + "/password", {}, (r) => put(notice, secretBox(`New password for ${u.name}.`, r.password, "Shown only now.")));
          } }, "New password")));
    }
    load();
  }

  // --- API tokens ------------------------------------------------------------

  async function tokensPage() {
    const list = el("div", {}, el("p", { class: "muted" }, "Loading…"));
    const notice = el("div");
    const userSelect = el("select", { name: "user", required: true });
    const form = el("form", { class: "inline", id: "add-token" },
      field("For user", userSelect),
      field("Expires after", el("select", { name: "expires" }, ["1d", "7d", "30d", "90d", "365d"].map((x) => el("option", { value: x, selected: x === "30d" }, x)))),
      field("Note (what it is for)", el("input", { name: "note", maxlength: 200, placeholder: "e.g. nightly export script" })),
      el("div", { class: "actions" }, el("button", { type: "submit" }, "Create token")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearBanner();
      const data = formData(form);
      try {
        const r = await api("POST", "/api/tokens", { user: data.user, expires: data.expires, note: data.note });
        put(notice, secretBox(`API token ${r.id} for ${r.user}, expires ${when(r.expires)}.`, r.token,
          "It is shown only now; send it as \"Authorization: Bearer …\"."));
        load();
      } catch (e) { failed(e); }
    });
    page("API tokens", notice, list, el("h2", {}, "Create a token"), form);
    try {
      const { users } = await api("GET", "/api/users");
      put(userSelect, ...users.filter((u) => !u.disabled).map((u) => el("option", { value: u.name }, `${u.name} (${u.role})`)));
    } catch (e) { failed(e); }
    async function load() {
      try {
        const { tokens } = await api("GET", "/api/tokens");
        put(list, tokens.length ? el("table", { class: "list", id: "tokens" },
          el("thead", {}, el("tr", {}, ["Id", "User", "State", "Created", "Expires", "Note", ""].map((h) => el("th", {}, h)))),
          el("tbody", {}, tokens.map((t) => el("tr", { "data-token": t.id },
            el("td", {}, el("code", {}, t.id)), el("td", {}, t.user),
            el("td", {}, t.state === "active" ? "active" : el("span", { class: "muted" }, t.state)),
            el("td", {}, when(t.created)), el("td", {}, when(t.expires)), el("td", {}, t.note),
            el("td", {}, t.state === "active" ? el("button", { type: "button", class: "small danger", onclick: async () => {
              if (!confirm(`Revoke token ${t.id} of ${t.user}? Scripts using it stop working at once.`)) return;
              clearBanner();
              try { await api("POST", "/api/tokens/" + encodeURIComponent(t.id) + "/revoke", {}); load(); } catch (e) { failed(e); }
            } }, "Revoke") : ""))))) : el("p", { class: "muted" }, "No API tokens."));
      } catch (e) { failed(e); }
    }
    load();
  }

  // --- DICOM nodes -----------------------------------------------------------

  const SERVICES = ["echo", "store", "find", "move", "get", "receive"];

  async function nodesPage() {
    const list = el("div", {}, el("p", { class: "muted" }, "Loading…"));
    const form = el("form", { class: "inline", id: "add-node" },
      field("AE title", el("input", { name: "ae", required: true, maxlength: 16, autocomplete: "off" })),
      field("Addresses (IP or CIDR, comma-separated)", el("input", { name: "hosts", required: true, placeholder: "10.0.0.5, 10.0.1.0/24" })),
      field("Port (for sending to it)", el("input", { name: "port", type: "number", min: 0, max: 65535, value: "" })),
      el("fieldset", { class: "services" }, el("legend", {}, "Allowed services"),
        SERVICES.map((s) => el("label", { class: "check" }, el("input", { type: "checkbox", name: "allow", value: s, checked: s === "echo" }), " " + s))),
      el("fieldset", { class: "services" }, el("legend", {}, "Transport and identity"),
        el("label", { class: "check" }, el("input", { type: "checkbox", name: "tls_only", checked: true }), " TLS only"),
        el("label", { class: "check" }, el("input", { type: "checkbox", name: "require_user_identity" }), " require a person's identity")),
      field("Pinned certificate SHA-256 (optional)", el("input", { name: "tls_cert_sha256", maxlength: 100 })),
      el("div", { class: "actions" }, el("button", { type: "submit" }, "Register node")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearBanner();
      const fd = new FormData(form);
      const body = {
        ae: (fd.get("ae") || "").trim(), hosts: (fd.get("hosts") || "").trim(),
        allow: fd.getAll("allow").join(","), tls_only: fd.get("tls_only") === "on",
        require_user_identity: fd.get("require_user_identity") === "on",
        tls_cert_sha256: (fd.get("tls_cert_sha256") || "").trim(),
      };
      if (fd.get("port")) body.port = parseInt(fd.get("port"), 10);
      try {
        await api("POST", "/api/nodes", body);
        form.reset();
        show(`Node ${body.ae} registered; it takes effect at once.`, "ok");
        load();
      } catch (e) { failed(e); }
    });
    page("DICOM nodes", el("p", { class: "muted" }, "Only registered nodes may associate, from their addresses, for the services allowed here."),
      list, el("h2", {}, "Register a node"), form);
    async function load() {
      try {
        const { nodes } = await api("GET", "/api/nodes");
        put(list, nodes.length ? el("table", { class: "list", id: "nodes" },
          el("thead", {}, el("tr", {}, ["AE title", "Addresses", "Port", "Transport", "Allowed", "Identity", ""].map((h) => el("th", {}, h)))),
          el("tbody", {}, nodes.map((n) => el("tr", { "data-node": n.ae_title },
            el("td", {}, n.ae_title), el("td", {}, n.hosts.join(", ")), el("td", {}, n.port || "–"),
            el("td", {}, n.tls_cert_sha256 ? "TLS, pinned" : n.tls_only ? "TLS" : el("span", { class: "warn" }, "TLS or plain")),
            el("td", {}, n.allow.join(", ")), el("td", {}, n.require_user_identity ? "required" : ""),
            el("td", {}, el("button", { type: "button", class: "small danger", onclick: async () => {
              if (!confirm(`Remove node ${n.ae_title}? Its associations are refused from now on.`)) return;
              clearBanner();
              try { await api("DELETE", "/api/nodes/" + encodeURIComponent(n.ae_title)); load(); } catch (e) { failed(e); }
            } }, "Remove")))))) : el("p", { class: "muted" }, "No node is registered: nobody may associate."));
      } catch (e) { failed(e); }
    }
    load();
  }

  // --- Audit trail -----------------------------------------------------------

  function auditPage() {
    const params = new URLSearchParams(window.location.search);
    const form = el("form", { class: "search", id: "audit-search" },
      field("Type", el("input", { name: "type", value: params.get("type") || "", placeholder: "e.g. login or user." })),
      field("Actor", el("input", { name: "actor", value: params.get("actor") || "", placeholder: "user, AE title or token id" })),
      field("Contains", el("input", { name: "text", value: params.get("text") || "", placeholder: "e.g. a patient ID or study UID" })),
      field("From", el("input", { name: "since", type: "date", value: params.get("since") || "" })),
      field("Until (exclusive)", el("input", { name: "until", type: "date", value: params.get("until") || "" })),
      el("div", { class: "field" }, el("label", { class: "check" },
        el("input", { type: "checkbox", name: "failures", value: "1", checked: params.get("failures") === "1" }), " failures only")),
      el("div", { class: "actions" }, el("button", { type: "submit" }, "Search")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(formData(form))) if (v) q.set(k, v);
      history.pushState(null, "", "/audit" + (q.toString() ? "?" + q : ""));
      route();
    });
    const results = el("div", {}, el("p", { class: "muted" }, "Loading…"));
    page("Audit trail", el("p", { class: "muted" }, "Every security decision and every access to patient data, newest first. Your reading is recorded too."),
      form, results);
    loadAudit(params, results);
  }

  async function loadAudit(params, results) {
    const q = new URLSearchParams();
    for (const k of ["type", "actor", "text", "since", "until", "failures", "before"]) if (params.get(k)) q.set(k, params.get(k));
    q.set("limit", "100");
    try {
      const page = await api("GET", "/api/audit?" + q);
      const rows = page.records.map((r) => el("tr", { class: r.outcome === "failure" ? "failure" : "" },
        el("td", { class: "num" }, r.seq), el("td", {}, when(r.time)), el("td", {}, r.type),
        el("td", {}, r.outcome),
        el("td", {}, [r.actor.kind, r.actor.id].filter(Boolean).join(" "), r.actor.via ? " via " + r.actor.via : ""),
        el("td", {}, r.actor.address || ""),
        el("td", { class: "details" }, JSON.stringify(r.details))));
      const older = page.next_before ? el("button", { type: "button", class: "secondary small", onclick: () => {
        const p = new URLSearchParams(window.location.search); p.set("before", String(page.next_before));
        history.pushState(null, "", "/audit?" + p); route();
      } }, "Older") : null;
      put(results, 
        rows.length ? el("table", { class: "list", id: "audit" },
          el("thead", {}, el("tr", {}, ["#", "Time (UTC)", "Type", "Outcome", "Actor", "Address", "Details"].map((h) => el("th", {}, h)))),
          el("tbody", {}, rows)) : el("p", { class: "muted" }, "No record matches."),
        page.scan_limited ? el("p", { class: "muted" }, "The search stopped after a large part of the log; go on with Older.") : null,
        el("div", { class: "pager" }, older));
    } catch (e) { failed(e); put(results, ); }
  }

  // --- Self-scan -------------------------------------------------------------

  const SEVERITIES = ["critical", "high", "medium", "low", "info"];

  async function selfScanPage() {
    const body = el("div", {}, el("p", { class: "muted" }, "Loading…"));
    page("Self-scan", el("p", { class: "muted" },
      "What `bastion scan --self` found when it last checked this server's configuration from the inside and its listeners from the outside. Run it after every change, or daily from a timer (docs/scan.md)."), body);
    let report;
    try {
      report = await api("GET", "/api/self-scan");
    } catch (e) {
      if (e.status === 404) {
        put(body, el("p", { id: "no-scan" }, "No self-scan has been run yet. On the server, run: ",
          el("code", {}, "bastion scan --self --data DIR")));
        return;
      }
      failed(e);
      return;
    }
    const counts = {};
    for (const f of report.findings) counts[f.severity] = (counts[f.severity] || 0) + 1;
    const worst = SEVERITIES.find((s) => counts[s]) || "info";
    const ageDays = (Date.now() - Date.parse(report.finished)) / 86400000;
    put(body, 
      el("p", { id: "scan-summary" }, "Last run ", el("strong", {}, when(report.finished)),
        ageDays > 7 ? el("span", { class: "warn" }, ` (${Math.floor(ageDays)} days ago: run it again)`) : "",
        ". Worst finding: ", el("span", { class: "sev sev-" + worst }, worst), ". ",
        SEVERITIES.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(", "), "."),
      report.errors && report.errors.length ? el("ul", { class: "error" }, report.errors.map((e) => el("li", {}, e))) : null,
      el("table", { class: "list", id: "findings" },
        el("thead", {}, el("tr", {}, ["Severity", "Check", "Finding", "Target", "How to fix"].map((h) => el("th", {}, h)))),
        el("tbody", {}, report.findings.map((f) => el("tr", { class: "sev-row-" + f.severity },
          el("td", {}, el("span", { class: "sev sev-" + f.severity }, f.severity)),
          el("td", {}, f.id),
          el("td", {}, el("details", {}, el("summary", {}, f.title),
            el("p", {}, f.why), el("p", { class: "muted" }, "Sent: " + f.sent), el("p", { class: "muted" }, "Received: " + f.received),
            f.hipaa ? el("p", { class: "muted" }, f.hipaa) : null)),
          el("td", {}, f.target),
          el("td", {}, f.severity === "info" ? "" : f.fix))))));
  }

  // --- Routing ---------------------------------------------------------------

  const PAGES = {
    "/studies": { needs: "find", render: studiesPage },
    "/admin/users": { needs: "admin", render: usersPage },
    "/admin/tokens": { needs: "admin", render: tokensPage },
    "/admin/nodes": { needs: "admin", render: nodesPage },
    "/audit": { needs: "audit", render: auditPage },
    "/admin/self-scan": { needs: "admin", render: selfScanPage },
  };

  function route() {
    clearBanner();
    const path = window.location.pathname.replace(/\/$/, "");
    const target = PAGES[path];
    for (const a of document.querySelectorAll("#nav a"))
      a.classList.toggle("current", a.getAttribute("href") === path);
    if (!target) { page("Not found", el("p", {}, "There is no such page.")); return; }
    if (!may(target.needs)) {
      page("Not allowed", el("p", {}, "Your role does not allow this page."));
      return;
    }
    target.render();
  }

  document.addEventListener("click", (event) => {
    const a = event.target.closest("a");
    if (!a || a.target || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const url = new URL(a.href, window.location.href);
    if (url.origin === window.location.origin && PAGES[url.pathname]) {
      event.preventDefault();
      history.pushState(null, "", url.pathname + url.search);
      route();
    }
  });
  window.addEventListener("popstate", route);

  document.getElementById("logout").addEventListener("click", async () => {
    try { await api("POST", "/api/logout"); } catch (e) { /* signed out either way */ }
    window.location.assign("/login");
  });

  (async function start() {
    try {
      session = await api("GET", "/api/session");
    } catch (e) {
      if (e.status !== 401) failed(e);
      return;
    }
    document.getElementById("who").textContent = session.user;
    for (const a of document.querySelectorAll("#nav a[data-needs]"))
      a.hidden = !may(a.dataset.needs);
    route();
  })();
})();
