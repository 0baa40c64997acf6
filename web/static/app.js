// Opsis web UI: plain JavaScript against the JSON API (docs/api.md). No external resources.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 40;
// q: what was typed; texts: its text terms as the server parsed them (or as edited); terms:
// pictures and items.
// rewrite: whether the server may bring the words to the model's (plurals, misspellings...);
// examples: whether a kind of thing is also searched with examples of it.
const state = { collection: "images", q: "", texts: [], textsEdited: false, terms: [], offset: 0, more: false,
                rewrite: true, examples: true, loading: false, generation: 0, picture: null, labelsTyped: false };

// What was typed goes to the server as "q", which parses "beach + sunset - people" (and weights
// like "2*beach") and answers with the text terms as it understood them ("texts"); those show
// as chips. Removing a chip sends the remaining text terms themselves.
function requestBody(collection, offset, k) {
  const body = { collection, k, offset, images: [], items: [] };
  if (!state.rewrite) body.rewrite = false;
  if (!state.examples) body.examples = false;
  if (state.textsEdited) { if (state.texts.length) body.texts = state.texts.map(({ text, weight }) => ({ text, weight })); }
  else if (state.q) body.q = state.q;
  for (const t of state.terms) {
    if (t.kind === "image") body.images.push({ data: t.data, weight: t.weight });
    if (t.kind === "item") body.items.push({ id: t.id, weight: t.weight });
  }
  for (const key of ["images", "items"]) if (!body[key].length) delete body[key];
  // When the pictures were taken (their EXIF date, else their file's): a range of local days,
  // the last one included, and newest first.
  if (collection === "images") {
    const from = $("taken-from").value, to = $("taken-to").value;
    const filters = {};
    if (from) filters.taken_after = from;
    if (to) filters.taken_before = nextDay(to);
    if (from || to) body.filters = filters;
    if ($("newest-first").checked) body.sort = "date";
  }
  return body;
}

