"""ip-up/ip-down hooks: pppd's arguments and variables, name order, no shell, a timeout, and a failing
or hanging hook that never stops anything."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from pppos.hooks import HookFacts, HookRunner, hook_commands

FACTS = HookFacts(ifname="ppp0", device="/dev/ttyUSB0", speed=115200, local="10.0.2.15", remote="10.64.64.64",
                  dns=("10.0.2.3", "192.0.2.53"), linkname="a7", session=2, pid=4242)

RECORDER = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["OUT"] if "OUT" in os.environ else "{out}", "a") as fh:
    fh.write(json.dumps({{"name": "{name}", "argv": sys.argv[1:], "env": dict(os.environ)}}) + "\\n")
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    base = tmp_path / "etc"
    out = tmp_path / "out.jsonl"
    for kind in ("ip-up", "ip-down"):
        d = base / f"{kind}.d"
        d.mkdir(parents=True)
        for name in ("20-second", "10-first", "B-upper"):
            _script(d / name, RECORDER.format(out=out, name=f"{kind}/{name}"))
        _script(d / "30-fails", "#!/bin/sh\necho 'no route to \x1b[31mhost' >&2\nexit 3\n")
        _script(d / "40-hangs", "#!/bin/sh\nsleep 600\n")
        _script(d / "50-last", RECORDER.format(out=out, name=f"{kind}/50-last"))
        _script(d / "x.dpkg-old", RECORDER.format(out=out, name="never"))  # run-parts skips such names
        (d / "60-not-executable").write_text("#!/bin/sh\nexit 0\n")
    return base, out


def test_hook_commands_order_and_names(tmp_path: Path) -> None:
    base, _ = _setup(tmp_path)
    names = [os.path.basename(c[0]) for c in hook_commands("ip-up", "logger -t pppos 'up now'", str(base))]
    assert names == ["10-first", "20-second", "30-fails", "40-hangs", "50-last", "B-upper", "logger"]
    assert hook_commands("ip-up", "logger -t pppos 'up now'", str(base))[-1] == ["logger", "-t", "pppos", "up now"]
    assert hook_commands("ip-up", None, str(tmp_path / "none")) == []


def test_hooks_see_pppds_variables_in_order_and_failures_do_not_stop_them(tmp_path: Path) -> None:
    base, out = _setup(tmp_path)
    lines: list[tuple[str, str]] = []
    cmd = _script(tmp_path / "cmd-hook", RECORDER.format(out=out, name="cmd"))
    os.environ["PPPOS_PIN"] = "1234"  # the daemon's environment never reaches a hook
    try:
        async def scenario() -> HookRunner:
            runner = HookRunner(ip_up=f"{cmd} extra", ip_down=None, directory=str(base), timeout=0.5,
                                log=lambda level, message: lines.append((level, message)))
            runner.fire("ip-up", FACTS)
            runner.fire("ip-down", FACTS)
            # fire() returned at once: the loop is free while hooks run (one hangs until killed)
            await runner.drain(timeout=30)
            return runner

        runner = asyncio.run(scenario())
    finally:
        del os.environ["PPPOS_PIN"]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["name"] for r in records] == ["ip-up/10-first", "ip-up/20-second", "ip-up/50-last", "ip-up/B-upper",
                                            "cmd", "ip-down/10-first", "ip-down/20-second", "ip-down/50-last",
                                            "ip-down/B-upper"]
    first = records[0]
    assert first["argv"] == ["ppp0", "/dev/ttyUSB0", "115200", "10.0.2.15", "10.64.64.64", "a7"]
    assert records[4]["argv"][:1] == ["extra"]
    env = first["env"]
    expected = {"IFNAME": "ppp0", "IPLOCAL": "10.0.2.15", "IPREMOTE": "10.64.64.64", "DNS1": "10.0.2.3",
                "DNS2": "192.0.2.53", "DEVICE": "/dev/ttyUSB0", "SPEED": "115200", "PPPOS_PID": "4242",
                "LINKNAME": "a7", "PPPOS_SESSION": "2", "PPP_IFACE": "ppp0", "PPP_IPPARAM": "a7"}
    assert {k: env[k] for k in expected} == expected
    assert "PPPOS_PIN" not in env and "1234" not in json.dumps(env)
    statuses = {(r.kind, r.name): r.status for r in runner.results}
    assert statuses[("ip-up", "30-fails")] == 3 and statuses[("ip-up", "40-hangs")] is None
    warnings = [m for level, m in lines if level == "warning"]
    assert "ip-up hook 30-fails exited with status 3: no route to ?[31mhost" in warnings
    assert "ip-up hook 40-hangs did not finish within 0.5 s: killed" in warnings
    assert all("\n" not in m and "\x1b" not in m for _, m in lines)


def test_a_missing_command_is_logged(tmp_path: Path) -> None:
    lines: list[tuple[str, str]] = []

    async def scenario() -> None:
        runner = HookRunner(ip_up=str(tmp_path / "nope"), directory=str(tmp_path), log=lambda *a: lines.append(a))
        runner.fire("ip-up", FACTS)
        await runner.drain()

    asyncio.run(scenario())
    assert lines == [("warning", "ip-up hook nope could not start: No such file or directory")]


def test_a_runner_keeps_only_the_latest_results(tmp_path: Path) -> None:
    """Months of reconnects fire the hooks thousands of times: the runner keeps the latest
    HOOK_RESULTS_KEPT results, not one per run."""
    from pppos.hooks import HOOK_RESULTS_KEPT

    script = tmp_path / "count"
    _script(script, "#!/bin/sh\nexit 0\n")
    runs = HOOK_RESULTS_KEPT + 8

    async def scenario() -> HookRunner:
        runner = HookRunner(ip_up=str(script), directory=str(tmp_path / "none"))
        for _ in range(runs):
            runner.fire("ip-up", FACTS)
        await runner.drain(timeout=30)
        return runner

    runner = asyncio.run(scenario())
    assert len(runner.results) == HOOK_RESULTS_KEPT
    assert all(r.ok and r.kind == "ip-up" for r in runner.results)


def test_at_exit_a_hung_ip_up_is_killed_so_ip_down_still_runs(tmp_path: Path) -> None:
    base = tmp_path / "etc"
    (base / "ip-up.d").mkdir(parents=True)
    (base / "ip-down.d").mkdir()
    _script(base / "ip-up.d" / "10-hangs", "#!/bin/sh\nsleep 600\n")
    out = tmp_path / "out.jsonl"
    _script(base / "ip-down.d" / "10-record", RECORDER.format(out=out, name="down"))
    lines: list[tuple[str, str]] = []

    async def scenario() -> None:
        runner = HookRunner(directory=str(base), log=lambda *a: lines.append(a))  # the default 30 s limit
        runner.fire("ip-up", FACTS)
        while runner._running is None:  # until ip-up runs (and hangs)
            await asyncio.sleep(0.01)
        runner.kill_running("ip-up")  # what the daemon does at exit
        runner.fire("ip-down", FACTS)
        await runner.drain(timeout=10)

    asyncio.run(scenario())
    assert [json.loads(line)["name"] for line in out.read_text().splitlines()] == ["down"]
    assert ("warning", "ip-up hook 10-hangs was killed (signal 9)") in lines
