"""Boot the pppd reference VM under QEMU (TCG) and talk to it.

Wiring (see :data:`tests.vm.build.INIT_SCRIPT`):

* ttyS0 = the PPP line: a unix-socket chardev (``server=on,wait=off``) the host connects to
  (:attr:`PppdVm.serial` is that connected socket);
* ttyS1 = kernel console and pppd's ``logfile``: ``console.log`` (:meth:`PppdVm.wait_log`);
* ttyS2 = the control channel (``use <set>``, ``kill TERM``/``kill STOP``/... of pppd, ``ping``);
* ttyS3 = a second line on a unix socket (:attr:`PppdVm.dial_line`): pppd dials out on it, and the
  test bridges it to the modem simulator's pty;
* the HMP monitor on a unix socket (``stop``/``cont`` freeze the whole VM).

QEMU is started with ``-accel tcg -cpu qemu64 -m 128M -nodefaults -display none -no-reboot`` and no
network device; teardown kills it. Boot time (QEMU start to ``pppos-vm: ready``) is recorded.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.vm.build import KERNEL_ARGS, VmImage, config_fragment


class VmError(RuntimeError):
    """The VM did not boot or did not answer in time (the message quotes console.log)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VmSpec:
    """What one boot runs: named pppd argument sets (``default`` first) and extra guest files."""

    arg_sets: Mapping[str, tuple[str, ...]]
    files: Mapping[str, bytes] = field(default_factory=dict)
    #: Do not restart pppd after it exits.
    once: bool = False


#: The pppd server line from real-peers.md section 2, with ``passive`` (QEMU drops output while no
#: client is connected) and pppd's log on ttyS1. Tests append auth/asyncmap/echo options.
SERVER_ARGS: tuple[str, ...] = (
    "/dev/ttyS0", "115200", "nodetach", "local", "nocrtscts", "passive", "lcp-max-configure", "1000",
    "192.168.77.1:192.168.77.2", "ms-dns", "192.168.77.53", "ms-dns", "192.168.77.54",
    "novj", "noccp", "debug", "logfile", "/dev/ttyS1",
)
GUEST_IP = "192.168.77.1"
HOST_IP = "192.168.77.2"
DNS = ("192.168.77.53", "192.168.77.54")


