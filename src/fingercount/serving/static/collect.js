// Collect page (teach loop): capture frames of the user's hand with a count, see the collection,
// train on it in a separate process and watch the job until the new version serves.
import { $, api, authHeaders, esc, showPrivacy } from "./api.js";
import { grabFrame, openCamera } from "./camera.js";
import { refreshCurrent } from "./current.js";

const video = $("collect-video");
const CAPTURE_EVERY_MS = 250;  // at most 4 frames a second while a count is held
let stream = null, holding = null, capturing = false, teacherBusy = false, jobTimer = null;

const collection = () => $("collection-name").value.trim();

function status(text, kind = "") {
  const line = $("collect-status");
  line.className = `status ${kind}`;
  line.textContent = text;
}

async function start() {
  stream = await openCamera(video, $("collect-camera-message"));
  if (!stream) return;
  $("collect-start").disabled = true;
  setInterval(showTeacherCount, 700);
}

// The teacher's count on the current frame, shown live (it is also the "Teacher's" button's count).
async function showTeacherCount() {
  if (!stream || teacherBusy || holding !== null || !video.videoWidth || document.hidden) return;
  teacherBusy = true;
  try {
    const form = new FormData();
    form.append("file", await grabFrame(video), "frame.jpg");
    const answer = await api("/teacher", { method: "POST", body: form });
    $("teacher-count").textContent = answer.hands.length ? answer.count : "no hand";
  } catch (error) {
    $("teacher-count").textContent = error.code === "teacher_unavailable" ? "unavailable" : "–";
  } finally {
    teacherBusy = false;
  }
}

function hold(count) {
  if (holding === count) return;
  if (!stream) { status("Start the camera first.", "error"); return; }
  holding = count;
  document.querySelectorAll(".count-buttons button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.count === String(count))));
  captureLoop();
}

function release() {
  holding = null;
  document.querySelectorAll(".count-buttons button").forEach((b) => b.setAttribute("aria-pressed", "false"));
}

async function captureLoop() {
  if (capturing) return;
  capturing = true;
  while (holding !== null && stream) {
    const started = performance.now();
    await capture(holding);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, CAPTURE_EVERY_MS - (performance.now() - started))));
  }
  capturing = false;
}

async function capture(count) {
  const form = new FormData();
  form.append("file", await grabFrame(video), "frame.jpg");
  const query = count === "teacher" ? "" : `?count=${count}`;
  try {
    const answer = await api(`/collections/${encodeURIComponent(collection())}/frames${query}`, { method: "POST", body: form, headers: authHeaders() });
    $("teacher-count").textContent = answer.teacher_count;
    if (answer.stored) {
      const mismatch = answer.frame.count !== answer.teacher_count ? ` (the teacher sees ${answer.teacher_count})` : "";
      status(`Stored a frame of ${answer.frame.count}${mismatch}.`, "ok");
    } else {
      status("Same as the last frame: skipped. Move your hand a little.");
    }
    drawCounts(answer.collection);
    if (answer.stored) addToGallery(answer.frame);
  } catch (error) {
    status(error.status === 401 ? "The server needs an admin token: enter it on the Models page." : error.message, "error");
    if (error.status === 401 || error.status === 404 || error.status === 422 || error.status === 503) release();
  }
}

function drawCounts(summary) {
  const cells = ["0", "1", "2", "3", "4", "5"].map((c) => `<td data-count="${c}">${summary.counts[c]}</td>`).join("");
  $("collection-counts").innerHTML = `${cells}<td data-count="all">${summary.frames}</td>`;
}

function frameFigure(frame) {
  const name = encodeURIComponent(collection());
  const mismatch = frame.count !== frame.teacher_count;
  return `<figure data-frame="${esc(frame.id)}">
    <div class="thumb"><img src="/collections/${name}/images/${esc(frame.id)}.jpg" alt="frame ${esc(frame.id)}" loading="lazy">
      <span class="teacher-box" data-box="${frame.box.join(",")},${frame.width},${frame.height}" title="the teacher's box"></span></div>
    <figcaption><span>${frame.count} finger(s)${mismatch ? ` <span class="mismatch" title="the teacher's count">(${frame.teacher_count})</span>` : ""}</span>
      <button type="button" data-delete="${esc(frame.id)}" aria-label="Delete frame ${esc(frame.id)}">✕</button></figcaption></figure>`;
}

