"""Build the pppd reference VM (kernel + initramfs) from Debian packages only, cached by version.

The image is made of:

* the uncompressed ``vmlinux`` of the kernel package ``linux-image-amd64`` depends on (the XZ payload
  of ``vmlinuz`` decompressed once: QEMU boots it directly through its PVH note, ~3 s under TCG);
* the modules ``ppp_async`` needs, in dependency order (``depends=`` read from each ``.ko``'s
  ``.modinfo``: there is no ``modules.dep`` in the package and no kmod on the host);
* ``busybox-static``, ``pppd`` and ``chat`` from ``ppp``, and the shared libraries pppd links against,
  resolved with the *unpacked* ``ld-linux-x86-64.so.2 --list`` so the versions are the packages', not
  the host's;
* a small ``/init`` (:data:`INIT_SCRIPT`).

Everything is fetched with ``apt-get download`` and unpacked with ``dpkg-deb``; the initramfs is packed
with busybox's ``cpio -o -H newc`` (the host has no cpio). Artifacts live in
``${PPPOS_CACHE:-~/.cache/pppos}/vm/<key>`` where ``<key>`` hashes the package versions and this
builder's recipe, so CI builds once per run and developers once per package update.

Per-boot configuration (pppd's arguments, secrets, chat scripts) is a second, tiny newc archive that
:func:`config_fragment` writes in Python and the harness appends to the cached initramfs: the kernel
unpacks concatenated archives in order (Documentation/driver-api/early-userspace/buffer-format.rst).

Run ``python -m tests.vm.build`` to build (or just print) the cached image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

#: Bump when the recipe (file layout, /init) changes so old caches are not reused.
RECIPE_VERSION = "6"

#: Packages whose files go into the image, besides the kernel. The library packages are those pppd
#: (Debian 12, ppp 2.4.9) links against, directly or not; :func:`_resolve_libs` checks the list is
#: complete with the unpacked dynamic loader and names any missing library.
BASE_PACKAGES = (
    "busybox-static",
    "ppp",
    "libc6",
    "libssl3",
    "libcrypt1",
    "libpam0g",
    "libsystemd0",
    "libpcap0.8",
    "libaudit1",
    "libcap2",
    "libgcrypt20",
    "liblzma5",
    "libzstd1",
    "liblz4-1",
    "libdbus-1-3",
    "libcap-ng0",
    "libgpg-error0",
)

#: Kernel modules the VM loads (plus their ``depends=``, resolved recursively).
WANTED_MODULES = ("ppp_async",)

#: Kernel arguments for a fast boot (real-peers.md section 2): console on ttyS1, no ACPI, no crypto
#: self-tests, two slow initcalls skipped, reboot (= QEMU exits with -no-reboot) on panic.
KERNEL_ARGS = (
    "console=ttyS1 quiet acpi=off no_timer_check cryptomgr.notests "
    "initcall_blacklist=crypto_kdf108_init,init_kprobe_trace panic=-1 rdinit=/init"
)

#: The body served by the VM's busybox httpd at ``/index.html`` (tests compare it byte for byte).
HTTP_BODY = b"pppos reference VM: served by busybox httpd over pppd\n" + bytes(range(32, 127)) * 8 + b"\n"

#: TCP echo port (busybox ``nc -ll -e cat``) and HTTP port inside the VM.
ECHO_PORT = 7
HTTP_PORT = 80

#: The guest's /init. Serial wiring: ttyS0 = the PPP line, ttyS1 = kernel console and pppd's log
#: (``console.log`` on the host), ttyS2 = a control channel (one command per line, see ``ctl``).
#: pppd's arguments come from ``/etc/pppos/<name>.args`` (one argument per line, no shell parsing),
#: written by the per-boot fragment; ``default`` unless the control command ``use <name>`` chose
#: another set. pppd is restarted after it exits (``pppd start N <name>`` / ``pppd exit N status S``
#: markers), so one boot serves several configurations; ``/etc/pppos/once`` stops that. ttyS3 is a
#: spare line (pppd as a client dials out on it).
INIT_SCRIPT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /var /etc/ppp /www
/bin/busybox ln -s /run /var/run 2>/dev/null
/bin/busybox mkdir -p /var/lock
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
log() { echo "pppos-vm: $*" > /dev/ttyS1; }
for m in $(cat /etc/pppos/modules); do
    insmod "/lib/modules/$m.ko" || log "insmod $m failed"
done
[ -c /dev/ppp ] || mknod /dev/ppp c 108 0
ip link set lo up
httpd -p 80 -h /www
nc -ll -p 7 -e /bin/cat &
ctl() {
    while true; do
        {
            stty raw -echo 2>/dev/null
            while IFS= read -r cmd; do
                pid=$(cat /run/pppd.pid 2>/dev/null)
                case "$cmd" in
                    "kill TERM"|"kill HUP"|"kill INT"|"kill STOP"|"kill CONT"|"kill KILL"|"kill USR1")
                        if kill -"${cmd#kill }" "$pid" 2>/dev/null; then echo "@@ ok $cmd";
                        else echo "@@ fail $cmd"; fi ;;
                    "ping") echo "@@ pong" ;;
                    "use "*)
                        name=${cmd#use }
                        case "$name" in
                            *[!a-z0-9_]*|"") echo "@@ fail $cmd" ;;
                            *) if [ -e "/etc/pppos/$name.args" ]; then echo "$name" > /run/args.name; echo "@@ ok $cmd";
                               else echo "@@ fail $cmd"; fi ;;
                        esac ;;
                    *) ;;
                esac
            done
        } < /dev/ttyS2 > /dev/ttyS2
        sleep 1
    done
}
ctl &
[ -x /etc/pppos/setup ] && /etc/pppos/setup
log "ready"
n=0
while true; do
    n=$((n + 1))
    name=$(cat /run/args.name 2>/dev/null)
    [ -n "$name" ] || name=default
    set --
    while IFS= read -r a; do set -- "$@" "$a"; done < "/etc/pppos/$name.args"
    log "pppd start $n $name"
    pppd "$@" &
    echo $! > /run/pppd.pid
    wait $!
    log "pppd exit $n status $?"
    [ -e /etc/pppos/once ] && break
    sleep 0.2
done
log "halting"
poweroff -f
"""


