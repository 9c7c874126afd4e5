// jointspace search page: plain JS over the same JSON API that clients use (/api, see /openapi.json).
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "jointspace-token";
const S = {
  collections: [], collection: null, image: null, imageURL: null, like: null,
  results: [], nextOffset: null, took: 0, controller: null,
  token: sessionStorage.getItem(TOKEN_KEY) || "", blobURLs: [],
};

class ApiError extends Error {
  constructor(status, message, hint) { super(message); this.status = status; this.hint = hint; }
}

// --- talking to the API --------------------------------------------------------------------
function authHeaders() { return S.token ? { Authorization: "Bearer " + S.token } : {}; }

async function api(path, options = {}) {
  let resp;
  try {
    resp = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "Cannot reach the server", "Is `jointspace serve` still running?");
  }
  const body = await resp.json().catch(() => null);
  if (!resp.ok) {
    const e = (body && body.error) || {};
    if (resp.status === 401) $("token-box").hidden = false;
    const retry = resp.headers.get("Retry-After");
    const hint = e.hint || (retry ? `Retry in ${retry} s.` : "");
    throw new ApiError(resp.status, e.message || `HTTP ${resp.status}`, hint);
  }
  return body;
}

const colPath = (rest) => `/api/collections/${encodeURIComponent(S.collection)}${rest}`;
const thumbURL = (id, size = 256) => colPath(`/items/${id}/thumbnail?size=${size}`);
const originalURL = (id) => colPath(`/items/${id}/original`);

// Images: a plain <img src> when no token is needed; with a token, fetch with the header.
async function showImage(img, url) {
  img.classList.remove("loaded", "broken");
  img.onload = () => img.classList.add("loaded");
  img.onerror = () => { img.classList.add("broken"); img.alt = "image unavailable"; };
  if (!S.token) { img.src = url; return; }
  try {
    const resp = await fetch(url, { headers: authHeaders() });
    if (!resp.ok) throw new Error(String(resp.status));
    const blobURL = URL.createObjectURL(await resp.blob());
    S.blobURLs.push(blobURL);
    img.src = blobURL;
  } catch { img.onerror(); }
}

function freeBlobs() { S.blobURLs.forEach(URL.revokeObjectURL); S.blobURLs = []; }

// --- collections ---------------------------------------------------------------------------
async function loadCollections() {
  const data = await api("/api/collections");
  S.collections = data.collections;
  const select = $("collection");
  select.replaceChildren(...S.collections.map((c) => new Option(`${c.name} (${c.count})`, c.name)));
  const wanted = new URLSearchParams(location.hash.slice(1)).get("c");
  S.collection = S.collections.some((c) => c.name === wanted) ? wanted : (S.collections[0] || {}).name;
  select.value = S.collection;
  describeCollection();
}

function describeCollection() {
  const c = S.collections.find((x) => x.name === S.collection);
  if (!c) { $("col-info").textContent = "no collections"; return; }
  const kinds = Object.entries(c.kinds).map(([k, n]) => `${n} ${k}${n === 1 ? "" : "s"}`).join(", ");
  const gap = c.modality_gap == null ? "" : ` · modality gap ${c.modality_gap.toFixed(3)}`;
  $("col-info").textContent = `${kinds || "empty"} · ${c.model} · dim ${c.dim}${gap}`;
  $("pick-image").disabled = !c.modalities.includes("image");
  document.dispatchEvent(new CustomEvent("collection", { detail: c }));  // quality.js listens
}

// --- the query -----------------------------------------------------------------------------
function hasQuery() { return $("q").value.trim() !== "" || S.image !== null || S.like !== null; }

function buildForm(offset) {
  const form = new FormData();
  const q = $("q").value.trim();
  if (q) form.append("q", q);
  if (S.image) form.append("image", S.image, S.image.name || "pasted.png");
  if (S.like) form.append("like", String(S.like.id));
  $("not").value.split(",").map((s) => s.trim()).filter(Boolean).forEach((n) => form.append("not", n));
  if ($("where").value.trim()) form.append("where", $("where").value.trim());
  const kind = document.querySelector("input[name=kind]:checked").value;
  if (kind) form.append("kind", kind);
  const t = Number($("weight").value);
  form.append("text_weight", String((100 - t) / 100));
  form.append("image_weight", String(t / 100));
  if (q && $("hybrid").checked) form.append("hybrid", "on");
  if ($("hubness").value) form.append("hubness", $("hubness").value);
  if ($("balance").value !== "auto") form.append("balance", $("balance").value);
  if ($("min-score").checked) form.append("min_score", "auto");
  form.append("k", $("k").value);
  form.append("offset", String(offset));
  return form;
}