class PppdVm:
    """One running VM. Use as a context manager (or call :meth:`close`)."""

    def __init__(self, image: VmImage, spec: VmSpec, workdir: Path | None = None) -> None:
        self.image = image
        self.spec = spec
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="pppos-vm-"))
        self.console_path = self.dir / "console.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.serial: socket.socket | None = None
        #: The host end of ttyS3 (pppd dials out on it in the client tests).
        self.dial_line: socket.socket | None = None
        self._ctl: socket.socket | None = None
        self._ctl_buf = b""
        self.boot_seconds: float | None = None

    # ----------------------------------------------------------------- lifetime

    def start(self, timeout: float = 240.0) -> PppdVm:
        """Boot and wait for ``pppos-vm: ready`` in console.log; connect serial and control sockets."""
        qemu = shutil.which("qemu-system-x86_64")
        if qemu is None:
            raise VmError("qemu-system-x86_64 is not installed")
        initrd = self.dir / "initrd.cpio"
        with open(initrd, "wb") as out, open(self.image.initramfs, "rb") as base:
            shutil.copyfileobj(base, out, 1 << 20)
            out.write(config_fragment(self.spec.arg_sets, files=self.spec.files, once=self.spec.once))
        serial_sock = self.dir / "ttyS0.sock"
        ctl_sock = self.dir / "ttyS2.sock"
        mon_sock = self.dir / "monitor.sock"
        ttys3_sock = self.dir / "ttyS3.sock"
        argv = [
            qemu, "-accel", "tcg", "-cpu", "qemu64", "-m", "128M", "-smp", "1",
            "-nodefaults", "-display", "none", "-no-reboot", "-nic", "none",
            "-kernel", str(self.image.kernel), "-initrd", str(initrd), "-append", KERNEL_ARGS,
            "-chardev", f"socket,id=ppp,path={serial_sock},server=on,wait=off", "-serial", "chardev:ppp",
            "-serial", f"file:{self.console_path}",
            "-chardev", f"socket,id=ctl,path={ctl_sock},server=on,wait=off", "-serial", "chardev:ctl",
            "-chardev", f"socket,id=dial,path={ttys3_sock},server=on,wait=off", "-serial", "chardev:dial",
            "-monitor", f"unix:{mon_sock},server=on,wait=off",
        ]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "qemu.stderr", "wb"))  # noqa: SIM115
        try:
            deadline = t0 + timeout
            self.serial = self._connect(serial_sock, deadline)
            self._ctl = self._connect(ctl_sock, deadline)
            self.dial_line = self._connect(ttys3_sock, deadline)
            self.wait_log(r"pppos-vm: ready", timeout=max(deadline - time.monotonic(), 1.0))
            self.boot_seconds = time.monotonic() - t0
        except BaseException:
            self.close()
            raise
        return self

    def _connect(self, path: Path, deadline: float) -> socket.socket:
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise VmError(f"qemu exited with status {self.proc.returncode}: {self._stderr_tail()}")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(path))
                return s
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise VmError(f"qemu did not create {path.name}") from None
                time.sleep(0.05)

    def _stderr_tail(self) -> str:
        try:
            return (self.dir / "qemu.stderr").read_text(errors="replace").strip()[-400:]
        except OSError:
            return ""

    def close(self) -> None:
        """Kill QEMU and remove the work directory."""
        for s in (self.serial, self._ctl, self.dial_line):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        self.serial = self._ctl = self.dial_line = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PppdVm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- console

    def console(self) -> str:
        """Everything written to ttyS1 so far (kernel console + pppd log + /init markers)."""
        try:
            return self.console_path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_mark(self) -> int:
        """An offset into console.log; pass it as ``since`` to only look at later lines."""
        return len(self.console())

    def wait_log(self, pattern: str, *, since: int = 0, timeout: float = 30.0) -> re.Match[str]:
        """Wait (polling every 50 ms) until ``pattern`` appears in console.log after ``since``."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.console()
            m = rx.search(text, since)
            if m is not None:
                return m
            if self.proc is not None and self.proc.poll() is not None:
                raise VmError(f"qemu exited while waiting for {pattern!r}; console:\n{text[-1500:]}")
            if time.monotonic() > deadline:
                raise VmError(f"timed out waiting for {pattern!r}; console:\n{text[-1500:]}")
            time.sleep(0.05)

    def wait_pppd(self, name: str = r"\w+", *, since: int = 0, timeout: float = 60.0) -> int:
        """Wait until pppd (argument set ``name``) started after ``since`` has its tty in the PPP line
        discipline; return the console offset of its start marker (use it as ``since`` later)."""
        m = self.wait_log(rf"pppos-vm: pppd start \d+ {name}\s", since=since, timeout=timeout)
        # pppd logs "Connect: ppp0 <--> /dev/ttyS0" once the tty is in the PPP line discipline.
        self.wait_log(r"Connect: ppp\d+ <-->", since=m.start(), timeout=timeout)
        return m.start()

    def switch(self, name: str, timeout: float = 60.0) -> int:
        """Run argument set ``name`` next: select it, kill the running pppd, wait for the new one.

        Returns the console offset of the new pppd's start marker.
        """
        reply = self.control(f"use {name}")
        if not reply.startswith("ok"):
            raise VmError(f"the VM has no argument set {name!r} ({reply})")
        mark = self.log_mark()
        self.control("kill CONT")
        self.control("kill KILL")
        return self.wait_pppd(name, since=mark, timeout=timeout)

    # ----------------------------------------------------------------- control

    def control(self, command: str, timeout: float = 10.0) -> str:
        """Send one control line (``kill TERM``, ``kill STOP``, ``ping``) and return the reply line."""
        assert self._ctl is not None
        self._ctl.sendall(command.encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            line, sep, rest = self._ctl_buf.partition(b"\n")
            if sep:
                self._ctl_buf = rest
                text = line.decode(errors="replace").strip()
                if text.startswith("@@ "):  # replies are marked; anything else is tty echo
                    return text[3:]
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise VmError(f"no reply to control command {command!r}")
            self._ctl.settimeout(left)
            try:
                chunk = self._ctl.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                raise VmError("the control channel closed")
            self._ctl_buf += chunk

    def monitor(self, command: str) -> None:
        """Send one HMP command (``stop``, ``cont``) to QEMU's monitor."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(5)
            s.connect(str(self.dir / "monitor.sock"))
            s.sendall(command.encode() + b"\n")
            time.sleep(0.2)
        finally:
            s.close()

    def pppd_pid_alive(self) -> bool:
        """True if pppd is running (its pid answers signal 0 through ``kill CONT``)."""
        return self.control("kill CONT").startswith("ok")


def qemu_available() -> bool:
    """True if qemu-system-x86_64 is on PATH."""
    return shutil.which("qemu-system-x86_64") is not None


def write_boot_result(seconds: float, path: Path | None = None, note: str = "") -> None:
    """Append a boot-time line to ``path`` (default: bench/results/vm_boot.txt, for bench/vm_boot.py)."""
    out = path or Path(__file__).resolve().parents[2] / "bench" / "results" / "vm_boot.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(out, "a", encoding="utf-8") as fh:
        fh.write(f"{stamp} boot_to_ready_s={seconds:.2f} cpus={os.cpu_count()} {note}\n".rstrip() + "\n")
