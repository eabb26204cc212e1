"""Jobs/min and CPU seconds per job per stage through the running services (issue 18).

``bench/pipeline.py --services`` (or this file) starts the real service processes
(``plinth-ingest``, ``plinth-segment``, ...; ``tests/e2e/harness.ServiceProcesses``) against the
running local stack, in a namespace of its own emptied before each configuration: database
``plinth_bench``, bucket ``plinth-bench``, consumer groups ``plinth-bench-*``. Per configuration
(``--instances segment=2,derive=2``; ``1x`` is one instance of everything; repeat the option to
compare configurations in one run, each with the same photos):

1. start the services, wait until every worker holds partitions, send ``--warmup`` jobs and wait
   for them (model loading, imports and caches are not measured);
2. read each worker process tree's CPU time (``/proc/<pid>/stat``: utime + stime of the process
   and its live descendants, plus cutime + cstime of reaped children), the machine's
   ``/proc/stat`` and the stack's processes (``.stack/run/*.pid``);
3. send ``--jobs`` signed webhooks (the committed ``samples/*.jpg`` cycled, each under its own
   SKU, so every job segments; or ``--photos synthetic``), wait until every job is terminal;
4. read the CPU again: wall from the first webhook to the last job seen DONE gives jobs/min;
   CPU per stage / jobs gives CPU-s per job per stage, with ingest (download) and publish.

Utilisation = the workers' CPU / wall / cores; "machine busy" is ``/proc/stat`` over the same
window (includes whatever else runs on the machine). The stack's CPU is shared with anything
else using it. Sizing: replicas = ceil(photos/hour x CPU-s per job / 3600 / busy), for
replicas of one core each kept ``--busy`` (0.7) busy, a job being one photo on one theme.

    uv run python bench/pipeline.py --services [--jobs 24] [--provider local|auto]
        [--themes warm_paper] [--variants 3] [--instances 1x --instances segment=2,derive=2]
        [--markdown] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))  # the bench scripts' own helpers, also when imported

from tables import table

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("ingest", "segment", "background", "composite", "derive", "publish")
STAGE_OF = {"ingest": "download", **{s: s for s in SERVICES[1:]}}
"""The ``workers`` collection's stage name of each service (ingest's worker downloads)."""
BENCH_DB, BENCH_BUCKET, BENCH_GROUPS = "plinth_bench", "plinth-bench", "plinth-bench"


# ----------------------------------------------------------------------------- pure parts


def parse_instances(text: str) -> dict[str, int]:
    """``segment=2,derive=2`` -> instances per service (1 for the others); ``1x``: all ones."""
    counts = dict.fromkeys(SERVICES, 1)
    if text.strip() in ("", "1x"):
        return counts
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name not in counts:
            raise ValueError(f"{part!r}: expected SERVICE=N with SERVICE one of "
                             f"{', '.join(SERVICES)}")
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{part!r}: the instance count must be a whole number >= 1")
        counts[name] = int(value)
    return counts


def label(counts: Mapping[str, int]) -> str:
    more = [f"{s}={n}" for s, n in counts.items() if n != 1]
    return ",".join(more) or "1x"


def parse_stat(text: str) -> tuple[int, int, int]:
    """One ``/proc/<pid>/stat`` line -> (ppid, own ticks utime+stime, reaped children's ticks
    cutime+cstime). The command name (field 2) may hold spaces and parentheses."""
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def tree_cpu_seconds(roots: Iterable[int], proc: Path = Path("/proc"),
                     hz: int | None = None) -> dict[int, float]:
    """Per root pid: CPU seconds of it and its live descendants, plus reaped children's."""
    hz = hz or os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, int, int]] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = parse_stat((entry / "stat").read_text())
            except (OSError, ValueError):
                continue  # gone meanwhile
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out = {}
    for root in roots:
        ticks, todo = 0, [root] if root in stats else []
        while todo:
            pid = todo.pop()
            _, own, reaped = stats[pid]
            ticks += own + reaped
            todo += children.get(pid, [])
        out[root] = ticks / hz
    return out