async function search(append = false) {
  if (!S.collection) return;
  if (!hasQuery()) { setStatus("Type some words, or add an image."); $("q").focus(); return; }
  if (S.controller) S.controller.abort();
  const controller = (S.controller = new AbortController());
  hideError();
  setBusy(true, append ? "Loading more…" : "Searching…");
  try {
    const data = await api(colPath("/search"), {
      method: "POST", body: buildForm(append ? S.nextOffset : 0), signal: controller.signal,
    });
    if (!append) { freeBlobs(); S.results = []; $("grid").replaceChildren(); }
    const start = S.results.length;
    S.results.push(...data.results);
    S.nextOffset = data.next_offset;
    S.took = data.took_ms;
    renderCards(start);
    rememberQuery();
    setStatus(summary());
  } catch (err) {
    if (err.name === "AbortError") return;
    showError(err);
    setStatus("");
  } finally {
    if (S.controller === controller) { S.controller = null; setBusy(false); }
  }
}

function summary() {
  const n = S.results.length;
  if (!n && $("min-score").checked) return "No good match: nothing scores above this collection's cut-off.";
  if (!n) return "No results. Try other words, or remove filters.";
  return `${n} result${n === 1 ? "" : "s"}${S.nextOffset !== null ? " (more available)" : ""} · ${S.took} ms`;
}

function rememberQuery() {
  const p = new URLSearchParams({ c: S.collection });
  if ($("q").value.trim()) p.set("q", $("q").value.trim());
  if (S.like) p.set("like", String(S.like.id));
  history.replaceState(null, "", "#" + p.toString());
}

function setImage(file) {
  if (!file || !file.type.startsWith("image/")) { showError(new ApiError(0, "That is not an image", "Drop or paste a PNG, JPEG, WebP or GIF file.")); return; }
  if (S.imageURL) URL.revokeObjectURL(S.imageURL);
  S.image = file; S.like = null; S.imageURL = URL.createObjectURL(file);
  updateChip();
  search();
}

function moreLikeThis(hit) {
  if ($("details").open) $("details").close();
  S.like = hit; S.image = null; $("q").value = "";
  updateChip();
  search();
  $("q").focus();
}

function clearChip() {
  S.image = null; S.like = null;
  if (S.imageURL) URL.revokeObjectURL(S.imageURL);
  S.imageURL = null;
  updateChip();
}

function updateChip() {
  const on = S.image !== null || S.like !== null;
  $("chip-row").hidden = !on;
  if (!on) return;
  const img = $("chip-img");
  if (S.image) {
    img.hidden = false; img.src = S.imageURL;
    $("chip-label").textContent = S.image.name || "pasted image";
  } else {
    img.hidden = S.like.kind !== "image";
    if (S.like.kind === "image") showImage(img, thumbURL(S.like.id, 128));
    $("chip-label").textContent = `like #${S.like.id} ` + (S.like.kind === "text" ? `“${(S.like.text || "").slice(0, 40)}”` : baseName(S.like.path));
  }
  updateWeight();
}

function updateWeight() {
  const t = Number($("weight").value);
  $("weight-out").value = `${100 - t} / ${t}`;
}

// --- rendering -------------------------------------------------------------------------------
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

const baseName = (p) => (p || "").split(/[\\/]/).pop();
const fmtScore = (s) => s.toFixed(3);

