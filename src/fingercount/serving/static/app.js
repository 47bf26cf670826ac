// fingercount dashboard: small ES modules, no build step. This one routes between the pages.
import { renderCollect } from "./collect.js";
import { refreshCurrent } from "./current.js";
import { renderExperiments } from "./experiments.js";
import "./live.js";
import { renderModels } from "./models.js";
import { renderReview } from "./review.js";

function route() {
  const page = (location.hash.replace("#/", "") || "live").split("?")[0];
  const name = ["live", "collect", "review", "models", "experiments"].includes(page) ? page : "live";
  document.querySelectorAll(".page").forEach((section) => { section.hidden = section.id !== `page-${name}`; });
  document.querySelectorAll("nav a").forEach((link) => {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  });
  if (name === "models") renderModels();  // it refreshes the current model itself
  else refreshCurrent();
  if (name === "experiments") renderExperiments();
  if (name === "collect") renderCollect();
  if (name === "review") renderReview();
}

window.addEventListener("hashchange", route);
route();
setInterval(refreshCurrent, 3000);
