"""pppos.config: pppos-up options from the command line, an INI file and the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pppos.config import load_config_file, parse_up_args
from pppos.errors import ConfigError, ExitStatus

SECRET = "s3cr3t-Pa55"


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def test_defaults() -> None:
    opts = parse_up_args(["/dev/ttyUSB0"], environ={})
    assert opts.port == "/dev/ttyUSB0" and opts.baud == 115200 and opts.ifname == "ppp0"
    assert opts.default_route is False and opts.route_metric == 0 and opts.usepeerdns is False
    assert opts.lcp_echo == (30.0, 4) and opts.backend == "auto" and opts.direct is False
    assert opts.password is None and opts.pin is None and opts.warnings == []


def test_all_options() -> None:
    opts = parse_up_args(
        ["socket://127.0.0.1:7000", "--baud", "921600", "--apn", "internet", "--user", "u", "--profile", "a7",
         "--ifname", "wwan0", "--default-route", "--route-metric", "50", "--usepeerdns", "--dns", "192.0.2.1",
         "--dns", "2001:db8::1", "--mtu", "1400", "--lcp-echo", "5,3", "--pcap", "/tmp/x.pcap", "--trace",
         "--backend", "python", "--direct", "-q", "--log-format", "json", "--persist"],
        environ={},
    )
    assert (opts.baud, opts.apn, opts.user, opts.profile, opts.ifname) == (921600, "internet", "u", "a7", "wwan0")
    assert opts.default_route and opts.route_metric == 50 and opts.usepeerdns
    assert opts.dns == ("192.0.2.1", "2001:db8::1") and opts.mtu == 1400 and opts.lcp_echo == (5.0, 3)
    assert opts.pcap == "/tmp/x.pcap" and opts.trace and opts.backend == "python" and opts.direct
    assert opts.quiet and opts.log_format == "json" and opts.persist
    assert parse_up_args(["p", "--lcp-echo", "off"], environ={}).lcp_echo is None


def test_password_sources_and_repr_hides_secrets(tmp_path: Path) -> None:
    pw = _private(tmp_path / "pw", SECRET + "\n")
    pin = _private(tmp_path / "pin", "1234\n")
    opts = parse_up_args(["p", "--password-file", str(pw), "--pin-file", str(pin)], environ={})
    assert opts.password == SECRET and opts.pin == "1234" and opts.warnings == []
    assert SECRET not in repr(opts) and "1234" not in repr(opts)
    assert parse_up_args(["p"], environ={"PPPOS_PASSWORD": SECRET}).password == SECRET
    insisted = parse_up_args(["p", "--password", SECRET], environ={"PPPOS_PASSWORD": "other"})
    assert insisted.password == SECRET
    assert any("--password" in w for w in insisted.warnings)
    assert all(SECRET not in w for w in insisted.warnings)


def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(SECRET)
    os.chmod(pw, 0o644)
    with pytest.raises(ConfigError, match="readable by others") as info:
        parse_up_args(["p", "--password-file", str(pw)], environ={})
    assert SECRET not in str(info.value)


def test_ini_file_and_command_line_override(tmp_path: Path) -> None:
    ini = tmp_path / "pppos.ini"
    ini.write_text("[pppos]\nport = /dev/ttyS1\napn = ini-apn\ndefault-route = yes\nroute-metric = 7\n"
                   "dns = 192.0.2.1, 192.0.2.2\nlcp-echo = 10,2\n")
    opts = parse_up_args(["--config", str(ini), "--apn", "cli-apn"], environ={})
    assert opts.port == "/dev/ttyS1" and opts.apn == "cli-apn" and opts.default_route and opts.route_metric == 7
    assert opts.dns == ("192.0.2.1", "192.0.2.2") and opts.lcp_echo == (10.0, 2)
    assert parse_up_args(["--config", str(ini), "/dev/ttyS9"], environ={}).port == "/dev/ttyS9"


def test_ini_with_a_secret_must_be_private(tmp_path: Path) -> None:
    ini = tmp_path / "pppos.ini"
    ini.write_text(f"[pppos]\nport = /dev/ttyS1\npassword = {SECRET}\n")
    os.chmod(ini, 0o644)
    with pytest.raises(ConfigError, match="readable by others") as info:
        parse_up_args(["--config", str(ini)], environ={})
    assert SECRET not in str(info.value)
    os.chmod(ini, 0o600)
    opts = parse_up_args(["--config", str(ini)], environ={})
    assert opts.password == SECRET and opts.warnings == []


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[pppos]\nbogus = 1\n", "unknown key 'bogus'"),
        ("[other]\nport = x\n", "no \\[pppos\\] section"),
        ("[pppos]\nbaud = fast\n", "baud must be a number"),
        ("[pppos]\ndefault-route = maybe\n", "expected yes or no"),
        ("not an ini file\n", "config file"),
    ],
)
def test_bad_ini_files(tmp_path: Path, text: str, match: str) -> None:
    ini = tmp_path / "bad.ini"
    ini.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config_file(str(ini))


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        ([], "no serial port"),
        (["p", "--dns", "dns.example"], "not an IP address"),
        (["p", "--mtu", "20"], "outside 128..16384"),
        (["p", "--lcp-echo", "5"], "INTERVAL,FAILURES"),
        (["p", "--lcp-echo", "0.01,3"], "interval"),
        (["p", "--ifname", "a/b"], "interface name"),
        (["p", "--apn", "bad apn\""], "--apn"),
        (["p", "--baud", "0"], "serial speed"),
        (["p", "--pin", "12ab"], "4 to 8 digits"),
        (["p", "--config", "/nonexistent/pppos.ini"], "cannot read config file"),
    ],
)
def test_bad_values_are_one_line_config_errors(argv: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_up_args(argv, environ={})
    assert info.value.exit_status == ExitStatus.USAGE and "\n" not in str(info.value)


def test_argparse_errors_exit_with_usage_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_up_args(["p", "--backend", "kernel"], environ={})
    assert info.value.code == ExitStatus.USAGE
    assert "invalid choice" in capsys.readouterr().err


def test_a_missing_secret_file_never_echoes_its_path(tmp_path: Path) -> None:
    typed_secret = "hunter2-typed-where-the-path-goes"
    with pytest.raises(ConfigError) as info:
        parse_up_args(["p", "--password-file", typed_secret], environ={})
    assert typed_secret not in str(info.value) and "password file" in str(info.value)
    pw = tmp_path / "pw"
    pw.write_text(SECRET)
    os.chmod(pw, 0o644)
    with pytest.raises(ConfigError, match="readable by others") as refused:
        parse_up_args(["p", "--password-file", str(pw)], environ={})
    assert str(pw) not in str(refused.value)


def test_ipv6_pcap_secrets_and_the_mtu_bound() -> None:
    from pppos.ppp.limits import MAX_MRU, MIN_MRU

    opts = parse_up_args(["p"], environ={})
    assert opts.ipv6 is True and opts.pcap_secrets is False
    opts = parse_up_args(["p", "--no-ipv6", "--pcap-secrets", "--mtu", str(MAX_MRU)], environ={})
    assert opts.ipv6 is False and opts.pcap_secrets is True and opts.mtu == MAX_MRU
    assert parse_up_args(["p", "--mtu", "4000"], environ={}).mtu == 4000
    for bad in (MIN_MRU - 1, MAX_MRU + 1):
        with pytest.raises(ConfigError, match=f"outside {MIN_MRU}..{MAX_MRU}"):
            parse_up_args(["p", "--mtu", str(bad)], environ={})
def test_every_option_is_declared_once_and_reaches_its_field(tmp_path: Path) -> None:
    """Each declaration gives a flag, an INI key (unless it opts out) and the field the value lands in."""
    from pppos.config import UpOptions, build_up_parser, ini_keys, option_table

    parser = build_up_parser()
    flags = {s for a in parser._actions for s in a.option_strings}
    ini = ini_keys()
    for f, o in option_table():
        assert f.name in UpOptions.__dataclass_fields__
        if not o.positional:
            assert o.flag(f.name) in flags
        assert (f.name.replace("_", "-") in ini) == o.ini
        if o.secret is not None:
            assert o.flag(f.name) + "-file" in flags and f.name.replace("_", "-") + "-file" in ini
    # One INI file setting every non-secret key to a typical value: every key is accepted and lands.
    samples = {"str": "x", "int": "7", "float": "7.5", "bool": "yes", "list": "192.0.2.9"}
    special = {"port": "/dev/ttyS3", "profile": "a7", "ifname": "wwan3", "peer-ip": "10.1.2.3", "apn": "a.b",
               "lcp-echo": "5,2", "backend": "python", "log-format": "json", "mtu": "1400", "baud": "9600",
               "data-cap": "2G/month"}
    lines = []
    for key, (_name, o) in ini.items():
        if o.secret is None:
            lines.append(f"{key} = {special.get(key, samples[o.kind])}")
    conf = _private(tmp_path / "all.ini", "[pppos]\n" + "\n".join(lines) + "\n")
    opts = parse_up_args(["--config", str(conf)], environ={})
    assert opts.port == "/dev/ttyS3" and opts.baud == 9600 and opts.ifname == "wwan3" and opts.lcp_echo == (5.0, 2)
    assert opts.dns == ("192.0.2.9",) and opts.default_route and opts.persist and opts.log_format == "json"
    assert (opts.maxfail, opts.holdoff, opts.holdoff_max, opts.port_wait, opts.reset_command) == (7, 7.5, 7.5, 7.5,
                                                                                                ("x",))
    # '_' may stand for '-' in INI keys (print_config was once spelled that way).
    legacy = _private(tmp_path / "legacy.ini", "[pppos]\nport = p\nprint_config = yes\ndefault_route = yes\n")
    assert parse_up_args(["--config", str(legacy)], environ={}).print_config


def test_bringup_config_is_the_one_mapping() -> None:
    opts = parse_up_args(["p", "--apn", "internet", "--user", "u", "--profile", "sim800", "--baud", "9600"],
                         environ={"PPPOS_PIN": "1234"})
    cfg = opts.bringup_config()
    assert (cfg.profile, cfg.baud, cfg.apn, cfg.user, cfg.pin) == ("sim800", 9600, "internet", "u", "1234")
    assert parse_up_args(["p"], environ={}).bringup_config().profile == "auto"


def test_call_reads_the_named_peer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    peers = tmp_path / "peers"
    peers.mkdir()
    _private(peers / "a7.conf", f"[pppos]\nport = /dev/ttyS7\napn = peer-apn\nifname = ppp3\npin = 4321\n"
                                f"password = {SECRET}\n")
    env = {"PPPOS_PEERS_DIR": str(peers)}
    opts = parse_up_args(["--call", "a7"], environ=env)
    assert (opts.port, opts.apn, opts.ifname, opts.pin, opts.call) == ("/dev/ttyS7", "peer-apn", "ppp3", "4321", "a7")
    assert opts.password == SECRET
    # The command line and --config still win over the peer file.
    assert parse_up_args(["--call", "a7", "/dev/ttyS8", "--apn", "cli"], environ=env).port == "/dev/ttyS8"
    with pytest.raises(ConfigError, match="no peer named nope"):
        parse_up_args(["--call", "nope"], environ=env)
    with pytest.raises(ConfigError, match="peer name"):
        parse_up_args(["--call", "../etc/passwd"], environ=env)
    os.chmod(peers / "a7.conf", 0o644)
    with pytest.raises(ConfigError, match="readable by others") as info:
        parse_up_args(["--call", "a7"], environ=env)
    assert SECRET not in str(info.value) and "4321" not in str(info.value)


def test_down_and_status_find_a_named_peer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from pppos.cli import down, status

    peers = tmp_path / "peers"
    peers.mkdir()
    (peers / "lte.conf").write_text("[pppos]\nport = /dev/ttyS7\nifname = ppp5\n")
    monkeypatch.setenv("PPPOS_PEERS_DIR", str(peers))
    monkeypatch.setenv("PPPOS_RUN_DIR", str(tmp_path / "run"))
    assert status.main(["lte"]) == ExitStatus.LINK_LOST
    assert capsys.readouterr().out.startswith("ppp5: not running")
    assert down.main(["lte"]) == ExitStatus.LINK_LOST
    assert "no pppos-up is running on ppp5" in capsys.readouterr().err
    assert status.main(["missing"]) == ExitStatus.USAGE
    assert "no peer named missing" in capsys.readouterr().err


def test_supervisor_options() -> None:
    opts = parse_up_args(["p", "--persist", "--maxfail", "3", "--holdoff", "0.5", "--holdoff-max", "60",
                          "--port-wait", "30", "--reset-command", "uhubctl -l 1-1 -a cycle 'a b'"], environ={})
    assert (opts.persist, opts.maxfail, opts.holdoff, opts.holdoff_max, opts.port_wait) == (True, 3, 0.5, 60.0, 30.0)
    assert opts.reset_command == ("uhubctl", "-l", "1-1", "-a", "cycle", "a b")
    defaults = parse_up_args(["p"], environ={})
    assert (defaults.maxfail, defaults.holdoff, defaults.holdoff_max, defaults.port_wait) == (0, 1.0, 300.0, None)
    for argv, words in ((["--maxfail", "-1"], "--maxfail"), (["--holdoff", "10", "--holdoff-max", "5"], "below"),
                        (["--holdoff", "nan"], "--holdoff"), (["--port-wait", "-1"], "--port-wait"),
                        (["--reset-command", "'unbalanced"], "--reset-command"), (["--reset-command", " "], "empty")):
        with pytest.raises(ConfigError, match=words):
            parse_up_args(["p", *argv], environ={})


def test_registration_timeout_reaches_the_bring_up_and_is_bounded() -> None:
    assert parse_up_args(["p"]).bringup_config().registration_timeout == 60.0
    assert parse_up_args(["p", "--registration-timeout", "180"]).bringup_config().registration_timeout == 180.0
    for bad in ("0", "nan", "7200", "-5"):
        with pytest.raises(ConfigError, match="--registration-timeout"):
            parse_up_args(["p", "--registration-timeout", bad])
