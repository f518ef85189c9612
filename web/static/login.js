// The login form: posts JSON to /api/login (a cross-site form cannot send
// JSON without a CORS preflight, which Bastion does not grant), then goes to
// the page the user came for, if it is one of ours. For an account with a
// second factor the server answers the password with "totp_required"; the
// one-time code field then appears and the next submit sends both.
"use strict";
(function () {
  const form = document.getElementById("login");
  const message = document.getElementById("message");
  const codeField = document.getElementById("code-field");
  const code = document.getElementById("code");
  const params = new URLSearchParams(window.location.search);
  if (params.get("expired")) show("Your session ended. Please sign in again.");
  function show(text) {
    message.textContent = text;
    message.hidden = false;
  }
  // Only a path on this server: never an open redirect ("//host", "/\\host"
  // and "https:..." all resolve elsewhere and are refused).
  function localPath(next) {
    if (!next || !next.startsWith("/")) return "/";
    try {
      const url = new URL(next, window.location.origin);
      return url.origin === window.location.origin ? url.pathname + url.search + url.hash : "/";
    } catch (e) {
      return "/";
    }
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.hidden = true;
    const fields = {
      user: document.getElementById("user").value,
      password: document.getElementById("password").value,
    };
    if (!codeField.hidden) fields.code = code.value.trim();
    const body = JSON.stringify(fields);
    let response;
    try {
      response = await fetch("/api/login", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body,
        credentials: "same-origin",
      });
    } catch (e) {
      show("The server cannot be reached.");
      return;
    }
    if (response.ok) {
      const next = params.get("next");
      // Only a local path: never an open redirect.
      window.location.assign(localPath(next));
      return;
    }
    let detail = "Sign-in failed.";
    try {
      const problem = await response.json();
      if (problem.detail) detail = problem.detail;
      if (problem.totp_required === true) {
        codeField.hidden = false;
        code.required = true;
        code.focus();
      }
    } catch (e) { /* not JSON */ }
    code.value = "";  // a code works once: never resend it
    show(detail);
  });
})();