function nextDay(isoDate) {
  const d = new Date(`${isoDate}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

function hasQuery() {
  return state.terms.length > 0 || (state.textsEdited ? state.texts.length > 0 : state.q !== "");
}

function setTyped(text) {
  state.q = text;
  state.texts = [];
  state.textsEdited = false;
  state.rewrite = true;
  state.examples = true;
}

// A new query in place of what was asked: the words typed (in the box too) and the pictures or
// items beside them, shown as chips; the picture panel is put away.
function startQuery(text, terms) {
  $("query").value = text;
  setTyped(text);
  state.terms = terms;
  $("query-image").hidden = true;
  renderTerms();
}

// "Searched for cat (cats → cat)", with a way back to the words as typed, when the server
// brought them to the model's words; and the way forward again once they were searched as typed.
// Also says when a long text was read in parts.
function renderSearched(texts) {
  const box = $("searched");
  box.replaceChildren();
  const changed = texts.filter((t) => t.searched !== undefined);
  const link = (label, change) => {
    const a = document.createElement("button");
    a.type = "button";
    a.className = "link";
    a.textContent = label;
    a.onclick = () => { Object.assign(state, change); search(); };
    return a;
  };
  if (!state.rewrite) {
    box.append("Searched for the words exactly as typed. ",
      link("Search for the words the model knows", { rewrite: true }));
  } else if (changed.length) {
    box.append("Searched for ");
    for (const [i, t] of changed.entries()) {
      const what = document.createElement("strong");
      what.textContent = t.searched;
      const swaps = t.changes.filter((c) => c.to).map((c) => `${c.from} → ${c.to}`);
      const dropped = t.changes.filter((c) => !c.to).map((c) => c.from);
      const notes = [...swaps, ...(dropped.length ? [`without “${dropped.join(" ")}”`] : [])];
      box.append(i ? "; " : "", what, notes.length ? ` (${notes.join(", ")})` : "");
    }
    box.append(". ", link("Search exactly as typed", { rewrite: false }));
  }
  // A text longer than the model reads at once is read in parts whose meanings are averaged:
  // say so, since a long description then finds what its parts share, not the whole.
  for (const t of texts.filter((t) => t.parts > 1)) {
    const note = document.createElement("span");
    note.className = "parts";
    note.textContent = `Long text: read in ${t.parts} parts of up to ` +
      `${t.part_tokens} tokens (what the model reads at once), their meanings averaged.`;
    box.append(note);
  }
  // A kind of thing ("a musical instrument") was searched with examples of it, since the model
  // knows the names of things far better than the names of their kinds.
  for (const t of texts.filter((t) => t.examples)) {
    const note = document.createElement("span");
    note.className = "examples";
    note.textContent = `“${t.searched ?? t.text}” names a kind of thing: also searched for examples of it ` +
      `the model knows well: ${t.examples.join(", ")}. `;
    note.append(link("Search for it alone", { examples: false }));
    box.append(note);
  }
  if (state.rewrite && !state.examples) {
    const note = document.createElement("span");
    note.className = "examples";
    note.append("Searched without examples of the kinds it names. ", link("Search with them", { examples: true }));
    box.append(note);
  }
  box.hidden = box.childNodes.length === 0;
}

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) throw new Error((data && data.error && data.error.message) || `${res.status} ${res.statusText}`);
  return data;
}

function setStatus(text, isError = false) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", isError);
}

function renderTerms() {
  const box = $("terms");
  box.replaceChildren();
  const all = [...state.texts.map((t) => ({ kind: "text", ...t })), ...state.terms];
  for (const [i, t] of all.entries()) {
    const chip = document.createElement("span");
    chip.className = "chip" + (t.weight < 0 ? " negative" : "");
    if (t.kind === "image" || t.kind === "item") {
      const img = document.createElement("img");
      img.src = t.kind === "image" ? t.data : `/api/items/${t.id}/thumbnail`;
      img.alt = "";
      chip.append(img);
    }
    // A weight other than the usual (1, or 0.5 steering away) is shown: "not dog ×2".
    const usual = t.weight < 0 ? 0.5 : 1;
    const weight = Math.abs(t.weight) === usual ? "" : ` ×${+Math.abs(t.weight).toFixed(2)}`;
    chip.append((t.weight < 0 ? "not " : "") + (t.kind === "text" ? t.text : t.kind === "image" ? "your image" : `item ${t.id}`) + weight);
    const x = document.createElement("button");
    x.type = "button";
    x.textContent = "×";
    x.setAttribute("aria-label", "Remove this term");
    x.onclick = () => {
      if (i < state.texts.length) { state.texts.splice(i, 1); state.textsEdited = true; }
      else state.terms.splice(i - state.texts.length, 1);
      if (!state.texts.length && !state.terms.length) $("query").value = "";  // nothing left to search for
      renderTerms();
      search();
    };
    chip.append(x);
    box.append(chip);
  }
  box.hidden = all.length === 0;
}

function card(hit) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "card";
  b.dataset.id = hit.id;
  const img = document.createElement("img");
  img.loading = "lazy";
  img.src = hit.thumbnail_url;
  img.alt = hit.captions && hit.captions.length ? hit.captions[0] : (hit.paths[0] || "").split("/").pop();
  const meta = document.createElement("div");
  meta.className = "meta";
  const name = document.createElement("span");
  name.textContent = `#${hit.id}`;
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = hit.score.toFixed(3);
  // Judged hits (a calibrated model, a text query): the unlikely ones are dimmed guesses.
  if (hit.likely_relevant === false) {
    b.classList.add("unlikely");
    score.classList.add("guess");
    score.textContent = `guess · ${hit.score.toFixed(3)}`;
  }
  if (hit.relevance !== undefined) score.title = `${Math.round(100 * hit.relevance)}% likely what you asked for`;
  meta.append(name);
  // When it was taken (photos): the day on the card, the time in its tooltip — what "Newest
  // first" orders by. A file's time says when it was copied or unpacked (an npm package's
  // files all date from 1985), so it is shown only while the dates order or narrow the results.
  const byDate = $("newest-first").checked || $("taken-from").value || $("taken-to").value;
  if (hit.taken && (hit.taken.from === "exif" || byDate)) {
    const taken = document.createElement("span");
    taken.className = "taken";
    taken.textContent = hit.taken.local.slice(0, 10);
    taken.title = `Taken ${hit.taken.local.replace("T", " ")}${hit.taken.from === "file" ? " (the file's time)" : ""}`;
    meta.append(taken);
  }
  // Found by an example of the kind asked for: that says more than the id (in the details).
  if (hit.via) {
    name.className = "via";
    name.textContent = `via ${hit.via}`;
    name.title = `#${hit.id}: found by searching for “${hit.via}”, an example of what you asked for`;
  }
  meta.append(score);
  const cap = document.createElement("div");
  cap.className = "caption";
  cap.textContent = img.alt;
  b.append(img, meta, cap);
  b.onclick = () => showDetails(hit);
  return b;
}

// A caption found (or describing a picture): a click searches the pictures for its words.
function textItem(hit) {
  const li = document.createElement("li");
  const words = document.createElement("button");
  words.type = "button";
  words.className = "link";
  words.textContent = hit.text;
  words.title = "Search the pictures for these words";
  words.onclick = () => searchPicturesFor(hit.text);
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = ` ${hit.score.toFixed(3)}`;
  li.append(words, score);
  return li;
}

function searchPicturesFor(text) {
  startQuery(text, []);
  setCollection("images");
}

// The address says what is on screen, so a reload, a shared link or Back shows it again:
// #q=WORDS (&exact=1 when searched as typed, &alone=1 without a kind's examples), or #like=ID
// for "more like this", and &c=texts for captions. A picture of one's own, or chips edited by
// hand, cannot be written there: the address then holds the collection alone. A new search is a
// new history entry.
function addressOf() {
  const p = new URLSearchParams();
  const [only] = state.terms;
  if (!state.textsEdited && state.q && state.terms.length === 0) {
    p.set("q", state.q);
    if (!state.rewrite) p.set("exact", "1");
    if (!state.examples) p.set("alone", "1");
  } else if (!state.q && state.terms.length === 1 && only.kind === "item" && only.weight > 0) {
    p.set("like", String(only.id));
  }
  if (state.collection !== "images") p.set("c", state.collection);
  return p.toString();
}

function syncAddress() {
  const target = addressOf();
  if (target === new URLSearchParams(location.hash.slice(1)).toString()) return;
  history.pushState(null, "", target ? `#${target}` : location.pathname + location.search);
}

// From the address to the screen: on load, and when Back, Forward or an edited address
// changes it.
function followAddress() {
  const params = new URLSearchParams(location.hash.slice(1));
  setCollection(params.get("c") === "texts" ? "texts" : "images", false);
  const like = Number(params.get("like"));
  if (params.get("q")) {
    startQuery(params.get("q"), []);
    state.rewrite = params.get("exact") !== "1";
    state.examples = params.get("alone") !== "1";
  } else if (Number.isInteger(like) && like >= 0 && params.get("like")) {
    startQuery("", [{ kind: "item", id: like, weight: 1 }]);
  } else {
    startQuery("", []);
  }
  if (hasQuery()) search(); else { clearResults(); setStatus(""); $("query").focus(); }
}

async function search(append = false) {
  if (!append) syncAddress();
  if (!hasQuery()) { clearResults(); setStatus(""); return; }
  const generation = ++state.generation;
  if (!append) state.offset = 0;
  state.loading = true;
  setStatus(append ? "Loading more…" : "Searching…");
  try {
    const data = await api("/api/search", requestBody(state.collection, state.offset, PAGE));
    if (generation !== state.generation) return;  // a newer search has started
    if (!append) clearResults();
    if (!state.textsEdited && data.texts) { state.texts = data.texts; renderTerms(); }
    if (!append) { renderSearched(data.texts || []); renderNoMatch(data); }
    const images = state.collection === "images";
    $("results").hidden = !images;
    $("text-results").hidden = images;
    for (const hit of data.hits) (images ? $("results") : $("text-results")).append(images ? card(hit) : textItem(hit));
    state.more = data.more;
    state.offset += data.hits.length;
    $("more").hidden = !data.more;
    const shown = state.offset;
    if (shown === 0) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "No results. Try other words, or remove a filter term.";
      $("results").hidden = false;
      $("results").append(empty);
      setStatus("No results");
    } else {
      // Over shards (serve --shards), a shard that did not answer leaves its part out: say so.
      const partial = data.shards && data.shards.answered < data.shards.of
        ? ` · partial: ${data.shards.answered} of ${data.shards.of} shards answered` : "";
      setStatus(`${shown}${data.more ? "+" : ""} ${images ? "pictures" : "captions"} · ${data.took_ms.toFixed(0)} ms${partial}`,
                partial !== "");
    }
  } catch (e) {
    if (generation !== state.generation) return;
    if (!append) clearResults();
    setStatus(`Search failed: ${e.message}`, true);
  } finally {
    if (generation === state.generation) {
      state.loading = false;
      if (state.more) recheckEnd();
    }
  }
}

