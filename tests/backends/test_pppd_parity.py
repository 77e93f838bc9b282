"""pppd backend parity with the python backend (issue 11 item 7): the same state file, ``--dns`` and
``--usepeerdns`` handled alike, and ``--persist`` redialling through the same AT bring-up (the redial
helper :mod:`pppos.backends.connect`, pppd's ``connect`` program).

Real pppd needs ``/dev/ppp``, which this kernel lacks (it runs in the VM of tests/vm); here a stand-in
pppd checks its options, logs like pppd and signals ``pppos-up`` as ``pppos-down`` would.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pppos.backends import pppd as backend
from pppos.backends.connect import read_verdict
from pppos.config import parse_up_args
from pppos.daemon import Reporter
from pppos.errors import ExitStatus, PpposError
from tests.backends.test_pppd_backend import pppd_words


def up_opts(tmp_path: Path, *args: str) -> object:
    return parse_up_args(["/dev/ttyUSB2", "--run-dir", str(tmp_path / "run"),
                          "--resolv-conf", str(tmp_path / "resolv.conf"), *args])


def words_of(up: object) -> list[str]:
    files = backend.render_config(backend.options_from_up(up), "/p", device=False)
    return pppd_words(files["/p/options"])


def test_usepeerdns_only_with_the_flag_and_no_distribution_ip_scripts(tmp_path: Path) -> None:
    assert "usepeerdns" not in words_of(up_opts(tmp_path))
    assert "usepeerdns" not in words_of(up_opts(tmp_path, "--dns", "192.0.2.1"))
    assert "usepeerdns" in words_of(up_opts(tmp_path, "--usepeerdns"))
    words = words_of(up_opts(tmp_path))
    # pppos-up installs DNS itself (as the python backend); Debian's 0000usepeerdns must not race it
    assert words[words.index("ip-up-script") + 1] == "/bin/true"
    assert words[words.index("ip-down-script") + 1] == "/bin/true"


def test_persist_redials_through_the_helper_with_maxfail_and_holdoff(tmp_path: Path) -> None:
    plain = words_of(up_opts(tmp_path))
    assert "persist" not in plain and "connect" not in plain
    words = words_of(up_opts(tmp_path, "--persist"))
    assert "persist" in words
    assert words[words.index("maxfail") + 1] == "0"  # as the supervisor: never give up by default
    argv = shlex.split(words[words.index("connect") + 1])
    assert argv == [os.path.abspath(sys.executable), "-m", "pppos.backends.connect", "/p/redial.json"]
    # --direct has no AT dialogue to repeat
    assert "connect" not in words_of(up_opts(tmp_path, "--persist", "--direct"))


def test_redial_helper_path_must_be_absolute() -> None:
    with pytest.raises(PpposError):
        backend.render_config(backend.PppdOptions(port="/dev/x", redial_helper=("python3", "-m", "x")))
    with pytest.raises(PpposError):
        backend.render_config(backend.PppdOptions(port="/dev/x", redial_helper=("/usr/bin/python3",),
                                                  use_chat=True))


FAKE_PPPD = r"""
import json, os, signal, sys, time
args = sys.argv[1:]
options = open(args[1]).read()
log = os.fdopen(int(args[3]), "w")
report = {"options": options}
log.write("Using interface ppp0\nConnect: ppp0 <--> /dev/pts/9\n")
log.write("local  IP address 10.0.0.2\nremote IP address 10.0.0.1\n")
log.write("primary   DNS address 10.0.0.53\nScript /bin/true started (pid 1)\n")
log.flush()
stopped = []
signal.signal(signal.SIGTERM, lambda *a: stopped.append(1))
run = os.environ["RUN_DIR"]
for _ in range(200):  # wait for pppos-up to record the link
    try:
        state = json.load(open(os.path.join(run, "ppp0.json")))
    except (OSError, ValueError):
        state = {}
    if state.get("phase") == "running":
        break
    time.sleep(0.05)
