"""A private Docker engine for tests (sandbox.md §1b), and a busybox image built locally.

``dockerd`` from Debian's ``docker.io`` runs with its own data/exec roots and socket in a
short temporary directory, ``--iptables=false`` and ``--bridge=none`` (no docker0, nothing
touched in the host's firewall; containers use ``--network none``). The image is
``docker import`` of a rootfs holding the static busybox and its applet links, since no
registry is reachable.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

IMAGE = "local/busybox"


def missing_requirements() -> str | None:
    """Why the container tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    for tool, pkg in (
        ("dockerd", "docker.io"),
        ("docker", "docker.io"),
        ("busybox", "busybox-static"),
    ):
        if shutil.which(tool) is None:
            return f"{tool} missing (apt-get install {pkg})"
    return None


def busybox_rootfs_tar() -> bytes:
    """A tar of a minimal rootfs: /bin/busybox, one link per applet, /etc/passwd+group."""
    busybox = shutil.which("busybox")
    assert busybox is not None
    applets = subprocess.run(
        [busybox, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "etc", "proc", "sys", "dev", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for a in applets:
            if a != "busybox":
                link = tarfile.TarInfo(f"bin/{a}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
        for name, text in (
            ("etc/passwd", "root:x:0:0:root:/:/bin/sh\n"),
            ("etc/group", "root:x:0:\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Dockerd:
    """One private engine; ``env`` points the docker CLI at it."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pycd"))  # short: socket paths are limited
        self.socket = self.dir / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.env = {**os.environ, "DOCKER_HOST": self.host}
        self._log = open(self.dir / "dockerd.log", "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            ["dockerd", "--storage-driver=overlay2", "--iptables=false", "--bridge=none",
             f"--data-root={self.dir}/data", f"--exec-root={self.dir}/exec",
             f"--pidfile={self.dir}/docker.pid", f"--host={self.host}"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while self.docker("version", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"dockerd did not start: {(self.dir / 'dockerd.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        subprocess.run(
            ["docker", "import", "-", IMAGE], input=busybox_rootfs_tar(), env=self.env,
            check=True, capture_output=True,
        )  # fmt: skip

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this engine."""
        return subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, check=check
        )

    def containers(self, name: str) -> list[str]:
        """IDs of containers (running or not) with exactly this name."""
        out = self.docker("ps", "-aq", "--filter", f"name=^/{name}$").stdout
        return out.split()

    def stop(self) -> None:
        """Stop the engine and remove its files."""
        if self.proc.poll() is None:
            with contextlib.suppress(subprocess.CalledProcessError, OSError):
                ids = self.docker("ps", "-aq", check=False).stdout.split()
                if ids:
                    self.docker("rm", "-f", *ids, check=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        subprocess.run(["umount", "-R", str(self.dir / "data")], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
