"""``pppos-up --print-config`` shows the generated pppd files with every secret masked."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from pppos.cli.up import main


def test_print_config_masks_the_password(tmp_path, monkeypatch) -> None:
    secret = "s3cr3t-Pa55"
    pw = tmp_path / "pw"
    pw.write_text(secret + "\n")
    pw.chmod(0o600)
    out = io.StringIO()
    with redirect_stdout(out):
        status = main(["/dev/ttyUSB0", "--apn", "internet", "--user", "bob", "--password-file", str(pw),
                       "--default-route", "--lcp-echo", "10,3", "--print-config"])
    text = out.getvalue()
    assert status == 0
    assert secret not in text
    assert 'user "bob"' in text
    assert "password ********" in text
    assert "defaultroute" in text
    assert "lcp-echo-interval 10" in text and "lcp-echo-failure 3" in text
    assert '"/dev/ttyUSB0"' in text


def test_auto_backend_is_python_without_kernel_ppp(monkeypatch) -> None:
    from pppos.config import parse_up_args

    monkeypatch.setattr("pppos.backends.pppd.backend_available", lambda: False)
    assert parse_up_args(["/dev/ttyUSB0"], {}).resolved_backend() == "python"
    monkeypatch.setattr("pppos.backends.pppd.backend_available", lambda: True)
    assert parse_up_args(["/dev/ttyUSB0"], {}).resolved_backend() == "pppd"
    assert parse_up_args(["/dev/ttyUSB0", "--backend", "python"], {}).resolved_backend() == "python"
