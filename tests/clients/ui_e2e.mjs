// The web UI and the OHIF viewer in a real browser: headless Debian Chromium
// driven by playwright-core, against a running Bastion. Driven by
// tests/integration/test_web_ui.py, which starts the server, fills it, and
// checks what this script reports (one JSON object per line on stdout) against
// the server's own state (CLI, audit log).
//
// Configuration (environment): BASE (https://localhost:PORT), SPKI (base64
// SHA-256 of the server key, so Chromium trusts exactly that certificate),
// READER / READER_PASSWORD, ADMIN / ADMIN_PASSWORD, STUDY_UID, PATIENT_NAME
// (a part of the stored patient's name), SEARCH_NAME (what the reader types), SHOTS (a directory for screenshots),
// IDLE_SECONDS (the server's session idle timeout).
import { chromium } from "playwright-core";

const env = process.env;
const BASE = env.BASE;
const SHOTS = env.SHOTS;
const IDLE = parseInt(env.IDLE_SECONDS || "0", 10);

function report(step, data) {
  process.stdout.write(JSON.stringify({ step, ...data }) + "\n");
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
    `--ignore-certificate-errors-spki-list=${env.SPKI}`,
  ],
});

// Every request a page makes, so the test can prove none left this origin.
function watch(page, log) {
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(BASE) && !url.startsWith("data:") && !url.startsWith("blob:")) log.foreign.push(url);
  });
  page.on("response", (r) => { if (r.status() >= 400) log.errors.push(`${r.status()} ${r.url()}`); });
  page.on("console", (m) => { if (m.type() === "error") log.console.push(m.text().slice(0, 300)); });
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const log = { foreign: [], errors: [], console: [] };
  watch(page, log);
  return { context, page, log };
}

async function login(page, user, password, next) {
  await page.goto(BASE + "/login" + (next ? "?next=" + encodeURIComponent(next) : ""));
  await page.fill("#user", user);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/login"), { timeout: 30000 }), page.click("button[type=submit]")]);
}

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

// How many distinct grey levels the largest canvas shows: a drawn image has
// many, a blank or black viewport one or two.
async function canvasLevels(page) {
  return page.evaluate(() => {
    let best = null;
    for (const c of document.querySelectorAll("canvas"))
      if (!best || c.width * c.height > best.width * best.height) best = c;
    if (!best || best.width < 64 || best.height < 64) return 0;
    const probe = document.createElement("canvas");
    probe.width = 96; probe.height = 96;
    const g = probe.getContext("2d");
    g.drawImage(best, 0, 0, 96, 96);
    const px = g.getImageData(0, 0, 96, 96).data;
    const levels = new Set();
    for (let i = 0; i < px.length; i += 4) levels.add((px[i] + px[i + 1] + px[i + 2]) >> 2);
    return levels.size;
  });
}

async function clickIfThere(page, text) {
  const b = page.getByText(text, { exact: true });
  if (await b.count()) { try { await b.first().click({ timeout: 2000 }); } catch (e) { /* gone already */ } }
}