class VmBuildError(RuntimeError):
    """The VM image could not be built (tool, package or network problem); the message says which."""


@dataclasses.dataclass(frozen=True, slots=True)
class VmImage:
    """A built, cached VM image."""

    directory: Path
    kernel: Path
    initramfs: Path
    versions: Mapping[str, str]
    key: str
    #: Seconds the build took (0.0 when it came from the cache).
    build_seconds: float


def cache_root() -> Path:
    """``${PPPOS_CACHE:-~/.cache/pppos}/vm``."""
    base = os.environ.get("PPPOS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "pppos")
    return Path(base) / "vm"


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(argv, check=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
    except FileNotFoundError:
        raise VmBuildError(f"{argv[0]} is not installed (needed to build the VM)") from None
    except subprocess.CalledProcessError as exc:
        msg = exc.stderr.decode(errors="replace").strip().splitlines()
        raise VmBuildError(f"{' '.join(argv[:3])} failed: {msg[-1] if msg else exc.returncode}") from None


def _apt_lists_fingerprint() -> str:
    """A hash of the apt package lists' names, sizes and mtimes: versions only change with them."""
    h = hashlib.sha256()
    lists = Path("/var/lib/apt/lists")
    for p in sorted(lists.glob("*Packages*")) if lists.is_dir() else []:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def resolve_versions(packages: tuple[str, ...] = BASE_PACKAGES) -> tuple[str, dict[str, str]]:
    """(kernel package, {package: candidate version}) from one ``apt-cache show --no-all-versions``.

    apt-cache can take ~40 s here (no binary package cache), so the answer is remembered in the cache
    directory, keyed by the apt lists' fingerprint (an ``apt-get update`` invalidates it).
    """
    memo = cache_root() / "resolved.json"
    fingerprint = _apt_lists_fingerprint() + ":" + ",".join(packages)
    with contextlib.suppress(OSError, ValueError, KeyError):
        data = json.loads(memo.read_text())
        if data["fingerprint"] == fingerprint:
            return data["kernel"], dict(data["versions"])
    out = _run(["apt-cache", "show", "--no-all-versions", "linux-image-amd64", *packages]).stdout.decode()
    versions: dict[str, str] = {}
    name = ""
    kernel: tuple[str, str] | None = None
    for line in out.splitlines():
        if line.startswith("Package: "):
            name = line.split(None, 1)[1]
        elif line.startswith("Version: ") and name:
            versions.setdefault(name, line.split(None, 1)[1])
        elif line.startswith("Depends: ") and name == "linux-image-amd64" and kernel is None:
            m = re.search(r"\b(linux-image-[0-9][^\s,(]*)\s*\(=\s*([^)\s]+)\)", line)
            if m:
                kernel = (m.group(1), m.group(2))
    if kernel is None:
        raise VmBuildError("cannot find the kernel package linux-image-amd64 depends on (run apt-get update)")
    versions.pop("linux-image-amd64", None)
    versions[kernel[0]] = kernel[1]
    missing = [p for p in packages if p not in versions]
    if missing:
        raise VmBuildError(f"apt knows no candidate for {', '.join(missing)} (run apt-get update)")
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"fingerprint": fingerprint, "kernel": kernel[0], "versions": versions}))
    os.replace(tmp, memo)
    return kernel[0], versions


