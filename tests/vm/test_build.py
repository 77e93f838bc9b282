"""The VM builder's pure helpers (no QEMU needed): kernel payload extraction, modinfo dependencies,
module ordering, the newc writer (checked with busybox cpio as the oracle) and the config fragment."""

from __future__ import annotations

import lzma
import subprocess
from pathlib import Path

import pytest

from tests.helpers import need_tool
from tests.vm import build


def test_extract_vmlinux_finds_the_xz_elf_after_junk_and_decoys() -> None:
    elf = b"\x7fELF" + bytes(range(256)) * 50
    decoy = lzma.compress(b"not an elf", format=lzma.FORMAT_XZ)
    image = b"MZ" + b"\x00" * 100 + decoy + b"\x11" * 7 + lzma.compress(elf, format=lzma.FORMAT_XZ) + b"tail"
    assert build.extract_vmlinux(image) == elf
    with pytest.raises(build.VmBuildError):
        build.extract_vmlinux(b"MZ" + decoy)


def test_modinfo_depends_parses_the_field() -> None:
    ko = b"\x00license=GPL\x00depends=slhc,crc-ccitt\x00intree=Y\x00"
    assert build.modinfo_depends(ko) == ["slhc", "crc-ccitt"]
    assert build.modinfo_depends(b"\x00depends=\x00name=x\x00") == []
    assert build.modinfo_depends(b"nothing here") == []


def test_module_order_is_dependencies_first(tmp_path: Path) -> None:
    mods = {}
    for name, deps in {"ppp_async": "ppp_generic", "ppp_generic": "slhc", "slhc": ""}.items():
        p = tmp_path / f"{name}.ko"
        p.write_bytes(b"\x00depends=" + deps.encode() + b"\x00")
        mods[name] = p
    assert build._module_order(mods, ("ppp_async",)) == ["slhc", "ppp_generic", "ppp_async"]
    del mods["slhc"]
    with pytest.raises(build.VmBuildError, match="slhc"):
        build._module_order(mods, ("ppp_async",))


def test_newc_archive_is_read_back_by_busybox_cpio(tmp_path: Path) -> None:
    need_tool("busybox")
    files = {"etc/pppos/default.args": (b"/dev/ttyS0\n115200\n", 0o644), "etc/ppp/pap-secrets": (b"x * y *\n", 0o600)}
    archive = build.newc_archive(files)
    assert len(archive) % 512 == 0
    listing = subprocess.run(["busybox", "cpio", "-t"], input=archive, capture_output=True, check=True).stdout
    names = listing.decode().split()
    assert set(names) == {"etc", "etc/ppp", "etc/pppos", "etc/ppp/pap-secrets", "etc/pppos/default.args"}
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["busybox", "cpio", "-i", "-d"], input=archive, cwd=out, capture_output=True, check=True)
    assert (out / "etc/pppos/default.args").read_bytes() == b"/dev/ttyS0\n115200\n"
    assert (out / "etc/ppp/pap-secrets").stat().st_mode & 0o777 == 0o600


def test_config_fragment_rules() -> None:
    frag = build.config_fragment({"default": ["a", "b c"], "pap": ["x"]}, files={"etc/ppp/chap-secrets": b"s"})
    assert b"etc/pppos/default.args" in frag and b"a\nb c\n" in frag and b"etc/pppos/pap.args" in frag
    with pytest.raises(ValueError, match="newline"):
        build.config_fragment({"default": ["a\nnoauth"]})
    with pytest.raises(ValueError, match="default"):
        build.config_fragment({"pap": ["x"]})
    with pytest.raises(ValueError, match="name"):
        build.config_fragment({"default": [], "../x": []})


def test_recipe_key_changes_with_any_version() -> None:
    a = build.recipe_key({"ppp": "2.4.9-1", "libc6": "2.36"})
    assert a == build.recipe_key({"libc6": "2.36", "ppp": "2.4.9-1"})
    assert a != build.recipe_key({"ppp": "2.4.9-2", "libc6": "2.36"})
