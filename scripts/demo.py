"""``make demo``'s main job: the whole pipeline on this machine, every service its own process.

Starts ingest, segment, background, composite, derive and publish (the console scripts, each a
separate process), serves a handful of synthetic studio photos and one hard photo from a local
HTTP server, runs a fake Shopify store, sends signed 3JMS webhooks, waits for every job to be
DONE, FAILED or held for review, prints a table per job (status, confidence, step timings,
artefacts), the throughput and the per-hop overhead measured from the traces, and where to look
next.

The review threshold is the default one (``PLINTH_REVIEW_THRESHOLD`` unset: 0.5). The hard photo
(``plinth_testkit.photos.mug_on_gingham``: a red mug cut by the frame on a gingham tablecloth;
every segment provider's confidence is ~0) is held for review (IN_REVIEW) on each theme, so the
dashboard's review queue (``/review``) has real work in it. The exit code is 0 when every job is
DONE or is the hard photo held as expected, 1 when a job FAILED or a clean studio photo was held
(each named: a clean photo under the threshold is worth knowing, not hiding). ``--no-hard-photo``
sends the studio photos only.

The demo has a namespace of its own on the local stack, emptied when it starts: database
``plinth_demo``, bucket ``plinth-demo``, consumer groups ``plinth-demo-*`` (tests use ``test_*``
names, a deployment ``plinth``); service logs and traces go to ``out/demo/``. Afterwards the
services and the dashboard (http://127.0.0.1:8080, API key ``demo-key``) keep running until
Ctrl-C; ``--exit-when-done`` stops everything once the tables are printed (scripts, CI). The
local stack (``deploy/local/stack up``) must already be running and is left alone.

    uv run python scripts/demo.py [--exit-when-done] [--photos 6] [--themes default,warm_paper]
                                  [--variants N] [--dashboard-port 8080] [--no-hard-photo]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from harness import (  # noqa: E402
    NamespaceBusy,
    ServiceProcesses,
    empty_namespace,
    free_port,
    read_spans,
    sample_photos,
    send_webhook,
    wait_for_jobs,
    wait_for_port,
    wait_for_workers,
)

from plinth.adapters.kafka import ensure_topics  # noqa: E402
from plinth.adapters.mongo import Database  # noqa: E402
from plinth.adapters.s3 import BlobStore  # noqa: E402
from plinth.domain.job import Job  # noqa: E402
from plinth.domain.states import HELD, TERMINAL, JobStatus  # noqa: E402
from plinth.settings import InfrastructureSettings  # noqa: E402
from plinth.worker.groups import pipeline_groups, start_groups_at_end  # noqa: E402
from plinth_testkit.fakes.shopify import FakeShopify  # noqa: E402
from plinth_testkit.http_server import LocalHttpServer  # noqa: E402
from plinth_testkit.photos import mug_on_gingham  # noqa: E402

# Wide enough for the job table when the output is a file or a CI log (rich assumes 80).
console = Console(width=None if sys.stdout.isatty() else 170)
TIMING_COLUMNS = [("download_ms", "download (ms)"), ("segmentation_ms", "segment (ms)"),
                  ("backgrounds_ms", "backgr. (ms)"), ("compositing_ms", "compos. (ms)"),
                  ("derivatives_ms", "deriv. (ms)"), ("manifest_ms", "manifest (ms)"),
                  ("publish_ms", "publish (ms)")]
# The demo's namespace on the local stack (see the module docstring), emptied at every start.
DEMO_DB = "plinth_demo"
DEMO_BUCKET = "plinth-demo"
DEMO_GROUPS = "plinth-demo"
DEMO_DIR = REPO / "out" / "demo"
DASHBOARD_KEY = "demo-key"
STARTED = float(os.environ.get("PHASE_T0") or time.time())  # `make demo` sets it
HARD_SKU = "DEMO-HARD"  # the hard photo's SKU: its jobs are expected to be held for review
SETTLED = TERMINAL | {HELD}  # where the demo stops waiting: a held job waits for a person
STEP_OF_SERVICE = {"plinth-segment": ["segment"], "plinth-background": ["background"],
                   "plinth-composite": ["composite"], "plinth-derive": ["derive", "manifest"],
                   "plinth-publish": ["publish"]}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=6, help="distinct product photos")
    parser.add_argument("--themes", default="default,warm_paper",
                        help="comma-separated themes; every photo is sent on each")
    parser.add_argument("--variants", type=int, default=None,
                        help="backgrounds per theme (default: the theme's own count)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for jobs")
    parser.add_argument("--exit-when-done", action="store_true",
                        help="stop the services once every job is DONE, FAILED or held for "
                        "review and the tables are printed (default: keep them and the "
                        "dashboard running until Ctrl-C)")
    parser.add_argument("--dashboard-port", type=int, default=8080,
                        help="the dashboard's port (another free one if it is taken)")
    parser.add_argument("--hard-photo", action=argparse.BooleanOptionalAction, default=True,
                        help=f"also send one hard photo (SKU {HARD_SKU}: a red mug cut by the "
                        "frame on a gingham tablecloth), which is held for review on each theme")
    return parser.parse_args()


def phase(text: str) -> None:
    """``==> [m:ss] text``: the elapsed time since `make demo` (or this script) started."""
    minutes, seconds = divmod(int(time.time() - STARTED), 60)
    console.print(f"[bold]==> [{minutes}:{seconds:02d}] {text}[/]", highlight=False)


def port_or_free(port: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return int(free_port())
    return port


async def clear_namespace(settings: InfrastructureSettings) -> None:
    """Empty the demo's database, bucket and consumer groups (and those of older demos, which
    used a prefix per run); refuse while another demo's workers hold them."""
    try:
        deleted, removed = await empty_namespace(settings, f"{DEMO_GROUPS}-")
    except NamespaceBusy as busy:
        raise SystemExit(f"another demo is still running (its workers are in {busy.args[0]}): "
                         "stop it with Ctrl-C first") from None
    console.print(f"  emptied database '{settings.mongo_db}', bucket '{settings.s3_bucket}' "
                  f"({removed} objects) and {deleted} consumer group(s)")
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)