def recipe_key(versions: Mapping[str, str]) -> str:
    """Cache key: package versions + recipe version + /init text."""
    h = hashlib.sha256()
    h.update(RECIPE_VERSION.encode())
    h.update(INIT_SCRIPT.encode())
    h.update(HTTP_BODY)
    for name in sorted(versions):
        h.update(f"{name}={versions[name]}\n".encode())
    return h.hexdigest()[:16]


def _download(packages: Mapping[str, str], debs: Path, log: Callable[[str], None]) -> dict[str, Path]:
    """``apt-get download`` each ``name=version`` into ``debs`` unless already there."""
    debs.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}

    def lookup(name: str, version: str) -> Path | None:
        quoted = version.replace(":", "%3a")
        for cand in debs.glob(f"{name}_*.deb"):
            if cand.name.startswith(f"{name}_{quoted}_") or cand.name.startswith(f"{name}_{version}_"):
                return cand
        return None

    todo = []
    for name, version in packages.items():
        path = lookup(name, version)
        if path is None:
            todo.append(f"{name}={version}")
        else:
            found[name] = path
    if todo:
        log(f"vm build: apt-get download {' '.join(todo)}")
        _run(["apt-get", "download", *todo], cwd=str(debs))
        for name, version in packages.items():
            if name not in found:
                path = lookup(name, version)
                if path is None:
                    raise VmBuildError(f"apt-get download did not produce {name} {version}")
                found[name] = path
    return found


def _extract(deb: Path, dest: Path, patterns: list[str] | None = None) -> None:
    """Unpack ``deb`` (or only members matching ``patterns``) into ``dest`` with dpkg-deb and tar."""
    dest.mkdir(parents=True, exist_ok=True)
    if patterns is None:
        _run(["dpkg-deb", "-x", str(deb), str(dest)])
        return
    tar = subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        res = subprocess.run(
            ["tar", "-x", "-C", str(dest), "--wildcards", *patterns],
            stdin=tar.stdout,
            capture_output=True,
        )
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
    if res.returncode != 0:
        raise VmBuildError(f"cannot unpack {deb.name}: {res.stderr.decode(errors='replace').strip()[:200]}")


def extract_vmlinux(vmlinuz: bytes) -> bytes:
    """Return the uncompressed ELF kernel inside a bzImage (its XZ payload), for PVH direct boot."""
    start = vmlinuz.find(b"\xfd7zXZ\x00")
    while start >= 0:
        dec = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        try:
            data = dec.decompress(vmlinuz[start:])
        except lzma.LZMAError:
            data = b""
        if data.startswith(b"\x7fELF"):
            return data
        start = vmlinuz.find(b"\xfd7zXZ\x00", start + 1)
    raise VmBuildError("no XZ-compressed ELF kernel found in vmlinuz")


def modinfo_depends(ko: bytes) -> list[str]:
    """The ``depends=`` field of a module's ``.modinfo`` (comma-separated names), as a list."""
    m = re.search(rb"(?:^|\x00)depends=([^\x00]*)\x00", ko)
    if not m or not m.group(1):
        return []
    return [d.decode() for d in m.group(1).split(b",") if d]


def _module_order(found: Mapping[str, Path], wanted: tuple[str, ...]) -> list[str]:
    """Dependency-first order of ``wanted`` and everything they depend on."""
    order: list[str] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in stack:
            raise VmBuildError(f"module dependency loop at {name}")
        if name not in found:
            raise VmBuildError(f"module {name} not found in the kernel package")
        for dep in modinfo_depends(found[name].read_bytes()):
            visit(dep.replace("-", "_"), (*stack, name))
        order.append(name)

    for w in wanted:
        visit(w, ())
    return order


def _find_modules(tree: Path) -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for ko in tree.rglob("*.ko"):
        mods[ko.name[:-3].replace("-", "_")] = ko
    return mods


