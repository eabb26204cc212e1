"""The steps every job mutation of the API shares: load the job (404), store the changed job only
if nobody moved it meanwhile (409), and hand it to its next stage on Kafka, putting it back as it
was when Kafka refuses the event (503). Each endpoint keeps its own checks and its audit entry."""

from __future__ import annotations

import logging

from litestar.exceptions import NotFoundException, ServiceUnavailableException

from plinth.domain.job import Job
from plinth.domain.states import JobStatus
from plinth.messaging.events import Event, JobEvent
from plinth_dashboard_api.errors import ConflictException
from plinth_dashboard_api.resources import Resources

log = logging.getLogger("plinth.dashboard.jobs")


async def load_job(res: Resources, job_id: str) -> Job:
    """The job ``job_id``, or 404 (an id with a NUL byte names no job: see ``reject_nul``)."""
    job = None if "\x00" in job_id else await res.db.jobs.get(job_id)
    if job is None:
        raise NotFoundException(f"no job {job_id!r}")
    return job


async def save_if_status(res: Resources, changed: Job, expected: JobStatus, *, doing: str) -> None:
    """Store ``changed`` if the stored job is still ``expected``; else 409 ("job X changed while
    ``doing``; reload and try again")."""
    if not await res.db.jobs.replace_if_status(changed, expected):
        raise ConflictException(f"job {changed.id} changed while {doing}; reload and try again")


def job_event(job: Job) -> JobEvent:
    """The event that hands ``job``, in its current state, to the stage that takes it from there."""
    return JobEvent(job_id=job.id, sku=job.sku, theme=job.theme, img_sha256=job.img_sha256,
                    status=job.status)


async def publish_or_put_back(res: Resources, before: Job, after: Job, topic: str, event: Event,
                              *, action: str) -> Exception | None:
    """Publish ``event`` for the stored ``after``; if Kafka refuses it, store ``before`` again
    (without its event the job would sit in ``after``'s state until the sweeper) and return the
    error; None once published. ``action`` names the change in the log (``approval``)."""
    try:
        await res.publisher.publish(topic, event, key=after.id)
    except Exception as err:
        log.exception("%s of %s: cannot publish to %s", action, after.id, topic)
        await res.db.jobs.replace_if_status(before, after.status)
        return err
    return None


async def publish_or_503(res: Resources, before: Job, after: Job, topic: str, event: Event, *,
                         action: str, undone: str) -> None:
    """:func:`publish_or_put_back`, answering 503 ("job X was not ``undone``: cannot publish to
    Kafka") when the event could not be sent."""
    err = await publish_or_put_back(res, before, after, topic, event, action=action)
    if err is not None:
        raise ServiceUnavailableException(
            f"job {after.id} was not {undone}: cannot publish to Kafka ({type(err).__name__})"
        ) from err