def machine_cpu(proc: Path = Path("/proc"), hz: int | None = None) -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from ``/proc/stat``;
    idle and iowait are not busy; guest time is already inside user."""
    hz = hz or os.sysconf("SC_CLK_TCK")
    values = [int(v) for v in (proc / "stat").read_text().splitlines()[0].split()[1:9]]
    total, idle = sum(values), values[3] + values[4]
    return (total - idle) / hz, total / hz


def replicas(cpu_s_per_job: float, jobs_per_hour: float = 1000, busy: float = 0.7
             ) -> tuple[float, int]:
    """(busy cores, replicas of one core each at ``busy``) for ``jobs_per_hour``."""
    cores = jobs_per_hour * cpu_s_per_job / 3600
    return cores, max(1, math.ceil(round(cores / busy, 9)))


def summarise(config: str, jobs: int, wall: float, cpu: Mapping[str, float],
              counts: Mapping[str, int], cores: int, machine_busy: float) -> dict[str, Any]:
    """One configuration's figures from the CPU seconds per service over ``wall`` seconds."""
    workers = sum(cpu.values())
    return {"config": config, "jobs": jobs, "wall_s": wall, "jobs_per_min": jobs / wall * 60,
            "instances": dict(counts), "cpu_s": dict(cpu),
            "cpu_s_per_job": {s: c / jobs for s, c in cpu.items()},
            "workers_cpu_s_per_job": workers / jobs,
            "workers_utilisation": workers / wall / cores,
            "machine_busy": machine_busy, "cores": cores}


# ----------------------------------------------------------------------------- tables


def compare_table(results: list[dict[str, Any]], markdown: bool) -> str:
    headers = ["instances", "jobs", "wall s", "jobs/min", *(f"{s} CPU-s/job" for s in SERVICES),
               "workers CPU-s/job", "stack CPU-s/job", "workers util.", "machine busy",
               "load 1m before/after"]
    rows = [[r["config"], str(r["jobs"]), f"{r['wall_s']:.1f}", f"{r['jobs_per_min']:.1f}",
             *(f"{r['cpu_s_per_job'][s]:.3f}" for s in SERVICES),
             f"{r['workers_cpu_s_per_job']:.2f}", f"{r['stack_cpu_s'] / r['jobs']:.2f}",
             f"{r['workers_utilisation']:.0%}", f"{r['machine_busy']:.0%}",
             f"{r['load'][0]:.1f} / {r['load'][1]:.1f}"] for r in results]
    return table(headers, rows, markdown)


def sizing_table(result: dict[str, Any], busy: float, markdown: bool) -> str:
    headers = ["stage", "CPU-s per job", "busy cores per 1,000 jobs/h",
               f"replicas per 1,000 jobs/h (1 core, {busy:.0%} busy)"]
    rows = []
    for service in SERVICES:
        per_job = result["cpu_s_per_job"][service]
        cores, n = replicas(per_job, 1000, busy)
        rows.append([service, f"{per_job:.3f}", f"{cores:.2f}", str(n)])
    return table(headers, rows, markdown)


# ----------------------------------------------------------------------------- running


def _photos(kind: str, count: int) -> list[bytes]:
    if kind == "synthetic":
        from harness import sample_photos

        made: list[bytes] = sample_photos(count, first_seed=700)
        return made
    samples = [p.read_bytes() for p in sorted((REPO / "samples").glob("*.jpg"))]
    return [samples[i % len(samples)] for i in range(count)]


async def _clear(settings: Any) -> None:
    from harness import NamespaceBusy, empty_namespace

    try:
        await empty_namespace(settings, f"{BENCH_GROUPS}-")
    except NamespaceBusy as busy:
        raise SystemExit(
            f"another benchmark's workers hold {busy.args[0]}: stop it first"
        ) from None


def _usable_cores() -> int:
    """The cores this process (and the services it starts) may run on: ``taskset -c 0`` -> 1."""
    return len(os.sched_getaffinity(0))


def _stack_pids() -> list[int]:
    pids = []
    for path in sorted((REPO / ".stack" / "run").glob("*.pid")):
        try:
            pids.append(int(json.loads(path.read_text())["pid"]))  # {"pid": .., "port": ..}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return pids


