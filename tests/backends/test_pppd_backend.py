"""The pppd backend's generated files, exit-status mapping and log parsing (pppos/backends/pppd.py)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys

import pytest

from pppos.backends import pppd as backend
from pppos.backends.pppd import EXIT_STATUSES, PppdOptions, PppdOutput, PppdUp, map_exit_status, render_config
from pppos.errors import ConfigError, ExitStatus

SECRET = 'pa"ss\\word$(rm -rf /)'


def opts(**kw: object) -> PppdOptions:
    base: dict[str, object] = {"port": "/dev/ttyUSB2", "user": "me", "password": SECRET}
    base.update(kw)
    return PppdOptions(**base)  # type: ignore[arg-type]


def pppd_words(text: str) -> list[str]:
    """Split an options file the way pppd's getword() does (quotes, backslash escapes, # comments)."""
    words: list[str] = []
    for line in text.splitlines():
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            if c.isspace():
                i += 1
                continue
            if c == "#":
                break
            word = ""
            quote = None
            while i < n and (quote or not line[i].isspace()):
                c = line[i]
                if c == "\\" and i + 1 < n:
                    word += line[i + 1]
                    i += 2
                    continue
                if quote and c == quote:
                    quote = None
                elif not quote and c in "\"'":
                    quote = c
                else:
                    word += c
                i += 1
            words.append(word)
    return words


def test_cellular_defaults_in_the_options_file() -> None:
    files = render_config(opts(default_route=True, route_metric=300, persist=True, maxfail=0,
                               lcp_echo=(10, 3)), "/run/x")
    words = pppd_words(files["/run/x/options"])
    assert words[:2] == ["/dev/ttyUSB2", "115200"]
    for w in ("nodetach", "noauth", "usepeerdns", "defaultroute", "novj", "noccp", "persist", "nocrtscts"):
        assert w in words, w
    assert words[words.index("defaultroute-metric") + 1] == "300"
    assert words[words.index("lcp-echo-interval") + 1] == "10"
    assert words[words.index("lcp-echo-failure") + 1] == "3"
    assert words[words.index("maxfail") + 1] == "0"
    assert words[words.index("file") + 1] == "/run/x/secrets"
    # the password never appears in the options file, only in the secrets file
    assert SECRET not in files["/run/x/options"]
    assert "nodefaultroute" in pppd_words(render_config(opts(), "/d")["/d/options"])
    assert "persist" not in pppd_words(render_config(opts(), "/d")["/d/options"])


def test_secrets_file_round_trips_through_pppd_quoting() -> None:
    files = render_config(opts(), "/d")
    words = pppd_words(files["/d/secrets"])
    assert words[words.index("user") + 1] == "me"
    assert words[words.index("password") + 1] == SECRET
    assert "hide-password" in words


def test_stdin_mode_leaves_the_device_out() -> None:
    words = pppd_words(render_config(opts(), "/d", device=False)["/d/options"])
    assert "/dev/ttyUSB2" not in words
    assert words[0] == "115200"


def test_chat_script_is_quoted_pairs_with_a_validated_apn() -> None:
    files = render_config(opts(use_chat=True, apn="internet.example-1", cid=1), "/gen")
    chat = files["/gen/chat"]
    lines = [ln for ln in chat.splitlines() if not ln.startswith("#")]
    assert "ABORT 'NO CARRIER'" in lines
    assert lines.index("'' 'ATE0Q0V1'") < lines.index("'OK' 'ATE0'")  # the sync line: V0/Q1/E1 stored profiles
    assert "'OK' 'AT+CGDCONT=1,\"IP\",\"internet.example-1\"'" in lines
    assert "'OK' 'ATD*99#'" in lines
    assert lines[-1] == "'CONNECT' ''"
    connect = pppd_words(files["/gen/options"])
    command = connect[connect.index("connect") + 1]
    assert command == "/usr/sbin/chat -v -s -f /gen/chat"


@pytest.mark.parametrize("apn", [
    'inter"net', "a'b", "x\\T", "a^C", "a b", "a\nATH", "-x.", ".a", "a..b", "", "a" * 101, "apn;rm",
])
def test_injection_attempts_in_the_apn_are_rejected(apn: str) -> None:
    with pytest.raises(ConfigError):
        render_config(opts(use_chat=True, apn=apn))