report["state"] = state
report["resolv"] = open(os.environ["RESOLV"]).read() if os.path.exists(os.environ["RESOLV"]) else None
json.dump(report, open(os.environ["REPORT"], "w"))
os.kill(os.getppid(), signal.SIGTERM)  # what pppos-down does
for _ in range(200):
    if stopped:
        break
    time.sleep(0.05)
log.write("Terminating on signal 15\nConnection terminated.\n")
log.flush()
sys.exit(5)
"""


def run_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, dict[str, object]]:
    fake = tmp_path / "pppd"
    fake.write_text(f"#!{sys.executable}\n{FAKE_PPPD}")
    fake.chmod(0o755)
    devppp = tmp_path / "ppp"
    devppp.write_text("")
    pty_master, pty_slave = os.openpty()
    port = os.ttyname(pty_slave)
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.99\n")
    monkeypatch.setenv("RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("RESOLV", str(resolv))
    monkeypatch.setenv("REPORT", str(tmp_path / "report.json"))
    up = parse_up_args([port, "--direct", "--backend", "pppd", "--run-dir", str(tmp_path / "run"),
                        "--resolv-conf", str(resolv), *args])
    try:
        status = backend.run_up(up, Reporter(quiet=True), pppd=str(fake), dev_ppp=str(devppp))
    finally:
        os.close(pty_master)
        os.close(pty_slave)
    report = json.loads((tmp_path / "report.json").read_text())
    # host state restored: the state file is gone, the resolver is byte for byte as before
    assert not (tmp_path / "run" / "ppp0.json").exists()
    assert resolv.read_text() == "nameserver 192.0.2.99\n"
    return status, report


def test_state_file_like_the_python_backend_and_dns_flag_honoured(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    status, report = run_fake(tmp_path, monkeypatch, "--dns", "192.0.2.53")
    assert status == ExitStatus.SUCCESS  # stopped by SIGTERM, as pppos-down does
    state = report["state"]
    assert isinstance(state, dict)
    assert state["backend"] == "pppd" and state["phase"] == "running" and state["pid"] == os.getpid()
    assert state["local_ip"] == "10.0.0.2" and state["peer_ip"] == "10.0.0.1"
    for key in ("ifname", "port", "started", "up_since", "bytes_in", "bytes_out", "dns", "dns_method",
                "last_failure", "updated"):
        assert key in state, key
    # --dns without --usepeerdns: our server only, never the peer's
    assert state["dns"] == ["192.0.2.53"]
    assert report["resolv"] is not None and "192.0.2.53" in report["resolv"] and "10.0.0.53" not in report["resolv"]


def test_usepeerdns_installs_the_peer_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, report = run_fake(tmp_path, monkeypatch, "--usepeerdns")
    assert report["state"]["dns"] == ["10.0.0.53"]  # type: ignore[index]
    assert "usepeerdns" in pppd_words(str(report["options"]))


def test_no_dns_flag_leaves_the_resolver_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, report = run_fake(tmp_path, monkeypatch)
    assert report["state"]["dns"] == []  # type: ignore[index]
    assert report["resolv"] == "nameserver 192.0.2.99\n"
    assert "usepeerdns" not in pppd_words(str(report["options"]))


def test_redial_helper_skips_once_then_dials_the_simulator(tmp_path: Path) -> None:
    from tests.sim_helpers import need_slirp, run_sim

    need_slirp()
    settings = tmp_path / "redial.json"
    skip, verdict = tmp_path / "dialled", tmp_path / "verdict.json"
    skip.write_text("")
    settings.write_text(json.dumps({"port": "sim", "baud": 115200, "apn": "internet", "profile": None,
                                    "skip_once": str(skip), "verdict": str(verdict)}))
    helper = [sys.executable, "-m", "pppos.backends.connect", str(settings)]
    with run_sim(tmp_path, "--profile", "a7", "--apn", "internet") as link:
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
        try:
            first = subprocess.run(helper, stdin=fd, stdout=fd, stderr=subprocess.PIPE, timeout=60)
            assert first.returncode == 0 and not skip.exists() and not verdict.exists()
            t0 = time.monotonic()
            second = subprocess.run(helper, stdin=fd, stdout=fd, stderr=subprocess.PIPE, timeout=120)
        finally:
            os.close(fd)
    log = second.stderr.decode()
    assert second.returncode == 0, log
    assert "pppos-connect: connect: the modem is in data mode" in log
    assert "pppos-connect: dial:" in log
    assert read_verdict(str(verdict)) == (True, 0, "connected")
    assert time.monotonic() - t0 >= 0  # (the bring-up's own timing is the bench's business)


def test_redial_helper_reports_a_verdict_pppos_up_can_act_on(tmp_path: Path) -> None:
    from tests.sim_helpers import need_slirp, run_sim

    need_slirp()
    settings, verdict = tmp_path / "redial.json", tmp_path / "verdict.json"
    settings.write_text(json.dumps({"port": "sim", "apn": "internet", "verdict": str(verdict)}))
    with run_sim(tmp_path, "--profile", "a7", "--apn", "internet", "--pin", "1234") as link:
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
        try:
            proc = subprocess.run([sys.executable, "-m", "pppos.backends.connect", str(settings)],
                                  stdin=fd, stdout=fd, stderr=subprocess.PIPE, timeout=120)
        finally:
            os.close(fd)
    assert proc.returncode == 1
    got = read_verdict(str(verdict))
    assert got is not None and got[0] is False and got[1] == ExitStatus.SIM, got


@pytest.mark.parametrize("args", [
    [],
    ["--usepeerdns", "--persist", "--default-route", "--route-metric", "300", "--holdoff", "5", "--maxfail", "3"],
    ["--dns", "192.0.2.53", "--lcp-echo", "off", "--ifname", "ppp3", "--mtu", "1400", "--trace"],
    ["--persist", "--direct"],
])
def test_real_pppd_accepts_the_generated_options(tmp_path: Path, args: list[str]) -> None:
    """Debian's pppd parses every option file pppos-up generates (``dryrun``; without /dev/ppp it stops
    with exit 4, "no kernel support", right after the options were accepted; a bad option is exit 2)."""
    from tests.helpers import need

    exe = backend.find_pppd()
    need(exe is not None, "needs pppd (apt-get install ppp)")
    need(os.geteuid() == 0, "pppd checks its options only as root")
    assert exe is not None
    up = parse_up_args(["/dev/ttyUSB2", "--apn", "internet", "--user", "me", "--password", "secret",
                        "--run-dir", str(tmp_path), *args])
    opts = backend.options_from_up(up)
    master, slave = os.openpty()  # pppd's device is its standard input, as under pppos-up
    try:
        with backend.private_config(opts, device=False, extra={backend.REDIAL_FILE: "{}"}) as private:
            proc = subprocess.run([exe, "file", os.path.join(private, "options"), "dryrun"], stdin=slave,
                                  capture_output=True, text=True, timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    out = proc.stdout + proc.stderr
    assert proc.returncode in (0, 4), out
    assert "unrecognized" not in out and "invalid" not in out.lower(), out


FAKE_PERSIST_PPPD = r"""
import json, os, re, signal, subprocess, sys, time
args = sys.argv[1:]
options = open(args[1]).read()
logfd = int(args[3])
log = os.fdopen(logfd, "w")
m = re.search(r'^connect "((?:[^"\\]|\\.)*)"$', options, re.M)
connect = re.sub(r'\\(.)', r'\1', m.group(1))
run = os.environ["RUN_DIR"]
report = {"connects": [], "states": []}

