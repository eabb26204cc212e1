"""The pure parts of ``bench/pipeline_services.py`` (``bench/pipeline.py --services``): the
``--instances`` option, the CPU accounting from ``/proc`` and the sizing formula."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a plain folder at the repository root
    sys.path.insert(0, str(REPO))

from bench import pipeline_services as ps  # noqa: E402


def test_instances_default_to_one_of_each_and_take_overrides() -> None:
    assert ps.parse_instances("1x") == dict.fromkeys(ps.SERVICES, 1)
    counts = ps.parse_instances("segment=2, derive=3")
    assert counts["segment"] == 2 and counts["derive"] == 3 and counts["composite"] == 1
    assert ps.label(counts) == "segment=2,derive=3"
    assert ps.label(ps.parse_instances("1x")) == "1x"


@pytest.mark.parametrize("text", ["segmenter=2", "segment", "segment=0", "derive=two"])
def test_bad_instances_are_refused_naming_the_part(text: str) -> None:
    with pytest.raises(ValueError, match=text.split("=")[0]):
        ps.parse_instances(text)


def test_the_cli_refuses_bad_instances() -> None:
    with pytest.raises(SystemExit):
        ps.parse_args(["--instances", "segmenter=2"])
    args = ps.parse_args(["--instances", "1x", "--instances", "derive=2"])
    assert [c["derive"] for c in args.instances] == [1, 2]


def _stat(pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int = 0,
          cstime: int = 0) -> str:
    # fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    #              utime stime cutime cstime priority ...
    return (f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194304 100 0 0 0 "
            f"{utime} {stime} {cutime} {cstime} 20 0 3 0 1000 0 0\n")


def fake_proc(tmp_path: Path, stats: dict[int, str], cpu_line: str = "") -> Path:
    for pid, text in stats.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(text)
    (tmp_path / "self").mkdir()  # not a pid: ignored
    (tmp_path / "stat").write_text(cpu_line or "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n")
    return tmp_path


def test_parse_stat_survives_a_command_name_with_spaces_and_parentheses() -> None:
    assert ps.parse_stat(_stat(7, "plinth (derive) x", 1, 30, 12, 5, 3)) == (1, 42, 8)


def test_a_process_tree_counts_descendants_and_reaped_children(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {
        10: _stat(10, "plinth-derive", 1, 200, 100, 40, 10),   # 350 ticks
        11: _stat(11, "encoder", 10, 50, 0),                    # child: 50
        12: _stat(12, "helper", 11, 20, 5),                     # grandchild: 25
        20: _stat(20, "plinth-segment", 1, 100, 0),             # another root: 100
        30: _stat(30, "unrelated", 1, 999, 999),                # not asked for
    })
    cpu = ps.tree_cpu_seconds([10, 20, 99], proc=proc, hz=100)
    assert cpu == {10: 4.25, 20: 1.0, 99: 0.0}


def test_machine_cpu_counts_idle_and_iowait_as_not_busy(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {})
    assert ps.machine_cpu(proc, hz=100) == (1.5, 10.0)


@pytest.mark.parametrize(("cpu_s", "cores", "n"), [
    (1.15, 0.319, 1),   # 1000 x 1.15 / 3600 = 0.32 cores: one replica
    (3.44, 0.956, 2),   # 0.96 cores / 0.7 = 1.37: two
    (2.52, 0.7, 1),     # exactly 70% of one core
    (0.0, 0.0, 1),      # at least one replica per stage
])
def test_replicas_per_thousand_jobs_an_hour_at_70_percent(cpu_s: float, cores: float,
                                                           n: int) -> None:
    got_cores, got_n = ps.replicas(cpu_s)
    assert got_cores == pytest.approx(cores, abs=1e-3)
    assert got_n == n
    assert ps.replicas(cpu_s, jobs_per_hour=2000)[1] >= n


def test_summary_and_tables_from_cpu_per_service() -> None:
    counts = ps.parse_instances("segment=2")
    cpu = dict.fromkeys(ps.SERVICES, 0.0) | {"segment": 12.0, "derive": 48.0}
    result = ps.summarise("segment=2", 24, 60.0, cpu, counts, 2, 0.9)
    assert result["jobs_per_min"] == 24
    assert result["cpu_s_per_job"]["derive"] == 2.0
    assert result["workers_utilisation"] == 0.5   # 60 CPU-s over 60 s on 2 cores
    result.update(stack_cpu_s=6.0, load=(1.0, 2.0))
    table = ps.compare_table([result], markdown=True)
    assert "| segment=2 | 24 | 60.0 | 24.0 |" in table and "| 50% | 90% |" in table
    sizing = ps.sizing_table(result, 0.7, markdown=True).splitlines()
    assert "| derive | 2.000 | 0.56 | 1 |" in sizing
    assert "| segment | 0.500 | 0.14 | 1 |" in sizing
