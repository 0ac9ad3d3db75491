"""A TOML reader for what containerd's config.toml, hosts.toml and registries.conf use.

Tables, arrays of tables, dotted and quoted keys, strings of all four kinds, integers, floats, booleans,
arrays, inline tables. Dates are outside it (`unsupported=True`). Python 3.11's tomllib is not used so that
3.9 behaves the same; the tests compare both readers on the same documents.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Sequence, Tuple

from ecrdoctor.nodeconfig import NodeConfigError

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\", "e": "\x1b"}
_TOML_NUMBER = re.compile(
    r"[+-]?(?:inf|nan)|0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*|0o[0-7](?:_?[0-7])*|0b[01](?:_?[01])*"
    r"|[+-]?(?:0|[1-9](?:_?[0-9])*)(?:\.[0-9](?:_?[0-9])*)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?")


class _Toml:
    def __init__(self, text: str) -> None:
        self.s = text.replace("\r\n", "\n")
        self.i = 0
        self.root: Dict[str, Any] = {}
        self.defined: set[Tuple[str, ...]] = set()  # tables defined by a header or inline

    def error(self, message: str, unsupported: bool = False) -> NodeConfigError:
        return NodeConfigError(message, self.s.count("\n", 0, self.i) + 1, unsupported)

    def skip_ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def skip_comment(self) -> None:
        self.skip_ws()
        if self.i < len(self.s) and self.s[self.i] == "#":
            end = self.s.find("\n", self.i)
            self.i = len(self.s) if end < 0 else end

    def end_of_line(self) -> None:
        self.skip_comment()
        if self.i < len(self.s):
            if self.s[self.i] != "\n":
                raise self.error(f"unexpected {self.s[self.i]!r} after a value")
            self.i += 1

    def parse(self) -> Dict[str, Any]:
        current = self.root
        while self.i < len(self.s):
            self.skip_comment()
            if self.i >= len(self.s):
                break
            ch = self.s[self.i]
            if ch == "\n":
                self.i += 1
            elif ch == "[":
                current = self.header()
            else:
                self.key_value(current)
                self.end_of_line()
        return self.root

    def key(self) -> List[str]:
        parts: List[str] = []
        while True:
            self.skip_ws()
            ch = self.s[self.i:self.i + 1]
            if ch == '"':
                parts.append(self.basic_string())
            elif ch == "'":
                parts.append(self.literal_string())
            else:
                m = _BARE_KEY.match(self.s, self.i)
                if not m:
                    raise self.error("expected a key")
                parts.append(m.group(0))
                self.i = m.end()
            self.skip_ws()
            if self.s[self.i:self.i + 1] != ".":
                return parts
            self.i += 1

    def header(self) -> Dict[str, Any]:
        array = self.s.startswith("[[", self.i)
        self.i += 2 if array else 1
        path = self.key()
        close = "]]" if array else "]"
        if not self.s.startswith(close, self.i):
            raise self.error(f"a table header must end with {close}")
        self.i += len(close)
        self.end_of_line()
        parent = self.walk(path[:-1])
        last = path[-1]
        if array:
            items = parent.setdefault(last, [])
            if not isinstance(items, list):
                raise self.error(f"'{'.'.join(path)}' is already a table, not an array of tables")
            table: Dict[str, Any] = {}
            items.append(table)
            return table
        if tuple(path) in self.defined:
            raise self.error(f"the table [{'.'.join(path)}] is defined twice")
        self.defined.add(tuple(path))
        existing = parent.setdefault(last, {})
        if not isinstance(existing, dict):
            raise self.error(f"'{'.'.join(path)}' is already a value")
        return existing

    def walk(self, path: Sequence[str]) -> Dict[str, Any]:
        table = self.root
        for part in path:
            nxt = table.setdefault(part, {})
            if isinstance(nxt, list):
                nxt = nxt[-1] if nxt and isinstance(nxt[-1], dict) else None
            if not isinstance(nxt, dict):
                raise self.error(f"'{part}' is a value, not a table")
            table = nxt
        return table

    def key_value(self, table: Dict[str, Any]) -> None:
        path = self.key()
        if self.s[self.i:self.i + 1] != "=":
            raise self.error("expected '=' after a key")
        self.i += 1
        self.skip_ws()
        value = self.value()
        target = table
        for part in path[:-1]:
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise self.error(f"'{part}' is a value, not a table")
            target = nxt
        if path[-1] in target:
            raise self.error(f"the key '{'.'.join(path)}' is defined twice")
        target[path[-1]] = value

    def value(self) -> Any:
        s, i = self.s, self.i
        ch = s[i:i + 1]
        if s.startswith('"""', i):
            return self.multiline(basic=True)
        if s.startswith("'''", i):
            return self.multiline(basic=False)
        if ch == '"':
            return self.basic_string()
        if ch == "'":
            return self.literal_string()
        if ch == "[":
            return self.array()
        if ch == "{":
            return self.inline_table()
        for word, val in (("true", True), ("false", False)):
            if s.startswith(word, i) and not _BARE_KEY.match(s, i + len(word)):
                self.i += len(word)
                return val
        if re.match(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}", s[i:]):
            raise self.error("TOML dates and times are not read", unsupported=True)
        m = _TOML_NUMBER.match(s, i)
        if not m or not m.group(0) or s[m.end():m.end() + 1] not in ("", " ", "\t", "\n", ",", "]", "}", "#"):
            raise self.error("expected a value")
        self.i = m.end()
        text = m.group(0).replace("_", "")
        if text.lstrip("+-") in ("inf", "nan"):
            return float(text)
        if text[:2] in ("0x", "0o", "0b"):
            return int(text, 0)
        if any(c in text for c in ".eE"):
            return float(text)
        return int(text)

    def basic_string(self) -> str:
        self.i += 1
        out: List[str] = []
        while True:
            if self.i >= len(self.s) or self.s[self.i] == "\n":
                raise self.error("a string does not end on its line")
            ch = self.s[self.i]
            if ch == '"':
                self.i += 1
                return "".join(out)
            if ch == "\\":
                out.append(self.escape())
                continue
            out.append(ch)
            self.i += 1

    def escape(self) -> str:
        code = self.s[self.i + 1:self.i + 2]
        if code in _TOML_ESCAPES:
            self.i += 2
            return _TOML_ESCAPES[code]
        if code in ("u", "U"):
            n = 4 if code == "u" else 8
            digits = self.s[self.i + 2:self.i + 2 + n]
            if len(digits) != n or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                raise self.error("a bad \\u escape")
            self.i += 2 + n
            return chr(int(digits, 16))
        raise self.error(f"an unknown escape \\{code}")

    def literal_string(self) -> str:
        end = self.s.find("'", self.i + 1)
        nl = self.s.find("\n", self.i + 1)
        if end < 0 or 0 <= nl < end:
            raise self.error("a string does not end on its line")
        value = self.s[self.i + 1:end]
        self.i = end + 1
        return value

    def multiline(self, basic: bool) -> str:
        delim = '"""' if basic else "'''"
        self.i += 3
        if self.s.startswith("\n", self.i):
            self.i += 1
        out: List[str] = []
        while True:
            if self.i >= len(self.s):
                raise self.error("a multi-line string does not end")
            if self.s.startswith(delim, self.i):
                extra = 0
                while self.s.startswith(delim[0], self.i + 3 + extra) and extra < 2:
                    extra += 1
                out.append(delim[0] * extra)
                self.i += 3 + extra
                return "".join(out)
            ch = self.s[self.i]
            if basic and ch == "\\":
                rest = re.match(r"\\[ \t]*\n\s*", self.s[self.i:])
                if rest:
                    self.i += rest.end()
                    continue
                out.append(self.escape())
                continue
            out.append(ch)
            self.i += 1

    def skip_array_space(self) -> None:
        while True:
            self.skip_comment()
            if self.s[self.i:self.i + 1] == "\n":
                self.i += 1
            else:
                return

    def array(self) -> List[Any]:
        self.i += 1
        items: List[Any] = []
        while True:
            self.skip_array_space()
            if self.s[self.i:self.i + 1] == "]":
                self.i += 1
                return items
            if self.i >= len(self.s):
                raise self.error("an array does not end")
            items.append(self.value())
            self.skip_array_space()
            ch = self.s[self.i:self.i + 1]
            if ch == ",":
                self.i += 1
            elif ch != "]":
                raise self.error("expected ',' or ']' in an array")

    def inline_table(self) -> Dict[str, Any]:
        self.i += 1
        table: Dict[str, Any] = {}
        self.skip_ws()
        if self.s[self.i:self.i + 1] == "}":
            self.i += 1
            return table
        while True:
            self.key_value(table)
            self.skip_ws()
            ch = self.s[self.i:self.i + 1]
            self.i += 1
            if ch == "}":
                return table
            if ch != ",":
                raise self.error("expected ',' or '}' in an inline table")


def parse_toml(text: str) -> Dict[str, Any]:
    """Parse the TOML subset described in the module docstring; raises NodeConfigError."""
    return _Toml(text).parse()
