"""deploy/local/stack up|down|status|logs|env|reset [component...]"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from . import procs
from .components import COMPONENTS, Component, StartupError
from .config import ConfigError, StackConfig, load_config
from .installs import InstallError

EXIT_FAILED = 1
EXIT_PORT_TAKEN = 2
EXIT_NOT_READY = 3


class StackError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise concurrent `up`/`down` runs (several engineers share one stack)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def _running_record(cfg: StackConfig, comp: Component) -> procs.PidRecord | None:
    """The pid record if our process is alive; a stale pid file is removed."""
    pid_file = cfg.pid_file(comp.name)
    record = procs.read_pid_file(pid_file)
    if record is None:
        pid_file.unlink(missing_ok=True)
        return None
    if procs.is_ours(record):
        return record
    pid_file.unlink(missing_ok=True)
    return None


def _check_ports_free(cfg: StackConfig, comp: Component) -> None:
    for port in comp.ports(cfg):
        if not procs.port_is_free(cfg.host, port):
            owner = procs.describe_listener(port)
            raise StackError(
                f"{comp.name}: port {port} on {cfg.host} is already in use by {owner}, "
                f"which this stack did not start (no live pid file in {cfg.run_dir}). "
                f"Stop it, or pick another port with "
                f"{_port_variable(comp, port, cfg)}=<port>.",
                EXIT_PORT_TAKEN,
            )


def _port_variable(comp: Component, port: int, cfg: StackConfig) -> str:
    if comp.name == "kafka" and port == cfg.kafka_controller_port:
        return "PLINTH_STACK_KAFKA_CONTROLLER_PORT"
    return f"PLINTH_STACK_{comp.name.upper()}_PORT"


def _wait_ready(cfg: StackConfig, comp: Component, proc: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + cfg.ready_timeout_s
    log = cfg.log_file(comp.name)
    while time.monotonic() < deadline:
        if comp.is_ready(cfg):
            return
        exit_code = proc.poll() if proc is not None else None
        if exit_code is not None:
            cfg.pid_file(comp.name).unlink(missing_ok=True)
            raise StackError(
                f"{comp.name} exited with code {exit_code} while starting; see {log}. "
                f"Last lines:\n{_tail(log, 25)}"
            )
        time.sleep(0.25)
    raise StackError(
        f"{comp.name} did not become ready within {cfg.ready_timeout_s:.0f}s "
        f"(ports {comp.ports(cfg)}); see {log}. Last lines:\n{_tail(log, 25)}",
        EXIT_NOT_READY,
    )


def _stop(cfg: StackConfig, comp: Component) -> str:
    pid_file = cfg.pid_file(comp.name)
    record = procs.read_pid_file(pid_file)
    if record is None:
        pid_file.unlink(missing_ok=True)
        return "not running"
    if not procs.is_ours(record):
        # Gone, or the pid now belongs to someone else: never signal a stranger's group.
        pid_file.unlink(missing_ok=True)
        return "not running (stale pid file removed)"
    survivors = procs.stop_group(record.pid, grace_s=comp.stop_grace_s)
    if survivors:
        raise StackError(f"{comp.name}: processes {survivors} survived SIGKILL")
    pid_file.unlink(missing_ok=True)
    return f"stopped (pid {record.pid})"


def cmd_up(cfg: StackConfig, names: list[str]) -> None:
    chosen = [COMPONENTS[n] for n in names]
    for directory in (cfg.state_dir, cfg.logs_dir, cfg.run_dir):
        directory.mkdir(parents=True, exist_ok=True)
    started_at = time.monotonic()
    with _locked(cfg.state_dir / ".lock"):
        with _locked(cfg.install_dir / ".lock"):
            for comp in chosen:
                comp.install(cfg)
        to_start = [c for c in chosen if _running_record(cfg, c) is None]
        for comp in to_start:  # fail before starting anything if a port is taken
            _check_ports_free(cfg, comp)
        launched: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for comp in to_start:
                comp.prepare(cfg)
                proc = procs.start_detached(
                    comp.argv(cfg), log_file=cfg.log_file(comp.name), cwd=cfg.state_dir
                )
                procs.write_pid_file(
                    cfg.pid_file(comp.name),
                    procs.PidRecord(proc.pid, comp.ports(cfg)[0], comp.marker(cfg)),
                )
                launched[comp.name] = proc
            for comp in chosen:
                _wait_ready(cfg, comp, launched.get(comp.name))
                comp.after_ready(cfg)
                state = "started" if comp.name in launched else "already running"
                print(f"{comp.name:8} {state:16} {comp.description}", flush=True)
        except (StackError, StartupError, OSError):
            # Leave nothing half-started behind: stop what this run launched.
            for name in launched:
                with contextlib.suppress(StackError):
                    _stop(cfg, COMPONENTS[name])
            raise
    _write_env(cfg)
    print(f"stack up in {time.monotonic() - started_at:.1f}s; settings in {cfg.env_file}")


def _write_env(cfg: StackConfig) -> None:
    lines = [f"{key}={value}" for key, value in cfg.plinth_env().items()]
    cfg.env_file.write_text("\n".join(lines) + "\n")


def cmd_down(cfg: StackConfig, names: list[str]) -> None:
    with _locked(cfg.state_dir / ".lock"):
        for name in reversed(names):
            print(f"{name:8} {_stop(cfg, COMPONENTS[name])}", flush=True)


def cmd_reset(cfg: StackConfig, names: list[str]) -> None:
    """Stop the components and delete their data (installs are kept)."""
    with _locked(cfg.state_dir / ".lock"):
        for name in reversed(names):
            comp = COMPONENTS[name]
            stopped = _stop(cfg, comp)
            for path in comp.state_paths(cfg):
                shutil.rmtree(path, ignore_errors=True)
            print(f"{name:8} {stopped}; data deleted", flush=True)


def cmd_status(cfg: StackConfig, names: list[str]) -> int:
    rows = [("COMPONENT", "PID", "PORT", "STATE", "LOG")]
    all_ready = True
    for name in names:
        comp = COMPONENTS[name]
        ports = ",".join(str(p) for p in comp.ports(cfg))
        record = procs.read_pid_file(cfg.pid_file(name))
        if record is not None and procs.is_ours(record):
            state = "ready" if comp.is_ready(cfg) else "not ready"
            pid = str(record.pid)
        else:
            state = "stale pid file" if record is not None else "stopped"
            pid = "-"
            busy = [p for p in comp.ports(cfg) if not procs.port_is_free(cfg.host, p)]
            if busy:
                state += f" (port {busy[0]} used by {procs.describe_listener(busy[0])})"
        all_ready = all_ready and state == "ready"
        rows.append((name, pid, ports, state, str(cfg.log_file(name))))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    return 0 if all_ready else EXIT_NOT_READY


def cmd_logs(cfg: StackConfig, names: list[str], lines: int, follow: bool) -> None:
    files = [str(cfg.log_file(n)) for n in names if cfg.log_file(n).exists()]
    if not files:
        raise StackError(f"no logs yet under {cfg.logs_dir}")
    argv = ["tail", "-n", str(lines)] + (["-F"] if follow else []) + files
    os.execvp("tail", argv)


def _component_names(given: list[str]) -> list[str]:
    """Components named on the command line, else in PLINTH_STACK_COMPONENTS, else all, with
    the components they require (mongo needs postgres); always in start order."""
    names = given or os.environ.get("PLINTH_STACK_COMPONENTS", "").replace(",", " ").split()
    unknown = sorted(set(names) - set(COMPONENTS))
    if unknown:
        raise StackError(
            f"unknown component(s) {', '.join(unknown)}; known: {', '.join(COMPONENTS)}"
        )
    if not names:
        return list(COMPONENTS)
    wanted = set(names)
    for name in names:
        wanted.update(COMPONENTS[name].requires)
    return [name for name in COMPONENTS if name in wanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/local/stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "logs", "env", "reset"])
    parser.add_argument(
        "components",
        nargs="*",
        metavar="component",
        help=f"any of {', '.join(COMPONENTS)} (default: $PLINTH_STACK_COMPONENTS, else all)",
    )
    parser.add_argument("-n", "--lines", type=int, default=50, help="logs: lines to show")
    parser.add_argument("-f", "--follow", action="store_true", help="logs: keep following")
    args = parser.parse_args(argv)
    try:
        names = _component_names(args.components)
        cfg = load_config()
        if args.command == "up":
            cmd_up(cfg, names)
        elif args.command == "down":
            cmd_down(cfg, names)
        elif args.command == "reset":
            cmd_reset(cfg, names)
        elif args.command == "status":
            return cmd_status(cfg, names)
        elif args.command == "logs":
            cmd_logs(cfg, names, args.lines, args.follow)
        else:
            print("\n".join(f"{k}={v}" for k, v in cfg.plinth_env().items()))
    except StackError as exc:
        print(f"stack {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except (StartupError, InstallError, ConfigError, OSError) as exc:
        print(f"stack {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
