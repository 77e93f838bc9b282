"""``pppos-demo``: the whole story on this machine, with no hardware and no traffic leaving it.

What it runs, each a real program (the same commands a user types):

1. ``blynk-server`` on 127.0.0.1 with a fresh random token and its HTTP API;
2. ``pppos-sim --profile a7 --network slirp``: a simulated AI-Thinker A7 on a pty whose data calls go
   to Debian's slirp (a real PPP peer that NATs 10.0.2.2 to this host's loopback);
3. a throwaway network namespace, and inside it ``pppos-up`` on the simulator's pty: AT bring-up, PPP
   (LCP, IPCP) on our Python stack, and ``ppp0`` on a TUN device;
4. inside the namespace, ``blynk-client`` logs in over ppp0 (HW_LOGIN, command 29, the message that
   TinyGSM's A7 driver never gets to send) and writes V1; the host's HTTP API reads it back;
   an HTTP ``update`` from the host reaches ``blynk-client run`` inside the namespace;
5. ``pppos-status``, then SIGTERM to ``pppos-up`` and an exact teardown.

The modem's own TCP stack (``AT+CIPSTART``/``AT+CIPSTATUS``) is never used. Needs root (network
namespace, TUN) and Debian's slirp, gcc and iproute2 (``scripts/install.sh`` installs them).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pppos.cli.common import ArgumentParser, run_main
from pppos.errors import ExitStatus, MissingTool, PermissionProblem, PpposError

PROG = "pppos-demo"
SLIRP_HOST = "10.0.2.2"  # slirp's alias for the host's loopback


class DemoFailed(PpposError):
    """A demo step did not do what it should; the message names the step."""


class Demo:
    """Runs the demo's processes and always cleans them up (namespace, pty, slirp, server)."""

    def __init__(self, *, profile: str, out: TextIO, timeout: float) -> None:
        self.profile = profile
        self.out = out
        self.timeout = timeout
        self.tmp = Path(tempfile.mkdtemp(prefix="pppos-demo-"))
        self.netns = f"pppos-demo-{os.getpid()}"
        self.procs: list[subprocess.Popen[str]] = []
        self.netns_made = False
        self.started = time.monotonic()

    # -- output -------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        """One line of the demo's story."""
        print(f"[{time.monotonic() - self.started:6.2f}s] {text}", file=self.out, flush=True)

    def show(self, prefix: str, text: str) -> None:
        """A line printed by one of the programs, indented under the story."""
        print(f"           {prefix}| {text}", file=self.out, flush=True)

    # -- processes ----------------------------------------------------------------------------
    def spawn(self, argv: list[str], *, in_netns: bool = False, stderr_to_stdout: bool = True) -> subprocess.Popen[str]:
        """Start a program (inside the namespace when asked) with line-buffered text output."""
        cmd = (["ip", "netns", "exec", self.netns, *argv]) if in_netns else argv
        env = dict(os.environ, PYTHONUNBUFFERED="1", PPPOS_RUN_DIR=str(self.tmp / "run"))
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if stderr_to_stdout else subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=env,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def run(self, argv: list[str], *, in_netns: bool = False, timeout: float | None = None) -> tuple[int, str]:
        """Run a program to completion; return its exit status and combined output."""
        cmd = (["ip", "netns", "exec", self.netns, *argv]) if in_netns else argv
        env = dict(os.environ, PPPOS_RUN_DIR=str(self.tmp / "run"))
        try:
            done = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=timeout or self.timeout, env=env,
            )
        except subprocess.TimeoutExpired:
            raise DemoFailed(f"{' '.join(argv[:4])} did not finish in {timeout or self.timeout:.0f} s") from None
        return done.returncode, (done.stdout + done.stderr).strip()

    def wait_for_line(self, proc: subprocess.Popen[str], pattern: str, prefix: str) -> re.Match[str]:
        """Echo ``proc``'s output until a line matches ``pattern``; fail on exit or timeout."""
        regex = re.compile(pattern)
        assert proc.stdout is not None
        deadline = time.monotonic() + self.timeout
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    continue
                line = proc.stdout.readline()
                if not line:
                    code = proc.wait(timeout=5)
                    raise DemoFailed(f"{prefix.strip()} exited with status {code} before: {pattern}")
                line = line.rstrip("\n")
                self.show(prefix, line)
                match = regex.search(line)
                if match:
                    return match
        raise DemoFailed(f"{prefix.strip()} did not print {pattern!r} within {self.timeout:.0f} s")

    @staticmethod
    def py(module: str, *args: str) -> list[str]:
        """The command line that runs one of our modules with this interpreter."""
        return [sys.executable, "-m", module, *args]

    # -- the story ----------------------------------------------------------------------------
    def start_server(self, token_file: Path) -> tuple[int, int]:
        """Start blynk-server on loopback; return (device port, HTTP port)."""
        self.say("starting a local Blynk server on 127.0.0.1 (blynk-server, fresh random token)")
        proc = self.spawn(self.py("blynk_client.cli", "--host", "127.0.0.1", "--port", "0", "--http-port", "0",
                                  "--token-file", str(token_file)))
        match = self.wait_for_line(proc, r"device protocol on [\d.]+:(\d+).*HTTP API on [\d.]+:(\d+)", "blynk-server ")
        return int(match.group(1)), int(match.group(2))

    def start_sim(self) -> Path:
        """Start the simulated modem with slirp as its network; return its link path."""
        link = self.tmp / self.profile
        self.say(f"starting a simulated {self.profile.upper()} modem on {link} (pppos-sim, network side: slirp)")
        proc = self.spawn(self.py("pppos.cli.sim", "--profile", self.profile, "--link", str(link),
                                  "--network", "slirp"))
        self.wait_for_line(proc, r"pppos-sim", "pppos-sim    ")
        return link

    def make_netns(self) -> None:
        """A private network namespace: nothing here touches the host's routes or resolver."""
        self.say(f"creating network namespace {self.netns} (the 'device'; the host's routes stay untouched)")
        for argv in (["ip", "netns", "add", self.netns], ["ip", "-n", self.netns, "link", "set", "lo", "up"]):
            code, text = self.run(argv)
            if code != 0:
                raise DemoFailed(f"{' '.join(argv)} failed: {text}")
            self.netns_made = True

    def bring_up(self, link: Path) -> subprocess.Popen[str]:
        """Run pppos-up inside the namespace and wait for ppp0."""
        self.say(f"pppos-up {link} --apn internet --default-route  (inside the namespace)")
        resolv = self.tmp / "resolv.conf"
        resolv.write_text("# demo resolver file (the host's /etc/resolv.conf is never touched)\n")
        proc = self.spawn(self.py("pppos.cli.up", str(link), "--apn", "internet", "--default-route",
                                  "--usepeerdns", "--resolv-conf", str(resolv), "--run-dir", str(self.tmp / "run"),
                                  "--pcap", str(self.tmp / "demo.pcap")), in_netns=True)
        self.wait_for_line(proc, r"\bup in [\d.]+ s", "pppos-up     ")
        return proc

    def blynk_roundtrip(self, token_file: Path, port: int, http_port: int) -> None:
        """Log in over ppp0, write V1, read it back through the host's HTTP API, then push V2 back."""
        token = token_file.read_text().strip()
        client = ["--server", SLIRP_HOST, "--port", str(port), "--insecure", "--token-file", str(token_file)]
        value = str(secrets.randbelow(900) + 100)
        self.say(f"blynk-client write V1 {value}  (inside the namespace, over ppp0 to {SLIRP_HOST}:{port})")
        code, text = self.run(self.py("blynk_client.client_cli", *client, "write", "V1", value), in_netns=True)
        for line in text.splitlines():
            self.show("blynk-client ", line)
        if code != 0:
            raise DemoFailed(f"blynk-client write exited with status {code}")
        got = self.http(http_port, "get", token, {"V1": ""})
        self.say(f"host HTTP API: GET /external/api/get?V1 -> {got!r}")
        if got != value:
            raise DemoFailed(f"the server stored {got!r} for V1, expected {value!r}")

        self.say("blynk-client run  (inside the namespace), then the host sends V2 through the HTTP API")
        runner = self.spawn(self.py("blynk_client.client_cli", *client, "run"), in_netns=True)
        deadline = time.monotonic() + self.timeout
        while self.http(http_port, "isHardwareConnected", token, {}) != "true":
            if time.monotonic() > deadline:
                raise DemoFailed("blynk-client run did not log in")
            time.sleep(0.1)
        self.http(http_port, "update", token, {"V2": "hello-over-ppp0"})
        self.wait_for_line(runner, r"V2\s+hello-over-ppp0", "blynk-client ")
        runner.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            runner.wait(timeout=5)

    def http(self, port: int, endpoint: str, token: str, params: dict[str, str]) -> str:
        """One GET on the local server's blynk.cloud-style API (loopback only)."""
        query = "&".join([f"token={urllib.parse.quote(token)}"]
                         + [k if v == "" else f"{k}={urllib.parse.quote(v)}" for k, v in params.items()])
        url = f"http://127.0.0.1:{port}/external/api/{endpoint}?{query}"
        with urllib.request.urlopen(url, timeout=5) as resp:  # a fixed loopback URL
            body: bytes = resp.read()
            return body.decode().strip()

    def status(self) -> None:
        """Show pppos-status --json for the namespace's ppp0."""
        code, text = self.run(self.py("pppos.cli.status", "--json", "--run-dir", str(self.tmp / "run")))
        if code != 0:
            raise DemoFailed(f"pppos-status exited with status {code}: {text}")
        state = json.loads(text)
        keys = ("phase", "local_ip", "peer_ip", "dns", "bytes_in", "bytes_out")
        summary = ", ".join(f"{k}={state[k]}" for k in keys if k in state)
        self.say(f"pppos-status --json: {summary}")

    def bring_down(self, up: subprocess.Popen[str]) -> None:
        """SIGTERM pppos-up and show its teardown lines."""
        self.say("SIGTERM to pppos-up: LCP Terminate, hang-up, routes and resolver restored")
        up.send_signal(signal.SIGTERM)
        assert up.stdout is not None
        try:
            out, _ = up.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise DemoFailed("pppos-up did not stop after SIGTERM") from None
        for line in out.splitlines():
            self.show("pppos-up     ", line)
        if up.returncode != 0:
            raise DemoFailed(f"pppos-up exited with status {up.returncode} after SIGTERM")

    def cleanup(self) -> None:
        """Stop every process we started and remove the namespace and temporary files."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        if self.netns_made:
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _check_host() -> None:
    if os.geteuid() != 0:
        raise PermissionProblem("the demo needs root (it makes a network namespace and a TUN device): run it as root")
    for tool in ("ip", "slirp", "gcc"):
        if shutil.which(tool) is None:
            raise MissingTool(f"the demo needs {tool}: run scripts/install.sh (apt-get install iproute2 slirp gcc)")


def _demo(argv: list[str]) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0] if __doc__ else None)
    from pppos.at.profiles import PROFILES, profile_help

    parser.add_argument("--profile", default="a7", choices=list(PROFILES),
                        help=f"which simulated modem to dial: {profile_help()} (default a7)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds allowed for each step (default 60)")
    args = parser.parse_args(argv)
    _check_host()
    demo = Demo(profile=args.profile, out=sys.stdout, timeout=args.timeout)
    try:
        token_file = demo.tmp / "token"
        token_file.write_text(secrets.token_urlsafe(24) + "\n")
        token_file.chmod(0o600)
        port, http_port = demo.start_server(token_file)
        link = demo.start_sim()
        demo.make_netns()
        up = demo.bring_up(link)
        demo.blynk_roundtrip(token_file, port, http_port)
        demo.status()
        demo.bring_down(up)
    finally:
        demo.cleanup()
    demo.say("done: the Blynk login (HW_LOGIN, command 29) and every write went over ppp0 through our PPP stack;")
    demo.say("the modem's own TCP stack (AT+CIPSTART / AT+CIPSTATUS) was never used.")
    return int(ExitStatus.SUCCESS)


def main(argv: Sequence[str] | None = None) -> int:
    """``pppos-demo [--profile a7] [--timeout S]``: run the demo; 0 when every step worked."""
    return run_main(PROG, _demo, argv)


if __name__ == "__main__":
    sys.exit(main())
