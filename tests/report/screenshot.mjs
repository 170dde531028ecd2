// Opens a report.html in headless Chromium, collects every console error, page error and
// request that is not the file itself (the report must need nothing else), takes a
// full-page screenshot, and prints a JSON summary on stdout.
// Usage: node screenshot.mjs REPORT.html OUT.png   (CHROMIUM=/usr/bin/chromium)
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [html, png] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
const requests = [];
const url = pathToFileURL(html).href;
page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") errors.push(`${m.type()}: ${m.text()}`); });
page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
page.on("request", (r) => { if (r.url() !== url) requests.push(r.url()); });
await page.goto(url, { waitUntil: "load" });
await page.screenshot({ path: png, fullPage: true });
const summary = {
  title: await page.title(),
  headings: await page.$$eval("h2", (hs) => hs.map((h) => h.textContent)),
  charts: await page.$$eval("svg", (s) => s.length),
  errors,
  requests,
};
await browser.close();
console.log(JSON.stringify(summary));
