// Automatic logoff on every page of ours and in the viewer: the server ends a
// session after [web] session_idle_seconds without requests; this script
// notices the end and brings the browser back to the login page (which says
// why, and returns here afterwards) instead of leaving a page that only
// fails. Activity (keys, pointer) keeps the session alive with at most one
// light request a minute; no activity lets it lapse, as HIPAA's automatic
// logoff intends.
"use strict";
(function () {
  let idleMs = 900 * 1000;
  let lastActivity = Date.now();
  let lastPing = Date.now();
  function toLogin() {
    const here = window.location.pathname + window.location.search;
    window.location.assign("/login?expired=1&next=" + encodeURIComponent(here));
  }
  async function ping() {
    lastPing = Date.now();
    try {
      const r = await fetch("/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.status === 401) { toLogin(); return; }
      if (r.ok) {
        const s = await r.json();
        if (s.idle_timeout_seconds) idleMs = s.idle_timeout_seconds * 1000;
      }
    } catch (e) { /* offline for a moment: try again later */ }
  }
  for (const ev of ["keydown", "pointerdown", "pointermove", "wheel", "touchstart"])
    window.addEventListener(ev, () => { lastActivity = Date.now(); }, { passive: true, capture: true });
  // Checks a few times per idle period; an active person's session is
  // refreshed well before the server's idle timeout could end it.
  function check() {
    const now = Date.now();
    if (now - lastActivity >= idleMs) { toLogin(); return; }
    if (lastActivity > lastPing && now - lastPing >= Math.min(60 * 1000, idleMs / 3)) ping();
    window.setTimeout(check, Math.max(1000, Math.min(15 * 1000, idleMs / 6)));
  }
  ping().then(check);
  window.bastionSessionExpired = toLogin;
})();