// "No good match for “…”": the model's relevance rule says even the best result is more
// likely wrong than right (null: not judged, as for picture queries or uncalibrated models).
function renderNoMatch(data) {
  const box = $("no-match");
  box.hidden = data.no_good_match !== true || data.hits.length === 0;
  if (box.hidden) return;
  const asked = (data.texts || []).map((t) => t.text).join(" + ");
  const what = document.createElement("strong");
  what.textContent = `“${asked}”`;
  box.replaceChildren("No good match for ", what, ". The closest pictures are shown dimmed, as guesses.");
}

function clearResults() {
  $("searched").hidden = true;
  $("no-match").hidden = true;
  $("results").replaceChildren();
  $("text-results").replaceChildren();
  $("more").hidden = true;
  state.more = false;
}

async function describeImage(dataUrl) {
  $("query-image").hidden = false;
  $("query-preview").src = dataUrl;
  state.picture = dataUrl;
  const list = $("captions");
  list.replaceChildren();
  $("label-bars").replaceChildren();
  let hits = [];
  try {
    hits = (await api("/api/search", { collection: "texts", k: 5, images: [{ data: dataUrl }] })).hits;
    if (!hits.length) list.append(Object.assign(document.createElement("li"), { textContent: "No captions indexed yet." }));
    for (const hit of hits) list.append(textItem(hit));
  } catch (e) {
    // The picture search beside it fails the same way and says why in the status line.
    if (dataUrl === state.picture) $("query-image").hidden = true;
    return;
  }
  // Labels the person gave stay for the next picture; otherwise the nearest captions are the
  // candidates, and the bars say how the model shares its belief among them.
  if (!state.labelsTyped || !$("labels").value.trim()) {
    const seen = new Set();
    const candidates = hits.map((h) => h.text.trim()).filter((t) => t && !t.includes(",") && !seen.has(t.toLowerCase()) && seen.add(t.toLowerCase()));
    $("labels").value = candidates.join(", ");
  }
  labelImage();
}