def dial():
    # pppd runs its connect program with the port as stdin and stdout, its log as stderr
    rc = subprocess.run(["/bin/sh", "-c", connect], stdin=0, stdout=0, stderr=logfd).returncode
    report["connects"].append(rc)
    return rc

def wait_state(pred):
    for _ in range(400):
        try:
            state = json.load(open(os.path.join(run, "ppp0.json")))
        except (OSError, ValueError):
            state = {}
        if pred(state):
            return state
        time.sleep(0.05)
    return state

for session in range(2):
    if dial() != 0:
        break
    log.write(f"Connect: ppp0 <--> /dev/pts/9\nlocal  IP address 10.0.0.{2 + session}\n")
    log.write("remote IP address 10.0.0.1\nprimary   DNS address 10.0.0.53\nScript /bin/true started\n")
    log.flush()
    report["states"].append(wait_state(lambda s: s.get("phase") == "running"
                                       and s.get("local_ip") == f"10.0.0.{2 + session}"))
    if session == 0:  # the call drops; persist: pppd redials through the connect program
        log.write("Modem hangup\nConnect time 0.1 minutes.\nSent 5000 bytes, received 7000 bytes.\n")
        log.write("Connection terminated.\n")
        log.flush()
        report["states"].append(wait_state(lambda s: s.get("phase") == "holdoff"))
