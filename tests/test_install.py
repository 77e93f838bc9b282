"""Packaging and command-line contract: a compiler-free install, ``--version`` and exit statuses everywhere,
``python -m``, the pyroute2 floor as a "missing tool" error, and the LICENSE matching setup.cfg."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pppos import __version__
from pppos.errors import ExitStatus, MissingTool

ROOT = Path(__file__).resolve().parent.parent

PPPOS_COMMANDS = ("up", "down", "status", "probe", "sim", "demo")


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


@pytest.mark.parametrize("command", PPPOS_COMMANDS)
def test_every_command_has_version_and_exit_statuses(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib

    main = importlib.import_module(f"pppos.cli.{command}").main
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pppos-{command} {__version__}"
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit status:" in out
    for status in (ExitStatus.USAGE, ExitStatus.MISSING_TOOL, ExitStatus.PIN_REFUSED):
        assert f"{int(status):>3}  {status.meaning}" in out


def test_blynk_commands_have_version(capsys: pytest.CaptureFixture[str]) -> None:
    from blynk_client.__main__ import client, main, server

    assert client(["--version"]) == 0 and server(["--version"]) == 0
    assert capsys.readouterr().out.split("\n")[:2] == [f"blynk-client {__version__}", f"blynk-server {__version__}"]
    assert main(["server", "--version"]) == 0
    assert capsys.readouterr().out.strip() == f"blynk-server {__version__}"


def test_python_dash_m(capsys: pytest.CaptureFixture[str]) -> None:
    from pppos.__main__ import main

    assert main(["status", "--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pppos-status {__version__}"
    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"pppos {__version__}"
    assert main(["nosuch"]) == ExitStatus.USAGE and "unknown command" in capsys.readouterr().err
    done = subprocess.run([sys.executable, "-m", "pppos", "up", "--version"], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, f"pppos-up {__version__}")


def test_old_or_missing_pyroute2_is_a_missing_tool(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.metadata

    from pppos.cli import up
    from pppos.net import tun

    real = importlib.metadata.version
    floor = tun.pyroute2_floor()
    assert floor is not None and tun._version_tuple(floor) >= (0, 9, 1)
    assert f"pyroute2>={floor}" in _setup_cfg()["options"]["install_requires"]

    def old(name: str) -> str:
        return "0.7.12" if name == "pyroute2" else real(name)

    monkeypatch.setattr(importlib.metadata, "version", old)
    with pytest.raises(MissingTool, match=r"pyroute2 0\.7\.12 is too old"):
        tun.require_pyroute2()
    # pppos-up stops at once with exit 11, before it touches the port.
    assert up.main(["/nonexistent/ttyUSB9", "--backend", "python"]) == ExitStatus.MISSING_TOOL
    assert "pyroute2 0.7.12 is too old" in capsys.readouterr().err

    def missing(name: str) -> str:
        if name == "pyroute2":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    with pytest.raises(MissingTool, match="pyroute2 is not installed"):
        tun.require_pyroute2()


def test_license_matches_setup_cfg() -> None:
    cfg = _setup_cfg()
    assert cfg["metadata"]["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_runtime_requirements_are_lean() -> None:
    requires = _setup_cfg()["options"]["install_requires"]
    for gone in ("netifaces", "scapy", "anycrc"):
        assert gone not in requires
    extras = _setup_cfg()["options.extras_require"]
    assert "anycrc" in extras["fast"] and "scapy" in extras["test"]


@pytest.mark.slow
def test_pip_install_without_a_c_compiler(tmp_path: Path) -> None:
    """``pip install .`` into a fresh venv with CC=/bin/false: only pure wheels, and the commands work."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pppos", "blynk_client"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.o"))
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "CC": "/bin/false", "CXX": "/bin/false", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run([str(venv / "bin/pip"), "install", "-q", str(src)], env=env, capture_output=True,
                          text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    listed = subprocess.run([str(venv / "bin/pip"), "list", "--format=freeze"], env=env, capture_output=True,
                            text=True, check=True).stdout.lower()
    names = {line.split("==")[0] for line in listed.split()}
    assert {"pppos", "pyserial", "pyroute2"} <= names
    assert not names & {"netifaces", "scapy", "anycrc"}
    done = subprocess.run([str(venv / "bin/pppos-up"), "--version"], capture_output=True, text=True, check=False,
                          cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, f"pppos-up {__version__}")
    probe = ("from pppos.ppp import hdlc; from pppos.net.tun import require_pyroute2; require_pyroute2(); "
             "print(hdlc.FCS16_BACKEND)")
    done = subprocess.run([str(venv / "bin/python"), "-c", probe], capture_output=True, text=True, check=False,
                          cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "binascii"), done.stderr
    done = subprocess.run([str(venv / "bin/python"), "-m", "blynk_client", "--version"], capture_output=True,
                          text=True, check=False, cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, f"blynk-client {__version__}")