// The teacher's box over each thumbnail, in percent of the frame (set through the CSSOM: the
// Content-Security-Policy allows no inline style attributes).
function placeBoxes() {
  document.querySelectorAll("#gallery .teacher-box:not([data-placed])").forEach((span) => {
    const [x1, y1, x2, y2, width, height] = span.dataset.box.split(",").map(Number);
    Object.assign(span.style, {
      left: `${(100 * x1) / width}%`, top: `${(100 * y1) / height}%`,
      width: `${(100 * (x2 - x1)) / width}%`, height: `${(100 * (y2 - y1)) / height}%`,
    });
    span.dataset.placed = "1";
  });
}

function addToGallery(frame) {
  $("gallery").insertAdjacentHTML("afterbegin", frameFigure(frame));
  placeBoxes();
}

export async function renderCollect() {
  showPrivacy($("collect-privacy"));
  try {
    const found = await api(`/collections/${encodeURIComponent(collection())}`);
    drawCounts(found);
    $("gallery").innerHTML = found.items.slice().reverse().map(frameFigure).join("");
    placeBoxes();
  } catch (error) {
    $("gallery").innerHTML = "";
    $("collection-counts").innerHTML = `<td colspan="7">${error.status === 404 ? "no frames yet" : esc(error.message)}</td>`;
  }
  watchJob();
}

async function deleteFrame(id) {
  try {
    const summary = await api(`/collections/${encodeURIComponent(collection())}/frames/${encodeURIComponent(id)}`, { method: "DELETE", headers: authHeaders() });
    drawCounts(summary);
    document.querySelector(`#gallery figure[data-frame="${CSS.escape(id)}"]`)?.remove();
  } catch (error) {
    status(error.message, "error");
  }
}

async function startJob() {
  const query = new URLSearchParams({ collection: collection() });
  if ($("job-epochs").value) query.set("epochs", $("job-epochs").value);
  try {
    showJob(await api(`/jobs?${query}`, { method: "POST", headers: authHeaders() }));
    watchJob();
  } catch (error) {
    jobStatus(error.status === 401 ? "The server needs an admin token: enter it on the Models page." : error.message, "error");
  }
}

async function cancelJob() {
  try {
    showJob(await api("/jobs/current/cancel", { method: "POST", headers: authHeaders() }));
  } catch (error) {
    jobStatus(error.message, "error");
  }
}

function jobStatus(text, state) {
  const line = $("job-status");
  line.className = `status ${state === "error" || state === "failed" ? "error" : state === "succeeded" ? "ok" : ""}`;
  line.dataset.state = state;
  line.textContent = text;
}

function showJob(job) {
  const running = job.state === "running";
  $("job-start").disabled = running;
  $("job-cancel").disabled = !running;
  const bar = $("job-progress");
  bar.hidden = !running;
  bar.max = job.epochs || 1;
  bar.value = job.epoch || 0;
  const metrics = Object.entries(job.metrics || {}).map(([k, v]) => `${k} ${Number(v).toFixed(3)}`).join(", ");
  if (running) {
    const epoch = job.phase === "training" && job.epochs ? ` — epoch ${job.epoch}/${job.epochs}` : "";
    const what = job.config ? `training ${job.config}` : `on “${job.collection}”`;
    jobStatus(`Job ${job.id} ${what}: ${job.phase}${epoch}${metrics ? ` (${metrics})` : ""}`, "running");
  } else if (job.state === "succeeded") {
    jobStatus(`${job.message || `Version ${job.version} registered`}. ${metrics}`, "succeeded");
    refreshCurrent();
  } else {
    jobStatus(`Job ${job.state}: ${job.error || job.message}. The previous model keeps serving.`, job.state);
  }
}

async function watchJob() {
  clearTimeout(jobTimer);
  try {
    const job = await api("/jobs/current");
    showJob(job);
    if (job.state === "running") jobTimer = setTimeout(watchJob, 1000);
  } catch {
    /* no job yet */
  }
}

$("collect-start").addEventListener("click", start);
$("collection-name").addEventListener("change", renderCollect);
$("job-start").addEventListener("click", startJob);
$("job-cancel").addEventListener("click", cancelJob);
$("gallery").addEventListener("click", (event) => {
  const id = event.target.closest("button[data-delete]")?.dataset.delete;
  if (id) deleteFrame(id);
});
document.querySelectorAll(".count-buttons button").forEach((button) => {
  const count = button.dataset.count === "teacher" ? "teacher" : Number(button.dataset.count);
  button.addEventListener("pointerdown", () => hold(count));
  ["pointerup", "pointerleave", "pointercancel"].forEach((type) => button.addEventListener(type, release));
});
document.addEventListener("keydown", (event) => {
  if (location.hash !== "#/collect" || event.target.matches("input") || !/^[0-5]$/.test(event.key)) return;
  event.preventDefault();
  hold(Number(event.key));
});
document.addEventListener("keyup", (event) => {
  if (/^[0-5]$/.test(event.key)) release();
});
