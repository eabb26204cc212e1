"""PostgreSQL, the storage under FerretDB: a private cluster under .stack/, Debian's binaries.

The cluster is the stack's own (its own data dir, port and superuser ``plinth`` with trust auth
on 127.0.0.1 only), never the machine's ``main`` cluster. PostgreSQL refuses to run as root, so
when the stack is started by root the server runs as the ``postgres`` user that Debian's package
creates, through ``setpriv`` (which execs, so the pid we record is the server's own).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .config import StackConfig

SUPERUSER = "plinth"
DATABASE = "plinth"
RUN_AS = "postgres"  # Debian's package creates this system user
MIN_MAJOR = 13  # incremental sort (ORDER BY a, b served by an index on a) arrived in 13

# A development store: crash-safe (fsync stays on) but a commit does not wait for its WAL flush;
# an OS crash may lose the last few hundred milliseconds, a killed process loses nothing.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",  # TCP only: no socket file to own or clean up
    "shared_buffers": "256MB",
    "synchronous_commit": "off",
    "max_connections": "200",
    # Statistics soon after bulk loads: without them the planner guesses a handful of rows per
    # filter and sorts whole index ranges instead of walking the sort's index (seen: a jobs
    # list at 100k going from ~20 ms to 300-500 ms until autovacuum had analysed the table).
    "autovacuum_naptime": "10s",
    "autovacuum_analyze_scale_factor": "0.02",
    "autovacuum_vacuum_insert_scale_factor": "0.05",
    "autovacuum_vacuum_cost_limit": "2000",
    "random_page_cost": "1.1",  # local disks are SSDs: an index's random reads cost little more
    # FerretDB sends every query as a prepared statement with bind parameters. After five runs
    # PostgreSQL may switch to a generic plan that ignores the values, and a generic range has no
    # selectivity to go by (a date range over the last day planned like one over half the table:
    # 140 ms instead of 9). Planning each query with its values costs well under a millisecond.
    "plan_cache_mode": "force_custom_plan",
    "log_min_messages": "warning",
    "log_line_prefix": "%m [%p] ",
}


class PostgresMissing(Exception):
    """No PostgreSQL server binaries of a usable version on this machine."""


def bin_dir() -> Path:
    """The newest Debian PostgreSQL (``/usr/lib/postgresql/<major>/bin``), else the PATH's."""
    candidates: list[tuple[int, Path]] = []
    for path in Path("/usr/lib/postgresql").glob("*/bin/postgres"):
        if re.fullmatch(r"\d+", path.parent.parent.name):
            candidates.append((int(path.parent.parent.name), path.parent))
    found = shutil.which("postgres")
    if found:
        resolved = Path(found).resolve()
        major = re.search(r"/(\d+)/bin/postgres$", str(resolved))
        candidates.append((int(major.group(1)) if major else MIN_MAJOR, resolved.parent))
    usable = [c for c in candidates if c[0] >= MIN_MAJOR and (c[1] / "initdb").exists()]
    if not usable:
        raise PostgresMissing(
            f"the PostgreSQL server (>= {MIN_MAJOR}) is not installed; on Debian: "
            "apt-get install postgresql-15 (`make setup` does it)"
        )
    return max(usable)[1]


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["setpriv", f"--reuid={RUN_AS}", f"--regid={RUN_AS}", "--clear-groups", *argv]


def _chown_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, RUN_AS, RUN_AS)


def init_cluster(cfg: StackConfig, data: Path, log: Path) -> None:
    """``initdb`` once; C collation so that string order is byte order, as in MongoDB."""
    if (data / "PG_VERSION").exists():
        return
    data.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        reachable = subprocess.run(
            _as_server_user(["test", "-x", str(data.parent)]), capture_output=True, check=False
        )
        if reachable.returncode != 0:
            raise RuntimeError(
                f"postgres: the server runs as user '{RUN_AS}' (PostgreSQL refuses root), which "
                f"cannot reach {data.parent}; keep the stack's state where every user may "
                "traverse, e.g. PLINTH_STACK_DIR=/var/tmp/plinth-stack"
            )
    data.mkdir(exist_ok=True)
    data.chmod(0o700)
    _chown_to_server_user(data)
    argv = [
        str(bin_dir() / "initdb"),
        f"--pgdata={data}",
        f"--username={SUPERUSER}",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
    ]
    with log.open("a") as out:
        result = subprocess.run(
            _as_server_user(argv), stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"postgres: initdb failed (exit {result.returncode}); see {log}")


def server_argv(cfg: StackConfig, data: Path) -> list[str]:
    settings = {**SERVER_SETTINGS, "port": str(cfg.postgres_port)}
    argv = [str(bin_dir() / "postgres"), "-D", str(data)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    return _as_server_user(argv)


def server_binary() -> str:
    return str(bin_dir() / "postgres")


def client(cfg: StackConfig, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one of PostgreSQL's client tools (psql, createdb, pg_isready) against the cluster."""
    return subprocess.run(
        [str(bin_dir() / tool), f"--host={cfg.host}", f"--port={cfg.postgres_port}",
         f"--username={SUPERUSER}", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def accepts_connections(cfg: StackConfig) -> bool:
    return client(cfg, "pg_isready", "--dbname=postgres", "--timeout=2").returncode == 0


def ensure_database(cfg: StackConfig) -> None:
    """The database FerretDB keeps its schemas in (one schema per MongoDB database)."""
    result = client(cfg, "createdb", DATABASE)
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise RuntimeError(f"postgres: createdb {DATABASE} failed: {result.stderr.strip()}")
    for database in ("template1", DATABASE):  # template1: databases created later inherit it
        tuned = client(cfg, "psql", f"--dbname={database}", "--quiet", f"--command={PLANNER_COSTS}")
        if tuned.returncode != 0:
            raise RuntimeError(f"postgres: tuning {database} failed: {tuned.stderr.strip()}")


# What reading one field of a stored document costs. PostgreSQL prices `_jsonb->'field'` like an
# integer comparison, but on a document of a few kilobytes it decompresses and walks the whole
# value: measured ~20 us a row, ~100x the default. Priced right, the planner walks an index on
# the field (where the value is precomputed) instead of scanning rows "until 1,000 match" (seen:
# a capped count of 1,000 jobs took 215 ms as a scan, 4 ms through the index).
#
# plinth_type_in is the BSON type check of the FerretDB pushdown patch (plinth_pushdown.go):
# PL/pgSQL so that it is not inlined, and the planner prices it as a function clause (1/3)
# instead of an unknown equality (0.5%), which made it expect a handful of rows per filter.
PLANNER_COSTS = """
ALTER FUNCTION pg_catalog.jsonb_object_field(jsonb, text) COST 100;
CREATE OR REPLACE FUNCTION public.plinth_type_in(t jsonb, types jsonb[]) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1
    AS $$ BEGIN RETURN t = ANY(types); END $$;
"""


def url(cfg: StackConfig) -> str:
    return f"postgres://{SUPERUSER}@{cfg.host}:{cfg.postgres_port}/{DATABASE}"
