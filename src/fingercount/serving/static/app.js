// fingercount dashboard: live webcam inference, models, experiments. No build step.
const params = new URLSearchParams(location.search);
const API = (params.get("api") || location.origin).replace(/\/$/, "");
const $ = (id) => document.getElementById(id);
const fmt = (v, digits = 3) => (typeof v === "number" && isFinite(v) ? v.toFixed(digits) : "–");
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

// ---------------------------------------------------------------- API and banner

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(API + path, options);
  } catch (error) {
    showBanner(`API unreachable at ${API}: start the server (fingercount serve) or check the address.`);
    throw error;
  }
  hideBanner("api");
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.code = body.error;
    throw error;
  }
  return body;
}

function showBanner(text, kind = "api", warn = false) {
  const banner = $("banner");
  banner.textContent = text;
  banner.dataset.kind = kind;
  banner.classList.toggle("warn", warn);
  banner.hidden = false;
}

function hideBanner(kind) {
  const banner = $("banner");
  if (banner.dataset.kind === kind) banner.hidden = true;
}

// ---------------------------------------------------------------- current model

let currentModel = null;

async function refreshCurrent() {
  try {
    const [state, health] = await Promise.all([api("/models/current"), api("/health")]);
    currentModel = state.model;
    const badge = $("model-badge");
    if (state.model) {
      const aliases = state.model.aliases.length ? " @" + state.model.aliases.join(" @") : "";
      badge.textContent = `model: ${state.model.name} v${state.model.version}${aliases} · ${state.model.engine}`;
      badge.dataset.version = state.model.version;
      hideBanner("model");
      if (!confTouched) setConf(state.model.count_conf);
    } else {
      badge.textContent = "model: none";
      badge.dataset.version = "";
      showBanner(`No model loaded: ${health.reason || "load one on the Models page"}.`, "model", true);
    }
  } catch {
    /* the banner already says why */
  }
}

// ---------------------------------------------------------------- live page

const video = $("video");
const overlay = $("overlay");
const grab = document.createElement("canvas");
let stream = null, socket = null, running = false, inFlight = false, sentAt = 0, frameTimes = [];
let lastFrame = null, confTouched = false, useHttp = false;

function setConf(value) {
  $("conf").value = value;
  $("conf-value").textContent = Number(value).toFixed(3);
}

$("conf").addEventListener("input", () => {
  confTouched = true;
  $("conf-value").textContent = Number($("conf").value).toFixed(3);
  sendOptions();
});
$("blur").addEventListener("change", sendOptions);

function sendOptions() {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ conf: Number($("conf").value), preprocess: $("blur").checked }));
  }
}

function cameraMessage(text, isError = false) {
  const message = $("camera-message");
  message.textContent = text;
  message.classList.toggle("error", isError);
  message.hidden = !text;
}

async function startCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    cameraMessage("No camera API in this browser (it needs HTTPS or localhost).", true);
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (error) {
    const denied = error.name === "NotAllowedError" || error.name === "SecurityError";
    const missing = error.name === "NotFoundError" || error.name === "OverconstrainedError";
    cameraMessage(
      denied ? "Camera access was denied. Allow the camera for this site in the browser's settings, then press Start again."
        : missing ? "No camera found. Connect a camera, then press Start again."
        : `The camera could not start (${error.name}).`,
      true,
    );
    $("camera-message").dataset.state = denied ? "denied" : missing ? "missing" : "error";
    return;
  }
  video.srcObject = stream;
  await video.play();
  cameraMessage("");
  running = true;
  $("start").disabled = true;
  $("stop").disabled = false;
  openSocket();
  requestAnimationFrame(loop);
}

function stopCamera() {
  running = false;
  stream?.getTracks().forEach((track) => track.stop());
  stream = null;
  socket?.close();
  socket = null;
  inFlight = false;
  $("start").disabled = false;
  $("stop").disabled = true;
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  cameraMessage("Camera stopped.");
}