stopped = []
signal.signal(signal.SIGTERM, lambda *a: stopped.append(1))
json.dump(report, open(os.environ["REPORT"], "w"))
os.kill(os.getppid(), signal.SIGTERM)
for _ in range(200):
    if stopped:
        break
    time.sleep(0.05)
sys.exit(5)
"""


def test_persist_redials_through_the_same_bringup_against_the_simulator(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """pppos-up --backend pppd --persist: our bring-up dials, pppd's first connect is a no-op, and after
    a hang-up pppd's connect program brings the (still online) modem back through the same AT dialogue."""
    from tests.sim_helpers import need_slirp, run_sim

    need_slirp()
    fake = tmp_path / "pppd"
    fake.write_text(f"#!{sys.executable}\n{FAKE_PERSIST_PPPD}")
    fake.chmod(0o755)
    devppp = tmp_path / "ppp"
    devppp.write_text("")
    monkeypatch.setenv("RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("REPORT", str(tmp_path / "report.json"))
    lines: list[str] = []

    class Rep(Reporter):
        def _emit(self, level: str, step: str, message: str, fields: dict[str, object]) -> None:
            lines.append(f"{level} {step}: {message}")

    with run_sim(tmp_path, "--profile", "a7", "--apn", "internet") as link:
        up = parse_up_args([str(link), "--backend", "pppd", "--persist", "--apn", "internet", "--usepeerdns",
                            "--run-dir", str(tmp_path / "run"), "--resolv-conf", str(tmp_path / "resolv.conf")])
        status = backend.run_up(up, Rep(), pppd=str(fake), dev_ppp=str(devppp))
    report = json.loads((tmp_path / "report.json").read_text())
    assert status == ExitStatus.SUCCESS, lines
    assert report["connects"] == [0, 0], "\n".join(lines)  # the skipped first connect, then a real redial
    first, lost, second = report["states"]
    assert first["phase"] == "running" and first["reconnects"] == 0 and first["dns"] == ["10.0.0.53"]
    assert lost["phase"] == "holdoff" and lost["dns"] == [] and "Modem hangup" in lost["last_failure"]
    # pppd's own count of the session (ppp0 is gone by then) reached this SIM's accounting
    assert lost["accounting"]["sim"] == "...1234" and lost["accounting"]["total"] == [7000, 5000], lost
    assert second["local_ip"] == "10.0.0.3" and second["reconnects"] == 1 and second["dns"] == ["10.0.0.53"]
    # the redial's progress lines come through pppd's log as pppos-up steps: the same AT dialogue
    assert any(line.startswith("info dial: ") for line in lines[lines.index(next(
        x for x in lines if "link up: local 10.0.0.2" in x)):]), lines
    assert any("the modem is in data mode: pppd takes over" in line for line in lines), lines
    assert not (tmp_path / "run" / "ppp0.json").exists()


def _datagrams(sock: object) -> list[str]:
    import socket

    assert isinstance(sock, socket.socket)
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_sidecar_under_pppd_readiness_accounting_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As under the python backend: READY=1 only once the link is up, per-SIM accounting in the state file,
    the Prometheus textfile (the same sidecar, pppos.sidecar)."""
    import socket

    from tests.sim_helpers import need_slirp, run_sim

    need_slirp()
    fake = tmp_path / "pppd"
    fake.write_text(f"#!{sys.executable}\n{FAKE_PERSIST_PPPD}")
    fake.chmod(0o755)
    devppp = tmp_path / "ppp"
    devppp.write_text("")
    monkeypatch.setenv("RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("REPORT", str(tmp_path / "report.json"))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    metrics = tmp_path / "pppos.prom"
    readiness: list[tuple[str, list[str]]] = []

    class Rep(Reporter):
        def _emit(self, level: str, step: str, message: str, fields: dict[str, object]) -> None:
            readiness.append((f"{step}: {message}", _datagrams(notify)))

    try:
        with run_sim(tmp_path, "--profile", "a7", "--apn", "internet") as link:
            up = parse_up_args([str(link), "--backend", "pppd", "--persist", "--apn", "internet",
                                "--data-cap", "5G/month", "--metrics-file", str(metrics),
                                "--run-dir", str(tmp_path / "run"), "--resolv-conf", str(tmp_path / "resolv.conf")])
            status = backend.run_up(up, Rep(quiet=False), pppd=str(fake), dev_ppp=str(devppp))
        readiness.append(("end", _datagrams(notify)))
    finally:
        notify.close()
    assert status == ExitStatus.SUCCESS
    sent = [(line, d) for line, grams in readiness for d in grams]
    first_ready = next(i for i, (_, d) in enumerate(sent) if "READY=1" in d)
    first_up = next(i for i, (line, _) in enumerate(sent) if line.startswith("up: link up"))
    assert first_ready >= first_up, sent  # never before pppd reported the addresses
    assert any("STOPPING=1" in d for _, d in sent)
    report = json.loads((tmp_path / "report.json").read_text())
    acct = report["states"][0]["accounting"]
    assert acct["cap"]["limit"] == 5 * 10**9 and acct["cap"]["period"] == "month"
    text = metrics.read_text()
    assert 'pppos_up{ifname="ppp0"}' in text and "pppos_reconnects_total" in text


def test_a_used_up_data_cap_stops_before_pppd_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SIM's cap of this month is used up (a SIM not seen on ppp0 before): the bring-up identifies it
    before registration and the dial and stops there, pppd never starts, exit 15 (as the python backend)."""
    from pppos.accounting import AccountingStore, parse_data_cap
    from tests.sim_helpers import need_slirp, run_sim

    need_slirp()
    store = AccountingStore()
    acc, _ = store.open("89860012345678901234", parse_data_cap("1k"))  # the simulator's SIM
    acc.update(600, 600, time.time())
    assert store.save(acc, time.time(), force=True) == (True, None)
    fake = tmp_path / "pppd"
    fake.write_text(f"#!{sys.executable}\nopen({str(tmp_path / 'ran')!r}, 'w')\n")
    fake.chmod(0o755)
    devppp = tmp_path / "ppp"
    devppp.write_text("")
    with run_sim(tmp_path, "--profile", "a7", "--apn", "internet") as link:
        up = parse_up_args([str(link), "--backend", "pppd", "--apn", "internet", "--data-cap", "1k",
                            "--run-dir", str(tmp_path / "run")])
        lines: list[str] = []

        class Rep(Reporter):
            def _emit(self, level: str, step: str, message: str, fields: dict[str, object]) -> None:
                lines.append(f"{level} {step}: {message}")

        with pytest.raises(PpposError) as info:
            backend.run_up(up, Rep(), pppd=str(fake), dev_ppp=str(devppp))
    assert info.value.exit_status is ExitStatus.DATA_CAP
    assert "data cap reached" in str(info.value)
    assert not any(" dial: " in line for line in lines), lines  # no ATD
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "run" / "ppp0.json").exists()
    assert "data cap" in (tmp_path / "run" / "ppp0.last.json").read_text()


