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
      // A version that asks the hand-landmark model to count says so (its count head).
      const head = state.model.count_head && state.model.count_head !== "classes" ? ` · counts by ${state.model.count_head}` : "";
      badge.textContent = `model: ${state.model.name} v${state.model.version}${aliases} · ${state.model.engine}${head}`;
      badge.dataset.version = state.model.version;
      badge.dataset.countHead = state.model.count_head || "classes";
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
