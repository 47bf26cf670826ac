// The model serving now: shown in the top bar, followed by the pages that depend on it.
import { $, api, hideBanner, showBanner } from "./api.js";

export const serving = { model: null };
const listeners = [];

export function onModel(listener) {
  listeners.push(listener);
}

export async function refreshCurrent() {
  try {
    const [state, health] = await Promise.all([api("/models/current"), api("/health")]);
    serving.model = state.model;
    const badge = $("model-badge");
    if (state.model) {
      const aliases = state.model.aliases.length ? " @" + state.model.aliases.join(" @") : "";
      badge.textContent = `model: ${state.model.name} v${state.model.version}${aliases} · ${state.model.engine}`;
      badge.dataset.version = state.model.version;
      hideBanner("model");
      listeners.forEach((listener) => listener(state.model));
    } else {
      badge.textContent = "model: none";
      badge.dataset.version = "";
      showBanner(`No model loaded: ${health.reason || "load one on the Models page"}.`, "model", true);
    }
  } catch {
    /* the banner already says why */
  }
}
