// Experiments page: runs from MLflow, sortable, two compared side by side.
import { $, api, esc, fmt } from "./api.js";

let runs = [], mlflowUrl = null, sortKey = "date", sortAscending = false;
const selected = new Set();

export async function renderExperiments() {
  let experiments, config;
  try {
    [experiments, config] = await Promise.all([api("/models/experiments"), api("/config")]);
  } catch (error) {
    $("runs").querySelector("tbody").innerHTML = `<tr><td colspan="12" class="status error">Cannot list experiments: ${esc(error.message)}</td></tr>`;
    return;
  }
  mlflowUrl = config.mlflow_ui_url ? config.mlflow_ui_url.replace(/\/$/, "") : null;
  runs = experiments.flatMap((e) => e.runs.map((r) => ({
    ...r, params: r.main_params, experiment: e.experiment_name, experimentId: e.experiment_id,
    architecture: r.params["model.architecture"] || "–", map: r.metrics["test/mAP50-95"],
    precision: r.metrics["test/precision"], recall: r.metrics["test/recall"], count: r.metrics["test/count_accuracy"],
    date: r.start_time_ms, run: r.run_name || r.run_id.slice(0, 8),
  })));
  drawRuns();
}

function drawRuns() {
  const sorted = runs.slice().sort((a, b) => {
    const x = a[sortKey] ?? -Infinity, y = b[sortKey] ?? -Infinity;
    const order = x < y ? -1 : x > y ? 1 : 0;
    return sortAscending ? order : -order;
  });
  document.querySelectorAll("#runs th").forEach((th) => {
    const key = th.querySelector("button")?.dataset.sort;
    if (key) th.setAttribute("aria-sort", key === sortKey ? (sortAscending ? "ascending" : "descending") : "none");
  });
  $("runs").querySelector("tbody").innerHTML = sorted.length ? sorted.map((r) => `
    <tr data-run="${esc(r.run_id)}">
      <td><input type="checkbox" aria-label="Compare ${esc(r.run)}" data-compare="${esc(r.run_id)}" ${selected.has(r.run_id) ? "checked" : ""}></td>
      <td>${esc(r.experiment)}</td><td>${esc(r.run)}</td><td>${esc(r.architecture)}</td>
      <td data-key="map">${fmt(r.map)}</td><td>${fmt(r.precision)}</td><td>${fmt(r.recall)}</td><td>${fmt(r.count)}</td>
      <td>${r.date ? new Date(r.date).toLocaleString() : "–"}</td><td>${esc(r.status)}</td>
      <td>${Object.entries(r.params).filter(([k]) => k !== "model.architecture" && k !== "dataset.content_hash")
        .map(([k, v]) => `${esc(k.split(".").pop())}=${esc(v)}`).join(" ")}</td>
      <td>${mlflowUrl ? `<a href="${esc(mlflowUrl)}/#/experiments/${esc(r.experimentId)}/runs/${esc(r.run_id)}" target="_blank" rel="noopener">open</a>` : ""}</td>
    </tr>`).join("") : `<tr><td colspan="12" class="status">No runs yet: run <code>fingercount train</code>.</td></tr>`;
  $("runs").querySelectorAll("input[data-compare]").forEach((box) => box.addEventListener("change", () => {
    if (box.checked) {
      selected.add(box.dataset.compare);
      if (selected.size > 2) selected.delete(selected.values().next().value);
    } else {
      selected.delete(box.dataset.compare);
    }
    drawRuns();
  }));
  drawCompare();
}

function drawCompare() {
  const target = $("compare");
  const chosen = runs.filter((r) => selected.has(r.run_id));
  if (chosen.length !== 2) { target.hidden = true; target.innerHTML = ""; return; }
  const keys = (field) => [...new Set(chosen.flatMap((r) => Object.keys(r[field])))].sort();
  const row = (label, a, b) => `<tr><th scope="row">${esc(label)}</th><td>${esc(a)}</td><td>${esc(b)}</td></tr>`;
  target.innerHTML = `<h2>Comparison</h2><div class="table-wrap"><table class="data">
    <thead><tr><th scope="col"></th>${chosen.map((r) => `<th scope="col">${esc(r.run)}</th>`).join("")}</tr></thead><tbody>
    ${row("experiment", chosen[0].experiment, chosen[1].experiment)}${row("status", chosen[0].status, chosen[1].status)}
    ${keys("params").map((k) => row(k, chosen[0].params[k] ?? "–", chosen[1].params[k] ?? "–")).join("")}
    ${keys("metrics").filter((k) => k.startsWith("test/") || k.startsWith("val/"))
      .map((k) => row(k, fmt(chosen[0].metrics[k], 4), fmt(chosen[1].metrics[k], 4))).join("")}
    </tbody></table></div>`;
  target.hidden = false;
}

document.querySelectorAll("#runs th button").forEach((button) => button.addEventListener("click", () => {
  sortAscending = sortKey === button.dataset.sort ? !sortAscending : false;
  sortKey = button.dataset.sort;
  drawRuns();
}));
