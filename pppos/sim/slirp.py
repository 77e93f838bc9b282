"""Debian's ``slirp`` (1.0.17) as a real network-side PPP peer, on a pseudo-terminal.

slirp emulates a dial-up account: run as ``slirp -P`` it speaks PPP (RFC 1661 framed per RFC 1662
section 4, the asynchronous HDLC-like framing) on its terminal and NATs the IP traffic of the PPP
client to the host. Facts this module relies on (checked on Debian 12):

- stdin/stdout must be a tty: we give it the slave side of a fresh pty in raw mode, in its own
  session (``setsid``), and hand the caller the master side (non-blocking) to read and write PPP
  bytes. Before PPP it may print a short text banner; PPP deframers discard it as noise.
- slirp 1.0.17 passes ``select()`` an uninitialised ``timeval.tv_sec``; glibc answers EINVAL and slirp
  exits with status 1. ``select_shim.c``, built here with gcc and loaded with ``LD_PRELOAD``, caps
  every timeout at 2 ms (``$PPPOS_SLIRP_SELECT_USEC`` overrides it, for measurements): slirp's ``-b``
  throttle leaves tty output queued without shortening its timeout, so a long sleep stalls the link
  (a 0.5 s cap held 921600-baud downloads to 17 % of the line rate; see :func:`build_shim`).
- slirp reads ``~/.slirprc``, ``~/.pap-secrets`` and ``~/.chap-secrets``: ``HOME`` is a private
  temporary directory, so nothing from the real home leaks in, and tests can write secrets there.
- Addresses: the client gets 10.0.2.15 and 10.0.2.2 is the host's loopback. IPCP hands out the host's
  own resolver (the first nameserver of /etc/resolv.conf), not 10.0.2.3: never send DNS through it
  from a test.
- ``redir tcp PORT to 10.0.2.15:PORT`` makes slirp listen on the host and connect into the client.
  slirp binds such listeners to INADDR_ANY; the shim turns every fixed-port INADDR_ANY bind into
  127.0.0.1, so the simulated network is reachable from this machine only.
- Negotiation facts seen on the wire (LCP/IPCP, RFC 1661 and RFC 1332): slirp's LCP Configure-Request
  carries MRU 1500, a magic number, PFC and ACFC but **no ACCM**, so the client must escape every
  control character it sends (RFC 1662 section 7.1 default map) unless slirp is started with the
  option ``asyncmap 0``, which makes it ask for ACCM 0. It acks a request with only a magic
  number. Its IPCP Configure-Request asks for IP-Address **0.0.0.0** plus VJ compression (0x002d, 15
  slots, slot-id compression). The client must **Nak** that address with one for slirp (10.0.2.2
  works); slirp then re-requests with it and the client acks. If the client acks 0.0.0.0 or rejects
  the address option (what pppd does by default), slirp sends an IPCP Terminate-Request and no IP
  flows. It Naks a client's 0.0.0.0 with 10.0.2.15. It also sends a CCP Configure-Request (answer
  it with an LCP Protocol-Reject).

Typical use::

    with SlirpProcess() as peer:
        os.write(peer.fd, lcp_configure_request_frame)
        reply = peer.read()
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import tty
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from types import TracebackType

from pppos.errors import LinkError, MissingTool

__all__ = ["HOME_PREFIX", "SlirpProcess", "build_shim", "cache_root", "clean_stale_homes", "find_slirp", "shim_source"]

#: The shim's source file, shipped as package data next to this module.
SHIM_SOURCE_NAME = "select_shim.c"
#: Environment variable (passed through to slirp) that overrides the shim's select() timeout cap in
#: microseconds; for measurements only (bench/goodput_bench.py).
SHIM_TIMEOUT_ENV = "PPPOS_SLIRP_SELECT_USEC"
#: slirp's private home is ``<tmp>/pppos-slirp-<owner pid>-<random>``: the owner's pid lets a later
#: start remove the homes of owners that were killed (SIGKILL leaves no chance to clean up).
HOME_PREFIX = "pppos-slirp-"
#: Homes in the old format (no owner pid) are removed only when older than this (seconds) and unused.
STALE_AGE = 60.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cwds_in_use() -> set[str]:
    """The working directories of the processes we can see (slirp runs inside its home)."""
    used: set[str] = set()
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    used.add(os.readlink(f"/proc/{entry.name}/cwd"))
    return used


def clean_stale_homes(directory: str | None = None) -> list[Path]:
    """Remove slirp homes left behind by owners that died without cleaning up; return them.

    A home is stale when it is ours (same uid), its owner pid (in the name) is gone and no process
    works inside it. Old-format names without a pid count only when older than :data:`STALE_AGE`.
    """
    import time

    base = Path(directory or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = [p for p in base.iterdir() if p.name.startswith(HOME_PREFIX)]
    except OSError:
        return removed
    if not candidates:
        return removed
    in_use = _cwds_in_use()
    uid = os.getuid()
    for path in candidates:
        try:
            st = path.lstat()
        except OSError:
            continue
        if not path.is_dir() or path.is_symlink() or st.st_uid != uid or str(path) in in_use:
            continue
        owner, _, _ = path.name[len(HOME_PREFIX) :].partition("-")
        if owner.isdigit():
            if _pid_alive(int(owner)):
                continue
        elif time.time() - st.st_mtime < STALE_AGE:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def shim_source() -> bytes:
    """Return the C source of the ``select()`` shim shipped with the package."""
    return resources.files("pppos.sim").joinpath(SHIM_SOURCE_NAME).read_bytes()


def cache_root() -> Path:
    """The cache directory: ``$PPPOS_CACHE`` when set, else ``~/.cache/pppos``."""
    env = os.environ.get("PPPOS_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "pppos"


def build_shim(cache_dir: Path | None = None) -> Path:
    """Compile ``select_shim.c`` into a shared object and return its path.

    The object lives in ``cache_dir`` (default :func:`cache_root`) under a name keyed by the hash of
    the source, so a changed source gets a fresh build and an unchanged one is compiled only once.
    It is written to a temporary name and renamed into place, so concurrent builders never see a
    half-written file.

    :raises MissingTool: gcc is not installed.
    :raises LinkError: the compiler failed (its first error line is in the message).
    """
    source = shim_source()
    digest = hashlib.sha256(source).hexdigest()[:16]
    directory = Path(cache_dir) if cache_dir is not None else cache_root()
    target = directory / f"select_shim-{digest}.so"
    if target.is_file():
        return target
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise MissingTool(
            "gcc is not installed; it builds slirp's select() shim (Debian: apt-get install gcc libc6-dev)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as tmp:
        src = Path(tmp) / SHIM_SOURCE_NAME
        src.write_bytes(source)
        out = Path(tmp) / "shim.so"
        proc = subprocess.run(
            [gcc, "-shared", "-fPIC", "-O2", "-o", str(out), str(src), "-ldl"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0 or not out.is_file():
            first = next((line for line in proc.stderr.splitlines() if "error" in line), proc.stderr.strip()[:200])
            raise LinkError(f"building slirp's select() shim with {gcc} failed: {first}")
        os.replace(out, target)
    return target


def find_slirp(program: str | None = None) -> str:
    """Return the path of the slirp executable (``program`` or ``slirp`` on PATH).

    :raises MissingTool: slirp is not installed.
    """
    found = shutil.which(program or "slirp")
    if found is None:
        raise MissingTool(
            f"{program or 'slirp'} is not installed; it is the simulator's network side "
            "(Debian: apt-get install slirp)"
        )
    return found


class SlirpProcess:
    """One ``slirp -P`` process on a fresh pty; :attr:`fd` is the master side (non-blocking).

    The constructor starts slirp. :meth:`close` (or leaving the ``with`` block) kills its process
    group, reaps it, closes the pty and removes the private home directory.

    :param args: extra slirp options after ``-P`` (for example ``["-b", "115200"]`` or
        ``["auth", "+pap"]``-style pppd options slirp understands).
    :param pap_secrets: content for ``~/.pap-secrets`` (pppd format), written with mode 0600.
    :param chap_secrets: content for ``~/.chap-secrets`` (pppd format), written with mode 0600.
    :param slirprc: content for ``~/.slirprc``.
    :param program: the slirp executable (default ``slirp`` on PATH).
    :param cache_dir: where :func:`build_shim` caches the shim.
    :param env: extra environment variables for slirp.
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        pap_secrets: str | None = None,
        chap_secrets: str | None = None,
        slirprc: str | None = None,
        program: str | None = None,
        cache_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        executable = find_slirp(program)
        shim = build_shim(cache_dir)
        self._home = tempfile.mkdtemp(prefix=f"{HOME_PREFIX}{os.getpid()}-")
        self.fd: int = -1
        self._proc: subprocess.Popen[bytes] | None = None
        try:
            home = Path(self._home)
            files = {".pap-secrets": pap_secrets, ".chap-secrets": chap_secrets, ".slirprc": slirprc}
            for name, content in files.items():
                if content is not None:
                    path = home / name
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        fh.write(content)
            master, slave = os.openpty()
            try:
                tty.setraw(slave)
                tty.setraw(master)
                child_env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": self._home,
                    "LD_PRELOAD": str(shim),
                    "LANG": "C",
                    **{k: v for k, v in os.environ.items() if k == SHIM_TIMEOUT_ENV},
                    **(dict(env) if env else {}),
                }
                with open(home / "slirp.log", "wb") as log:
                    self._proc = subprocess.Popen(
                        [executable, "-P", *args],
                        stdin=slave,
                        stdout=slave,
                        stderr=log,
                        cwd=self._home,
                        env=child_env,
                        start_new_session=True,
                        close_fds=True,
                    )
            finally:
                os.close(slave)
            os.set_blocking(master, False)
            self.fd = master
        except BaseException:
            self.close()
            raise

    # -- properties -----------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The slirp process id."""
        assert self._proc is not None
        return self._proc.pid

    @property
    def home(self) -> Path:
        """slirp's private ``HOME`` (holds ``slirp.log``, the captured stderr)."""
        return Path(self._home)

    def poll(self) -> int | None:
        """slirp's exit status, or None while it runs."""
        return None if self._proc is None else self._proc.poll()

    @property
    def alive(self) -> bool:
        """True while the slirp process runs."""
        return self._proc is not None and self._proc.poll() is None

    # -- I/O ------------------------------------------------------------------------------------

    def read(self, size: int = 65536) -> bytes:
        """Read what slirp has written so far (``b""`` when nothing is waiting).

        :raises LinkError: slirp has gone (the pty reports EOF or EIO).
        """
        try:
            data = os.read(self.fd, size)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:
                raise LinkError(f"slirp has exited (status {self.poll()})") from None
            raise LinkError(f"reading from slirp's pty failed: {exc.strerror}") from None
        if not data:
            raise LinkError(f"slirp has exited (status {self.poll()})")
        return data

    def write(self, data: bytes) -> int:
        """Write as much of ``data`` as the pty takes now; return the number of bytes written."""
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise LinkError(f"writing to slirp's pty failed: {exc.strerror}") from None

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Kill slirp (SIGTERM, then SIGKILL after 1 s), reap it, close the pty, remove its home."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
        shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> SlirpProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_proc", None) is not None:
            self.close()

    def __repr__(self) -> str:
        state = f"pid={self._proc.pid}" if self._proc is not None else "closed"
        return f"<SlirpProcess {state} fd={self.fd}>"
