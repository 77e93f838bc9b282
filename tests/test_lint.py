"""The tree is ruff clean (ruff.toml), and ``pppos`` and ``blynk_client`` are mypy --strict clean
(pyproject.toml's ``[tool.mypy]``): a lint or type failure fails the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import need

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    need(Path(ruff).exists(), "needs ruff (pip install -e '.[test]' installs it)")
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--output-format", "concise", "pppos", "blynk_client", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_mypy_clean() -> None:
    mypy = shutil.which("mypy") or str(Path(sys.executable).with_name("mypy"))
    need(Path(mypy).exists(), "needs mypy (pip install -e '.[test]' installs it)")
    result = subprocess.run(
        [mypy, "--no-incremental", "--cache-dir", "/dev/null", "pppos", "blynk_client"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
