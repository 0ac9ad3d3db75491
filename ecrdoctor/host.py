"""The host as checks see it: environment, files under --root, users, container and EC2 detection."""

from __future__ import annotations

import os
import platform
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from ecrdoctor.model import HostSummary
from ecrdoctor.redact import Redactor

MAX_READ_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class FileRead:
    """The outcome of reading one file: its text, or why it could not be read."""

    path: str  # the path as the host sees it (without --root)
    text: Optional[str] = None
    missing: bool = False
    error: Optional[str] = None  # "permission denied", "is a directory", ...

    @property
    def ok(self) -> bool:
        return self.text is not None


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: Optional[int]  # None: not started or timed out
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    not_found: bool = False


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: int
    home: Optional[str]


class Host:
    """Everything ecrdoctor learns about the machine goes through here (and so can be recorded)."""

    def __init__(self, env: Optional[Mapping[str, str]] = None, root: Optional[str] = None,
                 redactor: Optional[Redactor] = None) -> None:
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self.root = Path(root).resolve() if root else None
        self.redactor = redactor or Redactor()

    # -- files -----------------------------------------------------------------------------
    def path(self, path: str) -> Path:
        """Where a host path lives on this machine: under --root when one is given."""
        p = Path(path)
        if self.root is None:
            return p
        return self.root / str(p).lstrip("/")

    def read_text(self, path: str, limit: int = MAX_READ_BYTES) -> FileRead:
        real = self.path(path)
        try:
            with open(real, "rb") as fh:
                data = fh.read(limit)
        except FileNotFoundError:
            return FileRead(path, missing=True, error="does not exist")
        except PermissionError:
            return FileRead(path, error="permission denied")
        except IsADirectoryError:
            return FileRead(path, error="is a directory")
        except OSError as exc:
            return FileRead(path, error=exc.strerror or type(exc).__name__)
        return FileRead(path, text=data.decode("utf-8", errors="replace"))

    def exists(self, path: str) -> bool:
        return self.path(path).exists()

    def which(self, name: str, path: Optional[str] = None) -> Optional[str]:
        """Find an executable on a PATH (the process's own by default), as the host sees it."""
        search = self.env.get("PATH", os.defpath) if path is None else path
        if self.root is None:
            return shutil.which(name, path=search)
        for d in search.split(os.pathsep):
            if d and (self.path(d) / name).is_file() and os.access(self.path(d) / name, os.X_OK):
                return str(Path(d) / name)
        return None

    # -- users -----------------------------------------------------------------------------
    def current_user(self) -> UserInfo:
        uid = os.geteuid()
        try:
            pw = pwd.getpwuid(uid)
            name, home = pw.pw_name, pw.pw_dir
        except KeyError:
            name, home = str(uid), None
        return UserInfo(name, uid, home)

    def user_home(self, name: str) -> Optional[str]:
        """Home directory of a user from /etc/passwd under --root (sudo's invoking user, root)."""
        passwd = self.read_text("/etc/passwd")
        for line in (passwd.text or "").splitlines():
            fields = line.split(":")
            if len(fields) >= 6 and fields[0] == name:
                return fields[5]
        if self.root is None:
            try:
                return pwd.getpwnam(name).pw_dir
            except KeyError:
                return None
        return None

    @property
    def home(self) -> Optional[str]:
        """$HOME as docker and the AWS SDK resolve it (env first, then the passwd entry)."""
        return self.env.get("HOME") or self.current_user().home

    @property
    def sudo_user(self) -> Optional[str]:
        user = self.env.get("SUDO_USER")
        return user if user and user != "root" else None

    # -- environment facts -----------------------------------------------------------------
    def in_container(self) -> bool:
        if self.exists("/.dockerenv") or self.exists("/run/.containerenv"):
            return True
        cgroup = self.read_text("/proc/1/cgroup").text or ""
        return any(word in cgroup for word in ("docker", "kubepods", "containerd", "ecs"))

    def ec2_instance_id(self) -> Optional[str]:
        """The instance id, when the DMI asset tag carries it (Nitro instances); no network."""
        tag = (self.read_text("/sys/devices/virtual/dmi/id/board_asset_tag", limit=256).text or "").strip()
        return tag if tag.startswith("i-") else None

    def on_ec2(self) -> bool:
        """EC2 by its DMI strings; cheap, no network (IMDS is aws.imds's business)."""
        for path, marker in (
            ("/sys/devices/virtual/dmi/id/board_asset_tag", "i-"),
            ("/sys/devices/virtual/dmi/id/sys_vendor", "Amazon EC2"),
            ("/sys/hypervisor/uuid", "ec2"),
        ):
            text = (self.read_text(path, limit=256).text or "").strip()
            if text.startswith(marker):
                return True
        return False

    def summary(self) -> HostSummary:
        return HostSummary(
            platform=f"{platform.system()}-{platform.machine()}",
            python=platform.python_version(),
            user=self.current_user().name + (f" (sudo from {self.sudo_user})" if self.sudo_user else ""),
            in_container=self.in_container(),
            on_ec2=self.on_ec2(),
        )

    # -- commands ----------------------------------------------------------------------------
    def run(self, argv: Sequence[str], timeout: float, input: Optional[str] = None,
            env: Optional[Mapping[str, str]] = None, redact: bool = True) -> CommandResult:
        """Run a program (never a shell) with a timeout; its output is redacted unless asked not to."""
        if not argv or timeout <= 0:
            raise ValueError("run() needs a program and a positive timeout")
        started = time.monotonic()
        clean = self.redactor.text if redact else (lambda s: s)
        try:
            proc = subprocess.run(
                list(argv), input=input, capture_output=True, text=True, timeout=timeout,
                env=dict(self.env if env is None else env), shell=False, check=False,
            )
        except FileNotFoundError:
            return CommandResult(tuple(argv), None, "", "", time.monotonic() - started, not_found=True)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            return CommandResult(tuple(argv), None, clean(out), clean(err), time.monotonic() - started,
                                 timed_out=True)
        return CommandResult(tuple(argv), proc.returncode, clean(proc.stdout), clean(proc.stderr),
                             time.monotonic() - started)