async def until_stopped(processes: ServiceProcesses) -> int:
    """Until Ctrl-C (or SIGTERM); 1 if a service exits meanwhile."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        if dead := processes.dead():
            console.print(f"[red]services exited: {dead}[/]; see {DEMO_DIR}/*.log")
            return 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2)
    console.print("\nstopping the services and the dashboard")
    return 0


def artefact_count(job: Job) -> int:
    keys = [job.s3_original_key, job.s3_cutout_key, job.s3_mask_key, job.manifest_s3_key,
            *job.s3_background_keys, *job.s3_composite_keys, *job.s3_derivative_keys]
    return sum(1 for key in keys if key)


def job_table(jobs: list[Job]) -> Table:
    table = Table(title="Jobs", show_lines=False)
    for name in ("job", "sku", "theme", "status"):
        table.add_column(name, no_wrap=True)  # the headers with units wrap instead
    table.add_column("conf.", justify="right")  # the cut-out's confidence, 0..1
    for _, label in TIMING_COLUMNS:
        table.add_column(label, justify="right")
    table.add_column("files", justify="right")
    table.add_column("total (s)", justify="right")
    for job in sorted(jobs, key=lambda j: (j.sku, j.theme)):
        timings = job.timings.model_dump()
        colour = {"DONE": "green", "FAILED": "red", HELD.value: "magenta"}.get(
            job.status.value, "yellow")
        total = f"{job.processing_ms / 1000:.1f}" if job.processing_ms else "-"
        confidence = "-" if job.segment_confidence is None else f"{job.segment_confidence:.2f}"
        table.add_row(job.id[:8], job.sku, job.theme, f"[{colour}]{job.status.value}[/]",
                      confidence,
                      *[str(timings[field]) if timings[field] is not None else "-"
                        for field, _ in TIMING_COLUMNS],
                      str(artefact_count(job)), total)
    return table


async def worker_metrics(ports: dict[str, int]) -> Table:
    """What each worker's /metrics counted (plinth.metrics): records by outcome, mean step time."""
    table = Table(title="Worker metrics (GET /metrics on each health port)")
    for column in ("worker", "advanced", "retried", "failed", "dead-lettered", "mean step (s)"):
        table.add_column(column, justify="left" if column == "worker" else "right")
    async with httpx.AsyncClient(timeout=5) as client:
        for name, port in ports.items():
            if name in ("ingest", "dashboard-api"):
                continue
            try:
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            except httpx.HTTPError as exc:
                table.add_row(name, f"unreachable: {type(exc).__name__}", "", "", "", "")
                continue
            counts: dict[str, float] = {}
            duration_sum = duration_count = 0.0
            for line in text.splitlines():
                value = line.rsplit(" ", 1)[-1]
                if line.startswith("plinth_jobs_processed_total{"):
                    outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
                    counts[outcome] = counts.get(outcome, 0) + float(value)
                elif line.startswith("plinth_stage_duration_seconds_sum{"):
                    duration_sum += float(value)
                elif line.startswith("plinth_stage_duration_seconds_count{"):
                    duration_count += float(value)
            mean = f"{duration_sum / duration_count:.2f}" if duration_count else "-"
            table.add_row(name, *(f"{counts.get(o, 0):.0f}" for o in
                                  ("advanced", "retried", "failed", "dead_lettered")), mean)
    return table


