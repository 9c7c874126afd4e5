// Quality tools on the page: zero-shot with ZLaP / ZPE and near-duplicate groups.
// Uses app.js's helpers (api, colPath, thumbURL, showImage, el, showError) over the same JSON API.
"use strict";

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

async function findDuplicates(ev) {
  ev.preventDefault();
  const params = new URLSearchParams({ threshold: $("dup-threshold").value || "0.95", keep: "largest" });
  if ($("dup-phash").value !== "") params.set("phash", $("dup-phash").value);
  $("dup-summary").textContent = "searching…";
  try {
    const res = await api(colPath(`/duplicates?${params}`));
    $("dup-summary").textContent =
      `${res.groups.length} group(s) among ${res.items} image(s); the kept member is outlined`;
    $("dup-groups").replaceChildren(...res.groups.map(renderGroup));
  } catch (err) { $("dup-summary").textContent = ""; showError(err); }
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

$("zs-form").addEventListener("submit", classifyUpload);
$("dup-form").addEventListener("submit", findDuplicates);