ICCID = "89860012345678901234"  # the simulator's SIM


def _used_up(cap: str) -> None:
    """This SIM's cap of the month is used up and the SIM was last seen on ppp0."""
    from pppos.accounting import AccountingStore, parse_data_cap

    store = AccountingStore()
    acc, _ = store.open(ICCID, parse_data_cap(cap))
    acc.update(10**6, 10**6, time.time())
    assert store.save(acc, time.time(), force=True) == (True, None)
    store.remember_sim("ppp0", ICCID)


def _signal_when(path: Path, predicate: object, sig: int, seen: list[dict[str, object]]) -> threading.Thread:
    """A thread that waits (up to 30 s) for the state file at ``path`` to satisfy ``predicate``, keeps it
    in ``seen`` and sends ``sig`` to this process (pppos-up runs in it)."""
    def run() -> None:
        for _ in range(600):
            try:
                state = json.loads(path.read_text())
            except (OSError, ValueError):
                state = {}
            if predicate(state):  # type: ignore[operator]
                seen.append(state)
                os.kill(os.getpid(), sig)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_used_up_cap_at_start_touches_no_modem(tmp_path: Path) -> None:
    """Checked before the port is opened (the SIM last seen on ppp0): a port that does not exist proves
    it. Without --persist exit 15 at once; with it the run holds, and SIGTERM ends the hold with 0."""
    _used_up("1M/month")
    devppp = tmp_path / "ppp"
    devppp.write_text("")
    fake = tmp_path / "pppd"
    fake.write_text(f"#!{sys.executable}\nopen({str(tmp_path / 'ran')!r}, 'w')\n")
    fake.chmod(0o755)
    args = [str(tmp_path / "no-such-port"), "--backend", "pppd", "--apn", "internet", "--data-cap", "1M/month",
            "--run-dir", str(tmp_path / "run")]
    with pytest.raises(PpposError) as info:
        backend.run_up(parse_up_args(args), Reporter(quiet=True), pppd=str(fake), dev_ppp=str(devppp))
    assert info.value.exit_status is ExitStatus.DATA_CAP
    assert str(info.value).startswith("data cap reached (2.0 MB of 1.0 MB/month): the link stays down until ")
    seen: list[dict[str, object]] = []
    waiter = _signal_when(tmp_path / "run" / "ppp0.json", lambda s: s.get("phase") == "cap-hold", signal.SIGTERM,
                          seen)
    status = backend.run_up(parse_up_args([*args, "--persist"]), Reporter(quiet=True), pppd=str(fake),
                            dev_ppp=str(devppp))
    waiter.join()
    assert status == ExitStatus.SUCCESS
    assert str(seen[0]["supervisor"]).startswith("data cap reached (2.0 MB of 1.0 MB/month): holding until ")
    assert not (tmp_path / "ran").exists() and not (tmp_path / "run" / "ppp0.json").exists()


