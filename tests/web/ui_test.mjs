// Browser test of the web UI: Debian's chromium driven by playwright-core. It indexes the demo
// samples with the default model, starts `opsis serve` on a free port, then types a query,
// uploads an image, opens a result and asks for more like it, scrolls captions over several
// pages (150 generated sentences), checks the error state and a
// phone-sized screen. Run by ctest (see tests/CMakeLists.txt) with OPSIS_BINARY and
// OPSIS_SOURCE_DIR set.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const binary = process.env.OPSIS_BINARY;
const source = process.env.OPSIS_SOURCE_DIR;
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!binary || !source) throw new Error("set OPSIS_BINARY and OPSIS_SOURCE_DIR");
if (!fs.existsSync(browserPath)) throw new Error(`no browser at ${browserPath}: run scripts/setup (installs Debian's chromium)`);

const work = fs.mkdtempSync(path.join(os.tmpdir(), "opsis-ui-"));
const samples = path.join(source, "demo/samples");
const captions = fs.readFileSync(path.join(samples, "captions.txt"), "utf8").trim().split("\n");
const images = ["red-circle.png", "blue-square.png", "green-triangle.png", "yellow-star.png"];
const manifest = images.map((f) => JSON.stringify({ image: path.join(samples, f), captions: [captions.find((c) => f.startsWith(c.split(" ").slice(1).join("-")))], source: "demo" }));
fs.writeFileSync(path.join(work, "manifest.jsonl"), manifest.join("\n") + "\n");
execFileSync(binary, ["index", "add", "--index", path.join(work, "ix"), "--model", path.join(source, "models/default"),
                      "--manifest", path.join(work, "manifest.jsonl")], { stdio: "inherit" });
// 150 more sentences, so that a caption search runs over several pages (40 a page).
const colours = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "pink", "brown"];
const things = ["circle", "square", "triangle", "star", "heart", "car", "house", "tree", "cat", "boat", "flower", "moon", "apple", "bird", "fish"];
const sentences = colours.flatMap((c) => things.map((t, i) => `${i % 2 ? "a small" : "a large"} ${c} ${t} ${["on a table", "in the sky", "near the sea", "on the grass", "in a city"][(i + c.length) % 5]}`));
fs.writeFileSync(path.join(work, "sentences.txt"), sentences.join("\n") + "\n");
execFileSync(binary, ["index", "add-texts", "--index", path.join(work, "ix"), path.join(work, "sentences.txt")], { stdio: "inherit" });

