"""Executing alert templates: a small, sandboxed interpreter of Go's ``text/template``.

It runs the subset Prometheus alert templates use -- ``{{ $value }}``,
``{{ $labels.x }}``, ``.Value``/``.Labels.x``, pipelines, parentheses,
``if``/``else if``/``with``/``range``/``end``, variables, ``{{-``/``-}}``
trimming and the functions of ``edgewatch.alerting.tmplfuncs`` -- and nothing
else: no Python is evaluated, templates cannot define or include templates,
cannot query, and the work and the output are bounded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from edgewatch.alerting.gofmt import FormatError, sprint_value, type_name
from edgewatch.alerting.tmplfuncs import Func, functions, truth

MAX_OUTPUT = 64 * 1024
MAX_STEPS = 100_000
MAX_DEPTH = 50


class TemplateError(ValueError):
    """A template that does not parse or fails to execute; the message says where and why."""


class Token(NamedTuple):
    kind: str  # str num bool nil var field ident decl assign pipe lparen rparen comma
    text: str
    glued: bool  # no space before it (a field chained to the term before)


_TOKEN_RE = re.compile(
    r"""(?P<space>\s+)
    |(?P<str>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
    |(?P<char>'(?:[^'\\\n]|\\.)+')
    |(?P<num>[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?))
    |(?P<decl>:=)|(?P<assign>=)
    |(?P<var>\$\w*)
    |(?P<field>\.\w+|\.)
    |(?P<ident>[A-Za-z_]\w*)
    |(?P<punct>[|(),])""",
    re.X,
)
_PUNCT = {"|": "pipe", "(": "lparen", ")": "rparen", ",": "comma"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v", "0": "\0"}  # fmt: skip


def _tokens(action: str) -> list[Token]:
    out: list[Token] = []
    pos, glued = 0, False
    while pos < len(action):
        m = _TOKEN_RE.match(action, pos)
        if m is None:
            raise TemplateError(f"unexpected {action[pos]!r} in action {{{{{action}}}}}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "space":
            glued = False
            continue
        text = m.group()
        if kind == "ident" and text in ("true", "false", "nil"):
            kind = "nil" if text == "nil" else "bool"
        elif kind == "punct":
            kind = _PUNCT[text]
        out.append(Token(kind, text, glued))
        glued = True
    return out


def _unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


# --- syntax tree -----------------------------------------------------------------


@dataclass(frozen=True)
class Operand:
    kind: str  # lit var dot ident pipe
    value: object = None  # literal value, variable or function name, or a Pipeline
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[tuple[Operand, ...], ...]
    decl: tuple[str, ...] = ()
    assign: bool = False


@dataclass
class Block:
    kind: str  # text action if with range break continue
    text: str = ""
    pipe: Pipeline | None = None
    body: list[Block] = field(default_factory=list)
    other: list[Block] = field(default_factory=list)


class _Parser:
    def __init__(self, names: frozenset[str]) -> None:
        self.names = names
        self.depth = 0
        self.scopes: list[set[str]] = [
            {"$", "$labels", "$externalLabels", "$externalURL", "$value"}
        ]

    def pipeline(self, toks: list[Token], *, decl_max: int = 1) -> Pipeline:
        decl: tuple[str, ...] = ()
        assign = False
        for n in range(decl_max, 0, -1):
            size = 2 * n
            head = toks[: size - 1 : 2]
            if (
                len(toks) > size
                and all(t.kind == "var" for t in head)
                and all(t.kind == "comma" for t in toks[1 : size - 1 : 2])
                and toks[size - 1].kind in ("decl", "assign")
            ):
                decl = tuple(t.text for t in head)
                assign = toks[size - 1].kind == "assign"
                toks = toks[size:]
                break
        commands: list[tuple[Operand, ...]] = []
        pos = 0
        while True:
            operands: list[Operand] = []
            while pos < len(toks) and toks[pos].kind != "pipe":
                operand, pos = self.operand(toks, pos)
                operands.append(operand)
            if not operands:
                raise TemplateError("missing value for command")
            commands.append(tuple(operands))
            if pos >= len(toks):
                break
            pos += 1
        if assign and not all(self._declared(name) for name in decl):
            raise TemplateError(f"undefined variable {decl[0]}")
        self.scopes[-1].update(decl)
        return Pipeline(tuple(commands), decl, assign)

    def _declared(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    def operand(self, toks: list[Token], pos: int) -> tuple[Operand, int]:
        tok = toks[pos]
        pos += 1
        operand: Operand
        if tok.kind == "str":
            operand = Operand("lit", _unquote(tok.text))
        elif tok.kind == "char":
            char = _unquote(tok.text)
            if len(char) != 1:
                raise TemplateError(f"malformed character constant {tok.text}")
            operand = Operand("lit", ord(char))
        elif tok.kind == "num":
            operand = Operand("lit", _number(tok.text))
        elif tok.kind == "bool":
            operand = Operand("lit", tok.text == "true")
        elif tok.kind == "nil":
            operand = Operand("lit", None)
        elif tok.kind == "var":
            if not self._declared(tok.text):
                raise TemplateError(f"undefined variable {tok.text!r}")
            operand = Operand("var", tok.text)
        elif tok.kind == "field":
            operand = Operand("dot", None, () if tok.text == "." else (tok.text[1:],))
        elif tok.kind == "ident":
            if tok.text not in self.names:
                raise TemplateError(f'function "{tok.text}" not defined')
            operand = Operand("ident", tok.text)
        elif tok.kind == "lparen":
            end = _closing(toks, pos)
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise TemplateError(f"template nests parentheses deeper than {MAX_DEPTH}")
            operand = Operand("pipe", self.pipeline(toks[pos:end]))
            self.depth -= 1
            pos = end + 1
        else:
            raise TemplateError(f"unexpected {tok.text!r} in operand")
        chain = list(operand.fields)
        while pos < len(toks) and toks[pos].kind == "field" and toks[pos].glued:
            if toks[pos].text == "." or operand.kind in ("lit", "ident"):
                raise TemplateError(f"unexpected {toks[pos].text!r} after {tok.text!r}")
            chain.append(toks[pos].text[1:])
            pos += 1
        return Operand(operand.kind, operand.value, tuple(chain)), pos


def _closing(toks: list[Token], pos: int) -> int:
    depth = 1
    for i in range(pos, len(toks)):
        depth += {"lparen": 1, "rparen": -1}.get(toks[i].kind, 0)
        if depth == 0:
            return i
    raise TemplateError("unclosed left paren")


def _number(text: str) -> int | float:
    clean = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F]+", clean):
            return int(clean, 16)
        if re.fullmatch(r"[+-]?\d+", clean):
            return int(clean)
        return float(clean)
    except ValueError:
        raise TemplateError(f"bad number syntax: {text!r}") from None


_ACTION_RE = re.compile(r"\{\{(-[ \t\r\n])?(.*?)([ \t\r\n]-)?\}\}", re.S)
_QUOTED_ACTION_RE = re.compile(
    r"\{\{(-[ \t\r\n])?"
    r"""((?:"(?:[^"\\\n]|\\.)*"|`[^`]*`|'(?:[^'\\\n]|\\.)*'|[^"`'])*?)"""
    r"([ \t\r\n]-)?\}\}",
    re.S,
)
_COMMENT_RE = re.compile(r"\s*/\*.*\*/\s*", re.S)


def _items(text: str) -> list[tuple[str, str]]:
    """``("text", s)`` and ``("action", inside)`` in order, with ``{{-``/``-}}`` applied."""
    items: list[tuple[str, str]] = []
    pos, trim_next = 0, False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos : start if start >= 0 else len(text)]
        if trim_next:
            chunk = chunk.lstrip(" \t\r\n")
        if start < 0:
            items.append(("text", chunk))
            return items
        m = _ACTION_RE.match(text, start)
        if m is None or _unbalanced_quotes(m.group(2)):
            m = _quoted_action(text, start)
        if m is None:
            raise TemplateError(f"unclosed action at character {start + 1}")
        if m.group(1):
            chunk = chunk.rstrip(" \t\r\n")
        items.append(("text", chunk))
        if not _COMMENT_RE.fullmatch(m.group(2)):
            items.append(("action", m.group(2)))
        trim_next, pos = bool(m.group(3)), m.end()


def _unbalanced_quotes(inside: str) -> bool:
    stripped = re.sub(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|\'(?:[^\'\\\n]|\\.)*\'', "", inside)
    return any(q in stripped for q in "\"`'") and not _COMMENT_RE.fullmatch(inside)


