"""EPRI's reference IEEE 2030.5 client (`../shared/interop/`), built unmodified for the interop tests.

Its build script stops unless OpenSSL 1.1.0 is installed; the client builds and runs against the
OpenSSL 3 Debian ships, so the copy built here has that one version check switched off in its
targets.sh — the only change, made to the copy, never to the source. It identifies itself by a DER
certificate file (`NAME.x509`, key in `NAME.pem`): it hashes the file it is given for its LFDI.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from apps.der_registry.engine.sep2 import certs
from tests.conftest import ROOT

# A verbatim copy of ../shared/interop/epri-ieee2030.5-client (BSD-3-Clause, its LICENSE inside), kept
# in the repository as the test feeders are, so a clone anywhere builds it; test_it_epri_client.py
# checks it is still identical to the shared one where that is present.
SOURCE = ROOT / "tests" / "data" / "interop" / "epri-ieee2030.5-client"
SHARED = ROOT.parent / "shared" / "interop" / "epri-ieee2030.5-client"
VERSION_CHECK = 'if [[ ! ($version =~ "OpenSSL 1.1.0") ]]; then'


def build(work: Path) -> Path:
    """Copy the client's source to `work`, build it there; the folder with client_test and csip_test."""
    if not SOURCE.is_dir():
        raise RuntimeError(f"The EPRI client's source is not at {SOURCE}.")
    tree = work / "epri-client"
    shutil.copytree(SOURCE, tree)
    targets = tree / "targets.sh"
    script = targets.read_text()
    if VERSION_CHECK not in script:
        raise RuntimeError("The EPRI client's targets.sh changed: its OpenSSL version check was not found.")
    targets.write_text(script.replace(VERSION_CHECK, "if false; then  # OpenSSL 3 works (tests)"))
    done = subprocess.run(["bash", "build.sh"], cwd=tree, capture_output=True, text=True, timeout=300)
    built = tree / "build"
    if done.returncode != 0 or not (built / "client_test").is_file() or not (built / "csip_test").is_file():
        raise RuntimeError(
            "Building the EPRI client failed (it needs gcc and OpenSSL's headers, `make test` installs "
            f"libssl-dev):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return built


@dataclass(frozen=True)
class Device:
    x509: Path  # DER certificate, what the client hashes for its LFDI
    lfdi: str
    sfdi: int


def device_files(ca: certs.CertFiles, folder: Path, stem: str) -> Device:
    """A device certificate for the client. Its SHA-256 (sha256.c) mishandles an input whose length
    mod 64 is 56–63 — the padding goes negative and the client crashes computing its own LFDI — so a
    certificate of such a length (signatures and serials vary in length) is issued again."""
    for _ in range(50):
        made = certs.make_cert(ca, folder, stem)
        leaf = x509.load_pem_x509_certificate(made.cert.read_bytes())
        if len(leaf.public_bytes(serialization.Encoding.DER)) % 64 <= 55:
            break
    der = folder / f"{stem}.x509"
    der.write_bytes(leaf.public_bytes(serialization.Encoding.DER))
    shutil.copy(made.key, folder / f"{stem}.pem")
    return Device(der, made.lfdi, made.sfdi)


@dataclass
class Run:
    output: str
    returncode: int | None

    def lines(self, *needles: str) -> list[str]:
        return [line for line in self.output.splitlines() if all(n in line for n in needles)]

    @property
    def statuses(self) -> list[tuple[str, int]]:
        """(request, status) of every exchange the client printed ("GET /dcap: 200")."""
        out = []
        for line in self.output.splitlines():
            head, sep, code = line.rpartition(": ")
            if sep and code.isdigit() and head.split(" ")[0] in ("GET", "PUT", "POST", "DELETE", "HEAD"):
                out.append((head, int(code)))
        return out


def run(
    tool: Path,
    device: Device,
    ca: Path,
    url: str,
    *commands: str,
    seconds: float,
    until: str = "",
    stop: threading.Event | None = None,
) -> Run:
    """Run client_test for up to `seconds` (it polls on until stopped), until a line matching the
    pattern `until` appears, or until `stop` is set; its output, and its exit code if it exited on
    its own (it exits, with code 0, on the first failed step)."""
    args = [str(tool), "lo", str(device.x509), str(ca), url, *commands]
    # in the source tree: the client reads its DER settings from ./settings
    return watch(args, tool.parent.parent, seconds=seconds, until=until, stop=stop)


def run_csip(
    tool: Path,
    workdir: Path,
    lan: Lan,
    *,
    seconds: float,
    until: str = "",
    stop: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
) -> Run:
    """Run csip_test on the client's end of `lan`, in `workdir` (csip_workdir): it is given nothing
    but the interface, and finds the server by DNS-SD there. As `run`; `progress` sees each line."""
    args = [*lan.enter(), str(tool), lan.client_interface]
    return watch(args, workdir, seconds=seconds, until=until, stop=stop, progress=progress)


def watch(
    args: list[str],
    cwd: Path,
    *,
    seconds: float,
    until: str = "",
    stop: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
) -> Run:
    proc = subprocess.Popen(
        ["stdbuf", "-oL", "-eL", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd
    )
    assert proc.stdout is not None
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            if not sel.select(timeout=0.2):
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)  # unbuffered: select sees what is unread
            if not chunk:
                break
            chunks.append(chunk)
            lines = chunk.decode(errors="replace").splitlines()
            for line in lines:
                if progress:
                    progress(line)
            if until and any(re.search(until, line) for line in lines):
                break
    code = proc.poll()
    if code is None:
        proc.kill()
    rest = proc.stdout.read()
    proc.wait()
    return Run(b"".join([*chunks, rest]).decode(errors="replace"), code)


def csip_workdir(device: Device, ca: Path, folder: Path) -> Path:
    """csip_test takes no file names: it reads its certificate from ./pti_dev.x509 (key ./pti_dev.pem)
    and trusts the CA certificates in ./certs/*.pem. A folder of its own holds ours, so the EPRI
    test certificate in the built copy stays as shipped."""
    (folder / "certs").mkdir(parents=True)
    shutil.copy(device.x509, folder / "pti_dev.x509")
    shutil.copy(device.x509.with_suffix(".pem"), folder / "pti_dev.pem")
    shutil.copy(ca, folder / "certs" / "ca.pem")
    return folder


@dataclass(frozen=True)
class Lan:
    """A two-host IPv6 link: this host's end `interface` (`address`) and the client's end
    `client_interface` (`client_address`) in a network namespace of its own, which `holder` keeps.
    csip_test discovers servers only by multicast DNS on the interface it is given, and the loopback
    interface carries no multicast; a link of our own keeps its queries off every real network."""

    holder: subprocess.Popen[bytes]
    interface: str
    address: str
    client_interface: str
    client_address: str

    def enter(self) -> list[str]:
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--"]


def _ip(*args: str, enter: list[str] | None = None) -> None:
    done = subprocess.run([*(enter or []), "ip", *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@contextlib.contextmanager
def lan() -> Iterator[Lan]:
    """A veth pair between this host and a new network namespace, with site-local (fd00::/8)
    addresses: the client binds its multicast DNS socket to one (mdns.c). Needs root (CAP_NET_ADMIN
    and CAP_SYS_ADMIN); gone with the namespace when its holder stops. Names and prefix carry our
    process id, so test runs side by side do not meet."""
    pid = os.getpid()
    prefix = f"fd00:c5e5:{pid >> 16:x}:{pid & 0xFFFF:x}"
    holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "900"])  # at most 15 min if we die
    try:
        until_s = time.monotonic() + 5
        while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            if holder.poll() is not None or time.monotonic() > until_s:
                raise RuntimeError("unshare could not make a network namespace (are we root?)")
            time.sleep(0.02)
        made = Lan(holder, f"crs{pid}h", f"{prefix}::1", f"crs{pid}c", f"{prefix}::2")
        peer = ["peer", "name", made.client_interface, "netns", str(holder.pid)]
        _ip("link", "add", made.interface, "type", "veth", *peer)
        _ip("link", "set", made.interface, "up")
        _ip("-6", "addr", "add", f"{made.address}/64", "dev", made.interface, "nodad")
        _ip("link", "set", made.client_interface, "up", enter=made.enter())
        client_address = [f"{made.client_address}/64", "dev", made.client_interface, "nodad"]
        _ip("-6", "addr", "add", *client_address, enter=made.enter())
        yield made
    finally:
        holder.kill()
        holder.wait()
        with contextlib.suppress(RuntimeError):
            _ip("link", "del", f"crs{pid}h")  # the namespace takes its veth with it; do not wait
