// Review page: frames where the served model and the hand-landmark teacher disagreed (MONITOR_KEEP=1).
// Give the true count with one key (0–5) or delete (Delete/Backspace); counted frames join the
// "review" collection, which the Collect page trains on like any other.
import { $, API, api, authHeaders, esc, showPrivacy } from "./api.js";


function status(text, kind = "") {
  const line = $("review-status");
  line.className = `status ${kind}`;
  line.textContent = text;
}

export async function renderReview() {
  showPrivacy($("review-privacy"));
  let monitor;
  try {
    monitor = await api("/monitor");
  } catch (error) {
    status(error.message, "error");
    return;
  }
  $("review-summary").textContent = monitor.enabled
    ? `The teacher judges 1 in ${monitor.sample_rate} predictions; ${monitor.kept ?? 0} disagreements kept.`
    : `Monitoring is off: ${monitor.reason}.`;
  if (monitor.kept === null) {
    $("review-list").innerHTML = "";
    status("Disagreements are not kept: start the server with MONITOR_KEEP=1.");
    return;
  }
  const frames = await api("/monitor/review");
  $("review-list").innerHTML = frames.map((frame) => `
    <figure tabindex="0" data-frame="${esc(frame.id)}">
      <img src="${API_IMAGE(frame.id)}" alt="kept frame ${esc(frame.id)}" loading="lazy">
      <figcaption>model <strong>${esc(frame.model_count)}</strong> · teacher <strong>${esc(frame.teacher_count)}</strong>
        · v${esc(frame.version)}</figcaption>
      <div class="count-buttons small" role="group" aria-label="True count">
        ${[0, 1, 2, 3, 4, 5].map((n) => `<button type="button" data-count="${n}">${n}</button>`).join("")}
        <button type="button" data-delete title="Nothing to learn from it">Delete</button>
      </div>
    </figure>`).join("");
  status(frames.length ? "Focus a frame and press its true count (0–5), or Delete." : "Nothing to review.");
}

const API_IMAGE = (id) => `${API}/monitor/review/${encodeURIComponent(id)}/image`;

async function decide(figure, count) {
  const id = figure.dataset.frame;
  try {
    if (count === null) {
      await api(`/monitor/review/${encodeURIComponent(id)}`, { method: "DELETE", headers: authHeaders() });
      status(`Deleted ${id}.`);
    } else {
      const done = await api(`/monitor/review/${encodeURIComponent(id)}?count=${count}`, { method: "POST", headers: authHeaders() });
      status(done.duplicate ? `${id}: a near-duplicate of a frame already in “review”.` : `${id} → “review” with ${count} fingers.`, "ok");
    }
    const next = figure.nextElementSibling || figure.previousElementSibling;
    figure.remove();
    next?.focus();
  } catch (error) {
    status(error.status === 401 ? "The server needs an admin token: enter it on the Models page." : error.message, "error");
  }
}

$("review-list").addEventListener("click", (event) => {
  const figure = event.target.closest("figure");
  const button = event.target.closest("button");
  if (!figure || !button) return;
  decide(figure, button.hasAttribute("data-delete") ? null : Number(button.dataset.count));
});
$("review-list").addEventListener("keydown", (event) => {
  const figure = event.target.closest("figure");
  if (!figure) return;
  if (/^[0-5]$/.test(event.key)) decide(figure, Number(event.key));
  else if (event.key === "Delete" || event.key === "Backspace") decide(figure, null);
});
