"""The host as checks see it: environment, files under --root, users, container and EC2 detection."""

from __future__ import annotations

import datetime
import functools
import inspect
import os
import platform
import pwd
import shutil
import socket
import stat
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple, TypeVar

from ecrdoctor.daemon import DiskUsage, SocketInfo, inspect_socket, measure_disk
from ecrdoctor.ecrlogin import LogReadError, LogTail, read_head, read_tail
from ecrdoctor.model import HostSummary
from ecrdoctor.redact import Redactor
from ecrdoctor.tape import NotInBundle, Tape, tape_type

MAX_READ_BYTES = 4 * 1024 * 1024
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def recorded(*ignore: str, once: bool = False) -> Callable[[F], F]:
    """Mark a Host method as a primitive: with a tape, its answer is recorded or replayed, keyed by its
    arguments (except `ignore`d ones such as timeouts). `once`: a fact that cannot change during a run (who
    this process is, the CPU, where a program is on PATH), asked of the host once per argument list."""

    def wrap(fn: F) -> F:
        sig = inspect.signature(fn)
        kind = f"host.{fn.__name__}"

        @functools.wraps(fn)
        def inner(self: Host, *args: Any, **kwargs: Any) -> Any:
            if self.tape is None and not once:
                return fn(self, *args, **kwargs)
            bound = sig.bind(self, *args, **kwargs)
            bound.apply_defaults()
            key = {k: v for k, v in list(bound.arguments.items())[1:] if k not in ignore}
            if self.tape is None:
                return self.once((kind, repr(key)), lambda: fn(self, *args, **kwargs))
            tape = self.tape

            def answer() -> Any:
                return tape.call(kind, key, lambda: fn(self, *args, **kwargs))

            return self.once((kind, repr(key)), answer) if once else answer()

        return inner  # type: ignore[return-value]

    return wrap


@tape_type
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


@tape_type
@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: Optional[int]  # None: not started or timed out
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    not_found: bool = False


@tape_type
@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: int
    home: Optional[str]


@tape_type
@dataclass(frozen=True)
class FileStat:
    """lstat-free facts about a path as this process sees it (following symlinks)."""

    path: str
    exists: bool
    kind: str = ""  # file | dir | socket | other
    size: int = 0
    mtime: float = 0.0
    mode: int = 0  # permission bits
    uid: int = -1
    gid: int = -1
    executable: bool = False  # os.access(X_OK) for this process
    error: Optional[str] = None  # "permission denied", ...

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"


@tape_type
@dataclass(frozen=True)
class DirList:
    """The entries of a directory, sorted: (name, kind) pairs; or why it could not be listed."""

    path: str
    entries: Tuple[Tuple[str, str], ...] = ()
    error: Optional[str] = None
    missing: bool = False

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.entries]


@tape_type
@dataclass(frozen=True)
class TailRead:
    """The tail of a log (see ecrlogin.read_tail), or why it could not be read."""

    path: str
    tail: Optional[LogTail] = None
    error: Optional[str] = None
    missing: bool = False


@tape_type
@dataclass(frozen=True)
class HeadRead:
    path: str
    data: Optional[bytes] = None
    error: Optional[str] = None
    missing: bool = False


@tape_type
@dataclass(frozen=True)
class DiskRead:
    path: str
    usage: Optional[DiskUsage] = None
    error: Optional[str] = None


@tape_type
@dataclass(frozen=True)
class PlatformInfo:
    system: str  # Linux
    machine: str  # x86_64, aarch64
    python: str


@tape_type
@dataclass(frozen=True)
class EngineAnswer:
    """The docker daemon's /version and /info, or the error the SDK raised (redacted text)."""

    version: Optional[Mapping[str, Any]] = None
    info: Optional[Mapping[str, Any]] = None
    error: Optional[str] = None


tape_type(LogTail)
tape_type(DiskUsage)
tape_type(SocketInfo)


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "other"


