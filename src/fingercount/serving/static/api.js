// The API client and the page helpers every dashboard module shares.
const params = new URLSearchParams(location.search);
export const API = (params.get("api") || location.origin).replace(/\/$/, "");
export const $ = (id) => document.getElementById(id);
export const fmt = (v, digits = 3) => (typeof v === "number" && isFinite(v) ? v.toFixed(digits) : "–");
export const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

// The admin token typed on the Models page, as the header the API's writes need (none when empty).
export function authHeaders() {
  const token = $("admin-token").value;
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// JSON from the API; a failed request throws an Error carrying the API's `{error, detail}`.
export async function api(path, options = {}) {
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

export function showBanner(text, kind = "api", warn = false) {
  const banner = $("banner");
  banner.textContent = text;
  banner.dataset.kind = kind;
  banner.classList.toggle("warn", warn);
  banner.hidden = false;
}

export function hideBanner(kind) {
  const banner = $("banner");
  if (banner.dataset.kind === kind) banner.hidden = true;
}

// What becomes of the frames a page stores on the server (GET /health's privacy): faces blurred,
// kept as sent (KEEP_FACES=1), or not stored because the blur cannot run.
export async function showPrivacy(line) {
  try {
    const { privacy } = await api("/health");
    const said = {
      "faces blurred": "Stored frames have their faces blurred.",
      "with faces": "Stored frames keep their faces: the operator set KEEP_FACES=1.",
      "not stored": `Frames are not stored: ${privacy.reason}.`,
    };
    line.textContent = said[privacy.stored_frames] || privacy.reason;
    line.className = `privacy ${privacy.stored_frames === "faces blurred" ? "" : "warn"}`;
  } catch (error) {
    line.textContent = "";
  }
}