// "What is this?": the picture's zero-shot labels (POST /api/classify) as probability bars.
async function labelImage() {
  const bars = $("label-bars");
  const note = (text) => bars.replaceChildren(Object.assign(document.createElement("li"), { className: "note", textContent: text }));
  const labels = $("labels").value.split(",").map((l) => l.trim()).filter((l) => l);
  if (!state.picture) return;
  if (labels.length < 2) { note("Give two or more labels, separated by commas."); return; }
  const picture = state.picture;
  try {
    const data = await api("/api/classify", { image: picture, labels, top: labels.length });
    if (picture !== state.picture) return;  // another picture came meanwhile
    bars.replaceChildren();
    for (const { label, probability } of data.labels) {
      const li = document.createElement("li");
      const pct = (100 * probability).toFixed(probability >= 0.995 || probability < 0.1 ? 1 : 0);
      const fill = document.createElement("span");
      fill.style.width = `${Math.max(0.5, 100 * probability)}%`;
      const bar = Object.assign(document.createElement("div"), { className: "bar" });
      bar.append(fill);
      li.append(Object.assign(document.createElement("span"), { textContent: label }),
                Object.assign(document.createElement("span"), { className: "pct", textContent: `${pct}%` }), bar);
      li.title = `${label}: ${(100 * probability).toFixed(2)}%`;
      bars.append(li);
    }
  } catch (e) {
    if (picture === state.picture) note(`Could not label it: ${e.message}`);
  }
}

