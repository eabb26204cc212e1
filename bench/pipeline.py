"""CPU and wall seconds per job of the whole pipeline, in-process, against an earlier commit.

Runs ``plinth.pipeline.run_photo`` (the stage functions of ``plinth.stages`` the services call)
on the committed sample photos (``samples/*.jpg``) for 1 and 3 themes x 1 and 3 background
variants, and records per stage the process CPU time (``time.process_time``: all threads, so the
derive encoder pool counts) and the wall time. A *job* is one (photo, theme), as in the
services; with 3 themes one segmentation serves three jobs, as the segment stage's reuse does.

``--baseline REF`` checks REF out in a temporary git worktree
(``/tmp/plinth-baseline-<sha>``), runs this same measurement in a subprocess with that
worktree's ``shared/src`` and ``services/*/src`` first on ``PYTHONPATH`` (third-party packages
come from the current venv), runs the current tree the same way, alternating ``--rounds``
times (the best round per configuration is kept: the machine is shared), prints both and the
ratio table, then removes the worktree.

Each measuring process first runs one untimed job per theme (imports, provider set-up, and
whatever a long-running worker would already have cached): the numbers are a warm worker's.

Through the running services (jobs/min, CPU-s per job per stage, several instances per stage):
``--services``, see ``bench/pipeline_services.py`` (its options follow ``--services``).

Run: ``uv run python bench/pipeline.py [--provider local] [--baseline REF] [--markdown]``
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tables import table

REPO = Path(__file__).resolve().parent.parent
STAGES = ("segmentation", "backgrounds", "compositing", "derivatives", "manifest")
DEFAULT_THEMES = ("warm_paper", "charcoal_spotlight", "marketplace_white")
CONFIGS = ((1, 1), (1, 3), (3, 1), (3, 3))
"""(themes, variants)"""


# ----------------------------------------------------------------------------- measuring


def _provider(name: str) -> Any:
    try:
        from plinth.models.segmenters import build_segmenter, config_from_settings
    except ImportError:  # an older tree: the pure registry only
        from plinth.imaging.segment import get_provider

        return get_provider(name)
    try:
        from plinth.settings import SegmentSettings

        settings: Any = SegmentSettings()
    except ImportError:  # a tree from before the settings per concern
        from plinth.settings import get_settings  # type: ignore[attr-defined]

        settings = get_settings()
    return build_segmenter(config_from_settings(settings, provider=name))


def measure(provider_name: str, theme_names: list[str], repeats: int) -> dict[str, Any]:
    """Per configuration: CPU and wall seconds per job, in total and per stage (means)."""
    import plinth
    from plinth.imaging.backgrounds import load_theme
    from plinth.pipeline import run_photo

    provider = _provider(provider_name)
    photos = [Path(p).read_bytes() for p in sorted(glob.glob(str(REPO / "samples" / "*.jpg")))]
    if not photos:
        raise SystemExit("no samples/*.jpg")
    themes = [load_theme(name) for name in theme_names]

    def one(original: bytes, themes_: list[Any], variants: int) -> dict[str, tuple[float, float]]:
        marks: list[tuple[str, float, float]] = []

        def on_step(name: str) -> None:
            marks.append((name.split(":")[0], time.process_time(), time.perf_counter()))

        run_photo(original, sku="BENCH-1", themes=themes_, provider=provider,
                  variants=variants, on_step=on_step)
        marks.append(("end", time.process_time(), time.perf_counter()))
        per: dict[str, tuple[float, float]] = {}
        for (name, c0, w0), (_, c1, w1) in itertools.pairwise(marks):
            cpu, wall = per.get(name, (0.0, 0.0))
            per[name] = (cpu + c1 - c0, wall + w1 - w0)
        return per

    for theme in themes:  # warm-up: one untimed job per theme
        one(photos[0], [theme], 3)

    results: dict[str, Any] = {}
    for n_themes, variants in CONFIGS:
        chosen = themes[:n_themes]
        totals = {stage: [0.0, 0.0] for stage in STAGES}
        jobs = 0
        for _ in range(repeats):
            for photo in photos:
                for stage, (cpu, wall) in one(photo, chosen, variants).items():
                    totals[stage][0] += cpu
                    totals[stage][1] += wall
                jobs += len(chosen)
        results[f"{n_themes}x{variants}"] = {
            "jobs": jobs,
            "stages": {s: {"cpu": c / jobs, "wall": w / jobs} for s, (c, w) in totals.items()},
            "cpu": sum(c for c, _ in totals.values()) / jobs,
            "wall": sum(w for _, w in totals.values()) / jobs,
        }
    return {"plinth": str(Path(plinth.__file__).resolve()), "configs": results,
            "photos": len(photos), "repeats": repeats}


# ----------------------------------------------------------------------------- orchestration


def _pythonpath(root: Path) -> str:
    paths = [str(root / "shared" / "src")]
    paths += sorted(glob.glob(str(root / "services" / "*" / "src")))
    return os.pathsep.join(paths)


def run_in(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """This script's measurement with ``root``'s code first on the path, in a fresh process."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        target = out.name
    env = dict(os.environ)
    env["PYTHONPATH"] = _pythonpath(root) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", target,
           "--provider", args.provider, "--repeats", str(args.repeats),
           "--themes", ",".join(args.themes)]
    try:
        subprocess.run(cmd, env=env, check=True, cwd=root)
        result: dict[str, Any] = json.loads(Path(target).read_text())
        return result
    finally:
        Path(target).unlink(missing_ok=True)


