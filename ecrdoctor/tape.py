"""Record and replay of everything checks learn from the outside world: the heart of bundles.

Every question a check asks through the context seam (a file, a command, an AWS call, a network probe) is a
*call*: a kind (`host.read_text`, `aws.ecr.DescribeImages`, `net.tls`, ...) and a key (its arguments, redacted,
without timeouts). A `Tape` in record mode runs the call, stores its answer redacted for a bundle, and hands
the live answer back; in replay mode it answers from the stored entries, and a call it has no entry for
raises `NotInBundle`, which the runner reports as that check's `skip`.

Answers are JSON: dataclasses carry a `__type__` tag and are rebuilt by name; a field a newer version added
takes its default, a field it dropped is ignored, so bundles of schema 1 keep replaying.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import threading
import time
from typing import Any, Callable, Iterable, Optional, TypeVar

from ecrdoctor.redact import Redactor

T = TypeVar("T")

TAPE_VERSION = 1


class NotInBundle(BaseException):
    """Replay met a call the bundle does not hold. A BaseException, so no check's `except Exception` hides it."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"not in bundle: {kind} {key}"[:300])
        self.kind = kind
        self.key = key


_TYPES: dict[str, type] = {}


def tape_type(cls: type[T]) -> type[T]:
    """Register a dataclass that travels on tapes (by class name: keep names stable within schema 1)."""
    _TYPES[cls.__name__] = cls
    return cls


def encode(value: Any) -> Any:
    """A JSON-ready form of an answer: dataclasses tagged, bytes and datetimes marked, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"__type__": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = encode(getattr(value, f.name))
        return out
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, datetime.datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [encode(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__bytes__" in value:
        return base64.b64decode(value["__bytes__"])
    if "__datetime__" in value:
        return datetime.datetime.fromisoformat(value["__datetime__"])
    name = value.get("__type__")
    if name is None:
        return {k: decode(v) for k, v in value.items()}
    cls = _TYPES.get(str(name))
    if cls is None:
        raise ValueError(f"unknown answer type {name!r} in the bundle")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in value:
            continue
        item = decode(value[f.name])
        if isinstance(item, list) and str(f.type).lower().startswith("tuple"):
            item = tuple(tuple(x) if isinstance(x, list) else x for x in item)
        kwargs[f.name] = item
    return cls(**kwargs)


def make_key(args: Any, redactor: Redactor) -> str:
    """The stable, redacted text of a call's arguments."""
    return json.dumps(redactor.value(encode(args)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Tape:
    """The calls of one run, in record or replay mode. Thread-safe: checks run concurrently."""

    def __init__(self, mode: str, redactor: Optional[Redactor] = None,
                 entries: Iterable[dict[str, Any]] = (), recorded_at: Optional[float] = None) -> None:
        if mode not in ("record", "replay"):
            raise ValueError(mode)
        self.mode = mode
        self.redactor = redactor or Redactor()
        self.entries: list[dict[str, Any]] = []
        self._index: dict[tuple[str, str], list[Any]] = {}
        self._served: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.recorded_at = time.time() if recorded_at is None else recorded_at
        for entry in entries:
            self._add(entry)

    @property
    def replaying(self) -> bool:
        return self.mode == "replay"

    def _add(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        self._index.setdefault((entry["kind"], entry["key"]), []).append(entry)

    def now(self) -> float:
        """The moment the recording began (the run's "now" when recording and when replaying alike)."""
        return self.recorded_at

    def call(self, kind: str, args: Any, compute: Callable[[], T]) -> T:
        key = make_key(args, self.redactor)
        if self.replaying:
            return self._answer(kind, key)  # type: ignore[no-any-return]
        value = compute()
        self.store(kind, key, value)
        return value

    def store(self, kind: str, key: str, value: Any, error: Optional[dict[str, Any]] = None) -> None:
        """Keep an answer (in memory, as it was: redaction happens in `export`, once every secret the run
        met is known — the helper's Secret, for one, is learnt after the first answers were stored)."""
        entry: dict[str, Any] = {"kind": kind, "key": key, "value": encode(value)}
        if error is not None:
            entry["error"] = encode(error)
        with self._lock:
            self._add(entry)

    def export(self) -> list[dict[str, Any]]:
        """The entries as a bundle holds them: every key and value redacted for a bundle."""
        with self._lock:
            entries = list(self.entries)
        out = []
        for entry in entries:
            clean = {"kind": entry["kind"], "key": self.redactor.text(entry["key"]),
                     "value": bundle_value(entry["value"], self.redactor)}
            if "error" in entry:
                clean["error"] = bundle_value(entry["error"], self.redactor)
            out.append(clean)
        return out

    def lookup(self, kind: str, args: Any) -> dict[str, Any]:
        """The next stored entry for a call (the last one again once all were served); NotInBundle if none."""
        return self._entry(kind, make_key(args, self.redactor))

    def _entry(self, kind: str, key: str) -> dict[str, Any]:
        with self._lock:
            found = self._index.get((kind, key))
            if not found:
                raise NotInBundle(kind, key)
            n = self._served.get((kind, key), 0)
            self._served[(kind, key)] = n + 1
            entry: dict[str, Any] = found[min(n, len(found) - 1)]
            return entry

    def _answer(self, kind: str, key: str) -> Any:
        return decode(self._entry(kind, key)["value"])


# -- what a bundle may hold ---------------------------------------------------------------------------------

_SECRET_KEYS = frozenset(k.lower() for k in (
    "aws_secret_access_key", "aws_session_token", "aws_security_token", "SecretAccessKey", "SessionToken",
    "secret_access_key", "session_token", "password", "identitytoken", "registrytoken", "Secret", "token",
    "Authorization", "x-aws-ec2-metadata-token", "x-amz-security-token", "proxy-authorization",
    "authorizationToken",
))


def bundle_value(value: Any, redactor: Redactor) -> Any:
    """Redact a JSON-like value for a bundle: values under secret keys masked (ECR tokens are rewritten so
    only their expiry survives), every string redacted by shape and by the run's registered secrets."""
    if isinstance(value, str):
        return redactor.bundle_text(value)
    if isinstance(value, list):
        return [bundle_value(v, redactor) for v in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(v, str) and k.lower() in _SECRET_KEYS and v:
                out[k] = redactor.bundle_secret(v)
            else:
                out[k] = bundle_value(v, redactor)
        return out
    return value