FAKE_CAPPED_PPPD = r"""
import json, os, re, signal, subprocess, sys, time
args = sys.argv[1:]
options = open(args[1]).read()
logfd = int(args[3])
log = os.fdopen(logfd, "w")
m = re.search(r'^connect "((?:[^"\\]|\\.)*)"$', options, re.M)
connect = re.sub(r'\\(.)', r'\1', m.group(1))
run = os.environ["RUN_DIR"]
runs = os.environ["RUNS"]
stopped = []
signal.signal(signal.SIGTERM, lambda *a: stopped.append(1))
first = not os.path.exists(runs)
open(runs, "a").write("run\n")
subprocess.run(["/bin/sh", "-c", connect], stdin=0, stdout=0, stderr=logfd)  # the skipped first connect
log.write("Connect: ppp0 <--> /dev/pts/9\nlocal  IP address 10.0.0.2\nremote IP address 10.0.0.1\n")
log.flush()
for _ in range(400):
    try:
        state = json.load(open(os.path.join(run, "ppp0.json")))
    except (OSError, ValueError):
        state = {}
    if state.get("phase") == "running":
        break
    time.sleep(0.05)
if first:  # 1.2 MB through a 1 MB/month cap: pppos-up stops pppd (SIGTERM) and holds
    log.write("Sent 600000 bytes, received 600000 bytes.\n")
    log.flush()
else:  # the second session after the hold: stop pppos-up as pppos-down would
    os.kill(os.getppid(), signal.SIGTERM)
for _ in range(400):
    if stopped:
        break
    time.sleep(0.05)
log.write("Connection terminated.\n")
log.flush()
sys.exit(5)
"""


