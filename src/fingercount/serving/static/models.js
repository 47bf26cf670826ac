// Models page: every registered version with its metrics; load one into the server.
import { $, api, authHeaders, esc, fmt } from "./api.js";
import { refreshCurrent, serving } from "./current.js";

$("admin-token").value = sessionStorage.getItem("adminToken") || "";
$("admin-token").addEventListener("change", () => sessionStorage.setItem("adminToken", $("admin-token").value));

export async function renderModels() {
  const target = $("models");
  let models;
  try {
    [models] = await Promise.all([api("/models/list"), refreshCurrent()]);
  } catch (error) {
    target.innerHTML = `<p class="status error">Cannot list models: ${esc(error.message)}</p>`;
    return;
  }
  if (!models.length) {
    target.innerHTML = `<p class="status">No registered models yet: run <code>fingercount train</code>.</p>`;
    return;
  }
  target.innerHTML = models.map((model) => `
    <div class="model-card"><h2>${esc(model.name)}</h2><div class="table-wrap"><table class="data">
      <thead><tr><th scope="col">Version</th><th scope="col">Aliases / stage</th><th scope="col">Architecture</th>
        <th scope="col">mAP50-95</th><th scope="col">Precision</th><th scope="col">Recall</th>
        <th scope="col">Count acc.</th><th scope="col">Real photos (teacher)</th><th scope="col">Created</th>
        <th scope="col"></th></tr></thead>
      <tbody>${model.versions.slice().reverse().map((v) => versionRow(model.name, v)).join("")}</tbody>
    </table></div></div>`).join("");
  target.querySelectorAll("button[data-load]").forEach((button) => button.addEventListener("click", () => loadVersion(button)));
}

function versionRow(name, v) {
  const t = v.tags || {};
  const current = serving.model;
  const isServing = current && current.name === name && current.version === v.version;
  const aliases = v.aliases.map((a) => `<span class="tag alias">@${esc(a)}</span>`).join("")
    + (v.stage && v.stage !== "None" ? `<span class="tag">${esc(v.stage)}</span>` : "");
  return `<tr class="${isServing ? "serving" : ""}" data-version="${esc(v.version)}">
    <td>v${esc(v.version)}${isServing ? ' <span class="tag alias">serving</span>' : ""}</td><td>${aliases || "–"}</td>
    <td>${esc(t.architecture || "–")}</td><td>${fmt(Number(t["test/mAP50-95"]))}</td>
    <td>${fmt(Number(t["test/precision"]))}</td><td>${fmt(Number(t["test/recall"]))}</td>
    <td>${fmt(Number(t["test/count_accuracy"]))}</td><td class="eval-sets">${evalSets(v.eval_sets)}</td>
    <td>${new Date(v.created).toLocaleString()}</td>
    <td><button type="button" data-load="${esc(v.version)}" data-name="${esc(name)}" ${isServing ? "disabled" : ""}>
      ${isServing ? "Serving" : "Load"}</button></td></tr>`;
}

// Count accuracy on each named set of real photos, the teacher's on the same photos in brackets.
function evalSets(sets) {
  const names = Object.keys(sets || {});
  if (!names.length) return "–";
  return names.map((name) => {
    const set = sets[name];
    const teacher = set.teacher_count_accuracy == null ? "" : ` (${fmt(set.teacher_count_accuracy)})`;
    return `<span class="eval-set" title="exact count accuracy on ${esc(name)}">${esc(name)}: ${fmt(set.count_accuracy)}${teacher}</span>`;
  }).join("<br>");
}

async function loadVersion(button) {
  const status = $("load-status");
  status.className = "status";
  status.textContent = `Loading ${button.dataset.name} v${button.dataset.load}… (download, verify, warm up)`;
  button.disabled = true;
  const target = { model_name: button.dataset.name, version: Number(button.dataset.load) };
  const headers = { "Content-Type": "application/json", ...authHeaders() };
  try {
    const state = await api("/models/load", { method: "POST", headers, body: JSON.stringify(target) });
    status.className = "status ok";
    status.textContent = `Now serving ${state.model.name} v${state.model.version} on ${state.model.engine}.`;
  } catch (error) {
    status.className = "status error";
    status.textContent = error.status === 401
      ? "The server needs an admin token: enter it above and try again."
      : `Loading failed, the previous model keeps serving: ${error.message}`;
  }
  await renderModels();
}