@pytest.mark.parametrize("field,value", [
    ("user", "me\nnoauth"), ("user", ""), ("password", "x\ry"), ("port", "ttyS0"), ("port", "/dev/x\nnoauth"),
    ("dial", "ATD*99#;H"), ("dial", "ATH"), ("baud", 0), ("route_metric", -1), ("mtu", 20), ("unit", 5000),
])
def test_bad_values_are_config_errors(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        render_config(opts(use_chat=True, **{field: value}))
    assert SECRET not in str(info.value)


def test_private_dir_is_0700_secrets_0600_and_removed() -> None:
    with backend.private_config(opts(use_chat=True, apn="internet")) as directory:
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        names = sorted(os.listdir(directory))
        assert names == ["chat", "options", "secrets"]
        for name in names:
            assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o600
        with open(os.path.join(directory, "secrets")) as fh:
            assert SECRET.replace("\\", "\\\\").replace('"', '\\"') in fh.read()
    assert not os.path.exists(directory)


def test_private_dir_is_removed_after_an_error() -> None:
    seen = []
    with pytest.raises(RuntimeError), backend.private_config(opts()) as directory:
        seen.append(directory)
        raise RuntimeError("boom")
    assert seen and not os.path.exists(seen[0])


def test_print_config_masks_the_password_and_repr_hides_it() -> None:
    out = io.StringIO()
    backend.print_config(opts(use_chat=True, apn="internet"), out)
    text = out.getvalue()
    assert SECRET not in text
    assert "password ********" in text
    assert "user \"me\"" in text and "AT+CGDCONT" in text
    assert SECRET not in repr(opts())


@pytest.mark.parametrize("code", sorted(EXIT_STATUSES))
def test_every_pppd_exit_status_has_a_message(code: int) -> None:
    status, message = map_exit_status(code)
    assert isinstance(status, ExitStatus) and message


def test_exit_status_mapping_of_key_cases() -> None:
    assert map_exit_status(19)[0] is ExitStatus.AUTH
    assert map_exit_status(11)[0] is ExitStatus.AUTH
    assert map_exit_status(10)[0] is ExitStatus.PPP
    assert map_exit_status(15) == (ExitStatus.LINK_LOST, "the peer stopped answering LCP echo requests")
    assert map_exit_status(16)[0] is ExitStatus.LINK_LOST
    assert map_exit_status(8)[0] is ExitStatus.DIAL
    assert map_exit_status(4)[0] is ExitStatus.MISSING_TOOL
    assert map_exit_status(7)[0] is ExitStatus.NO_MODEM
    assert map_exit_status(5)[0] is ExitStatus.INTERRUPTED
    assert map_exit_status(5, stopped_by_us=True)[0] is ExitStatus.SUCCESS
    assert map_exit_status(99)[0] is ExitStatus.ERROR
    assert "SIGKILL" in map_exit_status(-9)[1]


PPPD_LOG = """\
using channel 3
Using interface ppp0
Connect: ppp0 <--> /dev/ttyUSB2
sent [LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0x1>]
PAP authentication succeeded
local  IP address 10.64.1.2
remote IP address 10.64.64.64
primary   DNS address 192.0.2.53
secondary DNS address 192.0.2.54
Script /etc/ppp/ip-up started (pid 42)
"""


def test_output_parser_whole_log() -> None:
    p = PppdOutput()
    for line in PPPD_LOG.splitlines():
        p.feed(line)
    assert p.next_event() == PppdUp(local_ip="10.64.1.2", peer_ip="10.64.64.64",
                                    dns=("192.0.2.53", "192.0.2.54"), ifname="ppp0")
    assert p.next_event() is None


def test_output_parser_flush_when_the_log_goes_quiet_and_only_once() -> None:
    p = PppdOutput()
    for line in PPPD_LOG.splitlines()[:8]:  # stops after the primary DNS line
        p.feed(line)
    assert p.next_event() is None
    p.flush()
    up = p.next_event()
    assert up is not None and up.dns == ("192.0.2.53",)
    p.flush()
    assert p.next_event() is None


def test_output_parser_ignores_noise_and_notices_auth_failure() -> None:
    p = PppdOutput()
    for line in ["garbage \x00\xff", "", "Remote message: bad password", "PAP authentication failed"]:
        p.feed(line)
    assert p.auth_failed and p.next_event() is None


def test_backend_available_needs_dev_ppp_and_pppd() -> None:
    expected = os.path.exists("/dev/ppp") and backend.find_pppd() is not None
    assert backend.backend_available() is expected


def _fake_pppd(tmp_path, body: str) -> str:
    path = tmp_path / "pppd"
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return str(path)


def test_run_pppd_parses_log_fd_and_maps_the_exit(tmp_path) -> None:
    # A stand-in pppd that checks its arguments and the files, logs like pppd to fd 3, and exits 16.
    body = """
import os, sys, stat
args = sys.argv[1:]
assert args[0] == "file" and args[2] == "logfd", args
opts = open(args[1]).read()
d = os.path.dirname(args[1])
assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
assert stat.S_IMODE(os.stat(os.path.join(d, "secrets")).st_mode) == 0o600
log = os.fdopen(int(args[3]), "w")
log.write("Using interface ppp0\\nlocal  IP address 10.0.0.2\\nremote IP address 10.0.0.1\\n")
log.write("primary   DNS address 10.0.0.53\\nModem hangup\\n")
log.flush()
open(os.environ["MARK"], "w").write(d)
sys.exit(16)
"""
    fake = _fake_pppd(tmp_path, body)
    os.environ["MARK"] = str(tmp_path / "mark")
    try:
        lines: list[str] = []
        ups: list[PppdUp] = []
        result = backend.run_pppd(opts(), pppd=fake, on_line=lines.append, on_up=ups.append)
    finally:
        del os.environ["MARK"]
    assert result.returncode == 16
    assert result.exit_status is ExitStatus.LINK_LOST and "hung up" in result.message
    assert ups == [PppdUp(local_ip="10.0.0.2", peer_ip="10.0.0.1", dns=("10.0.0.53",), ifname="ppp0")]
    assert "Modem hangup" in lines
    assert not os.path.exists((tmp_path / "mark").read_text())  # private dir removed
    err = result.error()
    assert err is not None and err.exit_status is ExitStatus.LINK_LOST


def test_run_pppd_stop_request_is_a_clean_success(tmp_path) -> None:
    body = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(5))
