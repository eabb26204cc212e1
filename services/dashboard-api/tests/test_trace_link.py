"""The job page's "Open in trace viewer" link exists only where a trace viewer is configured."""

import pytest

from plinth.domain.job import Job
from plinth_dashboard_api.settings import DashboardSettings
from plinth_dashboard_api.views import job_detail

SHA = "d" * 64


def _job(trace_id: str | None = "4bf92f3577b34da6a3ce929d0e0e4736") -> Job:
    job = Job(sku="SKU1", theme="studio", image_url="https://x/a.jpg", img_sha256=SHA)
    return job.model_copy(update={"trace_id": trace_id})


def test_no_trace_viewer_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLINTH_DASHBOARD_TRACE_URL_TEMPLATE", raising=False)
    assert DashboardSettings().dashboard_trace_url_template is None


@pytest.mark.parametrize("template", [None, "", "  "])
def test_without_a_template_there_is_no_link(template: str | None) -> None:
    body = job_detail(_job(), template)
    assert body["trace_url"] is None
    assert body["trace_url_template"] is None


def test_a_template_links_the_trace() -> None:
    body = job_detail(_job(), "http://jaeger.local/trace/{trace_id}")
    assert body["trace_url"] == "http://jaeger.local/trace/4bf92f3577b34da6a3ce929d0e0e4736"
    assert body["trace_url_template"] == "http://jaeger.local/trace/{trace_id}"
    assert job_detail(_job(trace_id=None), "http://j/{trace_id}")["trace_url"] is None
