"""The `__main__` of dist/ecrdoctor.pyz: unpack the vendored tree once per build, then run ecrdoctor from it.

Why unpack instead of importing from the zip: botocore opens its service models as files next to its code
(botocore/data/...), certifi hands ssl a path to cacert.pem, and zipimport can neither serve those nor cache
bytecode. So, as shiv does, the tree under lib/ is extracted on the first run into
`$ECRDOCTOR_PYZ_CACHE` or `~/.cache/ecrdoctor` (`$XDG_CACHE_HOME/ecrdoctor`), in a directory named
`<version>-<content hash>`; when that is not writable (read-only or missing HOME), into a private directory
under the system temp dir. Concurrent first runs are safe: each extracts into its own temp directory beside the
target and renames it into place, and a finished tree carries a marker written before that rename.
Later runs only check the marker and import from the cache, with bytecode cached there by Python itself.

Stdlib only and Python 3.9 syntax (older Pythons must still parse it to print the version error): nothing
vendored is importable until this has run. scripts/build-pyz copies this file into the archive.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import sys
import tempfile
import zipfile

INFO = "ecrdoctor-pyz.json"  # written by scripts/build-pyz: version, content hash, vendored distributions
LIB = "lib/"  # the vendored tree inside the archive
MARKER = ".ecrdoctor-pyz-complete"  # the last file written into a tree before it is renamed into place


class CacheUnusable(OSError):
    """A cache location that cannot hold the tree (not writable, or not safely ours)."""


def archive_path() -> str:
    """The .pyz being run (zipimport's archive), whatever directory it was started from."""
    archive = getattr(globals().get("__loader__"), "archive", None)
    return str(archive) if archive else os.path.abspath(sys.path[0])


def cache_roots() -> list[tuple[str, bool]]:
    """Where a tree may live, best first, each with whether it must pass the private-directory test."""
    override = os.environ.get("ECRDOCTOR_PYZ_CACHE")
    if override:
        roots = [(os.path.abspath(override), False)]
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        roots = [(os.path.join(xdg, "ecrdoctor"), False)]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    roots.append((os.path.join(tempfile.gettempdir(), f"ecrdoctor-pyz-{uid}"), True))
    return roots


def prepare_root(root: str, private: bool) -> None:
    """Create the cache root; a shared temp location must be a real directory of ours that nobody else can
    write to, or another user could plant code that this process would import."""
    os.makedirs(root, mode=0o700, exist_ok=True)
    if not private:
        return
    st = os.lstat(root)
    mine = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    if not stat.S_ISDIR(st.st_mode) or not mine or st.st_mode & 0o022:
        raise CacheUnusable(errno.EPERM, "not a private directory of this user", root)


def is_complete(tree: str) -> bool:
    return os.path.isfile(os.path.join(tree, MARKER))


def extract(archive: zipfile.ZipFile, into: str) -> None:
    """Write every file under lib/ of the archive into `into`, then the marker."""
    for member in archive.infolist():
        if not member.filename.startswith(LIB) or member.is_dir():
            continue
        relative = member.filename[len(LIB):]
        if relative.startswith("/") or ".." in relative.split("/"):
            continue  # never outside the tree (our own archive has no such names)
        target = os.path.join(into, *relative.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with archive.open(member) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    with open(os.path.join(into, MARKER), "w") as marker:
        marker.write("complete\n")


def install(archive: zipfile.ZipFile, root: str, name: str) -> str:
    """The complete tree `root/name`, extracting it first when needed; atomic against concurrent runs."""
    final = os.path.join(root, name)
    for _ in range(3):
        if is_complete(final):
            return final
        staging = tempfile.mkdtemp(prefix=f".{name}.", dir=root)
        try:
            extract(archive, staging)
            try:
                os.rename(staging, final)  # atomic; fails when `final` exists (another run won, or a damaged tree)
                return final
            except OSError:
                if is_complete(final):
                    return final
                damaged = tempfile.mkdtemp(prefix=f".{name}.damaged.", dir=root)
                with contextlib.suppress(OSError):  # fails when another run moved it first
                    os.rename(final, os.path.join(damaged, "tree"))  # a tree without its marker: move it away
                shutil.rmtree(damaged, ignore_errors=True)
        finally:
            if os.path.isdir(staging):
                shutil.rmtree(staging, ignore_errors=True)
    if is_complete(final):
        return final
    raise CacheUnusable(errno.EEXIST, "could not put the unpacked tree in place", final)


def unpacked_tree(path: str) -> str:
    """The directory holding this build's vendored tree, unpacked into the first usable cache root."""
    with zipfile.ZipFile(path) as archive:
        info = json.loads(archive.read(INFO))
        name = f"{info['version']}-{info['hash'][:16]}"
        problems: list[str] = []
        for root, private in cache_roots():
            tree = os.path.join(root, name)
            if is_complete(tree) and not private:
                return tree
            try:
                prepare_root(root, private)
                return install(archive, root, name)
            except OSError as exc:
                problems.append(f"{root}: {exc.strerror or exc}")
    raise SystemExit("ecrdoctor.pyz: cannot unpack its libraries into a cache directory ("
                     + "; ".join(problems) + "); set ECRDOCTOR_PYZ_CACHE to a writable directory")


def run() -> None:
    if sys.version_info < (3, 9):  # noqa: UP036 - an older python3 on PATH gets a message, not a traceback
        raise SystemExit(f"ecrdoctor needs Python 3.9 or newer; this is {sys.version.split()[0]}")
    path = os.path.abspath(archive_path())
    tree = unpacked_tree(path)
    # The archive itself holds nothing importable but this file: put the unpacked tree in its place, ahead of
    # any site-packages, so the vendored versions (and ecrdoctor's entry points in its dist-info) win.
    sys.path[:] = [tree] + [p for p in sys.path if os.path.abspath(p or ".") != path]
    from ecrdoctor.cli import main

    main()


if __name__ == "__main__":
    run()
