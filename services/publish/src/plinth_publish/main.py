"""The publish service: SHOPIFY_PUSH -> DONE on ``plinth.job.shopify-push.v1``.

Attaches each job's hero image to its Shopify product (see :mod:`plinth_publish.handler`), or
records ``skipped`` when Shopify is not configured, then emits the job on ``plinth.job.done.v1``.
"""

from __future__ import annotations

from plinth.domain.states import JobStatus, Stage
from plinth.worker import Step, run_stage_service
from plinth_publish.handler import publish
from plinth_publish.settings import PublishWorkerSettings

STEPS = [Step(Stage.PUBLISH, JobStatus.SHOPIFY_PUSH, JobStatus.DONE, publish)]


def main() -> None:
    run_stage_service(Stage.PUBLISH, STEPS, service_name="plinth-publish",
                      settings=PublishWorkerSettings)


if __name__ == "__main__":
    main()
