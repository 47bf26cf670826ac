"""The seed's dashboard's calls from a page on another origin, in Chromium, against `fingercount serve`
with CORS configured for that origin: the page (written for this test, the calls as the seed's
`frontend/comms.js` makes them) renders the current model, counts, experiments with runs, a switch
and a run's weights loaded, with no console error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient

from fingercount.training.trainer import TrainResult
from tests.e2e.conftest import ConsoleLog, screenshot
from tests.integration.test_serving import MODEL, sample_image
from tests.workspace import Workspace, running_server, serving_settings, static_server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGE = """<!doctype html><meta charset="utf-8"><title>seed-like dashboard</title><link rel="icon" href="data:,">
<p id="model"></p><p id="count"></p><p id="ws-count"></p><p id="runs"></p><p id="switch"></p><p id="weights"></p>
<script type="module">
const API = "%(api)s";
const say = (id, text) => { document.getElementById(id).textContent = text; };
const current = await (await fetch(`${API}/models/current`)).json();
say("model", `${current.name} v${current.version} ${current.stage} ${current.architecture}`);
const frame = await (await fetch("frame.jpg")).blob();
const form = new FormData();
form.append("file", frame, "frame.jpg");
const predicted = await fetch(`${API}/predict?skip_check=false&conf_threshold=0.15`, { method: "POST", body: form });
if (!predicted.ok) throw new Error(`predict: ${predicted.status}`);
say("count", `fingers ${(await predicted.json()).finger_count}`);
await fetch(`${API}/config/conf_threshold?threshold=0.15`, { method: "POST" });
const socket = new WebSocket(API.replace(/^http:/, "ws:") + "/ws/predict");
socket.onopen = async () => socket.send(await frame.arrayBuffer());
socket.onmessage = (event) => say("ws-count", `ws fingers ${JSON.parse(event.data).finger_count}`);
const experiments = await (await fetch(`${API}/models/experiments`)).json();
const runs = experiments.flatMap((e) => e.runs.map((r) => `${e.experiment_name}/${r.run_name}`));
say("runs", `${experiments.length} experiments, ${runs.length} runs`);
const switched = await fetch(`${API}/models/load?model_name=%(model)s&version=2`, { method: "POST" });
if (!switched.ok) throw new Error(`load: ${switched.status}`);
say("switch", `now ${(await switched.json()).model_info.version}`);
const run = experiments.flatMap((e) => e.runs).find((r) => r.run_id === current.run_id);
const path = run.available_weights.find((w) => w.endsWith("best.pt"));
const weights = await fetch(`${API}/models/load_run_weights?run_id=${run.run_id}&artifact_path=${path}`,
                            { method: "POST" });
if (!weights.ok) throw new Error(`load_run_weights: ${weights.status}`);
say("weights", `run weights v${(await weights.json()).model_info.version}`);
</script>"""


@pytest.fixture
def seed_page(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static server on its own origin (another port), as the seed's frontend container is."""
    with static_server(tmp_path) as url:
        yield url, tmp_path


def test_the_seeds_dashboard_calls_work_from_another_origin(
    browser: Any, seed_page: tuple[str, Path], first: TrainResult, second: TrainResult, workspace: Workspace,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    origin, folder = seed_page
    MlflowClient().set_registered_model_alias(MODEL, "seed-page", "1")
    settings = serving_settings(workspace, tmp_path_factory.mktemp("seed-page"), MODEL_ALIAS="seed-page",
                                CORS_ORIGINS=origin)  # fmt: skip
    with running_server(settings) as api:
        wait_for(lambda: httpx.get(f"{api}/health").json()["model_loaded"])
        (folder / "index.html").write_text(PAGE % {"api": api, "model": MODEL})
        (folder / "frame.jpg").write_bytes(sample_image())
        page = browser.new_page()
        console = ConsoleLog(page)
        page.goto(f"{origin}/index.html")
        page.wait_for_function("() => document.getElementById('weights').textContent !== ''", timeout=120000)
        page.wait_for_function("() => document.getElementById('ws-count').textContent !== ''", timeout=30000)
        assert page.text_content("#model").startswith(f"{MODEL} v1 ")
        assert page.text_content("#count").startswith("fingers ")
        assert page.text_content("#ws-count").startswith("ws fingers ")
        assert page.text_content("#runs").split()[2] != "0"
        assert page.text_content("#switch") == "now 2"
        assert page.text_content("#weights") == "run weights v1"  # the run behind v1: its registered version
        screenshot(page, "seed-dashboard-calls")
        page.close()
        assert console.errors == []