def _quoted_action(text: str, start: int) -> re.Match[str] | None:
    return _QUOTED_ACTION_RE.match(text, start)


def parse_template(text: str, names: frozenset[str]) -> list[Block]:
    """The syntax tree of ``text``; raises ``TemplateError``. ``names``: known functions."""
    parser = _Parser(names)
    items = _items(text)
    body, _, end = _parse_list(parser, items, 0, loop=False)
    if end is not None:
        raise TemplateError(f"unexpected {{{{{end}}}}}")
    return body


def _parse_list(
    parser: _Parser, items: list[tuple[str, str]], pos: int, *, loop: bool
) -> tuple[list[Block], int, str | None]:
    """Blocks up to an ``else``/``end`` (returned as the third item) or the end of input."""
    out: list[Block] = []
    while pos < len(items):
        kind, text = items[pos]
        pos += 1
        if kind == "text":
            if text:
                out.append(Block("text", text))
            continue
        toks = _tokens(text)
        if not toks:
            raise TemplateError("missing value for command")
        word = toks[0].text if toks[0].kind == "ident" else ""
        if word in ("end", "else"):
            return out, pos, text.strip()
        if word in ("if", "with", "range"):
            block, pos = _parse_control(parser, items, pos, word, toks[1:], loop=loop)
            out.append(block)
        elif word in ("break", "continue"):
            if not loop:
                raise TemplateError(f"{{{{{word}}}}} outside {{{{range}}}}")
            out.append(Block(word))
        elif word in ("define", "template", "block"):
            raise TemplateError(f"{{{{{word}}}}} is not supported in alert templates")
        else:
            out.append(Block("action", pipe=parser.pipeline(toks)))
    return out, pos, None