function openSocket() {
  const query = `?conf=${$("conf").value}&preprocess=${$("blur").checked}`;
  socket = new WebSocket(API.replace(/^http/, "ws") + "/ws/predict" + query);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => { useHttp = false; $("transport").textContent = "WebSocket"; };
  socket.onmessage = (event) => handleResult(JSON.parse(event.data));
  socket.onerror = () => { useHttp = true; $("transport").textContent = "HTTP"; };
  socket.onclose = () => { inFlight = false; if (running && !useHttp) setTimeout(() => running && openSocket(), 1000); };
}

function loop() {
  if (!running) return;
  if (!inFlight && video.videoWidth) sendFrame();
  requestAnimationFrame(loop);
}

function sendFrame() {
  grab.width = video.videoWidth;
  grab.height = video.videoHeight;
  grab.getContext("2d").drawImage(video, 0, 0);
  inFlight = true;
  grab.toBlob(async (blob) => {
    if (!blob || !running) { inFlight = false; return; }
    sentAt = performance.now();
    if (useHttp) {
      postFrame(blob);  // the WebSocket failed: HTTP fallback
    } else if (socket?.readyState === WebSocket.OPEN) {
      socket.send(await blob.arrayBuffer());
    } else {
      inFlight = false;  // still connecting: skip this frame
    }
  }, "image/jpeg", 0.85);
}

async function postFrame(blob) {
  const form = new FormData();
  form.append("file", blob, "frame.jpg");
  try {
    const result = await api(`/predict?conf=${$("conf").value}&preprocess=${$("blur").checked}`, { method: "POST", body: form });
    handleResult(result);
  } catch (error) {
    handleResult({ error: error.code || "unreachable", detail: error.message });
  }
}

function handleResult(result) {
  inFlight = false;
  const now = performance.now();
  if (result.error) {
    const status = $("frame-status");
    status.className = "status error";
    if (result.error === "no_model_loaded") {
      status.textContent = "No model loaded: load one on the Models page.";
      refreshCurrent();
    } else {
      status.textContent = `Frame ${result.frame_id ?? ""} failed: ${result.detail}`;
    }
    return;
  }
  lastFrame = result;
  frameTimes.push(now);
  frameTimes = frameTimes.filter((t) => now - t < 2000);
  const fps = frameTimes.length > 1 ? (frameTimes.length - 1) / ((now - frameTimes[0]) / 1000) : 0;
  const count = $("finger-count");
  count.textContent = result.finger_count;
  count.dataset.frameId = result.frame_id ?? "";
  $("fps").textContent = fps.toFixed(1);
  $("rtt").textContent = `${(now - sentAt).toFixed(0)} ms`;
  $("inference").textContent = `${result.inference_time_ms.toFixed(1)} ms`;
  const status = $("frame-status");
  status.className = "status";
  status.textContent = result.dropped_frames ? `${result.dropped_frames} frame(s) dropped (newest wins)` : "";
  if (currentModel && result.model_version !== currentModel.version) refreshCurrent();
  $("predictions").innerHTML = result.predictions
    .map((p) => `<li>${esc(p.class_name)} finger(s) · ${(p.confidence * 100).toFixed(0)}%</li>`).join("");
  drawBoxes(result);
}

function drawBoxes(result) {
  const box = overlay.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  overlay.width = Math.round(box.width * ratio);
  overlay.height = Math.round(box.height * ratio);
  const ctx = overlay.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, box.width, box.height);
  const [imageW, imageH] = result.image_size;
  // The video is drawn with object-fit: contain; map image pixels onto the same letterboxed area.
  const scale = Math.min(box.width / imageW, box.height / imageH);
  const offsetX = (box.width - imageW * scale) / 2, offsetY = (box.height - imageH * scale) / 2;
  ctx.lineWidth = 3;
  ctx.font = "600 14px system-ui, sans-serif";
  for (const p of result.predictions) {
    const [x1, y1, x2, y2] = p.bbox;
    const x = offsetX + x1 * scale, y = offsetY + y1 * scale;
    ctx.strokeStyle = "#22c55e";
    ctx.strokeRect(x, y, (x2 - x1) * scale, (y2 - y1) * scale);
    const label = `${p.class_name} · ${(p.confidence * 100).toFixed(0)}%`;
    ctx.fillStyle = "#22c55e";
    ctx.fillRect(x, Math.max(0, y - 20), ctx.measureText(label).width + 10, 20);
    ctx.fillStyle = "#04130a";
    ctx.fillText(label, x + 5, Math.max(14, y - 5));
  }
  overlay.dataset.boxes = String(result.predictions.length);
}