def best(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per configuration, the round with the least CPU per job."""
    merged = dict(rounds[0])
    merged["configs"] = {
        key: min((r["configs"][key] for r in rounds), key=lambda c: c["cpu"])
        for key in rounds[0]["configs"]
    }
    return merged


def stage_table(result: dict[str, Any], markdown: bool) -> str:
    headers = ["themes x variants", "jobs", *(f"{s} CPU/wall" for s in STAGES),
               "CPU s/job", "wall s/job"]
    rows = []
    for key, cfg in result["configs"].items():
        stages = [f"{cfg['stages'][s]['cpu']:.3f} / {cfg['stages'][s]['wall']:.3f}"
                  for s in STAGES]
        rows.append([key, str(cfg["jobs"]), *stages, f"{cfg['cpu']:.3f}", f"{cfg['wall']:.3f}"])
    return table(headers, rows, markdown)


def ratio_table(base: dict[str, Any], new: dict[str, Any], markdown: bool) -> str:
    headers = ["themes x variants", "CPU s/job base", "CPU s/job now", "CPU ratio",
               "wall s/job base", "wall s/job now", "jobs/min base", "jobs/min now",
               "jobs/min ratio", *(f"{s} CPU ratio" for s in STAGES)]
    rows = []
    for key, b in base["configs"].items():
        n = new["configs"][key]
        per_stage = []
        for s in STAGES:
            bc, nc = b["stages"][s]["cpu"], n["stages"][s]["cpu"]
            per_stage.append(f"{nc / bc:.2f}" if bc > 1e-4 else "-")
        rows.append([
            key, f"{b['cpu']:.3f}", f"{n['cpu']:.3f}", f"{n['cpu'] / b['cpu']:.2f}x",
            f"{b['wall']:.3f}", f"{n['wall']:.3f}", f"{60 / b['wall']:.1f}",
            f"{60 / n['wall']:.1f}", f"{b['wall'] / n['wall']:.2f}x", *per_stage,
        ])
    return table(headers, rows, markdown)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout.strip()


def main() -> None:
    if "--services" in sys.argv[1:]:  # through the running services: its own module
        from pipeline_services import main as services_main

        services_main([a for a in sys.argv[1:] if a != "--services"])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--provider", default="local",
                        help="segmentation provider (local, learned, auto; default local)")
    parser.add_argument("--themes", default=",".join(DEFAULT_THEMES),
                        help="comma-separated; the first 1 and 3 are used")
    parser.add_argument("--repeats", type=int, default=1, help="passes over the photos")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating baseline/current measurements; best kept")
    parser.add_argument("--baseline", metavar="REF", help="commit to compare against")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--worker", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.themes = [t for t in args.themes.split(",") if t]
    if len(args.themes) < 3:
        parser.error("--themes needs at least 3 themes")

    if args.worker:
        Path(args.worker).write_text(json.dumps(measure(args.provider, args.themes,
                                                        args.repeats)))
        return

    head = _git("rev-parse", "--short", "HEAD")
    dirty = " (+ uncommitted changes)" if _git("status", "--porcelain", "--untracked-files=no") \
        else ""
    print(f"provider {args.provider}; themes {', '.join(args.themes[:3])}; samples/*.jpg; "
          f"{os.cpu_count()} cores; CPU = time.process_time (all threads); per job = per "
          f"(photo, theme); best of {args.rounds} round(s)\n")

    if not args.baseline:
        now = best([run_in(REPO, args) for _ in range(args.rounds)])
        print(f"current tree {head}{dirty}: {now['plinth']}\n")
        print(stage_table(now, args.markdown))
        return

    sha = _git("rev-parse", "--verify", f"{args.baseline}^{{commit}}")
    tree = Path(f"/tmp/plinth-baseline-{sha[:12]}")
    if tree.exists():
        _git("worktree", "remove", "--force", str(tree))
    _git("worktree", "add", "--detach", str(tree), sha)
    try:
        base_rounds, now_rounds = [], []
        for _ in range(args.rounds):
            base_rounds.append(run_in(tree, args))
            now_rounds.append(run_in(REPO, args))
    finally:
        _git("worktree", "remove", "--force", str(tree))
    base, now = best(base_rounds), best(now_rounds)
    print(f"baseline {sha[:12]}: {base['plinth']}\n")
    print(stage_table(base, args.markdown))
    print(f"\ncurrent {head}{dirty}: {now['plinth']}\n")
    print(stage_table(now, args.markdown))
    print("\nratios (now / baseline for CPU; baseline / now for jobs/min, in-process, "
          "one process)\n")
    print(ratio_table(base, now, args.markdown))
    three = [k for k in now["configs"] if k.endswith("x3")]
    cpu_ratio = statistics.mean(now["configs"][k]["cpu"] / base["configs"][k]["cpu"]
                                for k in three)
    print(f"\n3-variant jobs: CPU s/job at {cpu_ratio:.2f}x the baseline (mean of "
          f"{', '.join(three)})")


if __name__ == "__main__":
    main()