def _parse_control(
    parser: _Parser, items: list[tuple[str, str]], pos: int, word: str, toks: list[Token],
    *, loop: bool,
) -> tuple[Block, int]:  # fmt: skip
    if not toks:
        raise TemplateError(f"missing value for {word}")
    parser.scopes.append(set())
    pipe = parser.pipeline(toks, decl_max=2 if word == "range" else 1)
    body, pos, end = _parse_list(parser, items, pos, loop=loop or word == "range")
    parser.scopes.pop()
    block = Block(word, pipe=pipe, body=body)
    if end is None:
        raise TemplateError(f"unexpected EOF: {{{{{word}}}}} without {{{{end}}}}")
    if end == "end":
        return block, pos
    rest = _tokens(end)[1:]
    if rest and rest[0].text in ("if", "with") and word != "range":
        inner, pos = _parse_control(parser, items, pos, rest[0].text, rest[1:], loop=loop)
        block.other = [inner]
        return block, pos
    if rest:
        raise TemplateError(f"unexpected {end!r}")
    parser.scopes.append(set())
    block.other, pos, end = _parse_list(parser, items, pos, loop=loop)
    parser.scopes.pop()
    if end != "end":
        raise TemplateError(f"expected {{{{end}}}} after {{{{else}}}}, got {end!r}")
    return block, pos


# --- execution -------------------------------------------------------------------


