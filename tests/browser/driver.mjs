// Loads each URL given on the command line in headless Chromium (Debian's,
// /usr/bin/chromium, through playwright-core; no browser is downloaded),
// waits for the page to set window.result and prints one JSON line per
// URL, in order, to stdout:
//   {"url": ..., "result": {...} | null, "error": null | "...",
//    "console": [...], "websocket": [...]}
// "console" holds the page's console messages and errors, "websocket" what
// Chromium reports of each WebSocket (socket errors, close): the evidence
// when a connection fails. Exit status 0 when every page set a result.
//
// BROWSER_TRUST_SPKI, the base64 SHA-256 of a certificate's
// SubjectPublicKeyInfo, has Chromium accept that certificate (for wss://
// to a server with a test certificate); every other one is checked as usual.
import { chromium } from "playwright-core";

const urls = process.argv.slice(2);
const timeout = Number(process.env.BROWSER_PAGE_TIMEOUT_MS || 40000);
const spki = process.env.BROWSER_TRUST_SPKI;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  chromiumSandbox: false,
  // playwright-core adds a fresh temporary --user-data-dir of its own.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // Honoured because playwright-core sets a --user-data-dir.
    ...(spki ? [`--ignore-certificate-errors-spki-list=${spki}`] : []),
  ],
});

let failed = false;
try {
  for (const url of urls) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const out = { url, result: null, error: null, console: [], websocket: [] };
    page.on("console", (m) => out.console.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => out.console.push(`pageerror: ${e.message}`));
    page.on("websocket", (ws) => {
      const name = ws.url();
      out.websocket.push(`${name} opened`);
      ws.on("socketerror", (e) => out.websocket.push(`${name} socketerror: ${e}`));
      ws.on("close", () => out.websocket.push(`${name} closed`));
    });
    try {
      await page.goto(url, { timeout });
      await page.waitForFunction(() => window.result !== undefined, null, { timeout });
      out.result = await page.evaluate(() => window.result);
    } catch (e) {
      failed = true;
      out.error = String(e).split("\n")[0];
      // What the page had done before it stalled.
      out.result = await page.evaluate(() => window.progress ?? null).catch(() => null);
    }
    process.stdout.write(JSON.stringify(out) + "\n");
    await context.close();
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
