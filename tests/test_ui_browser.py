"""The Prefect UI, read by a real headless Chromium, shows a finished conversion (issue #5).

A real ``prefect server`` (UI enabled) is started once for the module; a
conversion runs in-process against it; Chromium loads the flow run page and the
summary artifact's page with ``--dump-dom``. ``--virtual-time-budget`` lets the
Vue app fetch from the API and render before the DOM is dumped.
"""

import html
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from comic2pdf.proc import kill_group
from comic2pdf.samples import make_comic
from flows.convert import convert_comic
from tasks.report import artifact_key
from tests.conftest import prefect_server_running

pytestmark = pytest.mark.server

HEADLESS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Debian ``chromium`` binary; probed before the server is started."""
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not installed: apt-get install chromium (scripts/apt-test.txt)")
    return found


@pytest.fixture(scope="module")
def ui_server(chromium, tmp_path_factory):
    """A real Prefect server serving the UI, with its own PREFECT_HOME, once for this module."""
    with prefect_server_running(tmp_path_factory.mktemp("prefect-ui-server"), ui=True) as server:
        yield server


def dump_dom(chromium: str, url: str, folder: Path) -> str:
    """The DOM of *url* once the page has rendered, as Chromium serialises it."""
    folder.mkdir()
    argv = [
        chromium, *HEADLESS, f"--user-data-dir={folder / 'profile'}",
        "--virtual-time-budget=20000", "--dump-dom", url,
    ]  # fmt: skip
    with (folder / "chromium.log").open("wb") as log:
        browser = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    try:
        dom, _ = browser.communicate(timeout=45)
    finally:
        kill_group(browser, grace=15)  # renderer or GPU processes left behind too
    assert browser.returncode == 0, (folder / "chromium.log").read_text()[-2000:]
    return dom.decode()


def page_text(dom: str) -> str:
    """The visible text of a dumped DOM, whitespace collapsed."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())


def run_artifacts(api_url: str, flow_run_id) -> list[dict]:
    """Raw REST: Prefect 3.8's sync client sends nulls the API refuses."""
    body = {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "limit": 50, "offset": 0}
    response = httpx.post(f"{api_url}/artifacts/filter", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def test_the_ui_shows_the_run_and_its_summary(ui_server, chromium, data_dir, tmp_path):
    comic = make_comic(tmp_path / "Browser Test.cbz", title="Browser Test", pages=1)
    state = convert_comic(path=str(comic.path), out_dir=str(tmp_path / "out"), return_state=True)
    assert state.is_completed(), state
    flow_run_id = state.state_details.flow_run_id
    key = artifact_key(comic.path.name)
    (summary,) = [a for a in run_artifacts(ui_server.url, flow_run_id) if a["key"] == key]
    ui = ui_server.url.removesuffix("/api")

    run_page = page_text(dump_dom(chromium, f"{ui}/runs/flow-run/{flow_run_id}", tmp_path / "run"))
    assert "Flow Run: convert-Browser Test" in run_page, run_page[:2000]
    assert "Completed" in run_page, run_page[:2000]

    # The flow run page draws artifact keys on its timeline canvas and lists them only
    # behind a tab (its ?tab= query is not honoured); the artifact's page renders them.
    artifact_dom = dump_dom(chromium, f"{ui}/artifacts/artifact/{summary['id']}", tmp_path / "art")
    artifact_page = page_text(artifact_dom)
    heading = r"<h2\b[^>]*>\s*Converted Browser Test\.cbz\s*</h2>"  # the markdown, rendered
    assert re.search(heading, artifact_dom), artifact_page[:2000]
    assert "pages 1 pages without text 0" in artifact_page  # its table, rendered
    assert "comic2pdf-browser-test-cbz" in artifact_page
    assert "convert-Browser Test" in artifact_page  # linked back to its flow run
