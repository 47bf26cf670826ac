// Live page: webcam frames over a WebSocket (HTTP as fallback), boxes and the finger count.
import { $, API, api, esc } from "./api.js";
import { closeCamera, grabFrame, openCamera } from "./camera.js";
import { onModel, refreshCurrent, serving } from "./current.js";

const video = $("video");
const overlay = $("overlay");
const grab = document.createElement("canvas");
let stream = null, socket = null, running = false, inFlight = false, sentAt = 0, frameTimes = [];
let lastFrame = null, confTouched = false, useHttp = false;

// The stored counting threshold of each model, until the user moves the slider.
onModel((model) => { if (!confTouched) setConf(model.count_conf); });

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
  stream = await openCamera(video, $("camera-message"));
  if (!stream) return;
  running = true;
  $("start").disabled = true;
  $("stop").disabled = false;
  openSocket();
  requestAnimationFrame(loop);
}

function stopCamera() {
  running = false;
  closeCamera(stream);
  stream = null;
  const ws = socket;
  socket = null;  // first, so that the closing socket's events are ignored
  ws?.close();
  inFlight = false;
  $("start").disabled = false;
  $("stop").disabled = true;
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  cameraMessage("Camera stopped.");
}

function openSocket() {
  const query = `?conf=${$("conf").value}&preprocess=${$("blur").checked}`;
  const ws = new WebSocket(API.replace(/^http/, "ws") + "/ws/predict" + query);
  ws.binaryType = "arraybuffer";
  // Handlers act only while `ws` is the page's socket: after Stop (or Stop then Start) a closing
  // socket's late events must not reconnect a second socket or answer for the new one.
  const current = () => socket === ws;
  ws.onopen = () => { if (current()) { useHttp = false; $("transport").textContent = "WebSocket"; } };
  ws.onmessage = (event) => { if (current()) handleResult(JSON.parse(event.data)); };
  ws.onerror = () => { if (current()) { useHttp = true; $("transport").textContent = "HTTP"; } };
  ws.onclose = () => {
    if (!current()) return;
    inFlight = false;
    if (running && !useHttp) setTimeout(() => running && current() && openSocket(), 1000);
  };
  socket = ws;
}

function loop() {
  if (!running) return;
  if (!inFlight && video.videoWidth) sendFrame();
  requestAnimationFrame(loop);
}

async function sendFrame() {
  inFlight = true;
  const blob = await grabFrame(video, grab);
  if (!blob || !running) { inFlight = false; return; }
  if (useHttp) {
    sentAt = performance.now();
    postFrame(blob);  // the WebSocket failed: HTTP fallback
    return;
  }
  const ws = socket;
  if (ws?.readyState !== WebSocket.OPEN) { inFlight = false; return; }  // still connecting: skip this frame
  const bytes = await blob.arrayBuffer();
  // Stop may have closed the socket while the frame was read: check it again after the await.
  if (!running || socket !== ws || ws.readyState !== WebSocket.OPEN) { inFlight = false; return; }
  sentAt = performance.now();
  ws.send(bytes);
}

async function postFrame(blob) {
  const form = new FormData();
  form.append("file", blob, "frame.jpg");
  try {
    const result = await api(`/predict?conf=${$("conf").value}&preprocess=${$("blur").checked}`, { method: "POST", body: form });
    if (running) handleResult(result);  // an answer that comes after Stop draws nothing
  } catch (error) {
    if (running) handleResult({ error: error.code || "unreachable", detail: error.message });
  } finally {
    if (!running) inFlight = false;
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
  if (serving.model && result.model_version !== serving.model.version) refreshCurrent();
  $("predictions").innerHTML = result.predictions
    .map((p) => `<li>${p.fingers} finger(s) · ${(p.confidence * 100).toFixed(0)}%${countedBy(p)}</li>`).join("");
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
    const label = `${p.fingers} · ${(p.confidence * 100).toFixed(0)}%`;
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

// Monitoring without labels: how often the served version agrees with the teacher on sampled live frames.
async function showAgreement() {
  if ($("page-live").hidden) return;
  try {
    const monitor = await api("/monitor");
    if (!monitor.enabled) {
      $("agreement").textContent = "off";
      $("monitor-status").textContent = `Monitoring off: ${monitor.reason}.`;
      return;
    }
    const share = monitor.agreement === null ? "–" : `${Math.round(monitor.agreement * 100)} %`;
    $("agreement").textContent = share;
    $("agreement").dataset.judged = monitor.judged;
    const baseline = monitor.baseline === null ? "" : `; ${Math.round(monitor.baseline * 100)} % on its held-out sets`;
    $("monitor-status").textContent = monitor.drift
      ? `Drift: ${monitor.drift}.`
      : `v${monitor.version}: ${monitor.judged} frames judged by the teacher (1 in ${monitor.sample_rate} sampled)${baseline}.`;
    $("monitor-status").classList.toggle("error", Boolean(monitor.drift));
  } catch {
    /* the banner already says the API is unreachable */
  }
}
setInterval(showAgreement, 3000);
showAgreement();

// How a hand was counted, where the version's count head did not use the detector's class.
function countedBy(prediction) {
  const how = {
    landmarks: "landmarks on the box",
    photo: "landmarks on the frame",
    keypoints: "its own keypoints",
  }[prediction.counted_by];
  return how ? ` · ${how}` : "";
}