window.addEventListener("resize", () => lastFrame && drawBoxes(lastFrame));
$("start").addEventListener("click", startCamera);
$("stop").addEventListener("click", stopCamera);

// ---------------------------------------------------------------- models page

$("admin-token").value = sessionStorage.getItem("adminToken") || "";
$("admin-token").addEventListener("change", () => sessionStorage.setItem("adminToken", $("admin-token").value));

async function renderModels() {
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
  const serving = currentModel && currentModel.name === name && currentModel.version === v.version;
  const aliases = v.aliases.map((a) => `<span class="tag alias">@${esc(a)}</span>`).join("")
    + (v.stage && v.stage !== "None" ? `<span class="tag">${esc(v.stage)}</span>` : "");
  return `<tr class="${serving ? "serving" : ""}" data-version="${esc(v.version)}">
    <td>v${esc(v.version)}${serving ? ' <span class="tag alias">serving</span>' : ""}</td><td>${aliases || "–"}</td>
    <td>${esc(t.architecture || "–")}</td><td>${fmt(Number(t["test/mAP50-95"]))}</td>
    <td>${fmt(Number(t["test/precision"]))}</td><td>${fmt(Number(t["test/recall"]))}</td>
    <td>${fmt(Number(t["test/count_accuracy"]))}</td><td class="eval-sets">${evalSets(v.eval_sets)}</td>
    <td>${new Date(v.created).toLocaleString()}</td>
    <td><button type="button" data-load="${esc(v.version)}" data-name="${esc(name)}" ${serving ? "disabled" : ""}>
      ${serving ? "Serving" : "Load"}</button></td></tr>`;
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
  const token = $("admin-token").value;
  const query = new URLSearchParams({ model_name: button.dataset.name, version: button.dataset.load });
  try {
    const state = await api(`/models/load?${query}`, { method: "POST", headers: token ? { Authorization: `Bearer ${token}` } : {} });
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

// ---------------------------------------------------------------- experiments page

let runs = [], mlflowUrl = null, sortKey = "date", sortAscending = false;
const selected = new Set();

async function renderExperiments() {
  let data;
  try {
    data = await api("/models/experiments");
  } catch (error) {
    $("runs").querySelector("tbody").innerHTML = `<tr><td colspan="12" class="status error">Cannot list experiments: ${esc(error.message)}</td></tr>`;
    return;
  }
  mlflowUrl = data.mlflow_ui_url ? data.mlflow_ui_url.replace(/\/$/, "") : null;
  runs = data.experiments.flatMap((e) => e.runs.map((r) => ({
    ...r, experiment: e.name, experimentId: e.experiment_id,
    architecture: r.params["model.architecture"] || "–", map: r.metrics["test/mAP50-95"],
    precision: r.metrics["test/precision"], recall: r.metrics["test/recall"], count: r.metrics["test/count_accuracy"],
    date: r.start_time, run: r.run_name || r.run_id.slice(0, 8),
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

// ---------------------------------------------------------------- routing

function route() {
  const page = (location.hash.replace("#/", "") || "live").split("?")[0];
  const name = ["live", "models", "experiments"].includes(page) ? page : "live";
  document.querySelectorAll(".page").forEach((section) => { section.hidden = section.id !== `page-${name}`; });
  document.querySelectorAll("nav a").forEach((link) => {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
  if (name === "models") renderModels();  // it refreshes the current model itself
  else refreshCurrent();
  if (name === "experiments") renderExperiments();
}

window.addEventListener("hashchange", route);
route();
setInterval(refreshCurrent, 3000);
