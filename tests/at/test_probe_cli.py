"""pppos-probe in-process against a scripted modem on a real pty: output, exit statuses, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pppos.cli.probe import main
from pppos.errors import ExitStatus
from tests.at.pty_modem import pty_modem
from tests.at.scripted import ScriptedModem


def probe(capsys: pytest.CaptureFixture[str], modem: ScriptedModem, *args: str) -> tuple[int, str, str]:
    with pty_modem(modem) as path:
        status = main([path, *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_ready_modem(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = probe(capsys, ScriptedModem())
    assert status == 0, err
    assert err == ""
    for text in ("Ai Thinker Co.LTD", "A7", "V03.03.20161229013H", "***********8901", "ready",
                 "-51 dBm (excellent)", "CREG home", '1 IP "internet"', "Test PLMN", "could dial"):
        assert text in out
    assert "864012345678901" not in out


def test_json_is_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = probe(capsys, ScriptedModem(), "--json")
    assert status == 0
    obj = json.loads(out)
    assert obj["verdict"] == {"ok": True, "code": "ready", "message": obj["verdict"]["message"], "exit_status": 0}
    assert obj["imei"] == "***********8901"
    assert obj["signal_dbm"] == -51 and obj["signal"] == "excellent"
    assert obj["registration"] == {"CREG": "home", "CGREG": "home"}
    assert obj["contexts"] == [{"cid": 1, "type": "IP", "apn": "internet"}]


def test_pin_needed_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    modem = ScriptedModem()
    modem.replies["AT+CPIN?"] = "+CPIN: SIM PIN\nOK"
    status, _, err = probe(capsys, modem)
    assert status == ExitStatus.SIM
    assert len(err.strip().splitlines()) == 1
    assert "PIN" in err and "--pin-file" in err


def test_pin_on_the_command_line_warns_but_works(capsys: pytest.CaptureFixture[str]) -> None:
    modem = ScriptedModem()
    ready = {"v": False}
    modem.replies["AT+CPIN?"] = lambda m, c: "+CPIN: READY\nOK" if ready["v"] else "+CPIN: SIM PIN\nOK"

    def cpin(m: ScriptedModem, c: str) -> str:
        ready["v"] = c == 'AT+CPIN="2468"'
        return "OK" if ready["v"] else "+CME ERROR: 16"

    modem.replies["AT+CPIN="] = cpin
    status, out, err = probe(capsys, modem, "--pin", "2468")
    assert status == 0
    assert "warning" in err and "--pin-file" in err
    assert "2468" not in out + err


def test_pin_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    modem = ScriptedModem()
    modem.replies["AT+CPIN?"] = "+CPIN: SIM PIN\nOK"
    modem.replies["AT+CPIN="] = "+CME ERROR: 16"
    pin = tmp_path / "pin"
    pin.write_text("1357\n")
    pin.chmod(0o600)
    status, _, err = probe(capsys, modem, "--pin-file", str(pin))
    assert status == ExitStatus.SIM
    assert "refused the PIN" in err and "1357" not in err
    assert len(err.strip().splitlines()) == 1
    pin.chmod(0o644)
    status, _, err = probe(capsys, ScriptedModem(), "--pin-file", str(pin))
    assert status == ExitStatus.USAGE and "chmod 600" in err


def test_registration_denied(capsys: pytest.CaptureFixture[str]) -> None:
    modem = ScriptedModem()
    modem.replies["AT+CREG?"] = "+CREG: 0,3\nOK"
    modem.replies["AT+CGREG?"] = "+CGREG: 0,3\nOK"
    status, _, err = probe(capsys, modem)
    assert status == ExitStatus.NETWORK
    assert "denied" in err and len(err.strip().splitlines()) == 1


def test_registration_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    modem = ScriptedModem()
    modem.replies["AT+CREG?"] = "+CREG: 0,2\nOK"
    modem.replies["AT+CGREG?"] = "+CGREG: 0,2\nOK"
    status, _, err = probe(capsys, modem, "--timeout", "1.5", "--json")
    assert status == ExitStatus.NETWORK
    assert "did not register within 1.5 s" in err


def test_missing_port_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status = main([str(tmp_path / "nope")])
    _, err = capsys.readouterr()
    assert status == ExitStatus.NO_MODEM
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "args", [["--profile", "nokia"], ["--timeout", "0"], ["--baud", "x"], ["--pin", "12ab"], []]
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    argv = args if not args else ["/dev/null", *args]
    status = main(argv)
    _, err = capsys.readouterr()
    assert status == ExitStatus.USAGE
    assert "Traceback" not in err and "error" in err


def test_non_ascii_digits_and_urcs_everywhere_are_no_internal_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12: ``+CME ERROR: ²`` made pppos-probe exit with "internal error"; URCs before answers
    became the IMEI and the model. Now: the right answers, a verdict, one line, no traceback."""
    modem = ScriptedModem()
    modem.replies.update(
        {
            "AT+CGSN": "+CSQ: 20,99\n864012345678901\nOK",
            "AT+CGMM": "SMS DONE\nA7\nOK",
            "AT+CSQ": "*ATREADY: 1\n+CSQ: \u00b2\u00b2,99\nOK",
            "AT+CGDCONT?": "+CGDCONT: \u0663,\"IP\",\"x\"\nOK",
            "AT+CREG?": "^NDISSTAT: 0,,,\"IPV4\"\n+CREG: 1,1\nOK",
            "AT+CGATT?": "+CME ERROR: \u00b2",
            "AT+CGATT=1": "+CME ERROR: \u00b2",
        }
    )
    status, out, err = probe(capsys, modem)
    assert "Traceback" not in err and "internal error" not in err
    assert status == ExitStatus.NETWORK
    assert len(err.strip().splitlines()) == 1 and "attach" in err
    assert "***********8901" in out and "model:" in out and "A7" in out.split("model:")[1].splitlines()[0]