def _resolve_libs(root: Path, binaries: list[Path]) -> dict[str, Path]:
    """soname -> unpacked file for everything ``binaries`` load, via the unpacked loader's ``--list``."""
    ld = root / "lib" / "x86_64-linux-gnu" / "ld-linux-x86-64.so.2"
    if not ld.exists():
        ld = root / "usr" / "lib" / "x86_64-linux-gnu" / "ld-linux-x86-64.so.2"
    libpath = ":".join(str(root / d) for d in ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"))
    libs: dict[str, Path] = {}
    missing: list[str] = []
    for binary in binaries:
        out = _run([str(ld), "--library-path", libpath, "--list", str(binary)]).stdout.decode()
        for line in out.splitlines():
            m = re.match(r"\s*(\S+) => (\S+)", line)
            if not m:
                continue
            soname, path = os.path.basename(m.group(1)), m.group(2)
            if path == "not":
                missing.append(soname)
            elif not path.startswith(str(root)):
                missing.append(f"{soname} (resolved outside the packages: {path})")
            else:
                libs[soname] = Path(path)
    if missing:
        raise VmBuildError(f"libraries not provided by the VM packages: {', '.join(sorted(set(missing)))}")
    libs["ld-linux-x86-64.so.2"] = ld
    return libs


def pack_cpio_busybox(busybox: Path, root: Path, out: Path) -> None:
    """Pack ``root`` into a newc archive ``out`` with busybox ``cpio -o -H newc``."""
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            names.append(rel)
        names.extend(os.path.join(rel, f) if rel != "." else f for f in sorted(filenames))
    with open(out, "wb") as fh:
        res = subprocess.run(
            [str(busybox), "cpio", "-o", "-H", "newc"],
            input="\n".join(names).encode() + b"\n",
            stdout=fh,
            stderr=subprocess.PIPE,
            cwd=str(root),
        )
    if res.returncode != 0:
        raise VmBuildError(f"busybox cpio failed: {res.stderr.decode(errors='replace').strip()[:200]}")


def newc_archive(files: Mapping[str, tuple[bytes, int]]) -> bytes:
    """A newc cpio archive (with parent directories) of ``path -> (content, mode)``; ends with TRAILER!!!.

    Format: Documentation/driver-api/early-userspace/buffer-format.rst (the kernel's own reader).
    """
    out = bytearray()
    ino = 1000

    def entry(name: str, mode: int, data: bytes) -> None:
        nonlocal ino
        ino += 1
        nb = name.encode() + b"\x00"
        hdr = "070701" + "".join(
            f"{v:08X}" for v in (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)
        )
        out.extend(hdr.encode() + nb)
        out.extend(b"\x00" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\x00" * (-len(out) % 4))

    dirs: set[str] = set()
    for path in sorted(files):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                entry(d, 0o040755, b"")
    for path, (data, mode) in sorted(files.items()):
        entry(path.strip("/"), 0o100000 | mode, data)
    entry("TRAILER!!!", 0, b"")
    out.extend(b"\x00" * (-len(out) % 512))
    return bytes(out)


def config_fragment(
    arg_sets: Mapping[str, list[str] | tuple[str, ...]],
    *,
    files: Mapping[str, bytes] | None = None,
    once: bool = False,
) -> bytes:
    """The per-boot archive: named pppd argument sets (``/etc/pppos/<name>.args``, one argument per
    line) plus extra files (secrets, chat scripts, options). ``default`` is run first.

    Arguments must not contain newlines (each line is one argument, no shell quoting is involved).
    """
    entries: dict[str, tuple[bytes, int]] = {}
    for name, args in arg_sets.items():
        if not re.fullmatch(r"[a-z0-9_]+", name):
            raise ValueError(f"bad argument-set name {name!r}")
        for a in args:
            if "\n" in a or "\x00" in a:
                raise ValueError(f"pppd argument with a newline or NUL: {a!r}")
        entries[f"etc/pppos/{name}.args"] = (("\n".join(args) + "\n").encode(), 0o644)
    if "default" not in arg_sets:
        raise ValueError("config_fragment needs a 'default' argument set")
    for path, data in (files or {}).items():
        mode = 0o600 if "secrets" in path else 0o755 if path.endswith("setup") else 0o644
        entries[path.strip("/")] = (data, mode)
    if once:
        entries["etc/pppos/once"] = (b"", 0o644)
    return newc_archive(entries)


def _build(key: str, versions: Mapping[str, str], kpkg: str, final: Path, log: Callable[[str], None]) -> None:
    debs = _download(versions, cache_root() / "debs", log)
    with tempfile.TemporaryDirectory(prefix="pppos-vm-build-") as tmp:
        t = Path(tmp)
        unpack = t / "unpack"
        stage = t / "root"
        log(f"vm build: unpacking {kpkg} (kernel and ppp modules)")
        _extract(
            debs[kpkg],
            unpack,
            ["./boot/vmlinuz-*", "./lib/modules/*/kernel/drivers/net/ppp/*",
             "./lib/modules/*/kernel/drivers/net/slip/*"],
        )
        mods = _find_modules(unpack)
        try:
            order = _module_order(mods, WANTED_MODULES)
        except VmBuildError:
            # A dependency outside the two directories: unpack every module once and retry.
            _extract(debs[kpkg], unpack, ["./lib/modules/*"])
            mods = _find_modules(unpack)
            order = _module_order(mods, WANTED_MODULES)
        for name, deb in debs.items():
            if name != kpkg:
                _extract(deb, unpack)
        vmlinuz = next((unpack / "boot").glob("vmlinuz-*"))
        log("vm build: extracting vmlinux from vmlinuz")
        vmlinux = extract_vmlinux(vmlinuz.read_bytes())

        busybox = unpack / "bin" / "busybox"
        pppd = unpack / "usr" / "sbin" / "pppd"
        chat = unpack / "usr" / "sbin" / "chat"
        libs = _resolve_libs(unpack, [pppd, chat])

        for d in ("bin", "sbin", "usr/sbin", "lib/x86_64-linux-gnu", "lib64", "lib/modules", "etc/ppp",
                  "etc/pppos", "www", "proc", "sys", "dev", "run", "tmp", "root"):
            (stage / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(busybox, stage / "bin" / "busybox")
        os.symlink("busybox", stage / "bin" / "sh")
        for prog in (pppd, chat):
            shutil.copyfile(prog, stage / "usr" / "sbin" / prog.name)
            (stage / "usr" / "sbin" / prog.name).chmod(0o755)
        libdir = stage / "lib" / "x86_64-linux-gnu"
        for soname, path in libs.items():
            dst = libdir / os.path.basename(soname)  # never an absolute name: it would escape the stage
            assert dst.parent == libdir
            shutil.copyfile(path, dst)
            dst.chmod(0o755)  # the dynamic loader must be executable (the kernel execs it)
        os.symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", stage / "lib64" / "ld-linux-x86-64.so.2")
        for name in order:
            shutil.copyfile(mods[name], stage / "lib" / "modules" / f"{name}.ko")
        (stage / "etc" / "pppos" / "modules").write_text("\n".join(order) + "\n")
        (stage / "etc" / "ppp" / "options").write_text("")
        (stage / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (stage / "etc" / "group").write_text("root:x:0:\n")
        (stage / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
        (stage / "www" / "index.html").write_bytes(HTTP_BODY)
        init = stage / "init"
        init.write_text(INIT_SCRIPT)
        init.chmod(0o755)

        work = final.with_name(final.name + f".tmp{os.getpid()}")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "vmlinux").write_bytes(vmlinux)
        log("vm build: packing the initramfs with busybox cpio")
        pack_cpio_busybox(busybox, stage, work / "initramfs.cpio")
        manifest = {"key": key, "kernel_package": kpkg, "versions": dict(versions), "modules": order,
                    "libraries": sorted(libs), "kernel_args": KERNEL_ARGS}
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(work, final)


def build_vm(log: Callable[[str], None] | None = None) -> VmImage:
    """Return the cached VM image, building it first if the package versions changed."""
    say = log or (lambda _msg: None)
    try:
        kpkg, versions = resolve_versions()
    except VmBuildError:
        # A fresh machine may have no package lists yet (scripts/install.sh only updates them when
        # it installs something): refresh them once, as root, and retry.
        if os.geteuid() != 0:
            raise
        say("vm build: apt-get update (no candidate versions known)")
        _run(["apt-get", "update", "-qq"])
        kpkg, versions = resolve_versions()
    key = recipe_key(versions)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    t0 = time.monotonic()
    built = False
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two pytest runs at once build once
        if not (final / "manifest.json").exists():
            _build(key, versions, kpkg, final, say)
            built = True
    return VmImage(
        directory=final,
        kernel=final / "vmlinux",
        initramfs=final / "initramfs.cpio",
        versions=versions,
        key=key,
        build_seconds=time.monotonic() - t0 if built else 0.0,
    )


def main() -> int:
    """Build (or find) the cached image and print where it is."""
    try:
        img = build_vm(log=lambda m: print(m, file=sys.stderr))
    except VmBuildError as exc:
        print(f"tests.vm.build: error: {exc}", file=sys.stderr)
        return 1
    print(f"{img.directory} (built in {img.build_seconds:.1f} s)" if img.build_seconds else str(img.directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