def hop_overhead(spans: list[dict[str, Any]]) -> Table:
    """Per stage hop: compute (the step spans) against the runtime's own I/O, from the traces.

    queue = time from the event's creation to the consumer picking it up (Kafka delivery plus
    waiting behind other jobs); load/store/update/publish = MongoDB read, S3 puts, conditional
    MongoDB update, Kafka produce-and-ack; "other" = the rest of the consume span (decoding,
    bookkeeping)."""
    table = Table(title="Per-hop time (median ms over jobs)")
    for name in ("hop", "jobs", "compute (ms)", "S3 store (ms)", "Mongo update (ms)",
                 "Kafka publish (ms)", "other (ms)", "overhead (ms)", "queue: Kafka+wait (ms)"):
        table.add_column(name, justify="right")
    # One webhook with several themes makes several jobs in one trace: group by job instead.
    by_job_service: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for span in spans:
        if job_id := span["attributes"].get("job.id"):
            by_job_service.setdefault((job_id, span["service"]), []).append(span)
    for service, steps in STEP_OF_SERVICE.items():
        rows: dict[str, list[float]] = {k: [] for k in (
            "compute", "store", "update", "publish", "other", "overhead", "queue")}
        for (_, svc), group in by_job_service.items():
            if svc != service:
                continue
            consume = [s for s in group if s["name"].endswith(" process")]
            step = [s for s in group if s["name"] in steps]
            if not consume or len(step) != len(steps):
                continue
            total = sum(s["duration_ms"] for s in consume)
            compute = sum(s["duration_ms"] for s in step)
            parts = {name: sum(s["duration_ms"] for s in group if s["name"] == f"plinth.{name}")
                     for name in ("store_artefacts", "update_job", "publish_event")}
            rows["compute"].append(compute)
            rows["store"].append(parts["store_artefacts"])
            rows["update"].append(parts["update_job"])
            rows["publish"].append(parts["publish_event"])
            rows["other"].append(max(0, total - compute - sum(parts.values())))
            rows["overhead"].append(total - compute)
            rows["queue"].append(consume[0]["attributes"].get("messaging.queue_ms", 0))
        if rows["compute"]:
            table.add_row(service.removeprefix("plinth-"), str(len(rows["compute"])),
                          *[f"{statistics.median(rows[k]):.0f}" for k in (
                              "compute", "store", "update", "publish", "other", "overhead",
                              "queue")])
    return table