@dataclass(frozen=True)
class AlertData:
    """The dot of an alert template: ``.Labels``, ``.ExternalLabels``, ``.Value``."""

    Labels: Mapping[str, str]
    ExternalLabels: Mapping[str, str]
    Value: float | None


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Executor:
    def __init__(self, funcs: Mapping[str, Func], variables: list[tuple[str, object]]) -> None:
        self.funcs = funcs
        self.vars = variables
        self.out: list[str] = []
        self.size = 0
        self.steps = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateError(f"template takes more than {MAX_STEPS} steps")

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise TemplateError(f"template output is larger than {MAX_OUTPUT} characters")
        self.out.append(text)

    def run(self, blocks: list[Block], dot: object) -> None:
        for block in blocks:
            self.tick()
            if block.kind == "text":
                self.write(block.text)
            elif block.kind == "action":
                assert block.pipe is not None
                value = self.pipeline(block.pipe, dot)
                if not block.pipe.decl:
                    self.write("<no value>" if value is None else sprint_value(value))
            elif block.kind == "break":
                raise _Break
            elif block.kind == "continue":
                raise _Continue
            else:
                self.control(block, dot)

    def control(self, block: Block, dot: object) -> None:
        assert block.pipe is not None
        mark = len(self.vars)
        try:
            if block.kind == "range":
                self.range(block, dot)
                return
            value = self.pipeline(block.pipe, dot)
            if truth(value):
                self.run(block.body, value if block.kind == "with" else dot)
            else:
                self.run(block.other, dot)
        finally:
            del self.vars[mark:]

    def range(self, block: Block, dot: object) -> None:
        assert block.pipe is not None
        pipe = block.pipe
        value = self.pipeline(Pipeline(pipe.commands), dot)
        pairs: list[tuple[object, object]]
        if isinstance(value, Mapping):
            pairs = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, Sequence) and not isinstance(value, str):
            pairs = list(enumerate(value))
        elif value is None:
            pairs = []
        else:
            raise TemplateError(f"range can't iterate over {sprint_value(value)}")
        if not pairs:
            self.run(block.other, dot)
            return
        mark = len(self.vars)
        for key, item in pairs:
            del self.vars[mark:]
            if len(pipe.decl) == 2:
                self.vars += [(pipe.decl[0], key), (pipe.decl[1], item)]
            elif pipe.decl:
                self.vars.append((pipe.decl[0], item))
            try:
                self.run(block.body, item)
            except _Break:
                break
            except _Continue:
                continue

    def pipeline(self, pipe: Pipeline, dot: object) -> object:
        value: object = None
        for i, command in enumerate(pipe.commands):
            value = self.command(command, dot, value, piped=i > 0)
        for name in pipe.decl:
            if pipe.assign:
                at = max(i for i, (n, _) in enumerate(self.vars) if n == name)
                self.vars[at] = (name, value)
            else:
                self.vars.append((name, value))
        return value

    def command(
        self, operands: tuple[Operand, ...], dot: object, piped_value: object, *, piped: bool
    ) -> object:
        self.tick()
        head = operands[0]
        if head.kind == "ident" and not head.fields:
            args = [self.operand(op, dot) for op in operands[1:]]
            if piped:
                args.append(piped_value)
            return self.call(str(head.value), args)
        if len(operands) > 1 or piped:
            raise TemplateError(f"can't give argument to non-function {_describe(head)}")
        return self.operand(head, dot)

    def call(self, name: str, args: list[object]) -> object:
        try:
            return self.funcs[name](*args)
        except TypeError:
            raise TemplateError(f"wrong number of args for {name}: got {len(args)}") from None
        except (ValueError, FormatError, ZeroDivisionError, OverflowError) as err:
            raise TemplateError(f"error calling {name}: {err}") from None

    def operand(self, op: Operand, dot: object) -> object:
        if op.kind == "lit":
            value = op.value
        elif op.kind == "var":
            value = next((v for n, v in reversed(self.vars) if n == op.value), None)
        elif op.kind == "dot":
            value = dot
        elif op.kind == "ident":
            value = self.call(str(op.value), [])
        else:
            assert isinstance(op.value, Pipeline)
            value = self.pipeline(op.value, dot)
        for name in op.fields:
            value = _field(value, name)
        return value


def _field(value: object, name: str) -> object:
    if isinstance(value, Mapping):
        return value.get(name, "")
    if isinstance(value, AlertData):
        if name in ("Labels", "ExternalLabels", "Value"):
            return getattr(value, name)
        raise TemplateError(
            f"can't evaluate field {name} in the alert (it has Labels, ExternalLabels, Value)"
        )
    if value is None:
        raise TemplateError(f"nil pointer evaluating .{name}")
    raise TemplateError(f"can't evaluate field {name} in type {type_name(value)}")


def _describe(op: Operand) -> str:
    if op.kind == "var":
        return str(op.value) + "".join("." + f for f in op.fields)
    if op.kind == "dot":
        return "." + ".".join(op.fields)
    return sprint_value(op.value) if op.kind == "lit" else "(...)"


def check_template(text: str) -> None:
    """Parse ``text``; raises ``TemplateError`` when it would not execute at all."""
    parse_template(text, frozenset(functions("")))


def render_template(
    text: str,
    *,
    labels: Mapping[str, str],
    value: float | None,
    external_labels: Mapping[str, str] | None = None,
    external_url: str = "",
) -> str:
    """Expand the alert template ``text`` as Prometheus would; raises ``TemplateError``."""
    funcs = functions(external_url)
    blocks = parse_template(text, frozenset(funcs))
    data = AlertData(dict(labels), dict(external_labels or {}), value)
    variables: list[tuple[str, object]] = [
        ("$", data),
        ("$labels", data.Labels),
        ("$externalLabels", data.ExternalLabels),
        ("$externalURL", external_url),
        ("$value", value),
    ]
    executor = _Executor(funcs, variables)
    try:
        executor.run(blocks, data)
    except (_Break, _Continue):  # pragma: no cover - the parser keeps them inside range
        raise TemplateError("break or continue outside range") from None
    except RecursionError:
        raise TemplateError("template nests too deeply") from None
    return "".join(executor.out)
