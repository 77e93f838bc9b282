"""The pppd reference VM as a pytest fixture: ONE boot per test session serves every configuration.

Each configuration is a named pppd argument set inside the VM; :meth:`PppdVm.switch` selects one and
restarts pppd (milliseconds), so the whole VM suite pays for a single ~3-4 s TCG boot (see docs/vm.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.helpers import need_tool
from tests.vm.qemu import SERVER_ARGS, PppdVm, VmSpec, write_boot_result

#: The credentials pppd (as authenticator) knows, in pap-secrets/chap-secrets format.
PAP_USER, PAP_SECRET = "pppos-pap", "pap pass\\word\"1"
CHAP_USER, CHAP_SECRET = "pppos-chap", "chap-secret-2"

#: Argument sets: pppd as the server on ttyS0 in each variant the tests need.
ARG_SETS: dict[str, tuple[str, ...]] = {
    # no auth, pppd sends an LCP Echo-Request every second (we must answer)
    "default": (*SERVER_ARGS, "noauth", "lcp-echo-interval", "1", "lcp-echo-failure", "30"),
    "pap": (*SERVER_ARGS, "auth", "require-pap", "asyncmap", "a0000", "name", "vmserver"),
    "chap": (*SERVER_ARGS, "auth", "require-chap", "name", "vmserver"),
    # the client direction: pppd dials out on ttyS3 with our generated options (files added per test)
}


def _secrets_line(user: str, secret: str) -> str:
    quoted = '"' + secret.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f'"{user}" * {quoted} *\n'


def base_files() -> dict[str, bytes]:
    """/etc/ppp/pap-secrets and chap-secrets for the authenticating argument sets."""
    return {
        "etc/ppp/pap-secrets": _secrets_line(PAP_USER, PAP_SECRET).encode(),
        "etc/ppp/chap-secrets": _secrets_line(CHAP_USER, CHAP_SECRET).encode(),
    }


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test in this directory carries the ``vm`` marker, and a timeout that covers building
    the image (first run: ~1-3 min) and booting it (seconds when idle, >1 min on a loaded host)."""
    has_timeout = config.pluginmanager.hasplugin("timeout")
    for item in items:
        if "tests/vm/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.vm)
            if has_timeout:
                item.add_marker(pytest.mark.timeout(900))


@pytest.fixture(scope="session")
def vm_image():
    """The cached VM image (built from Debian packages on first use)."""
    need_tool("qemu-system-x86_64", "apt-get", "apt-cache", "dpkg-deb", "tar")
    from tests.vm.build import VmBuildError, build_vm

    try:
        return build_vm()
    except VmBuildError as exc:
        pytest.fail(f"cannot build the pppd VM: {exc}")


@pytest.fixture(scope="session")
def pppd_vm(vm_image, request) -> Iterator[PppdVm]:
    """A booted VM running pppd as a server (argument set ``default``); killed at session end.

    Extra argument sets (the client direction) are added by tests via :func:`client_arg_sets`.
    """
    extra_sets, extra_files = client_arg_sets()
    spec = VmSpec(arg_sets={**ARG_SETS, **extra_sets}, files={**base_files(), **extra_files})
    vm = PppdVm(vm_image, spec)
    vm.start()
    assert vm.boot_seconds is not None
    # Tests never rewrite committed files: boot times from test runs go next to the cached image
    # (bench/vm_boot.py records into bench/results/vm_boot.txt); the summary line shows it too.
    write_boot_result(vm.boot_seconds, path=vm_image.directory.parent / "vm_boot.log",
                      note=f"load1={os.getloadavg()[0]:.1f} key={vm_image.key}")
    print(f"\npppd VM booted in {vm.boot_seconds:.1f} s")
    try:
        yield vm
    finally:
        vm.close()


def client_arg_sets() -> tuple[dict[str, tuple[str, ...]], dict[str, bytes]]:
    """The argument set ``client``: pppd (and chat) dialling out on ttyS3 with the files our pppd
    backend generates (:func:`pppos.backends.pppd.render_config`) placed in ``/etc/pppos/gen``."""
    from pppos.backends.pppd import PppdOptions, render_config

    opts = PppdOptions(port="/dev/ttyS3", baud=115200, use_chat=True, apn="internet", user="vmuser",
                       password="vm-pass", lcp_echo=(5, 3), debug=True)
    files = render_config(opts, "/etc/pppos/gen")
    args = ("file", "/etc/pppos/gen/options", "logfile", "/dev/ttyS1", "maxfail", "1")
    # ``client-up``: the options ``pppos-up --backend pppd --usepeerdns`` gives pppd after its own AT
    # bring-up (no chat: the modem is already in data mode), on ttyS3 instead of standard input
    from pppos.backends.pppd import options_from_up
    from pppos.config import parse_up_args

    up = options_from_up(parse_up_args(["/dev/ttyS3", "--usepeerdns", "--lcp-echo", "5,3", "--trace"]))
    up_files = render_config(up, "/etc/pppos/up")
    up_args = ("file", "/etc/pppos/up/options", "logfile", "/dev/ttyS1", "maxfail", "1")
    files.update(up_files)
    return {"client": args, "client_up": up_args}, {path.lstrip("/"): text.encode() for path, text in files.items()}