def verdict(jobs: list[Job], review_url: str, expected_held: frozenset[str] = frozenset(
        {HARD_SKU})) -> tuple[int, list[str]]:
    """The demo's outcome: the exit code and the lines saying it.

    0 when every job is DONE, or held for review and of a SKU in ``expected_held`` (the hard
    photo); 1 when a job FAILED, was held although its photo is a clean one, or is in any other
    state; each such job is named. A hard photo that went through to DONE is said too (the
    review queue then shows nothing), without failing the demo."""
    done = [j for j in jobs if j.status == JobStatus.DONE]
    held = [j for j in jobs if j.status == HELD]
    failed = [j for j in jobs if j.status == JobStatus.FAILED]
    clean_held = [j for j in held if j.sku not in expected_held]
    other = [j for j in jobs if j.status not in SETTLED]
    hard_not_held = [j for j in done if j.sku in expected_held]

    def name(job: Job) -> str:
        return f"{job.sku}/{job.theme} ({job.id[:8]})"

    def confidence(job: Job) -> str:
        review = job.review
        value = review.confidence if review else job.segment_confidence
        said = "no confidence" if value is None else f"confidence {value:.2f}"
        return f"{said} < threshold {review.threshold:.2f}" if review else said

    summary = f"{len(done)}/{len(jobs)} DONE"
    if failed:
        summary += f", {len(failed)} FAILED"
    if held:
        summary += f", {len(held)} held for review: open {review_url}"
    lines = [summary]
    lines += [f"FAILED: {name(j)}: {j.error_code or '-'}: {j.error_message or '-'}"
              for j in failed]
    lines += [f"a clean studio photo was held for review: {name(j)}, {confidence(j)}"
              for j in clean_held]
    lines += [f"not finished: {name(j)} is {j.status.value}" for j in other]
    lines += [f"note: the hard photo was not held for review: {name(j)} is {j.status.value}, "
              f"{confidence(j)}" for j in hard_not_held]
    return (1 if failed or clean_held or other else 0), lines