const server = spawn(binary, ["serve", "--index", path.join(work, "ix"), "--port", "0", "--quiet"], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((resolve, reject) => {
  let out = "";
  server.stdout.on("data", (d) => {
    out += d;
    const m = out.match(/on (http:\/\/[^/\s]+\/)/);
    if (m) resolve(m[1]);
  });
  server.on("exit", (code) => reject(new Error(`opsis serve exited with ${code}: ${out}`)));
  setTimeout(() => reject(new Error("opsis serve did not start in 30 s")), 30000);
});

let failures = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   - ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL - ${name}: ${e.message}`);
  }
}
function expect(condition, message) { if (!condition) throw new Error(message); }
// A server flushes its index on SIGTERM: wait until it has exited (SIGKILL after 10 s) before its
// folder is removed, or the removal races the last writes.
function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 10000);
    child.once("exit", () => { clearTimeout(force); resolve(); });
    child.kill("SIGTERM");
  });
}

const browser = await chromium.launch({ executablePath: browserPath, args: ["--headless", "--no-sandbox"] });
try {
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(e.message));

  await check("typing a query shows matching pictures with scores", async () => {
    await page.goto(url);
    await page.fill("#query", "a red circle");
    await page.press("#query", "Enter");
    await page.waitForSelector("#results .card");
    const first = await page.locator("#results .card .caption").first().textContent();
    expect(first.includes("red circle"), `first result is "${first}", expected the red circle`);
    const score = await page.locator("#results .card .score").first().textContent();
    expect(/^-?\d\.\d{3}$/.test(score.trim()), `score "${score}" is not shown as a number`);
    expect((await page.locator("#results .card").count()) === 4, "expected the 4 indexed pictures");
  });

  await check("the server parses what was typed: chips for each term, removable, and clear errors", async () => {
    await page.fill("#query", "a red circle - 2*a blue square");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => document.querySelectorAll("#terms .chip").length === 2);
    const chips = await page.locator("#terms .chip").evaluateAll((cs) => cs.map((c) => c.textContent));
    expect(chips[0].startsWith("a red circle") && chips[1].startsWith("not a blue square ×2"), `chips ${JSON.stringify(chips)}`);
    const last = await page.locator("#results .card .caption").last().textContent();
    expect(last.includes("blue square"), `the steered-away picture is "${last}" last, expected the blue square`);
    await page.click("#terms .chip:nth-child(2) button");  // remove the negative term
    await page.waitForFunction(() => document.querySelectorAll("#terms .chip").length === 1);
    await page.fill("#query", "a red circle +");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => document.querySelector("#status")?.textContent.includes("ends with an operator"));
  });

  await check("what the model's words made of the query is shown, with a way to search exactly as typed", async () => {
    await page.fill("#query", "the red circels");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => !document.querySelector("#searched").hidden);
    const line = await page.locator("#searched").textContent();
    expect(line.includes("red circle") && line.includes("circels → circle") && line.includes("without “the”"),
           `the searched-for line says "${line}"`);
    const sent = page.waitForRequest((r) => r.url().endsWith("/api/search") && JSON.parse(r.postData()).rewrite === false);
    await page.click("#searched button");
    await sent;
    await page.waitForFunction(() => document.querySelector("#searched").textContent.includes("exactly as typed."));
    await page.click("#searched button");  // and back
    await page.waitForFunction(() => document.querySelector("#searched").textContent.includes("circels → circle"));
  });

  await check("a kind of thing is said to be searched with its examples, with a way to search it alone", async () => {
    await page.fill("#query", "insects");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => document.querySelector("#searched").textContent.includes("names a kind of thing"));
    const line = await page.locator("#searched").textContent();
    expect(line.includes("“insect” names a kind of thing") && line.includes("honeybee"), `the searched-for line says "${line}"`);
    const alone = page.waitForRequest((r) => r.url().endsWith("/api/search") && JSON.parse(r.postData()).examples === false);
    await page.getByText("Search for it alone").click();
    await alone;
    await page.waitForFunction(() => document.querySelector("#searched").textContent.includes("without examples"));
    expect(!(await page.locator("#results .via").count()), "no picture is marked as found by an example");
    await page.getByText("Search with them").click();
    await page.waitForFunction(() => document.querySelector("#searched").textContent.includes("names a kind of thing"));
  });

  await check("a text longer than the model reads at once is said to be read in parts", async () => {
    const long = Array.from({ length: 40 }, (_, i) => (i % 2 ? "red circle" : "blue square")).join(" and ");
    await page.fill("#query", long);
    await page.press("#query", "Enter");
    await page.waitForFunction(() => document.querySelector("#searched").textContent.includes("Long text: read in"));
    const line = await page.locator("#searched").textContent();
    expect(/read in \d+ parts of up to \d+ tokens/.test(line), `the searched-for line says "${line}"`);
    await page.fill("#query", "a red circle");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => !document.querySelector("#searched").textContent.includes("Long text"));
  });

  await check("uploading an image shows the captions that describe it", async () => {
    await page.setInputFiles("#file", path.join(samples, "yellow-star.png"));
    await page.waitForSelector("#captions li");
    // The captions shown are the API's answer for that picture, in its order. (Which caption a
    // model puts first is the model's quality, measured by opsis bench recall and queries.)
    const shown = await page.locator("#captions li").evaluateAll((items) => items.map((li) => li.textContent));
    const picture = fs.readFileSync(path.join(samples, "yellow-star.png")).toString("base64");
    const answer = await (await fetch(url + "api/search", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ collection: "texts", k: 5, images: [{ data: "data:image/png;base64," + picture }] }),
    })).json();
    const expected = answer.hits.map((h) => h.text);
    expect(expected.length > 0 && shown.length === expected.length, `${shown.length} captions shown, the API gave ${expected.length}`);
    expect(expected.every((t, i) => shown[i].includes(t)), `shown ${JSON.stringify(shown)}, the API ${JSON.stringify(expected)}`);
    // The picture itself is in the index: it comes first among the pictures.
    await page.waitForFunction(() => document.querySelector("#results .card .caption")?.textContent.includes("yellow star"));
  });

  await check("a picture shows 'what is this?' with its labels as probability bars, and takes labels typed", async () => {
    // The nearest captions are the first candidates; the bars are /api/classify's answer.
    await page.waitForSelector("#label-bars li .bar");
    const bars = async () => page.locator("#label-bars li").evaluateAll((lis) => lis.map((li) => ({
      label: li.firstChild.textContent, pct: parseFloat(li.querySelector(".pct").textContent),
      width: parseFloat(li.querySelector(".bar span").style.width) })));
    let shown = await bars();
    expect(shown.length >= 2, `${shown.length} bars`);
    const total = shown.reduce((a, b) => a + b.pct, 0);
    expect(Math.abs(total - 100) < 2, `probabilities add up to ${total}%`);
    expect(shown.every((b, i) => i === 0 || b.pct <= shown[i - 1].pct), "bars are not highest first");
    await page.fill("#labels", "yellow star, red circle, blue square");
    await page.click("#label-form button");
    await page.waitForFunction(() => document.querySelectorAll("#label-bars li .bar").length === 3);
    shown = await bars();
    const picture = fs.readFileSync(path.join(samples, "yellow-star.png")).toString("base64");
    const answer = await (await fetch(url + "api/classify", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ image: "data:image/png;base64," + picture, labels: ["yellow star", "red circle", "blue square"], top: 3 }),
    })).json();
    expect(answer.labels.every((l, i) => shown[i].label === l.label && Math.abs(shown[i].width - 100 * l.probability) < 0.6),
           `bars ${JSON.stringify(shown)}, the API ${JSON.stringify(answer.labels)}`);
    await page.fill("#labels", "star");
    await page.click("#label-form button");
    await page.waitForFunction(() => document.querySelector("#label-bars")?.textContent.includes("two or more labels"));
    await page.fill("#labels", "yellow star, red circle, blue square");
    await page.click("#label-form button");
    await page.waitForFunction(() => document.querySelectorAll("#label-bars li .bar").length === 3);
  });

  await check("clicking a result opens its details, and 'more like this' searches by it", async () => {
    const card = page.locator("#results .card").first();
    const id = await card.getAttribute("data-id");
    await card.click();
    await page.waitForSelector("#details[open]");
    expect((await page.locator("#details-meta").textContent()).includes("yellow star"), "details lack the caption");
    await page.click("#more-like");
    await page.waitForFunction((id) => document.querySelector("#terms .chip")?.textContent.includes(`item ${id}`), id);
    await page.waitForFunction(() => document.querySelectorAll("#results .card").length === 3);
    const ids = await page.locator("#results .card").evaluateAll((cards) => cards.map((c) => c.dataset.id));
    expect(!ids.includes(id), "more-like-this results include the item itself");
  });

  await check("a text search's result shows where the words match, as a heatmap toggled in its details", async () => {
    await page.keyboard.press("Escape");
    await page.fill("#query", "a red circle");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => document.querySelector("#results .card .caption")?.textContent.includes("red circle"));
    await page.locator("#results .card").first().click();
    await page.waitForSelector("#details[open]");
    expect(!(await page.locator("#heatmap-row").isHidden()), "no heatmap toggle for a text search");
    expect((await page.locator("#heatmap-text").textContent()) === "red circle", "the toggle names another text");
    const drawn = page.waitForResponse((r) => r.url().includes("/heatmap?text=red%20circle") && r.status() === 200);
    await page.check("#heatmap-toggle");
    await drawn;
    await page.waitForFunction(() => document.querySelector("#details-image").src.startsWith("blob:"));
    await page.waitForFunction(() => document.querySelector("#details-image").naturalWidth === 384);
    expect((await page.locator("#heatmap-note").textContent()).includes("Cosine"), "no note under the heatmap");
    await page.uncheck("#heatmap-toggle");
    await page.waitForFunction(() => !document.querySelector("#details-image").src.startsWith("blob:"));
    await page.keyboard.press("Escape");
    await page.waitForFunction(() => !document.querySelector("#details[open]"));
  });

  await check("a search with no good match says so and dims its guesses; judged hits are dimmed one by one", async () => {
    // The server's judgement comes from the model's relevance rule (tested in C++); here the
    // real answer is rewritten to each case to see what the page makes of it.
    await page.goto(url);  // no terms left from earlier checks
    let judged = null;
    await page.route("**/api/search", async (r) => {
      const real = await (await r.fetch()).json();
      if (judged === "none") {
        real.no_good_match = true;
        for (const h of real.hits) Object.assign(h, { relevance: 0.1, likely_relevant: false });
      } else {
        real.no_good_match = false;
        for (const [i, h] of real.hits.entries()) Object.assign(h, { relevance: i ? 0.2 : 0.9, likely_relevant: i === 0 });
      }
      real.relevance_threshold = 0.5;
      await r.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(real) });
    });
    judged = "none";
    await page.fill("#query", "a violin");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => !document.querySelector("#no-match").hidden);
    const note = await page.locator("#no-match").textContent();
    expect(note.includes("No good match for") && note.includes("violin"), `note "${note}"`);
    const cards = await page.locator("#results .card").count();
    expect(cards > 0 && (await page.locator("#results .card.unlikely").count()) === cards, "not every guess is dimmed");
    expect((await page.locator("#results .card .score").first().textContent()).startsWith("guess"), "the score does not say guess");
    judged = "first";
    await page.fill("#query", "a red circle");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => document.querySelector("#no-match").hidden && document.querySelector("#results .card"));
    await page.waitForSelector("#results .card.unlikely");
    const dimmed = await page.locator("#results .card").evaluateAll((cs) => cs.map((c) => c.classList.contains("unlikely")));
    expect(!dimmed[0] && dimmed.slice(1).every((d) => d), `dimmed ${JSON.stringify(dimmed)}`);
    await page.unroute("**/api/search");
    // The real answer, whatever the default model's rule says, is shown as it says.
    await page.fill("#query", "a green triangle");
    await page.press("#query", "Enter");
    await page.waitForSelector("#results .card");
    const answer = await page.evaluate(async () => (await fetch("/api/search", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ q: "a green triangle", k: 40 }) })).json());
    expect((await page.locator("#no-match").isHidden()) === (answer.no_good_match !== true), "the note disagrees with the server");
    const shown = await page.locator("#results .card").evaluateAll((cs) => cs.map((c) => c.classList.contains("unlikely")));
    expect(JSON.stringify(shown) === JSON.stringify(answer.hits.map((h) => h.likely_relevant === false)), "the dimmed cards disagree with the server");
  });

  await check("captions mode lists texts", async () => {
    await page.fill("#query", "a blue square");
    await page.click('.mode[data-collection="texts"]');
    await page.press("#query", "Enter");
    await page.waitForFunction(() => document.querySelector("#text-results li")?.textContent.includes("blue square"));
  });

  await check("scrolling to the end of the captions loads the next pages, without repeats", async () => {
    const count = () => page.locator("#text-results li").count();
    // The captions of the previous check are marked, so that the wait below sees the new ones.
    await page.evaluate(() => document.querySelectorAll("#text-results li").forEach((li) => { li.dataset.stale = "1"; }));
    await page.fill("#query", "a shape");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => {
      const items = [...document.querySelectorAll("#text-results li")];
      return items.length >= 40 && !items.some((li) => li.dataset.stale);
    });
    for (let round = 0; round < 10 && (await count()) < 120; round++) {
      const before = await count();
      await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
      await page.waitForFunction((n) => document.querySelectorAll("#text-results li").length > n, before);
    }
    expect((await count()) >= 120, `only ${await count()} captions after scrolling`);
    const texts = await page.locator("#text-results li").evaluateAll((items) => items.map((li) => li.firstChild.textContent));
    expect(new Set(texts).size === texts.length, "a caption is shown twice");
    expect(texts.every((t) => t.length > 0), "an empty caption is shown");
  });

  await check("a caption found is a way to the pictures it describes", async () => {
    const first = page.locator("#text-results li .link").first();
    const text = await first.textContent();
    await first.click();
    await page.waitForFunction(() => document.querySelectorAll("#results .card").length > 0);
    expect((await page.inputValue("#query")) === text, `the box holds "${await page.inputValue("#query")}", not "${text}"`);
    expect(await page.locator('.mode[data-collection="images"]').evaluate((b) => b.classList.contains("active")), "still in captions mode");
    expect(new URLSearchParams(new URL(page.url()).hash.slice(1)).get("q") === text, `the address is ${page.url()}`);
  });

  await check("pictures are narrowed to when they were taken, and shown newest first", async () => {
    // The samples have no EXIF date: each is dated by its file, which is recent.
    await page.click('.mode[data-collection="images"]');
    await page.fill("#query", "a red circle");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => document.querySelectorAll("#results .card").length === 4);
    // A file's time is no day a picture was taken: not on the cards until the dates order or
    // narrow the results.
    expect((await page.locator("#results .card .taken").count()) === 0, "a file's time is shown as the day taken");
    let request;
    page.on("request", (r) => { if (r.url().endsWith("/api/search")) request = JSON.parse(r.postData()); });
    await page.fill("#taken-to", "2020-12-31");
    await page.dispatchEvent("#taken-to", "change");
    await page.waitForFunction(() => document.querySelectorAll("#results .card").length === 0 && /No results/.test(document.querySelector("#status").textContent));
    expect(request?.filters?.taken_before === "2021-01-01", `the last day is not included: ${JSON.stringify(request?.filters)}`);
    await page.fill("#taken-to", "");
    await page.fill("#taken-from", "2001-01-01");
    await page.check("#newest-first");
    // Newest first keeps the matches the model judges likely relevant (all four when not judged).
    await page.waitForFunction(() => document.querySelectorAll("#results .card").length > 0 && !/Searching/.test(document.querySelector("#status").textContent));
    expect(request?.sort === "date" && request?.filters?.taken_after === "2001-01-01", `sent ${JSON.stringify(request)}`);
    // Each card shows the day it was taken, newest first.
    const days = await page.locator("#results .card .taken").evaluateAll((ts) => ts.map((t) => t.textContent));
    expect(days.length === (await page.locator("#results .card").count()) && days.every((d) => /^\d{4}-\d{2}-\d{2}$/.test(d)), `days shown: ${days}`);
    expect(days.every((d, i) => i === 0 || days[i - 1] >= d), `not newest first: ${days}`);
    await page.locator("#results .card").first().click();
    await page.waitForSelector("#details[open]");
    const meta = await page.locator("#details-meta").textContent();
    expect(meta.includes("taken") && meta.includes("the file's time"), `details lack the date: ${meta}`);
    await page.click("#details .close");
    await page.fill("#taken-from", "");
    await page.uncheck("#newest-first");
  });

  await check("a failing search shows a clear error", async () => {
    await page.route("**/api/search", (r) => r.fulfill({ status: 500, contentType: "application/json", body: '{"error":{"status":500,"message":"index unavailable"}}' }));
    await page.fill("#query", "anything");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => document.querySelector("#status.error")?.textContent.includes("index unavailable"));
    await page.unroute("**/api/search");
  });

  await check("the address follows the screen: Back returns to the last search, a reload keeps the collection", async () => {
    await page.goto(url);
    await page.fill("#query", "a red circle");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => document.querySelector("#results .card .caption")?.textContent.includes("red circle"));
    expect(new URLSearchParams(new URL(page.url()).hash.slice(1)).get("q") === "a red circle", `address ${page.url()}`);
    await page.fill("#query", "a blue square");
    await page.press("#query", "Enter");
    await page.waitForFunction(() => document.querySelector("#results .card .caption")?.textContent.includes("blue square"));
    await page.goBack();
    await page.waitForFunction(() => document.querySelector("#results .card .caption")?.textContent.includes("red circle"));
    expect((await page.inputValue("#query")) === "a red circle", "the box does not show the search gone back to");
    await page.click('.mode[data-collection="texts"]');
    await page.waitForFunction(() => location.hash.includes("c=texts"));
    await page.reload();
    await page.waitForSelector("#text-results li");
    expect((await page.locator(".mode.active").getAttribute("data-collection")) === "texts", "a reload went back to pictures");
    expect((await page.locator("#results .card").count()) === 0, "pictures shown in the captions collection");
    // More like a picture: shareable as #like=ID.
    await page.click('.mode[data-collection="images"]');
    await page.waitForSelector("#results .card");
    await page.locator("#results .card").first().click();
    await page.click("#more-like");
    await page.waitForFunction(() => location.hash.startsWith("#like="));
    // A page the server lacks is a page with a way back, not JSON.
    await page.goto(url + "no-such-page");
    expect((await page.locator("h1").textContent()).includes("404"), "no 404 heading");
    await page.click("text=Back to search");
    await page.waitForSelector("#query");
  });

  await check("a phone-sized screen has no horizontal scrolling and shows results", async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await phone.goto(url + "#q=a%20green%20triangle");
    await phone.waitForSelector("#results .card");
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow <= 0, `page is ${overflow}px wider than the screen`);
    await phone.close();
  });

  await check("the Model link shows what the image tower's units respond to, once drawn", async () => {
    execFileSync(binary, ["model", "visualize", "--index", path.join(work, "ix"), "--units", "4"], { stdio: "ignore" });
    await page.goto(url);
    await page.click("a.model-link");
    await page.waitForSelector("h1");
    expect((await page.locator("h1").textContent()).includes("What the model sees"), "not the model page");
    const sizes = await page.locator("img").evaluateAll(async (imgs) => {
      await Promise.all(imgs.map((i) => (i.complete ? null : new Promise((r) => { i.onload = i.onerror = r; }))));
      return imgs.map((i) => i.naturalWidth);
    });
    expect(sizes.length >= 3 && sizes.every((w) => w > 0), `pictures of the page: ${JSON.stringify(sizes)}`);
    const sections = await page.locator("section h2").allTextContents();
    expect(sections[0] === "First layer" && sections.includes("stem") && sections.includes("stage 1"), `sections ${JSON.stringify(sections)}`);
  });

  await check("a watched folder: the footer says what the watcher does, and a picture dropped in is found", async () => {
    const watched = path.join(work, "watched");
    fs.mkdirSync(watched);
    fs.copyFileSync(path.join(samples, "red-circle.png"), path.join(watched, "red-circle.png"));
    execFileSync(binary, ["index", "add", "--index", path.join(work, "ix-watch"), "--model", path.join(source, "models/default"), watched], { stdio: "ignore" });
    const watcher = spawn(binary, ["serve", "--index", path.join(work, "ix-watch"), "--port", "0", "--quiet", "--watch", watched], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const watchUrl = await new Promise((resolve, reject) => {
        let out = "";
        watcher.stdout.on("data", (d) => { out += d; const m = out.match(/on (http:\/\/[^/\s]+\/)/); if (m) resolve(m[1]); });
        watcher.on("exit", (code) => reject(new Error(`opsis serve --watch exited with ${code}: ${out}`)));
      });
      await page.goto(watchUrl);
      await page.waitForFunction(() => document.querySelector("#stats").textContent.startsWith("1 pictures"));
      await page.waitForFunction(() => !document.querySelector("#watch").hidden && document.querySelector("#watch").textContent.includes("watching"));
      fs.copyFileSync(path.join(samples, "blue-square.png"), path.join(watched, "blue-square.png"));
      // The footer refreshes every 5 s while a folder is watched.
      await page.waitForFunction(() => document.querySelector("#stats").textContent.startsWith("2 pictures"), null, { timeout: 15000 });
      const footer = await page.locator("#watch").textContent();
      expect(/last change indexed \d+ s ago, \d+\.\d s after it happened/.test(footer), `footer: "${footer}"`);
      await page.fill("#query", "a blue square");
      await page.press("#query", "Enter");
      await page.waitForSelector("#results .card");
      const src = await page.locator("#results .card img").first().getAttribute("src");
      const hits = await (await fetch(watchUrl + "api/search", { method: "POST", body: JSON.stringify({ text: "a blue square", k: 1 }) })).json();
      expect(hits.hits[0].paths[0].endsWith("blue-square.png"), `first hit ${JSON.stringify(hits.hits[0])}`);
      expect(src.includes(String(hits.hits[0].id)), `first card ${src}, expected item ${hits.hits[0].id}`);
    } finally {
      await stop(watcher);
    }
  });

  await check("no script errors", async () => expect(consoleErrors.length === 0, consoleErrors.join("; ")));
} finally {
  await browser.close();
  await stop(server);
  fs.rmSync(work, { recursive: true, force: true });
}
console.log(failures ? `${failures} check(s) failed` : "all browser checks passed");
process.exit(failures ? 1 : 0);
