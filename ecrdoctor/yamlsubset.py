"""A strict YAML subset reader (no runtime dependency), for kubelet's CredentialProviderConfig.

Block mappings, block sequences, sequences of mappings, one-line flow sequences, plain/single/double-quoted
scalars, comments, one document. JSON is read as JSON. Anything outside the subset (anchors, tags, block
scalars, multi-line flow) raises NodeConfigError with `unsupported=True`, which means "ecrdoctor cannot
tell", never "the file is wrong".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ecrdoctor.nodeconfig import NodeConfigError


@dataclass
class _Line:
    number: int
    indent: int
    text: str


_YAML_BOOL = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False}
_YAML_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|0o[0-7_]+")
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")


def _strip_comment(text: str, number: int) -> str:
    """Drop a `#` comment that is at the start or preceded by whitespace, outside quotes."""
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                if quote == "'" and text[i + 1:i + 2] == "'":
                    i += 2
                    continue
                quote = ""
        elif ch in "\"'" and (i == 0 or text[i - 1] in " \t[,:{-"):
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
        i += 1
    if quote:
        raise NodeConfigError("a quoted string does not end on its line (multi-line strings are not read)",
                              number, unsupported=True)
    return text.rstrip()


def _yaml_lines(text: str) -> List[_Line]:
    out: List[_Line] = []
    started = False
    for number, raw in enumerate(text.splitlines(), start=1):
        body = raw.lstrip(" ")
        if body.startswith("\t") and body.strip():
            raise NodeConfigError("a tab is used for indentation; YAML allows only spaces", number)
        content = _strip_comment(body, number)
        if not content:
            continue
        if content.startswith("%"):
            raise NodeConfigError("YAML directives are not read", number, unsupported=True)
        if content in ("---", "...") or content.startswith("--- "):
            if content == "---" and not started and not out:
                started = True
                continue
            if content == "...":
                break
            raise NodeConfigError("more than one YAML document in the file", number, unsupported=True)
        out.append(_Line(number, len(raw) - len(body), content))
    return out


def _yaml_scalar(text: str, number: int) -> Any:
    """A one-line scalar, resolved to the JSON type sigs.k8s.io/yaml (YAML 1.1 rules) gives it."""
    s = text.strip()
    if not s:
        return None
    if s[0] == '"':
        end = _quoted_end(s, 0, number)
        if s[end + 1:].strip():
            raise NodeConfigError(f"text after a quoted string: {s[end + 1:].strip()!r}", number)
        try:
            return json.loads(s[:end + 1])
        except ValueError:
            raise NodeConfigError("an escape sequence in a double-quoted string is not read", number,
                                  unsupported=True) from None
    if s[0] == "'":
        end = _quoted_end(s, 0, number)
        if s[end + 1:].strip():
            raise NodeConfigError(f"text after a quoted string: {s[end + 1:].strip()!r}", number)
        return s[1:end].replace("''", "'")
    if s[0] == "*":
        raise NodeConfigError(f"{s!r} is read as a YAML alias (a value starting with '*' must be quoted, "
                              f"e.g. \"{s}\"), and no such anchor exists", number)
    if s[0] == "&":
        raise NodeConfigError("YAML anchors are not read", number, unsupported=True)
    if s[0] == "!":
        raise NodeConfigError("YAML tags are not read", number, unsupported=True)
    if s[0] in "|>":
        raise NodeConfigError("YAML block scalars (| and >) are not read", number, unsupported=True)
    if s[0] == "[":
        return _yaml_flow_sequence(s, number)
    if s[0] == "{":
        if s.replace(" ", "") == "{}":
            return {}
        raise NodeConfigError("YAML flow mappings ({...}) are not read", number, unsupported=True)
    if s[0] in "@`":
        raise NodeConfigError(f"a plain value cannot start with {s[0]!r}", number)
    if ": " in s or s.endswith(":"):
        raise NodeConfigError("mapping values are not allowed here (quote the value if ':' is part of it)", number)
    low = s.lower()
    if low in ("null", "~"):
        return None
    if low in _YAML_BOOL and s in (low, low.capitalize(), low.upper()):
        return _YAML_BOOL[low]
    if _YAML_INT.fullmatch(s):
        return int(s.replace("_", ""), 0)
    if _YAML_FLOAT.fullmatch(s) and any(c.isdigit() for c in s):
        return float(s.replace("_", ""))
    if low in (".inf", "+.inf", "-.inf", ".nan"):
        return float(low.replace(".", ""))
    return s


def _quoted_end(s: str, start: int, number: int) -> int:
    quote, i = s[start], start + 1
    while i < len(s):
        if s[i] == "\\" and quote == '"':
            i += 2
            continue
        if s[i] == quote:
            if quote == "'" and s[i + 1:i + 2] == "'":
                i += 2
                continue
            return i
        i += 1
    raise NodeConfigError("a quoted string does not end on its line", number, unsupported=True)


def _yaml_flow_sequence(s: str, number: int) -> List[Any]:
    if not s.endswith("]"):
        raise NodeConfigError("a flow sequence ([...]) that spans lines is not read", number, unsupported=True)
    inner, items, i, start = s[1:-1], [], 0, 0
    while i < len(inner):
        ch = inner[i]
        if ch in "\"'":
            i = _quoted_end(inner, i, number)
        elif ch in "[{":
            raise NodeConfigError("nested flow collections are not read", number, unsupported=True)
        elif ch == ",":
            items.append(inner[start:i])
            start = i + 1
        i += 1
    items.append(inner[start:])
    if items and not items[-1].strip():
        items.pop()  # a trailing comma
    return [_yaml_scalar(item, number) for item in items]


def _split_key(text: str, number: int) -> Optional[Tuple[str, str]]:
    """`key: value` → (key, value); None when the line is not a mapping entry."""
    if text[0] in "\"'":
        end = _quoted_end(text, 0, number)
        rest = text[end + 1:]
        if rest.startswith(":") and (len(rest) == 1 or rest[1] == " "):
            return str(_yaml_scalar(text[:end + 1], number)), rest[1:].strip()
        return None
    if text[0] == "?" and text[1:2] in ("", " "):
        raise NodeConfigError("complex mapping keys (?) are not read", number, unsupported=True)
    if text == "-" or text.startswith("- ") or text[0] in "[{*&!|>%@`,]}#":
        return None
    m = re.search(r":(?: |$)", text)
    if m is None or not text[:m.start()].strip():
        return None
    return text[:m.start()].rstrip(), text[m.end():].strip()


def _continuation(line: _Line) -> None:
    """A more-indented line after a value: a syntax error when it holds a mapping, else a folded plain value."""
    if _split_key(line.text, line.number) is not None:
        raise NodeConfigError("mapping values are not allowed here (check the indentation above this line)",
                              line.number)
    raise NodeConfigError("a value that continues on the next line is not read", line.number, unsupported=True)


class _YamlReader:
    def __init__(self, lines: List[_Line]) -> None:
        self.lines = lines
        self.pos = 0

    def block(self, indent: int) -> Any:
        line = self.lines[self.pos]
        if line.text == "-" or line.text.startswith("- "):
            return self.sequence(line.indent)
        if _split_key(line.text, line.number) is not None:
            return self.mapping(line.indent)
        self.pos += 1
        if self.pos < len(self.lines) and self.lines[self.pos].indent > line.indent:
            _continuation(self.lines[self.pos])
        return _yaml_scalar(line.text, line.number)

    def value_after(self, rest: str, indent: int, number: int, in_mapping: bool) -> Any:
        if rest:
            value = _yaml_scalar(rest, number)
            if self.pos < len(self.lines) and self.lines[self.pos].indent > indent:
                _continuation(self.lines[self.pos])
            return value
        if self.pos >= len(self.lines):
            return None
        nxt = self.lines[self.pos]
        if nxt.indent > indent:
            return self.block(nxt.indent)
        if in_mapping and nxt.indent == indent and (nxt.text == "-" or nxt.text.startswith("- ")):
            return self.sequence(indent)  # a sequence may sit at its key's own indentation
        return None

    def mapping(self, indent: int) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.indent < indent:
                break
            if line.indent > indent:
                raise NodeConfigError("unexpected indentation", line.number)
            split = _split_key(line.text, line.number)
            if split is None:
                if line.text == "-" or line.text.startswith("- "):
                    break
                raise NodeConfigError(f"expected 'key: value', found {line.text!r}", line.number)
            key, rest = split
            if key in out:
                raise NodeConfigError(f"the key '{key}' appears twice", line.number)
            self.pos += 1
            out[key] = self.value_after(rest, indent, line.number, True)
        return out

    def sequence(self, indent: int) -> List[Any]:
        out: List[Any] = []
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.indent < indent or not (line.text == "-" or line.text.startswith("- ")):
                if line.indent > indent:
                    raise NodeConfigError("unexpected indentation", line.number)
                break
            if line.indent > indent:
                raise NodeConfigError("unexpected indentation", line.number)
            rest = line.text[1:].lstrip(" ")
            if not rest:
                self.pos += 1
                out.append(self.value_after("", indent, line.number, False))
                continue
            # `- key: value` opens a mapping whose keys sit at the column after "- "
            column = line.indent + len(line.text) - len(rest)
            self.lines[self.pos] = _Line(line.number, column, rest)
            if rest == "-" or rest.startswith("- ") or _split_key(rest, line.number) is not None:
                out.append(self.block(column))
            else:
                self.pos += 1
                out.append(self.value_after(rest, column, line.number, False))
        return out


def _no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise NodeConfigError(f"the key '{k}' appears twice")
        out[k] = v
    return out


def parse_yaml_or_json(text: str) -> Any:
    """A document as kubelet's decoder reads it: JSON when it starts with '{' or '[', else the YAML subset."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped, object_pairs_hook=_no_duplicates)
        except NodeConfigError:
            raise
        except ValueError as exc:
            raise NodeConfigError(f"not valid JSON: {exc}") from None
    lines = _yaml_lines(text)
    if not lines:
        return None
    reader = _YamlReader(lines)
    value = reader.block(lines[0].indent)
    if reader.pos < len(lines):
        line = lines[reader.pos]
        raise NodeConfigError(f"unexpected {line.text!r} (check the indentation)", line.number)
    return value