function searchWithFile(file) {
  if (!file || !file.type.startsWith("image/")) { setStatus("That is not an image file.", true); return; }
  if (file.size > 20 * 1024 * 1024) { setStatus("That image is larger than 20 MB.", true); return; }
  const reader = new FileReader();
  reader.onload = () => {
    startQuery("", [{ kind: "image", data: reader.result, weight: 1 }]);
    setCollection("images", false);
    describeImage(reader.result);  // shows the picture panel again, for this picture
    search();
  };
  reader.onerror = () => setStatus("Could not read that file.", true);
  reader.readAsDataURL(file);
}

async function showDetails(hit) {
  const dialog = $("details");
  $("details-title").textContent = hit.captions && hit.captions.length ? hit.captions[0] : `Item ${hit.id}`;
  $("details-image").src = hit.image_url;
  $("details-image").alt = $("details-title").textContent;
  $("open-original").href = hit.image_url;
  showHeatmapToggle(hit);
  const meta = $("details-meta");
  meta.replaceChildren();
  const add = (k, v) => {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) return;
    meta.append(Object.assign(document.createElement("dt"), { textContent: k }),
                Object.assign(document.createElement("dd"), { textContent: Array.isArray(v) ? v.join(" · ") : String(v) }));
  };
  add("score", hit.score !== undefined ? hit.score.toFixed(4) : undefined);
  add("id", hit.id);
  add("size", hit.width ? `${hit.width} × ${hit.height} px, ${(hit.file_size / 1024).toFixed(1)} KB` : "");
  add("captions", hit.captions);
  add("taken", hit.taken ? hit.taken.at.replace("T", " ") + (hit.taken.from === "file" ? " (the file's time)" : "") : "");
  add("camera", hit.camera);
  add("place", hit.position ? `${hit.position.latitude.toFixed(5)}, ${hit.position.longitude.toFixed(5)}` : "");
  add("source", hit.source);
  add("tags", hit.tags);
  add("files", hit.paths);
  $("more-like").onclick = () => {
    dialog.close();
    startQuery("", [{ kind: "item", id: hit.id, weight: 1 }]);
    setCollection("images", false);
    search();
  };
  $("less-like").onclick = () => {
    dialog.close();
    state.terms.push({ kind: "item", id: hit.id, weight: -0.5 });
    renderTerms();
    search();
  };
  if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
}

$("details").addEventListener("click", (e) => {
  const r = $("details").getBoundingClientRect();
  const outside = e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom;
  if (e.target === $("details") && outside) $("details").close();
});

// "Where it matches": for a text search, the picture with the heatmap of the first text term
// (as searched) over it, from GET /api/items/{id}/heatmap.
function showHeatmapToggle(hit) {
  const term = state.texts.find((t) => t.weight > 0);
  const text = term ? (term.searched !== undefined && state.rewrite ? term.searched : term.text) : "";
  const toggle = $("heatmap-toggle");
  $("heatmap-row").hidden = !text || hit.collection === "texts";
  $("heatmap-text").textContent = text;
  $("heatmap-note").textContent = "";
  toggle.checked = false;
  toggle.onchange = async () => {
    const img = $("details-image");
    if (!toggle.checked) { img.src = hit.image_url; $("heatmap-note").textContent = ""; return; }
    const url = `/api/items/${hit.id}/heatmap?text=${encodeURIComponent(text)}`;
    $("heatmap-note").textContent = "Drawing…";
    try {
      const res = await fetch(url);
      if (!res.ok) {
        let message = `${res.status} ${res.statusText}`;
        try { message = (await res.json()).error.message; } catch (_) { /* not JSON */ }
        throw new Error(message);
      }
      const blob = await res.blob();
      if (!toggle.checked) return;
      img.src = URL.createObjectURL(blob);
      const cosine = res.headers.get("X-Opsis-Cosine");
      $("heatmap-note").textContent = "Red: where the picture matches the words most; blue: least (within this picture)" +
        (cosine ? `. Cosine ${Number(cosine).toFixed(3)}.` : ".");
    } catch (e) {
      toggle.checked = false;
      $("heatmap-note").textContent = `Could not draw it: ${e.message}`;
    }
  };
}