async def run_config(args: argparse.Namespace, counts: dict[str, int], photos: list[bytes],
                     warm: list[bytes]) -> dict[str, Any]:
    import httpx
    from harness import (
        ServiceProcesses,
        free_port,
        send_webhook,
        wait_for_jobs,
        wait_for_port,
        wait_for_workers,
    )

    from plinth.adapters.kafka import ensure_topics
    from plinth.adapters.mongo import Database
    from plinth.domain.states import JobStatus
    from plinth.settings import InfrastructureSettings
    from plinth.worker.groups import pipeline_groups, start_groups_at_end
    from plinth_testkit.fakes.shopify import FakeShopify
    from plinth_testkit.http_server import LocalHttpServer

    base = InfrastructureSettings().model_copy(update={
        "mongo_db": BENCH_DB, "s3_bucket": BENCH_BUCKET,
        "kafka_consumer_group_prefix": BENCH_GROUPS})
    await _clear(base)
    log_dir = Path(args.log_dir) / label(counts)
    log_dir.mkdir(parents=True, exist_ok=True)
    secret, port = uuid.uuid4().hex, free_port()
    shopify = FakeShopify(auto_products=True).start()
    server = LocalHttpServer().start()
    urls = [server.image(f"/bench/{i}.jpg", data) for i, data in enumerate(warm + photos)]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLINTH_")},
        "PLINTH_KAFKA_BOOTSTRAP": base.kafka_bootstrap, "PLINTH_MONGO_URI": base.mongo_uri,
        "PLINTH_S3_ENDPOINT": base.s3_endpoint, "PLINTH_S3_ACCESS_KEY": base.s3_access_key,
        "PLINTH_S3_SECRET_KEY": base.s3_secret_key.get_secret_value(),
        "PLINTH_S3_REGION": base.s3_region, "PLINTH_MONGO_DB": BENCH_DB,
        "PLINTH_S3_BUCKET": BENCH_BUCKET, "PLINTH_KAFKA_CONSUMER_GROUP_PREFIX": BENCH_GROUPS,
        "PLINTH_WORKER_CONTROL_SCOPE": f"bench-{secret[:8]}",
        "PLINTH_WEBHOOK_SECRET": secret, "PLINTH_INGEST_PORT": str(port),
        "PLINTH_DOWNLOAD_ALLOW_HOSTS": json.dumps(["127.0.0.1"]),
        "PLINTH_SHOPIFY_STORE_DOMAIN": "plinth-bench.myshopify.com",
        "PLINTH_SHOPIFY_ACCESS_TOKEN": shopify.access_token,
        "PLINTH_SHOPIFY_BASE_URL": shopify.admin_base_url,
        "PLINTH_SEGMENT_PROVIDER": args.provider, "PLINTH_BACKGROUND_VARIANTS": str(args.variants),
        "PLINTH_REVIEW_THRESHOLD": "0",  # every job goes on to publish
        "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
    }
    await ensure_topics(base)
    await start_groups_at_end(base, pipeline_groups(base))
    db = Database.from_settings(base)
    await db.ensure_indexes()
    processes = ServiceProcesses(env=env, log_dir=log_dir)
    client = httpx.Client(timeout=60)
    ingest = f"http://127.0.0.1:{port}"

    def send(first: int, batch: list[bytes], prefix: str) -> list[str]:
        ids: list[str] = []
        for i, data in enumerate(batch):
            reply = send_webhook(client, ingest, secret, {
                "sku": f"{prefix}-{i:03d}", "image_url": urls[first + i], "themes": args.themes,
                "img_sha256": hashlib.sha256(data).hexdigest()})
            reply.raise_for_status()
            ids += reply.json().get("job_ids") or []
        return ids

    try:
        for service, n in counts.items():
            for k in range(n):
                processes.start(service, f"{service}-{k + 1}")
        await wait_for_port(port, processes, timeout_s=180)
        await wait_for_workers(db, {STAGE_OF[s]: n for s, n in counts.items()},
                               timeout_s=240, processes=processes)
        if warm:
            await wait_for_jobs(db, await asyncio.to_thread(send, 0, warm, "WARM"),
                                timeout_s=args.timeout, processes=processes)
        roots = {name: p.pid for name, p in processes.procs.items()}
        stack = _stack_pids()
        load0 = os.getloadavg()[0]
        before, stack0, m0, self0 = (tree_cpu_seconds(roots.values()),
                                     sum(tree_cpu_seconds(stack).values()), machine_cpu(),
                                     time.process_time())
        started = time.monotonic()
        ids = await asyncio.to_thread(send, len(warm), photos, "BENCH")
        jobs = await wait_for_jobs(db, ids, timeout_s=args.timeout, processes=processes)
        wall = time.monotonic() - started
        after, stack1, m1, self1 = (tree_cpu_seconds(roots.values()),
                                    sum(tree_cpu_seconds(stack).values()), machine_cpu(),
                                    time.process_time())
        cpu = dict.fromkeys(SERVICES, 0.0)
        for name, pid in roots.items():
            cpu[name.rsplit("-", 1)[0]] += after[pid] - before[pid]
        result = summarise(label(counts), len(ids), wall, cpu, counts, _usable_cores(),
                           (m1[0] - m0[0]) / max(1e-9, m1[1] - m0[1]))
        failed = [j.id for j in jobs.values() if j.status != JobStatus.DONE]
        result.update(stack_cpu_s=stack1 - stack0, bench_cpu_s=self1 - self0, failed=failed,
                      load=(load0, os.getloadavg()[0]), provider=args.provider,
                      themes=args.themes, variants=args.variants)
        return result
    finally:
        await asyncio.to_thread(client.close)
        processes.stop_all()
        server.stop()
        shopify.stop()
        await db.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=24, help="measured jobs per configuration")
    parser.add_argument("--warmup", type=int, default=4, help="untimed jobs first")
    parser.add_argument("--provider", default="local", help="segmentation provider")
    parser.add_argument("--themes", default="warm_paper", help="comma-separated, per photo")
    parser.add_argument("--variants", type=int, default=3, help="backgrounds per theme")
    parser.add_argument("--photos", choices=("samples", "synthetic"), default="samples")
    parser.add_argument("--instances", action="append", type=parse_instances, metavar="S=N,..",
                        help="instances per service, e.g. segment=2,derive=2 (1x: one each); "
                        "repeat to compare configurations")
    parser.add_argument("--busy", type=float, default=0.7, help="sizing: target busy per core")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for jobs")
    parser.add_argument("--log-dir", default=str(REPO / "out" / "bench-services"))
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", metavar="PATH", help="write the raw figures here")
    args = parser.parse_args(argv)
    args.themes = [t for t in args.themes.split(",") if t]
    args.instances = args.instances or [parse_instances("1x")]
    if args.jobs % len(args.themes):
        parser.error("--jobs must be a multiple of the number of themes")
    return args