try {
  // 1. A fresh browser, never logged in: every URL gives the login page or a refusal, never data.
  {
    const { context, page, log } = await newPage();
    const pages = ["/", "/studies", "/admin/users", "/admin/nodes", "/audit", "/viewer/",
      `/viewer/viewer?StudyInstanceUIDs=${env.STUDY_UID}`, "/viewer/app-config.js"];
    for (const path of pages) {
      await page.goto(BASE + path);
      const url = new URL(page.url());
      const html = await page.content();
      report("anonymous-page", { path, landed: url.pathname, next: url.searchParams.get("next"),
        leaks: html.includes(env.STUDY_UID) || html.includes(env.PATIENT_NAME) });
    }
    await shot(page, "login");
    const apis = ["/dicom-web/studies", `/dicom-web/studies/${env.STUDY_UID}/metadata`, "/api/users", "/api/audit",
      "/api/session", `/wado?requestType=WADO&studyUID=${env.STUDY_UID}`];
    for (const path of apis) {
      // From the page, as a script on it would: the browser's own fetch.
      const r = await page.evaluate(async (url) => {
        const res = await fetch(url, { redirect: "manual", credentials: "same-origin" });
        return { status: res.status, body: await res.text() };
      }, BASE + path);
      report("anonymous-api", { path, status: r.status,
        leaks: r.body.includes(env.STUDY_UID) || r.body.includes(env.PATIENT_NAME) });
    }
    report("anonymous-foreign", { foreign: log.foreign });
    await context.close();
  }

  // 2. A reader: search, open the study in OHIF, wait for real pixels.
  const reader = await newPage();
  {
    const { page, log } = reader;
    await page.goto(BASE + "/studies");  // the login page, which brings the reader back here
    await page.fill("#user", env.READER);
    await page.fill("#password", env.READER_PASSWORD);
    await Promise.all([page.waitForURL("**/studies**", { timeout: 30000 }), page.click("button[type=submit]")]);
    const searchStart = Date.now();
    await page.fill("#f-name", env.SEARCH_NAME);
    await page.click("#search button[type=submit]");
    await page.waitForFunction(() => document.querySelectorAll("#studies tbody tr").length === 1, null, { timeout: 30000 });
    const rows = await page.$$eval("#studies tbody tr", (trs) => trs.map((tr) => tr.innerText));
    report("search", { url: page.url(), rows, ms: Date.now() - searchStart });
    await shot(page, "studies");
    // A search that matches nothing says so.
    await page.fill("#f-name", "NOBODY-BY-THIS-NAME");
    await page.click("#search button[type=submit]");
    await page.waitForSelector("#results p", { timeout: 30000 });
    report("search-empty", { text: await page.textContent("#results") });
    await page.goBack();
    await page.waitForSelector("#studies tbody tr a.open", { timeout: 30000 });

    const openStart = Date.now();
    await Promise.all([page.waitForURL("**/viewer/viewer?**", { timeout: 30000 }), page.click("#studies tbody tr a.open")]);
    let levels = 0;
    let firstPixelsMs = null;
    const deadline = Date.now() + 90000;
    for (let i = 0; Date.now() < deadline; ++i) {
      await page.mouse.move(700 + (i % 40), 450);  // someone is looking: the session stays alive
      await clickIfThere(page, "Confirm and hide");
      await clickIfThere(page, "Skip all");
      levels = await canvasLevels(page);
      if (levels >= 16) { firstPixelsMs = Date.now() - openStart; break; }
      await page.waitForTimeout(250);
    }
    await page.waitForTimeout(1000);
    await clickIfThere(page, "Confirm and hide");
    await clickIfThere(page, "Skip all");
    await shot(page, "viewer");
    const csp = (await page.request.get(BASE + "/viewer/")).headers()["content-security-policy"] || "";
    report("viewer", { url: page.url(), levels, first_pixels_ms: firstPixelsMs, foreign: log.foreign, errors: log.errors, console: log.console, csp });
  }

  // 3. An administrator: users, tokens and nodes through the pages, and the audit trail.
  {
    const { context, page, log } = await newPage();
    // A crafted link must not send the browser elsewhere after sign-in ("/\\host" is "//host" to a browser).
    await login(page, env.ADMIN, env.ADMIN_PASSWORD, "/\\evil.example/phish");
    report("admin-landing", { url: page.url() });
    page.on("dialog", (d) => d.accept());

    await page.goto(BASE + "/admin/users");
    await page.waitForSelector("#users tbody tr");
    await page.fill("#f-name", "e2e-nurse");
    await page.selectOption("#f-role", "reader");
    await page.click("#add-user button[type=submit]");
    await page.waitForSelector("code.secret");
    const generated = await page.textContent("code.secret");
    await page.waitForSelector('#users tr[data-user="e2e-nurse"]');
    await shot(page, "admin-users");
    await page.click('#users tr[data-user="e2e-nurse"] button:has-text("Disable")');
    await page.waitForSelector('#users tr[data-user="e2e-nurse"] button:has-text("Enable")');
    // The last administrator cannot disable themself: the page says why.
    await page.click(`#users tr[data-user="${env.ADMIN}"] button:has-text("Disable")`);
    await page.waitForSelector("#banner:not([hidden])");
    const lastAdmin = await page.textContent("#banner");
    report("admin-users", { generated_length: generated.length, last_admin: lastAdmin });

    await page.goto(BASE + "/admin/tokens");
    await page.waitForSelector("#add-token select[name=user] option", { state: "attached" });
    await page.selectOption("#f-user", env.READER);
    await page.fill("#f-note", "e2e export script");
    await page.click("#add-token button[type=submit]");
    await page.waitForSelector("code.secret");
    const token = await page.textContent("code.secret");
    const tokenId = await page.$eval("#tokens tbody tr", (tr) => tr.getAttribute("data-token"));
    report("admin-token-created", { token, id: tokenId });
    await shot(page, "admin-tokens");
    await page.click(`#tokens tr[data-token="${tokenId}"] button:has-text("Revoke")`);
    await page.waitForFunction((id) => {
      const tr = document.querySelector(`#tokens tr[data-token="${id}"]`);
      return tr && !tr.querySelector("button");
    }, tokenId);
    report("admin-token-revoked", { id: tokenId });

    await page.goto(BASE + "/admin/nodes");
    await page.waitForSelector("#add-node");
    await page.fill("#f-ae", "E2E_MODALITY");
    await page.fill("#f-hosts", "127.0.0.1");
    await page.check('#add-node input[name=allow][value=store]');
    await page.click("#add-node button[type=submit]");
    await page.waitForSelector('#nodes tr[data-node="E2E_MODALITY"]');
    await shot(page, "admin-nodes");
    // A host name is refused (DNS is no authentication); the page says so.
    await page.fill("#f-ae", "E2E_BY_NAME");
    await page.fill("#f-hosts", "modality.example.org");
    await page.click("#add-node button[type=submit]");
    await page.waitForSelector("#banner.error:not([hidden])");
    report("admin-nodes", { refused: await page.textContent("#banner"),
      listed: await page.$$eval("#nodes tbody tr", (trs) => trs.map((tr) => tr.getAttribute("data-node"))) });

    await page.goto(BASE + "/audit?type=user.");
    await page.waitForSelector("#audit tbody tr");
    const audit = await page.$$eval("#audit tbody tr", (trs) => trs.map((tr) => tr.innerText));
    await shot(page, "audit");
    report("audit", { rows: audit, foreign: log.foreign, errors: log.errors });

    await page.goto(BASE + "/admin/self-scan");
    await page.waitForSelector("#scan-summary, #no-scan");
    const summary = await page.$("#scan-summary");
    const findings = summary ? await page.$$eval("#findings tbody tr", (trs) => trs.map((tr) => tr.innerText)) : [];
    await shot(page, "self-scan");
    report("self-scan", { summary: summary ? await summary.innerText() : null, findings,
      text: await page.innerText("main") });
    await context.close();
  }

  // 4. The reader, left idle: the session lapses and the page goes back to the login page, saying why.
  if (IDLE > 0) {
    const { page } = reader;
    await page.goto(BASE + "/studies");
    await page.waitForURL("**/login?**", { timeout: (IDLE + 45) * 1000 });
    const message = await page.textContent("#message");
    const url = new URL(page.url());
    await shot(page, "expired");
    report("expired", { landed: url.pathname, expired: url.searchParams.get("expired"), next: url.searchParams.get("next"), message });
  }
  await reader.context.close();
  report("done", {});
} catch (e) {
  report("error", { message: String(e && e.stack || e) });
  process.exitCode = 1;
} finally {
  await browser.close();
}