function setCollection(collection, rerun = true) {
  state.collection = collection;
  for (const b of document.querySelectorAll(".mode")) {
    const on = b.dataset.collection === collection;
    b.classList.toggle("active", on);
    b.setAttribute("aria-pressed", String(on));
  }
  if (rerun) search();
}

$("search-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("query").value.trim();
  const negatives = state.terms.filter((t) => t.weight < 0);
  setTyped(text);
  state.terms = negatives;
  $("query-image").hidden = true;
  renderTerms();
  if (!text) { syncAddress(); clearResults(); setStatus("Type what you are looking for, or drop an image."); return; }
  search();
});
$("file").addEventListener("change", (e) => searchWithFile(e.target.files[0]));
$("labels").addEventListener("input", () => { state.labelsTyped = true; });
$("label-form").addEventListener("submit", (e) => { e.preventDefault(); labelImage(); });
for (const b of document.querySelectorAll(".mode")) b.addEventListener("click", () => setCollection(b.dataset.collection));
$("more").addEventListener("click", () => search(true));
for (const id of ["taken-from", "taken-to", "newest-first"])
  $(id).addEventListener("change", () => { if (hasQuery() && state.collection === "images") search(); });
// The next page loads while the end of the results is near the screen. The observer only
// reports changes, so it is asked again after each page: a page too short to push the end
// out of reach would otherwise leave the scroll stuck.
const endObserver = new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting) && state.more && !state.loading) search(true);
}, { rootMargin: "400px" });
endObserver.observe($("sentinel"));
function recheckEnd() {
  endObserver.unobserve($("sentinel"));
  endObserver.observe($("sentinel"));
}

let dragDepth = 0;
window.addEventListener("dragenter", (e) => { e.preventDefault(); dragDepth++; $("drop").hidden = false; });
window.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; $("drop").hidden = true; } });
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => {
  e.preventDefault();
  dragDepth = 0;
  $("drop").hidden = true;
  if (e.dataTransfer.files.length) searchWithFile(e.dataTransfer.files[0]);
});
window.addEventListener("paste", (e) => {
  const file = [...(e.clipboardData || { files: [] }).files].find((f) => f.type.startsWith("image/"));
  if (file) { e.preventDefault(); searchWithFile(file); }
});

// What the folder watcher (serve --watch) is doing, in a few words.
function watchText(w) {
  const folders = w.folders.length === 1 ? w.folders[0] : `${w.folders.length} folders`;
  if (w.state === "failed") return `watching ${folders} stopped: ${w.error}`;
  const parts = [`watching ${folders}`];
  if (w.state === "rescanning") parts.push("rescanning");
  else if (w.pending) parts.push(`${w.pending} change${w.pending === 1 ? "" : "s"} waiting`);
  if (w.last_round_unix) {
    const ago = Math.max(0, Math.round(Date.now() / 1000 - w.last_round_unix));
    parts.push(`last change indexed ${ago < 60 ? `${ago} s` : `${Math.round(ago / 60)} min`} ago, ` +
               `${w.last_latency_seconds.toFixed(1)} s after it happened`);
  }
  if (w.failed) parts.push(`${w.failed} failed (opsis index errors)`);
  return parts.join(", ");
}

function showStats() {
  api("/api/stats").then((s) => {
    const shards = s.shards ? ` · ${s.shards.answered} of ${s.shards.of} shards` : "";
    $("stats").textContent = `${s.images.items} pictures · ${s.texts.items} captions · model ${s.model ? s.model.name : "?"}${shards}`;
    if (s.watch) {
      $("watch").hidden = false;
      $("watch").textContent = " · " + watchText(s.watch);
      setTimeout(showStats, 5000);  // the counts move while a folder is watched
    } else if (!s.images.items && !s.texts.items) {
      setStatus("This index is empty: add pictures with `opsis index add`.");
    }
  }).catch(() => {});
}
showStats();

window.addEventListener("popstate", followAddress);
followAddress();
