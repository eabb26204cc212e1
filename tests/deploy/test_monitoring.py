"""The alerts and the Grafana dashboard use only metrics the code exports, under the names the
Prometheus exporter gives them; and a worker's /metrics answers with them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from plinth import metrics
from plinth.metrics import exposition, setup_metrics

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
SERIES_SUFFIXES = ("_bucket", "_count", "_sum")


def _exported_names() -> set[str]:
    setup_metrics("plinth-test-monitoring")
    labels = {"stage": "segment"}
    metrics.jobs_processed.add(1, {**labels, "outcome": "advanced"})
    metrics.job_failures.add(1, {**labels, "error_code": "x"})
    metrics.stage_duration.record(0.5, labels)
    metrics.provider_cost.add(0.01, {**labels, "item": "segmentation"})
    metrics.webhook_deliveries.add(1, {"outcome": "accepted", "source": "webhook"})
    metrics.stuck_jobs_redriven.add(1, labels)
    metrics.observe_gauge("plinth.consumer.lag", lambda: [(3.0, labels)], "test")
    metrics.record_execution_provider("isnet-medium", "CPUExecutionProvider", "fallback")
    text = exposition().decode()
    names = set(re.findall(r"^(plinth_[A-Za-z_]+?)(?:\{| )", text, flags=re.MULTILINE))
    return {n.removesuffix(s) for n in names for s in SERIES_SUFFIXES if n.endswith(s)} | names


def _used_names(text: str) -> set[str]:
    found = set(re.findall(r"\bplinth_[A-Za-z_]+", text))
    return {next((n.removesuffix(s) for s in SERIES_SUFFIXES if n.endswith(s)), n) for n in found}


def test_alerts_and_dashboard_use_exported_metrics() -> None:
    exported = _exported_names()
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    exprs = [rule["expr"] for group in rules["spec"]["groups"] for rule in group["rules"]]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    targets = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = _used_names("\n".join(exprs + targets))
    assert used, "no plinth metric referenced"
    histograms = {n.removesuffix("_bucket") for n in used}
    assert histograms <= exported, f"not exported: {sorted(histograms - exported)}"
    for expected in ("plinth_jobs_processed_total", "plinth_stage_duration_seconds",
                     "plinth_consumer_lag", "plinth_webhook_deliveries_total",
                     "plinth_onnx_execution_provider"):
        assert expected in exported
    assert len(rules["spec"]["groups"][0]["rules"]) >= 5