def _os_error(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or type(exc).__name__


class Host:
    """Everything ecrdoctor learns about the machine goes through here (and so can be recorded)."""

    def __init__(self, env: Optional[Mapping[str, str]] = None, root: Optional[str] = None,
                 redactor: Optional[Redactor] = None, tape: Optional[Tape] = None) -> None:
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        # replaying, --root is only the recorded host's mount point: shown, never read
        self.root = (Path(root) if tape is not None and tape.replaying else Path(root).resolve()) if root else None
        self.redactor = redactor or Redactor()
        self.tape = tape
        self._now = tape.now() if tape is not None else time.time()
        self._known: dict[Any, Any] = {}
        self._known_lock = threading.Lock()

    def once(self, key: Any, compute: Callable[[], T]) -> T:
        """A host fact computed at most once per run (a race computes it twice, harmlessly; no lock is held
        while computing, so a slow fact never blocks another)."""
        with self._known_lock:
            if key in self._known:
                return self._known[key]  # type: ignore[no-any-return]
        value = compute()
        with self._known_lock:
            return self._known.setdefault(key, value)  # type: ignore[no-any-return]

    # -- time --------------------------------------------------------------------------------------
    def now(self) -> datetime.datetime:
        """The run's "now" in UTC: one moment for every check (when the run began), so that two checks never
        disagree about whether a token has expired; when replaying, the moment the recording began. Checks
        that measure durations use the monotonic clock instead."""
        return datetime.datetime.fromtimestamp(self._now, tz=datetime.timezone.utc)

    # -- files -----------------------------------------------------------------------------
    def path(self, path: str) -> Path:
        """Where a host path lives on this machine: under --root when one is given.

        Only for Host's own primitives and for text shown to the user: a check that did its own I/O on this
        path would escape recording, and would see nothing when replaying a bundle."""
        p = Path(path)
        if self.root is None:
            return p
        return self.root / str(p).lstrip("/")

    @recorded()
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

    @recorded()
    def exists(self, path: str) -> bool:
        return self.path(path).exists()

    @recorded()
    def stat(self, path: str) -> FileStat:
        real = self.path(path)
        try:
            st = os.stat(real)
        except FileNotFoundError:
            return FileStat(path, exists=False)
        except OSError as exc:
            return FileStat(path, exists=False, error=_os_error(exc))
        return FileStat(path, True, _kind(st.st_mode), st.st_size, st.st_mtime, stat.S_IMODE(st.st_mode),
                        st.st_uid, st.st_gid, os.access(real, os.X_OK))

    @recorded()
    def listdir(self, path: str) -> DirList:
        real = self.path(path)
        try:
            with os.scandir(real) as it:
                entries = []
                for entry in it:
                    try:
                        kind = _kind(entry.stat().st_mode)
                    except OSError:
                        kind = "other"
                    entries.append((entry.name, kind))
        except FileNotFoundError:
            return DirList(path, error="does not exist", missing=True)
        except OSError as exc:
            return DirList(path, error=_os_error(exc))
        return DirList(path, tuple(sorted(entries)))

    @recorded()
    def read_tail(self, path: str, max_bytes: int, start: int = 0, end: Optional[int] = None) -> TailRead:
        """The end of a (log) file, read with a seek: see ecrlogin.read_tail."""
        try:
            tail = read_tail(self.path(path), max_bytes, start=start, end=end)
        except LogReadError as exc:
            return TailRead(path, error=exc.reason, missing=exc.missing)
        return TailRead(path, LogTail(path, tail.text, tail.start, tail.end, tail.truncated))

    @recorded()
    def read_head(self, path: str, count: int = 20) -> HeadRead:
        """The first bytes of a file (an executable's header)."""
        try:
            return HeadRead(path, read_head(self.path(path), count))
        except LogReadError as exc:
            return HeadRead(path, error=exc.reason, missing=exc.missing)

    @recorded()
    def disk_usage(self, path: str) -> DiskRead:
        """statvfs of the file system holding `path`, as `df` reports it."""
        try:
            usage = measure_disk(self.path(path))
        except OSError as exc:
            return DiskRead(path, error=exc.strerror or type(exc).__name__)
        return DiskRead(path, DiskUsage(path, usage.total_bytes, usage.free_bytes, usage.total_inodes,
                                        usage.free_inodes))

    @recorded()
    def socket_info(self, path: str) -> Optional[SocketInfo]:
        """Owner, group and mode of a unix socket, and this process's uid and groups (None: cannot stat)."""
        return inspect_socket(Path(path))

    @recorded(once=True)
    def platform(self) -> PlatformInfo:
        return PlatformInfo(platform.system(), platform.machine(), platform.python_version())

    @recorded("timeout")
    def docker_engine(self, timeout: float) -> EngineAnswer:
        """Ask the daemon docker would use (DOCKER_* from this host's env) for /version and /info."""
        try:
            with warnings.catch_warnings():  # urllib3 1.26 (Python 3.9) warns about PySocks on import: not ours
                warnings.simplefilter("ignore")
                import docker

            env = {k: v for k, v in self.env.items() if k.startswith("DOCKER_")}
            client = docker.from_env(environment=env, timeout=int(max(1, timeout)))
            try:
                return EngineAnswer(dict(client.version()), dict(client.info()))
            finally:
                client.close()
        except Exception as exc:  # docker.errors.DockerException and the requests errors it wraps
            return EngineAnswer(error=self.redactor.text(str(exc)))

    @recorded(once=True)
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
    @recorded(once=True)
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
        return self._passwd_home(name) if self.root is None else None

    @recorded(once=True)
    def _passwd_home(self, name: str) -> Optional[str]:
        try:
            return pwd.getpwnam(name).pw_dir
        except KeyError:
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
        return self.once("in_container", self._in_container)

    def _in_container(self) -> bool:
        if self.exists("/.dockerenv") or self.exists("/run/.containerenv"):
            return True
        cgroup = self.read_text("/proc/1/cgroup").text or ""
        return any(word in cgroup for word in ("docker", "kubepods", "containerd", "ecs"))

    def ec2_instance_id(self) -> Optional[str]:
        """The instance id, when the DMI asset tag carries it (Nitro instances); no network."""
        return self.once("ec2_instance_id", self._ec2_instance_id)

    def _ec2_instance_id(self) -> Optional[str]:
        tag = (self.read_text("/sys/devices/virtual/dmi/id/board_asset_tag", limit=256).text or "").strip()
        return tag if tag.startswith("i-") else None

    def on_ec2(self) -> bool:
        """EC2 by its DMI strings; cheap, no network (IMDS is aws.imds's business)."""
        return self.once("on_ec2", self._on_ec2)

    def _on_ec2(self) -> bool:
        for path, marker in (
            ("/sys/devices/virtual/dmi/id/board_asset_tag", "i-"),
            ("/sys/devices/virtual/dmi/id/sys_vendor", "Amazon EC2"),
            ("/sys/hypervisor/uuid", "ec2"),
        ):
            text = (self.read_text(path, limit=256).text or "").strip()
            if text.startswith(marker):
                return True
        return False

    @recorded(once=True)
    def hostname(self) -> Optional[str]:
        """This machine's name (a mounted disk's is in its /etc/hostname)."""
        if self.root is not None:
            return (self.read_text("/etc/hostname", limit=256).text or "").strip() or None
        return socket.gethostname() or None

    def summary(self) -> HostSummary:
        info = self.platform()
        try:
            name = self.hostname()
        except NotInBundle:  # a bundle from before reports named their host
            name = None
        return HostSummary(
            hostname=name,
            instance_id=self.ec2_instance_id(),
            platform=f"{info.system}-{info.machine}",
            python=info.python,
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
        if self.tape is None:
            return self._run(argv, timeout, input, env, redact)
        root = str(self.root) if self.root else None
        shown = [a[len(root):] if root and a.startswith(root + "/") else a for a in argv]  # as the host sees it
        return self.tape.call("host.run", {"argv": shown, "input": input},
                              lambda: self._run(argv, timeout, input, env, redact))

    def _run(self, argv: Sequence[str], timeout: float, input: Optional[str],
             env: Optional[Mapping[str, str]], redact: bool) -> CommandResult:
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


