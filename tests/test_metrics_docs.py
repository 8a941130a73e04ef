"""docs/metrics.md, docs/prometheus/ and docs/grafana/ agree with the code and pass promtool."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from comic2pdf.metrics.definitions import METRICS, Kind
from comic2pdf.metrics.snapshot import JSON_KEYS, LEGACY_KEYS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def promtool(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:
        pytest.fail("promtool is not installed: apt-get install prometheus (or run make setup)")
    return subprocess.run(["promtool", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "docs/prometheus/prometheus.yml"),
        ("check", "rules", "docs/prometheus/alerts.yml"),
        ("test", "rules", "docs/prometheus/alerts_test.yml"),
    ],
    ids=["config", "rules", "rule-tests"],
)
def test_prometheus_files_pass_promtool(args):
    result = promtool(*args)
    assert result.returncode == 0, result.stdout + result.stderr


def alert_names() -> list[str]:
    groups = yaml.safe_load((DOCS / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"]]


def test_every_alert_is_documented_and_tested():
    text = (DOCS / "metrics.md").read_text()
    tests = yaml.safe_load((DOCS / "prometheus" / "alerts_test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    quiet = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if not case["exp_alerts"]
    }
    for alert in alert_names():
        assert f"| `{alert}` |" in text, alert
        assert alert in fired and alert in quiet, f"{alert}: test it quiet and firing"


def test_docs_list_every_series_and_json_key():
    text = (DOCS / "metrics.md").read_text()
    for metric in METRICS:
        labels = ", ".join(f"`{label}`" for label in metric.labels) or "—"
        assert f"| `{metric.prometheus_name}` | {metric.kind} | {labels} |" in text, metric.name
    for key in [*JSON_KEYS, *LEGACY_KEYS]:
        assert f"| `{key}` |" in text, key


def published_names() -> set[str]:
    names = set()
    for metric in METRICS:
        names.add(metric.prometheus_name)
        if metric.kind is Kind.HISTOGRAM:
            names |= {f"{metric.prometheus_name}_{end}" for end in ("bucket", "count", "sum")}
    return names


def test_the_dashboard_is_importable_and_uses_only_our_series():
    dashboard = json.loads((DOCS / "grafana" / "comic2pdf.json").read_text())
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    assert dashboard["uid"] and dashboard["title"] == "comic2pdf"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    used = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        for target in panel["targets"]:
            names = set(re.findall(r"\b[a-z][a-z0-9_]*(?=\{)", target["expr"]))
            assert names and names <= published_names(), (panel["title"], names)
            used |= names
    wanted = {
        "comic2pdf_jobs_done_total", "comic2pdf_pages_processed_total",
        "comic2pdf_jobs_failed_total", "comic2pdf_stage_duration_seconds_bucket",
        "comic2pdf_inbox_waiting", "comic2pdf_duplicates_pending",
        "comic2pdf_last_success_timestamp_seconds",
    }  # fmt: skip
    assert wanted <= used
