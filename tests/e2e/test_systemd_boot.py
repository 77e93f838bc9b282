"""The units under a real systemd: docs/guide.md section 4 followed inside a throwaway container.

``systemd-nspawn --directory=/ --volatile=yes`` boots the host's own systemd as PID 1 of a container
with a tmpfs root, the host's ``/usr`` read-only, ``/etc`` as an overlay on a directory of this test
(nothing reaches the host's ``/etc``), and its own network namespace (``--private-network``: only
``lo``; the host's routes and resolver are never touched). Inside, as a new user would: the simulator
stands in for the A7 (``pppos-sim --profile a7 --link /run/pppos-sim-a7``, its data calls going to
slirp), a local ``blynk-server`` listens on the container's loopback, ``pppos-up ... --install-service
sim`` writes the peer and the units, an ip-up hook goes in ``/etc/pppos/ip-up.d``, and ``systemctl
start pppos@sim blynk-client@sim``. Checked: systemd reports ``pppos@sim`` *active* only once ppp0 has
its address (Type=notify, READY=1), the hook ran with pppd's variables, ``blynk-client@sim`` started
after it and logged in over ppp0, and ``systemctl stop pppos@sim`` leaves routes, addresses and
``/etc/resolv.conf`` byte for byte as before. The container is halted and its directories removed.

Where it differs from the guide: pppos is "installed" at /opt/pppos as a venv of Debian's python3
naming this checkout (offline: the container has no network; and not under /root, which the units'
``ProtectHome=yes`` hides); ``blynk-client@sim`` gets ``--server`` from ``BLYNK_ARGS`` in its env file;
``systemctl enable`` then ``start --no-block`` instead of ``enable --now``, to watch it activate.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import need, need_root, need_tool

pytestmark = [pytest.mark.root, pytest.mark.slirp, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HOST_VENV = Path(sys.executable).parent.parent  # this checkout's venv (its interpreter may live under /root)
BIN = "/opt/pppos/bin"  # the commands inside the container (see install_pppos)
SCRIPTS = ("pppos-up", "pppos-down", "pppos-status", "pppos-sim", "blynk-client", "blynk-server")
OUT = "/srv/pppos-test"  # bound to a directory of the test; the units' ProtectSystem leaves /srv writable
LINK = "/run/pppos-sim-a7"
TOKEN = "0123456789abcdef0123456789abcdef"  # the local test server's token
BLYNK_PORT = 8442  # on the container's own loopback
HOOK = f"""#!/bin/sh
env > {OUT}/ip-up.env
echo "$@" > {OUT}/ip-up.args
"""


def _wait(predicate: Callable[[], bool], timeout: float, what: str, box: Container | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    journal = box.run("journalctl", "--no-pager", "-n", "60", check=False) if box is not None else ""
    raise AssertionError(f"timed out waiting for {what}\n{journal}")


class Container:
    """systemd booted by ``systemd-nspawn`` on the host's own tree (see the module docstring)."""

    def __init__(self, base: Path) -> None:
        self.name = f"pppos-boot-{os.getpid()}"
        self.upper = base / "etc-upper"
        self.out = base / "out"
        self.upper.mkdir()
        self.out.mkdir()
        machine_id = uuid.uuid4().hex
        (self.upper / "machine-id").write_text(machine_id + "\n")  # not the host's: journald links none
        argv = [
            "systemd-nspawn", "--quiet", "--directory=/", "--volatile=yes",
            f"--overlay=/etc:{self.upper}:/etc", "--private-network", "--register=no", "--keep-unit",
            f"--machine={self.name}", f"--uuid={machine_id}", "--resolv-conf=off", "--timezone=off",
            "--link-journal=no", f"--bind-ro={ROOT}", f"--bind={self.out}:{OUT}", "--bind=/dev/net/tun",
            "--console=pipe", "--boot", "systemd.unit=basic.target",
        ]  # fmt: skip
        self.log = base / "nspawn.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.leader = 0

    def wait_booted(self) -> None:
        """Find the container's init (nspawn's child) and wait until its boot is done."""

        def leader() -> bool:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
                if children and Path(f"/proc/{children[0]}/exe").resolve().name == "systemd":
                    self.leader = int(children[0])
            return self.leader != 0

        _wait(leader, 30, "the container's init")
        _wait(lambda: self.run("systemctl", "is-system-running", check=False).strip() in {"running", "degraded"},
              60, "the container's boot", self)  # fmt: skip

    def run(self, *argv: str, check: bool = True, stdin: bytes | None = None, err: bool = False) -> str:
        """``argv`` inside the container (all its namespaces), with pppos's commands on PATH; its
        stdout (and stderr after it with ``err``)."""
        env = {"PATH": f"{BIN}:/usr/sbin:/usr/bin", "LANG": "C.UTF-8", "SYSTEMD_PAGER": "", "HOME": "/root"}
        proc = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", "--", *argv],
            input=stdin, capture_output=True, timeout=60, env=env,
        )  # fmt: skip
        if check:
            assert proc.returncode == 0, (argv, proc.returncode, proc.stdout, proc.stderr)
        return (proc.stdout + (proc.stderr if err else b"")).decode(errors="replace")

    def install_pppos(self) -> None:
        """This checkout as an installed pppos at /opt/pppos, on Debian's /usr/bin/python3.

        Offline (the container has no network), so a venv whose ``.pth`` names copies of the two
        packages and of their run-time libraries (pyserial, pyroute2) under /opt rather than a pip
        download; the console scripts are this venv's with the new interpreter. Everything the units run
        is copied under /opt: they have ``ProtectHome=yes`` (no /root, /home) and ``PrivateTmp=yes`` (the
        checkout itself may be under /tmp, as a CI clone is).
        """
        self.run("/usr/bin/python3", "-m", "venv", "--without-pip", "/opt/pppos")
        purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        site = self.run("/opt/pppos/bin/python", "-c", purelib).strip()
        libs = next((HOST_VENV / "lib").glob("python3*/site-packages"))
        self.run("mkdir", "-p", "/opt/pppos/src", "/opt/pppos/deps")
        self.run("cp", "-a", f"{ROOT}/pppos", f"{ROOT}/blynk_client", "/opt/pppos/src/")
        # with their dist-info: pppos-up checks pyroute2's installed version at start
        self.run("sh", "-c", f"cp -a {libs}/serial {libs}/pyserial-*.dist-info {libs}/pyroute2 "
                             f"{libs}/pyroute2-*.dist-info /opt/pppos/deps/")
        self.run("sh", "-c", f"cat > {site}/pppos-checkout.pth", stdin=b"/opt/pppos/src\n/opt/pppos/deps\n")
        for script in SCRIPTS:
            dest = f"{BIN}/{script}"
            self.run("sh", "-c", f"sed '1s|.*|#!{BIN}/python|' {HOST_VENV}/bin/{script} > {dest} && chmod 755 {dest}")

    def ok(self, *argv: str) -> bool:
        """Whether ``argv`` succeeds inside the container."""
        argv = ("nsenter", "-t", str(self.leader), "-a", "--", *argv)
        return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0

    def state(self, unit: str) -> str:
        return self.run("systemctl", "is-active", unit, check=False).strip()

    def prop(self, unit: str, name: str) -> str:
        return self.run("systemctl", "show", "--value", "-p", name, unit).strip()

    def host_facts(self) -> str:
        """Everything ``systemctl stop`` must restore: routes, addresses, links and the resolver."""
        routes = (("-4", "route", "show", "table", "all"), ("-6", "route", "show", "table", "all"))
        queries = (*routes, ("addr",), ("link",))
        parts = [self.run("ip", *q) for q in queries]
        return "".join(parts) + "---\n" + self.run("cat", "/etc/resolv.conf")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nspawn asks the container's systemd to power off
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        with contextlib.suppress(OSError):  # nspawn leaves this empty directory when not registered
            Path(f"/run/systemd/nspawn/propagate/{self.name}").rmdir()


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    need_root()
    need_tool("systemd-nspawn", "nsenter", "slirp", "gcc", "ip")
    need(Path("/usr/lib/systemd/systemd").exists(), "needs systemd (apt-get install systemd)")
    need(Path("/usr/bin/python3").exists(), "needs Debian's python3 and python3-venv")
    box = Container(tmp_path)
    try:
        box.wait_booted()
        yield box
    finally:
        box.close()
        shutil.rmtree(tmp_path / "etc-upper", ignore_errors=True)