os.write(int(sys.argv[4]), b"ready\\n")
time.sleep(30)
"""
    fake = _fake_pppd(tmp_path, body)
    lines: list[str] = []
    result = backend.run_pppd(opts(), pppd=fake, on_line=lines.append, should_stop=lambda: "ready" in lines)
    assert result.returncode == 5
    assert result.exit_status is ExitStatus.SUCCESS and result.error() is None


def test_run_pppd_with_real_pppd_rejecting_a_bad_option(tmp_path) -> None:
    """The real pppd binary parses our generated files (it exits 2 only on the extra bad option)."""
    from tests.helpers import need

    exe = backend.find_pppd()
    need(exe is not None, "needs pppd (apt-get install ppp)")
    assert exe is not None
    res = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert "pppd version" in (res.stdout + res.stderr)
    lines: list[str] = []
    result = backend.run_pppd(opts(port="/dev/null", use_chat=True, apn="internet"), pppd=exe,
                              on_line=lines.append, extra_args=("no-such-option",))
    assert result.returncode == 2, lines
    assert result.exit_status is ExitStatus.USAGE
    assert any("no-such-option" in ln for ln in lines), lines


def test_options_from_up_translates_pppos_up_options() -> None:
    from pppos.config import parse_up_args

    up = parse_up_args(["/dev/ttyUSB2", "--apn", "internet", "--user", "u", "--default-route", "--route-metric",
                        "700", "--lcp-echo", "10,3", "--persist", "--ifname", "ppp3"],
                       environ={"PPPOS_PASSWORD": SECRET})
    o = backend.options_from_up(up)
    assert (o.port, o.user, o.password, o.default_route, o.route_metric) == ("/dev/ttyUSB2", "u", SECRET, True, 700)
    assert o.lcp_echo == (10, 3) and o.persist and o.unit == 3
    words = pppd_words(render_config(o, "/d")["/d/options"])
    assert words[words.index("unit") + 1] == "3"
    bad = parse_up_args(["/dev/ttyUSB2", "--ifname", "wwan0"], environ={})
    with pytest.raises(ConfigError):
        backend.options_from_up(bad)


def test_run_up_without_kernel_ppp_is_a_missing_tool_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from pppos.config import parse_up_args

    real_exists = os.path.exists
    monkeypatch.setattr(backend.os.path, "exists", lambda p: False if p == "/dev/ppp" else real_exists(p))
    up = parse_up_args(["/dev/ttyUSB2", "--backend", "pppd"], environ={})
    with pytest.raises(backend.MissingTool) as info:
        backend.run_up(up, reporter=None)
    assert info.value.exit_status is ExitStatus.MISSING_TOOL
    assert "/dev/ppp" in str(info.value) and "--backend python" in str(info.value)
    assert backend.backend_available() is False


def test_print_up_config_masks_the_password_given_through_the_environment() -> None:
    from pppos.config import parse_up_args

    up = parse_up_args(["/dev/ttyUSB2", "--user", "u"], environ={"PPPOS_PASSWORD": SECRET})
    out = io.StringIO()
    assert backend.print_up_config(up, out) == 0
    assert SECRET not in out.getvalue() and "password ********" in out.getvalue()
    assert '"/dev/ttyUSB2"' in out.getvalue()
