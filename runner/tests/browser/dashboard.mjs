// Drives the dashboard of a running daemon in headless Chromium through
// Playwright (playwright-core, no bundled browser): sees every persona,
// logs in with the admin token, pauses one persona with its button, opens a
// tick and reads its calls, and saves a screenshot of each step. Prints one
// JSON line of what it saw; the Rust test (runner/tests/api/dashboard.rs)
// checks it against the control API.
//
// Environment: PLAYWRIGHT (the playwright-core directory), CHROMIUM (the
// browser), DASHBOARD (the control API's URL), ADMIN_TOKEN, PAUSE (the email
// of the persona to pause), TICK_OF (the email of a persona whose last tick
// to open), SCREENSHOTS (a directory).
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT);
const dashboard = process.env.DASHBOARD;
const shots = process.env.SCREENSHOTS;
const pauseEmail = process.env.PAUSE;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  // Root in a container has no user namespace for Chromium's sandbox.
  args: ["--no-sandbox"],
});
const seen = { pageErrors: [], consoleErrors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  page.setDefaultTimeout(30000);
  page.on("pageerror", (error) => seen.pageErrors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") seen.consoleErrors.push(message.text());
  });

  // The fleet: a row per persona, and the charts of the stored ticks.
  await page.goto(dashboard + "/");
  await page.waitForSelector("tr[data-persona]");
  seen.personas = await page.$$eval("tr[data-persona] th small", (cells) => cells.map((c) => c.textContent.trim()));
  seen.charts = await page.$$eval("svg.chart", (charts) => charts.map((c) => c.getAttribute("aria-labelledby")));
  seen.tools = await page.$$eval("table.tools tbody th", (cells) => cells.map((c) => c.textContent.trim()));
  await page.screenshot({ path: path.join(shots, "1-fleet.png"), fullPage: true });

  // Pause one persona: the button asks for the token first, then pauses.
  const row = page.locator("tr[data-persona]", { hasText: pauseEmail });
  await row.getByRole("button", { name: /^Pause / }).click();
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#token", process.env.ADMIN_TOKEN);
  await page.getByRole("button", { name: "Use for this tab" }).click();
  await row.getByRole("button", { name: /^Pause / }).click();
  // The live view brings the paused row in over server-sent events.
  await page.waitForSelector(`tr[data-persona][data-state="paused"]:has-text("${pauseEmail}")`);
  seen.status = await page.textContent("#status");
  seen.paused = pauseEmail;
  await page.screenshot({ path: path.join(shots, "2-paused.png"), fullPage: true });

  // Open a persona's last tick and read its calls.
  const lastTick = page
    .locator("tr[data-persona]", { hasText: process.env.TICK_OF })
    .locator('a[aria-label^="last tick of"]');
  seen.tickId = (await lastTick.textContent()).trim();
  await lastTick.click();
  await page.waitForSelector("table.calls tbody tr");
  seen.tickCalls = await page.$$eval("table.calls tbody tr td:nth-child(2)", (cells) => cells.map((c) => c.textContent.trim()));
  seen.transcriptItems = await page.$$eval("ol.transcript > li", (items) => items.length);
  await page.screenshot({ path: path.join(shots, "3-tick.png"), fullPage: true });

  // The tick list.
  await page.getByRole("link", { name: "Ticks", exact: true }).click();
  await page.waitForSelector("table.ticks tbody tr");
  seen.listedTicks = await page.$$eval("table.ticks tbody tr", (rows) => rows.length);
  await page.screenshot({ path: path.join(shots, "4-ticks.png"), fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