def main(argv: list[str] | None = None) -> None:
    for path in (REPO, REPO / "tests" / "e2e", REPO / "bench"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    args = parse_args(argv)
    per_photo = len(args.themes)
    photos = _photos(args.photos, (args.jobs + args.warmup) // per_photo + 1)
    warm, measured = photos[:args.warmup // per_photo], photos[-(args.jobs // per_photo):]
    print(f"provider {args.provider}; {args.jobs} jobs ({len(measured)} photos x "
          f"{len(args.themes)} theme(s) x {args.variants} variants; {args.photos}); "
          f"{len(warm)} warm-up photo(s); {_usable_cores()} of {os.cpu_count()} cores usable "
          "(taskset)", flush=True)
    results = []
    for counts in args.instances:
        result = asyncio.run(run_config(args, counts, measured, warm))
        results.append(result)
        print(f"{result['config']}: {result['jobs']} jobs in {result['wall_s']:.1f} s "
              f"({result['jobs_per_min']:.1f}/min); not DONE: {result['failed'] or 'none'}",
              flush=True)
    print()
    print(compare_table(results, args.markdown))
    print(f"\nsizing from {results[0]['config']} (replicas = ceil(1000 x CPU-s per job / 3600 / "
          f"{args.busy}); {len(args.themes)} theme(s) x {args.variants} variants per job)\n")
    print(sizing_table(results[0], args.busy, args.markdown))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