def test_persist_holds_at_the_cap_then_dials_again_when_the_period_rolls_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--backend pppd --persist: the cap reached mid-session stops pppd and holds (no bring-up, no dial),
    the state file says so; the month rolls over (the accounting's test hook moves the clock, SIGUSR1
    asks again) and a fresh bring-up dials and starts pppd again."""
    from pppos.accounting import CLOCK_SHIFT_ENV
    from tests.sim_helpers import need_slirp, run_sim

    need_slirp()
    shift = tmp_path / "shift"
    monkeypatch.setenv(CLOCK_SHIFT_ENV, str(shift))
    monkeypatch.setenv("RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("RUNS", str(tmp_path / "runs"))
    fake = tmp_path / "pppd"
    fake.write_text(f"#!{sys.executable}\n{FAKE_CAPPED_PPPD}")
    fake.chmod(0o755)
    devppp = tmp_path / "ppp"
    devppp.write_text("")
    lines: list[str] = []

    class Rep(Reporter):
        def _emit(self, level: str, step: str, message: str, fields: dict[str, object]) -> None:
            lines.append(f"{level} {step}: {message}")

    seen: list[dict[str, object]] = []
    dials_at_hold: list[int] = []

    def holding(state: dict[str, object]) -> bool:
        if state.get("phase") != "cap-hold":
            return False
        dials_at_hold.append(sum(" dial: dialling" in line for line in lines))
        time.sleep(0.5)  # a moment of holding: nothing may be dialled
        dials_at_hold.append(sum(" dial: dialling" in line for line in lines))
        shift.write_text(str(40 * 86400))  # the month rolls over
        return True

    waiter = _signal_when(tmp_path / "run" / "ppp0.json", holding, signal.SIGUSR1, seen)
    with run_sim(tmp_path, "--profile", "a7", "--apn", "internet") as link:
        up = parse_up_args([str(link), "--backend", "pppd", "--persist", "--apn", "internet", "--data-cap",
                            "1M/month", "--run-dir", str(tmp_path / "run"),
                            "--resolv-conf", str(tmp_path / "resolv.conf")])
        status = backend.run_up(up, Rep(), pppd=str(fake), dev_ppp=str(devppp))
    waiter.join()
    assert status == ExitStatus.SUCCESS, lines
    assert (tmp_path / "runs").read_text() == "run\nrun\n", lines  # pppd ran again after the hold
    assert dials_at_hold == [1, 1], lines
    assert sum(" dial: dialling" in line for line in lines) == 2, lines
    state = seen[0]
    assert str(state["supervisor"]).startswith("data cap reached (1.2 MB of 1.0 MB/month): holding until ")
    assert state["local_ip"] is None and state["up_since"] is None
    assert sum("holding until" in line for line in lines) == 1, lines
    assert any("the data cap's period is over: dialling again" in line for line in lines), lines
    assert not (tmp_path / "run" / "ppp0.json").exists()