def test_guide_recipe_under_systemd(container: Container) -> None:
    c = container
    c.install_pppos()
    before = c.host_facts()
    # The simulator in place of the modem, and a local Blynk server on the container's loopback.
    c.run("systemd-run", "--unit=pppos-sim-a7", f"{BIN}/pppos-sim", "--profile", "a7", "--link", LINK)
    c.run("systemd-run", "--unit=blynk-server", f"{BIN}/blynk-server", "--port", str(BLYNK_PORT), "--token", TOKEN,
          "-v")  # fmt: skip
    _wait(lambda: c.ok("test", "-e", LINK), 30, "the simulator's pty", c)
    # Guide section 4 (simulator variant): install the peer and the units, the token, a hook.
    out = c.run("pppos-up", LINK, "--apn", "internet", "--usepeerdns", "--default-route", "--install-service", "sim",
                err=True)  # fmt: skip
    assert "now run: systemctl enable --now pppos@sim" in out, out
    assert "wrote /etc/systemd/system/pppos@.service" in out, out
    assert c.run("stat", "-c", "%a", "/etc/pppos/peers/sim.conf").strip() == "600"
    c.run("install", "-d", "-m", "755", "/etc/pppos/ip-up.d")
    c.run("sh", "-c", "cat > /etc/pppos/ip-up.d/50-record", stdin=HOOK.encode())
    c.run("chmod", "755", "/etc/pppos/ip-up.d/50-record")
    c.run("install", "-m", "600", "/dev/null", "/etc/pppos/blynk/sim.token")
    c.run("sh", "-c", "cat > /etc/pppos/blynk/sim.token", stdin=TOKEN.encode() + b"\n")
    # The local server instead of blynk.cloud: BLYNK_ARGS in the peer's env file, as the guide says.
    env_file = c.run("cat", "/etc/pppos/blynk/sim.env")
    assert "BLYNK_INTERFACE=ppp0" in env_file, env_file
    extra = f"BLYNK_ARGS=--server 10.0.2.2 --port {BLYNK_PORT} --insecure\n"
    c.run("sh", "-c", "cat >> /etc/pppos/blynk/sim.env", stdin=extra.encode())
    c.run("systemctl", "daemon-reload")
    c.run("systemctl", "enable", "pppos@sim", "blynk-client@sim")
    c.run("systemctl", "start", "--no-block", "pppos@sim", "blynk-client@sim")

    # systemd says "active" only once ppp0 has its address: sample the state, then the interface.
    samples: list[tuple[str, bool]] = []

    def active() -> bool:
        state = c.state("pppos@sim")
        up = "10.0.2.15" in c.run("ip", "-4", "addr", "show", "dev", "ppp0", check=False)
        samples.append((state, up))
        assert state in {"activating", "active"}, f"{samples}\n" + c.run("journalctl", "--no-pager", "-u", "pppos@sim")
        return state == "active"

    _wait(active, 90, "pppos@sim active", c)
    assert ("activating", False) in samples, samples  # it was seen starting before the link was up
    assert all(up for state, up in samples if state == "active"), samples
    journal = c.run("journalctl", "--no-pager", "-o", "short-monotonic", "-u", "pppos@sim")
    lines = journal.splitlines()
    up_line = next(i for i, line in enumerate(lines) if "ppp0 up in" in line)
    started = next(i for i, line in enumerate(lines) if "Started pppos@sim.service" in line)
    assert up_line < started, journal
    assert c.prop("pppos@sim", "StatusText").startswith("ppp0 up"), c.prop("pppos@sim", "StatusText")

    # The ip-up hook ran with pppd's variables.
    _wait((c.out / "ip-up.env").exists, 30, "the ip-up hook", c)
    env = dict(line.split("=", 1) for line in (c.out / "ip-up.env").read_text().splitlines() if "=" in line)
    main_pid = c.prop("pppos@sim", "MainPID")
    assert env["IFNAME"] == "ppp0" and env["IPLOCAL"] == "10.0.2.15" and env["LINKNAME"] == "sim", env
    assert env["DEVICE"] == LINK and env["PPPOS_SESSION"] == "1" and env["PPPOS_PID"] == main_pid, env
    assert env["IPREMOTE"] and "PPPOS_PIN" not in env, env
    args = (c.out / "ip-up.args").read_text().split()
    assert args == ["ppp0", LINK, "115200", "10.0.2.15", env["IPREMOTE"], "sim"], args
    _wait(lambda: "ip-up hook 50-record ran" in c.run("journalctl", "--no-pager", "-u", "pppos@sim"), 10,
          "the hook's line", c)  # fmt: skip
    assert f"nameserver {env['DNS1']}" in c.run("cat", "/etc/resolv.conf")  # --usepeerdns, through the unit's sandbox

    # blynk-client@sim started after pppos@sim was active (After=, Type=notify), and logged in over ppp0.
    _wait(lambda: c.state("blynk-client@sim") == "active", 30, "blynk-client@sim active", c)
    pppos_ready = int(c.prop("pppos@sim", "ActiveEnterTimestampMonotonic"))
    blynk_start = int(c.prop("blynk-client@sim", "ExecMainStartTimestampMonotonic"))
    assert 0 < pppos_ready <= blynk_start, (pppos_ready, blynk_start)

    def logged_in() -> bool:
        # 10.0.2.2 (slirp's alias for the container's loopback) is reachable only through ppp0
        return f"device {TOKEN[:4]}… logged in" in c.run("journalctl", "--no-pager", "-u", "blynk-server")

    _wait(logged_in, 30, "the Blynk login", c)
    assert TOKEN not in c.run("journalctl", "--no-pager", "-u", "blynk-client@sim", "-u", "pppos@sim")

    # systemctl stop: the call ends, blynk-client@ goes with it, the host is as it was, byte for byte.
    c.run("systemctl", "stop", "pppos@sim")
    assert c.state("pppos@sim") == "inactive" and c.state("blynk-client@sim") == "inactive"
    assert c.host_facts() == before