async def run(args: argparse.Namespace) -> int:
    # The stack's endpoints (environment or defaults), the demo's own names.
    base = InfrastructureSettings().model_copy(update={
        "mongo_db": DEMO_DB, "s3_bucket": DEMO_BUCKET, "kafka_consumer_group_prefix": DEMO_GROUPS,
    })  # fmt: skip
    themes = [t.strip() for t in args.themes.split(",") if t.strip()]
    phase("emptying the demo's namespace on the local stack")
    await clear_namespace(base)
    work = DEMO_DIR
    trace_file = work / "traces.jsonl"
    secret = secrets.token_hex(16)
    shopify = FakeShopify(auto_products=True).start()
    photos = LocalHttpServer().start()
    # (sku, url, bytes): the clean studio photos, then the hard one; the namespace is empty, so
    # no job of an earlier run has these SKUs
    sent = [(f"DEMO-{i + 1}", photos.image(f"/demo/photo-{i}.jpg", data), data)
            for i, data in enumerate(sample_photos(args.photos, first_seed=500))]
    if args.hard_photo:
        hard = mug_on_gingham().jpeg
        sent.append((HARD_SKU, photos.image("/demo/hard-mug-on-gingham.jpg", hard), hard))
    port = free_port()
    dashboard_port = port_or_free(args.dashboard_port)
    dashboard = f"http://127.0.0.1:{dashboard_port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLINTH_")},
        "PLINTH_KAFKA_BOOTSTRAP": base.kafka_bootstrap,
        "PLINTH_MONGO_URI": base.mongo_uri,
        "PLINTH_S3_ENDPOINT": base.s3_endpoint,
        "PLINTH_S3_ACCESS_KEY": base.s3_access_key,
        "PLINTH_S3_SECRET_KEY": base.s3_secret_key.get_secret_value(),
        "PLINTH_S3_REGION": base.s3_region,
        "PLINTH_MONGO_DB": base.mongo_db,
        "PLINTH_S3_BUCKET": base.s3_bucket,
        # The demo's groups, deleted above and placed at the end of each topic before the
        # services start: a demo must not replay what earlier runs and test suites left there.
        "PLINTH_KAFKA_CONSUMER_GROUP_PREFIX": base.kafka_consumer_group_prefix,
        "PLINTH_TRACE_FILE": str(trace_file),
        "PLINTH_WEBHOOK_SECRET": secret,
        "PLINTH_DOWNLOAD_ALLOW_HOSTS": json.dumps(["127.0.0.1"]),
        "PLINTH_INGEST_PORT": str(port),
        "PLINTH_SHOPIFY_STORE_DOMAIN": "plinth-demo.myshopify.com",
        "PLINTH_SHOPIFY_ACCESS_TOKEN": shopify.access_token,
        "PLINTH_SHOPIFY_BASE_URL": shopify.admin_base_url,
        "PLINTH_DASHBOARD_PORT": str(dashboard_port),
        "PLINTH_DASHBOARD_API_KEYS": json.dumps({DASHBOARD_KEY: "demo:operator"}),
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",  # the service logs are files
    }
    if args.variants:
        env["PLINTH_BACKGROUND_VARIANTS"] = str(args.variants)
    # PLINTH_REVIEW_THRESHOLD: the default (0.5) unless set; 0 holds nothing, 1 every job
    for name in ("PLINTH_OTLP_ENDPOINT", "PLINTH_SEGMENT_PROVIDER",
                 "PLINTH_DASHBOARD_TRACE_URL_TEMPLATE", "PLINTH_REVIEW_THRESHOLD"):
        if name in os.environ:
            env[name] = os.environ[name]
    await ensure_topics(base)
    await start_groups_at_end(base, pipeline_groups(base))
    db = Database.from_settings(base)
    await db.ensure_indexes()
    processes = ServiceProcesses(env=env, log_dir=work)
    try:
        phase(f"starting the services (logs in {work.relative_to(REPO)}/)")
        for service in ("ingest", "segment", "background", "composite", "derive", "publish"):
            processes.start(service)
        if not args.exit_when_done:
            processes.start("dashboard-api")
        await wait_for_port(port, processes)
        await wait_for_workers(db, {s: 1 for s in ("download", "segment", "background", "composite",
                                                   "derive", "publish")}, processes=processes)
        if not args.exit_when_done:
            await wait_for_port(dashboard_port, processes)
            console.print(f"  dashboard: {dashboard} (API key {DASHBOARD_KEY}): the jobs appear "
                          "there as they run", highlight=False)
        hard_note = f", the last one hard ({HARD_SKU})" if args.hard_photo else ""
        phase(f"sending {len(sent)} signed webhooks ({len(themes)} theme(s) each{hard_note})")
        job_ids: list[str] = []
        started = time.monotonic()
        with httpx.Client(timeout=30) as client:
            for sku, url, data in sent:
                payload = {"sku": sku, "image_url": url, "themes": themes,
                           "img_sha256": hashlib.sha256(data).hexdigest()}
                reply = await asyncio.to_thread(
                    send_webhook, client, f"http://127.0.0.1:{port}", secret, payload)
                body = reply.json()
                console.print(f"  {sku}: HTTP {reply.status_code} {body.get('outcome')}")
                job_ids.extend(body.get("job_ids") or [])
        phase(f"waiting for {len(job_ids)} jobs (DONE, FAILED or held for review)")
        jobs = await wait_for_jobs(db, job_ids, timeout_s=args.timeout, statuses=SETTLED,
                                   processes=processes)
        elapsed = time.monotonic() - started
        console.print(job_table(list(jobs.values())))
        done = [j for j in jobs.values() if j.status == JobStatus.DONE]
        # a held job went through every stage but publish: it counts for the throughput
        through = [j for j in jobs.values() if j.status in (JobStatus.DONE, HELD)]
        composites = sum(len(j.s3_composite_keys) for j in through)
        console.print(
            f"[bold]{len(through)} jobs through the pipeline in {elapsed:.1f}s[/] "
            f"({len(done)} DONE, {len(through) - len(done)} held for review): "
            f"{len(through) / elapsed * 60:.1f} jobs/min, {composites / elapsed * 60:.1f} "
            f"composites/min ({composites * 9} derivatives) on {os.cpu_count()} CPU(s)")
        console.print(hop_overhead(read_spans(trace_file)))
        console.print(await worker_metrics(processes.health_ports))
        async with BlobStore.from_settings(base) as blobs:
            sample = done[0] if done else None
            if sample and sample.manifest_s3_key:
                url = await blobs.presign_get(sample.manifest_s3_key)
                console.print(f"A manifest (presigned URL, valid {base.presign_ttl_s} s):")
                # One unbroken line, however long: a wrapped URL cannot be copied.
                console.print(url, soft_wrap=True, highlight=False, markup=False)
        console.print(
            "\n[bold]Where to look next[/]\n"
            f"  jobs:         MongoDB {base.mongo_uri} db '{base.mongo_db}', collection 'jobs'\n"
            f"  artefacts:    S3 {base.s3_endpoint} bucket '{base.s3_bucket}' "
            "(originals/ cutouts/ masks/ backgrounds/ composites/ derivatives/ manifests/)\n"
            f"  traces:       {trace_file.relative_to(REPO)} (one JSON span per line; set "
            "PLINTH_OTLP_ENDPOINT for Jaeger)\n"
            f"  service logs: {work.relative_to(REPO)}/*.log\n"
            "  health:       " + ", ".join(f"{name} :{port}" for name, port in
                                          processes.health_ports.items() if name != "ingest")
            + " (/live, /ready, /metrics); ingest and the dashboard on their own ports",
            highlight=False)
        # without the dashboard (--exit-when-done) the command printed below serves it on 8080
        review_url = ("http://127.0.0.1:8080/review" if args.exit_when_done
                      else f"{dashboard}/review")
        if args.exit_when_done:
            console.print("  dashboard:    against the demo's namespace:")
            console.print(f"PLINTH_MONGO_DB={DEMO_DB} PLINTH_S3_BUCKET={DEMO_BUCKET} "
                          f"PLINTH_KAFKA_CONSUMER_GROUP_PREFIX={DEMO_GROUPS} "
                          f"PLINTH_DASHBOARD_API_KEYS='{{\"{DASHBOARD_KEY}\": \"operator\"}}' "
                          "uv run plinth-dashboard-api", soft_wrap=True, highlight=False,
                          markup=False)
            console.print(f"then http://127.0.0.1:8080 with the key {DASHBOARD_KEY} (an approved "
                          "job is published only while the services run: without "
                          "--exit-when-done)", highlight=False)
        rc, lines = verdict(list(jobs.values()), review_url)
        console.print()
        for number, line in enumerate(lines):
            style = "bold" if number == 0 else ("yellow" if line.startswith("note:") else "red")
            console.print(line, style=style, highlight=False, markup=False, soft_wrap=True)
        if args.exit_when_done:
            return rc
        phase(f"the services and the dashboard keep running: {dashboard} "
              f"(API key {DASHBOARD_KEY}); Ctrl-C stops them")
        return await until_stopped(processes) or rc
    finally:
        processes.stop_all()
        photos.stop()
        shopify.stop()
        await db.close()


def main() -> None:
    sys.exit(asyncio.run(run(parse_args())))


if __name__ == "__main__":
    main()