function renderCards(start) {
  const top = Math.max(S.results.length ? S.results[0].score : 1, 1e-6);
  const items = S.results.slice(start).map((hit, j) => {
    const i = start + j;
    const li = el("li");
    const card = el("button", "card");
    card.type = "button";
    card.dataset.index = String(i);
    const label = hit.kind === "image" ? baseName(hit.path) : (hit.text || "").slice(0, 80);
    card.setAttribute("aria-label", `Result ${i + 1}, ${hit.kind}, score ${fmtScore(hit.score)}: ${label}`);
    if (hit.kind === "image") {
      const img = el("img", "thumb");
      img.alt = label; img.decoding = "async"; img.loading = "lazy";
      showImage(img, thumbURL(hit.id));
      card.append(img);
    } else {
      card.append(el("p", "text", hit.text || ""));
    }
    const foot = el("div", "foot");
    const row = el("div", "row");
    const left = el("span", "rank", `#${i + 1} `);
    left.append(el("span", "kind", hit.kind));
    row.append(left, el("span", "score", fmtScore(hit.score)));
    const bar = el("div", "bar");
    const fill = el("span");
    fill.style.width = `${Math.max(0, Math.min(1, hit.score / top)) * 100}%`;
    bar.append(fill);
    const caption = el("p", "caption", hit.kind === "image" ? (hit.text || label) : "");
    const tags = el("div", "tags");
    Object.entries(hit.metadata || {}).slice(0, 3).forEach(([k, v]) =>
      tags.append(el("span", "tag", `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)));
    foot.append(row, bar);
    if (hit.kind === "image") foot.append(caption);
    foot.append(tags);
    card.append(foot);
    li.append(card);
    return li;
  });
  $("grid").append(...items);
  $("empty").hidden = S.results.length > 0 || hasQuery();
  $("more").hidden = S.nextOffset === null;
}

function openDetails(i) {
  const hit = S.results[i];
  if (!hit) return;
  const media = $("d-media");
  media.replaceChildren();
  if (hit.kind === "image") {
    const img = el("img");
    img.alt = baseName(hit.path);
    showImage(img, originalURL(hit.id));
    media.append(img);
  } else {
    media.append(el("blockquote", "", hit.text || ""));
  }
  $("d-title").textContent = hit.kind === "image" ? baseName(hit.path) : `Text #${hit.id}`;
  const rel = hit.relevance != null ? ` · relevance ${hit.relevance.toFixed(2)} (calibrated)` : "";
  $("d-score").textContent = `#${i + 1} · score ${fmtScore(hit.score)} (cosine similarity)${rel}`;
  const dl = $("d-meta");
  dl.replaceChildren();
  const rows = [["id", hit.id], ["kind", hit.kind]];
  if (hit.path) rows.push(["path", hit.path]);
  if (hit.kind === "image" && hit.text) rows.push(["text", hit.text]);
  Object.entries(hit.metadata || {}).forEach(([k, v]) => rows.push([k, typeof v === "object" ? JSON.stringify(v) : String(v)]));
  rows.forEach(([k, v]) => dl.append(el("dt", "", k), el("dd", "", String(v))));
  $("d-open").hidden = hit.kind !== "image";
  $("d-like").onclick = () => moreLikeThis(hit);
  $("d-open").onclick = () => openOriginal(hit);
  $("details").dataset.index = String(i);
  $("details").showModal();
  $("d-like").focus();
}

async function openOriginal(hit) {
  if (!S.token) { window.open(originalURL(hit.id), "_blank", "noopener"); return; }
  const resp = await fetch(originalURL(hit.id), { headers: authHeaders() });
  if (resp.ok) window.open(URL.createObjectURL(await resp.blob()), "_blank", "noopener");
}

// --- states ------------------------------------------------------------------------------------
function setBusy(on, text) {
  $("progress").hidden = !on;
  $("results").setAttribute("aria-busy", on ? "true" : "false");
  if (on) setStatus(text);
}
function setStatus(text) { $("status").textContent = text; }
function showError(err) {
  $("error-msg").textContent = err.message;
  $("error-hint").textContent = err.hint || "";
  $("error").hidden = false;
}
function hideError() { $("error").hidden = true; }

// --- keyboard, drag and drop, paste --------------------------------------------------------------
function typing(target) { return target.matches("input, textarea, select") || target.isContentEditable; }

function moveFocus(card, key) {
  const cards = [...document.querySelectorAll(".card")];
  const i = cards.indexOf(card);
  const firstTop = cards[0].offsetTop;
  const cols = Math.max(1, cards.filter((c) => c.offsetTop === firstTop).length);
  const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[key];
  const next = cards[Math.max(0, Math.min(cards.length - 1, i + step))];
  if (next) next.focus();
}

function onKey(ev) {
  if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const dialog = $("details");
  if (dialog.open) {
    if (ev.key === "m") { ev.preventDefault(); $("d-like").click(); }
    return;
  }
  const card = ev.target.closest && ev.target.closest(".card");
  if (card && ev.key.startsWith("Arrow")) { ev.preventDefault(); moveFocus(card, ev.key); return; }
  if (card && ev.key === "m") { ev.preventDefault(); moreLikeThis(S.results[Number(card.dataset.index)]); return; }
  if (ev.key === "/" && !typing(ev.target)) { ev.preventDefault(); $("q").focus(); $("q").select(); }
  if (ev.key === "Escape" && ev.target === $("q") && !$("q").value && (S.image || S.like)) clearChip();
}

function imageFrom(list) { return [...(list || [])].find((f) => f.type && f.type.startsWith("image/")); }

function wireDragAndDrop() {
  let depth = 0;
  const hasFiles = (ev) => [...(ev.dataTransfer ? ev.dataTransfer.types : [])].includes("Files");
  window.addEventListener("dragenter", (ev) => { if (hasFiles(ev)) { depth++; $("drop").hidden = false; } });
  window.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) $("drop").hidden = true; });
  window.addEventListener("dragover", (ev) => { if (hasFiles(ev)) ev.preventDefault(); });
  window.addEventListener("drop", (ev) => {
    ev.preventDefault(); depth = 0; $("drop").hidden = true;
    const file = imageFrom(ev.dataTransfer.files);
    if (file) setImage(file); else showError(new ApiError(0, "No image in what was dropped", "Drop an image file."));
  });
  document.addEventListener("paste", (ev) => {
    const file = imageFrom([...(ev.clipboardData ? ev.clipboardData.files : [])]);
    if (file) { ev.preventDefault(); setImage(file); }
  });
}

// --- start -----------------------------------------------------------------------------------
function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }

function wire() {
  $("search").addEventListener("submit", (ev) => { ev.preventDefault(); search(); });
  $("pick-image").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", () => { if ($("file").files[0]) setImage($("file").files[0]); $("file").value = ""; });
  $("chip-clear").addEventListener("click", () => { clearChip(); $("q").focus(); if (hasQuery()) search(); });
  const rerun = debounce(() => { if (hasQuery()) search(); }, 250);
  $("weight").addEventListener("input", () => { updateWeight(); if ($("q").value.trim()) rerun(); });
  document.querySelectorAll("input[name=kind]").forEach((r) => r.addEventListener("change", rerun));
  $("k").addEventListener("change", rerun);
  $("hybrid").addEventListener("change", rerun);
  ["hubness", "balance", "min-score"].forEach((id) => $(id).addEventListener("change", rerun));
  $("collection").addEventListener("change", () => {
    S.collection = $("collection").value; S.like = null; updateChip(); describeCollection(); rerun();
  });
  $("grid").addEventListener("click", (ev) => {
    const card = ev.target.closest(".card");
    if (card) openDetails(Number(card.dataset.index));
  });
  $("more").addEventListener("click", () => search(true));
  $("d-x").addEventListener("click", () => $("details").close());
  $("details").addEventListener("close", () => {
    const card = document.querySelector(`.card[data-index="${$("details").dataset.index}"]`);
    if (card) card.focus();
  });
  $("details").addEventListener("click", (ev) => { if (ev.target === $("details")) $("details").close(); });
  $("error-close").addEventListener("click", hideError);
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    S.token = $("token").value.trim();
    sessionStorage.setItem(TOKEN_KEY, S.token);
    $("token-box").hidden = true;
    start();
  });
  document.addEventListener("keydown", onKey);
  wireDragAndDrop();
}

async function start() {
  hideError();
  try {
    await loadCollections();
  } catch (err) { showError(err); return; }
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("q")) { $("q").value = params.get("q"); }
  if (params.get("like") && /^\d+$/.test(params.get("like"))) {
    try { S.like = await api(colPath(`/items/${params.get("like")}`)); updateChip(); } catch { S.like = null; }
  }
  if (hasQuery()) search();
}

wire();
updateWeight();
start();
