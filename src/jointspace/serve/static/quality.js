// Quality tools on the page: zero-shot with ZLaP / ZPE, near-duplicate groups (listed, then
// marked), and the query bank and calibration that search's Hubness / Weak matches options use.
// Uses app.js's helpers (api, colPath, thumbURL, showImage, el, showError) over the same JSON API.
"use strict";

const Q = { writable: false, listed: false, shown: null };  // listed: the groups match the form
const READ_ONLY = "This collection is served read-only: start the service with an admin token to change it.";

async function classifyUpload(ev) {
  ev.preventDefault();
  const file = $("zs-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("image", file);
  form.append("labels", $("zs-labels").value);
  form.append("top", "5");
  form.append("transductive", $("zs-transductive").checked ? "true" : "false");
  if ($("zs-zpe").checked) { form.append("prompt_weights", "zpe"); form.append("templates", "imagenet80"); }
  const out = $("zs-out");
  out.replaceChildren(el("li", "status", "classifying…"));
  try {
    const res = await api(colPath("/zeroshot"), { method: "POST", body: form });
    out.replaceChildren(...res.labels.map((r) =>
      el("li", "", `${r.label}  ${(100 * r.probability).toFixed(1)} %  (score ${r.score.toFixed(4)})`)));
    if (res.prompt_weights === "zpe") {
      const top = res.template_weights.slice(0, 3).map((w) => `${w.template} ${w.weight.toFixed(3)}`);
      out.append(el("li", "muted", "heaviest templates: " + top.join(" · ")));
    }
  } catch (err) { out.replaceChildren(); showError(err); }
}

function duplicateSettings() {
  const params = new URLSearchParams({ threshold: $("dup-threshold").value || "0.95", keep: $("dup-keep").value });
  if ($("dup-phash").value !== "") params.set("phash", $("dup-phash").value);
  return params;
}

async function findDuplicates(ev) {
  ev.preventDefault();
  setListed(false);
  $("dup-summary").textContent = "searching…";
  try {
    const res = await api(colPath(`/duplicates?${duplicateSettings()}`));
    $("dup-summary").textContent =
      `${res.groups.length} group(s) among ${res.items} image(s); the kept member (${res.keep_rule}) is outlined`;
    $("dup-groups").replaceChildren(...res.groups.map(renderGroup));
    setListed(res.groups.length > 0);
  } catch (err) { $("dup-summary").textContent = ""; showError(err); }
}

// Writes duplicate_of on the non-kept members of the groups the same settings list.
async function markDuplicates() {
  setListed(false);
  $("dup-summary").textContent = "marking…";
  try {
    const res = await api(colPath("/duplicates"), { method: "POST", body: duplicateSettings() });
    $("dup-summary").textContent =
      `Marked ${res.marked} item(s) as duplicates (duplicate_of = the kept id) in ${res.groups.length} group(s)`;
    $("dup-groups").replaceChildren(...res.groups.map(renderGroup));
  } catch (err) { $("dup-summary").textContent = ""; showError(err); }
}

function setListed(on) {
  Q.listed = on;
  $("dup-mark").disabled = !(Q.writable && on);
}

function renderGroup(group) {
  const li = el("li", "dup-group");
  li.append(el("span", "dup-score", `${group.exact ? "exact" : "near"} · ${group.score.toFixed(4)}`));
  const row = el("div", "dup-row");
  group.ids.forEach((id, i) => {
    const fig = el("figure", id === group.keep ? "dup-item kept" : "dup-item");
    const img = el("img", "thumb");
    img.alt = baseName(group.paths[i]) || `item ${id}`;
    showImage(img, thumbURL(id));
    fig.append(img, el("figcaption", "", `#${id} ${baseName(group.paths[i])}`));
    row.append(fig);
  });
  li.append(row);
  return li;
}

// --- the query bank and the calibrated cut-off -----------------------------------------------
function describeQuality(c) {
  const banks = Object.entries(c.query_banks).map(([m, n]) => `${n} ${m} queries`).join(", ");
  const cuts = c.calibration === null ? "not calibrated yet"
    : "cut-offs " + Object.entries(c.calibration).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ");
  $("qs-state").textContent = `Query bank: ${banks || "none (Hubness needs one)"} · ${cuts}`;
  Q.writable = c.writable;
  document.querySelectorAll("#quality button.write").forEach((b) => {
    b.dataset.help ??= b.title;
    b.title = c.writable ? b.dataset.help : READ_ONLY;
  });
  ["bank-build", "cal-run"].forEach((id) => { $(id).disabled = !c.writable; });
  setListed(Q.listed);
}

async function refreshCollection() {
  const fresh = await api(colPath(""));
  S.collections = S.collections.map((c) => (c.name === fresh.name ? fresh : c));
  describeCollection();
}

async function buildBank(ev) {
  ev.preventDefault();
  const texts = $("bank-texts").value.split("\n").map((t) => t.trim()).filter(Boolean);
  const body = texts.length ? { texts, append: $("bank-append").checked } : {};
  await writeAndShow("/bank", body, "building the query bank…", (res) =>
    `Query bank: ${res.query_bank} queries (from ${res.source === "texts" ? "your texts" : "the collection's captions and texts"}${res.append ? ", added" : ""})`);
}

async function calibrate(ev) {
  ev.preventDefault();
  const miss = $("cal-miss").value;
  await writeAndShow("/calibrate", miss === "" ? {} : { miss: Number(miss) }, "calibrating…", (res) =>
    `Calibrated on ${res.count} items (miss ${res.miss}): ` +
    Object.entries(res.calibration).map(([k, v]) => `${k} ≥ ${v.cut.toFixed(3)}`).join(", "));
}

async function writeAndShow(path, body, busy, describe) {
  const out = $("bank-out");
  out.textContent = busy;
  try {
    const res = await api(colPath(path), {
      method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" },
    });
    out.textContent = describe(res);
    await refreshCollection();
  } catch (err) { out.textContent = ""; showError(err); }
}

document.addEventListener("collection", (ev) => {
  if (ev.detail.name !== Q.shown) {  // another collection: earlier results do not apply to it
    $("dup-groups").replaceChildren();
    ["dup-summary", "bank-out"].forEach((id) => { $(id).textContent = ""; });
    Q.listed = false;
  }
  Q.shown = ev.detail.name;
  describeQuality(ev.detail);
});
$("zs-form").addEventListener("submit", classifyUpload);
$("dup-form").addEventListener("submit", findDuplicates);
$("dup-form").addEventListener("input", () => setListed(false));
$("dup-mark").addEventListener("click", markDuplicates);
$("bank-form").addEventListener("submit", buildBank);
$("cal-form").addEventListener("submit", calibrate);
