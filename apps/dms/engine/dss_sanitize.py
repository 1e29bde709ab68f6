"""Read an OpenDSS feeder as a hostile script before OpenDSS sees any of it (`sanitize_script`).

An OpenDSS script is a program: it reads any file (Redirect, Compile, Buscoords, `mult=(file=…)`),
writes files (Export, Save, Show, `action=save`, DebugTrace), changes folder (CD) and runs programs
(DOScmd; Show opens a viewer). `sanitize_script` flattens the master file and every file it
redirects to into single commands that OpenDSS then runs one at a time, never opening a script:

* only commands that define a circuit are run; reports (Show, Export, Plot …) are skipped unrun,
  anything else is refused; command and `Set` option names go to OpenDSS
  written out in full, so an abbreviation cannot become another command than the one checked;
* every file reference is resolved here and handed to OpenDSS as a checked absolute path; for an
  upload (`upload_root`) it must be a relative path that stays inside the upload (no absolute path,
  no `..` or link out of it), checked before the file is even looked for;
* properties that write files (DebugTrace, `action=save…`) or load a program library (UserModel,
  ShaftModel, DynaDLL) and script variables (`@name`) are refused, as is any `file=` this reader
  cannot check;
* a refusal names the file and line and says why; it quotes only the script's own words, never the
  content of another file.

Lines are split the way OpenDSS reads them: `!` and `//` start a comment, a line starting with `/*`
opens a block comment that the line holding `*/` closes, values may be quoted with "…", '…', (…),
[…] or {…}. A trusted local file (`upload_root=None`, the command line) may name any path its user
can read; everything else is the same.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from apps.dms.engine.dss_thread import on_dss_thread
from apps.dms.engine.network import FeederImportError

__all__ = ["MAX_SCRIPT_BYTES", "ScriptLine", "sanitize_script"]

# All script text one import may read, redirects counted each time (stops a fan-out of redirects).
MAX_SCRIPT_BYTES = 256 * 1024 * 1024
_MAX_DEPTH = 32

# Commands that build a circuit. Everything else is refused: reports, files, folders, programs.
_DEFINE = frozenset(
    {"new", "edit", "more", "m", "~", "select", "batchedit", "enable", "disable", "open", "close", "clear"}
    | {"clearall", "calcvoltagebases", "setkvbase"}
)
_SETTINGS = frozenset({"set", "solve"})
_SCRIPTS = frozenset({"redirect", "compile"})
_DATA = frozenset({"buscoords", "latlongcoords"})
# Reports a feeder's author ran after solving (Show Voltages, Export Currents, Plot …): they define
# nothing, so they are skipped — never run — and the feeder imports (the IEEE 4-bus YYD master ends
# with them).
_REPORTS = frozenset(
    {"export", "show", "plot", "dump", "fileedit", "formedit", "visualize", "exportoverloads"}
    | {"exportvviolations", "closedi", "di_plot", "comparecases", "yearlycurves", "panel"}
)
# Named in refusals: these write circuit files, change folder (which changes what later lines
# read) or run programs.
_WRITERS = frozenset({"save", "doscmd", "cd", "alignfile", "cvrtloadshapes", "obfuscate"})
# `Set` options that describe the circuit and its snapshot solution (no log, editor, data path,
# demand-interval files, reports or other solution modes).
_OPTIONS = frozenset(
    {"defaultbasefrequency", "basefrequency", "frequency", "voltagebases", "earthmodel", "tolerance"}
    | {"maxiterations", "maxcontroliter", "miniterations", "controlmode", "algorithm", "loadmodel"}
    | {"loadmult", "genmult", "genkw", "genpf", "capkvar", "normvminpu", "normvmaxpu", "emergvminpu"}
    | {"emergvmaxpu", "allocationfactors", "cfactors", "%growth", "%normal", "%mean", "%stddev"}
    | {"neglectloady", "trapezoidal", "cktmodel", "defaultdaily", "defaultyearly", "loadshapeclass"}
    | {"zonelock", "allowduplicates", "addtype", "longlinecorrection", "class", "object", "element"}
    | {"circuit", "bus", "terminal", "mode", "hour", "sec", "year", "time", "h"}
)
_SNAPSHOT = frozenset({"snap", "snapshot", "s"})
# Element properties whose value is a file OpenDSS reads (LoadShape, XYCurve, Spectrum, …).
_FILE_PROPERTIES = ("csvfile", "sngfile", "dblfile", "pqcsvfile")
# Properties that load a program library into the server (user-written models of Generator,
# PVSystem, Storage, CapControl), refused in any class and however abbreviated.
_LIBRARIES = ("usermodel", "userdata", "shaftmodel", "shaftdata", "dynadll", "dynadata")
# `action=` values by first letter that do not write: normalize, open, close/clear, trip/take,
# reset/reduce, lock, unlock, allocate, process. Refused: save, sngsave, dblsave, zonedump.
_SAFE_ACTIONS = frozenset("noctrluap")

_GROUP = r'"[^"]*"|\'[^\']*\'|\([^)]*\)|\[[^\]]*\]|\{[^}]*\}'
_WORD = r'(?:(?!//)[^\s,=!"\'()\[\]{}])+'
_TOKEN = re.compile(
    rf"[\s,]*(?:(?P<name>{_WORD})\s*=\s*(?P<value>{_GROUP}|{_WORD})?|(?P<bare>{_GROUP}|{_WORD}))"
)
_INNER_FILE = re.compile(
    r'^\s*(?P<kind>file|sngfile|dblfile)\s*=\s*(?P<path>"[^"]*"|\'[^\']*\'|[^\s,"\']+)(?P<rest>[^"\']*)$',
    re.IGNORECASE,
)
_SEPARATORS = re.compile(r"[\s,]*")
_NOT_IN_FILE_COUNT = re.compile(r"[\s\"'()\[\]{},]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_END_OF_LINE = re.compile("[\x00\x1a]")  # NUL and DOS end-of-file end a line, as they do for OpenDSS
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ScriptLine:
    """One checked OpenDSS command and where it came from ("Master.dss, line 12")."""

    command: str
    where: str


@dataclass(frozen=True)
class _Token:
    name: str | None
    value: str

    def text(self) -> str:
        return self.value if self.name is None else f"{self.name}={self.value}"


def sanitize_script(
    master: Path, *, upload_root: Path | None = None, max_bytes: int = MAX_SCRIPT_BYTES
) -> list[ScriptLine]:
    """The commands of `master` and the files it redirects to, checked; FeederImportError if any
    line is refused. `upload_root`: the folder an untrusted upload was unpacked into."""
    root = upload_root.resolve() if upload_root is not None else None
    master = master.resolve()
    if root is not None and not master.is_relative_to(root):
        raise FeederImportError("The master file is not inside the upload.")
    reader = _Reader(root, root or master.parent, master.parent, max_bytes, *_opendss_names())
    if not master.is_file():
        raise FeederImportError(f"No OpenDSS file at {reader.label(master)}.")
    reader.script(master, reader.label(master), compile_=True)
    return reader.out


@on_dss_thread
@functools.cache
def _opendss_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """OpenDSS's own command and `Set` option names, in its lookup order (abbreviations resolve
    to the first name they start)."""
    import opendssdirect as dss

    ex = dss.Executive
    commands = tuple(ex.Command(i).lower() for i in range(1, ex.NumCommands() + 1))
    options = tuple(ex.Option(i).lower() for i in range(1, ex.NumOptions() + 1))
    return commands, options


def _lookup(word: str, names: tuple[str, ...]) -> str | None:
    word = word.lower()
    if word in names:
        return word
    return next((n for n in names if n.startswith(word)), None)


def _clip(text: str, limit: int = 40) -> str:
    text = _CONTROL.sub("?", text)
    return f"'{text}'" if len(text) <= limit else f"'{text[:limit]}…'"


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] in "\"'([{" and value[-1] in "\"')]}":
        return value[1:-1]
    return value


def _quoted(path: Path, where: str) -> str:
    if '"' in str(path):
        raise FeederImportError(f"{where}: a file path with a double quote in it cannot be read.")
    return f'"{path}"'


def _tokens(text: str, where: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        start = _SEPARATORS.match(text, pos).end()  # type: ignore[union-attr]  # always matches
        if start == len(text) or text.startswith(("!", "//"), start):
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise FeederImportError(
                f"{where}: cannot be read from {_clip(text[pos:].strip())} on "
                "(a quote or bracket is not closed, or an '=' has no name before it)."
            )
        if match["bare"] is not None:
            tokens.append(_Token(None, match["bare"]))
        else:
            tokens.append(_Token(match["name"], match["value"] or ""))
        pos = match.end()
    return tokens


@dataclass
class _Reader:
    root: Path | None
    base: Path  # errors name files relative to this folder
    here: Path  # OpenDSS's current folder: relative paths start here (Compile moves it)
    budget_bytes: int
    commands: tuple[str, ...]
    options: tuple[str, ...]
    out: list[ScriptLine] = field(default_factory=list)
    stack: list[Path] = field(default_factory=list)

    def label(self, path: Path) -> str:
        return str(path.relative_to(self.base)) if path.is_relative_to(self.base) else str(path)

    def resolve(self, written: str, where: str) -> Path:
        """The file `written` names, checked before anything about it is looked up."""
        text = _unquote(written.strip()).strip().replace("\\", "/")
        if not text:
            raise FeederImportError(f"{where}: names no file.")
        if self.root is not None:
            if PurePosixPath(text).is_absolute() or _DRIVE.match(text):
                raise FeederImportError(
                    f"{where}: {_clip(text)} is an absolute path; an uploaded feeder may only read "
                    "its own files, named relative to the file that names them."
                )
            path = (self.here / text).resolve()
            if not path.is_relative_to(self.root):
                raise FeederImportError(
                    f"{where}: {_clip(text)} points outside the upload; an uploaded feeder may only "
                    "read its own files."
                )
        else:
            path = (self.here / text).resolve()
        if not path.is_file():
            place = " in the upload" if self.root is not None else ""
            raise FeederImportError(f"{where}: there is no file {_clip(text)}{place}.")
        return path

    def script(self, path: Path, where: str, *, compile_: bool) -> None:
        if path in self.stack:
            raise FeederImportError(f"{where}: {self.label(path)} redirects back to itself.")
        if len(self.stack) >= _MAX_DEPTH:
            raise FeederImportError(f"{where}: redirects are nested more than {_MAX_DEPTH} deep.")
        size = path.stat().st_size
        if size > self.budget_bytes:
            raise FeederImportError(f"{where}: the feeder's scripts add up to more than this import reads.")
        self.budget_bytes -= size
        with path.open("rb") as stream:
            text = stream.read(size).decode("utf-8", errors="replace").removeprefix("\ufeff")
        outer = self.here
        self.stack.append(path)
        self.here = path.parent
        self._lines(text, self.label(path))
        self.stack.pop()
        if not compile_:  # Redirect returns to the folder it was called from; Compile stays
            self.here = outer

    def _lines(self, text: str, label: str) -> None:
        in_block = False
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = _END_OF_LINE.split(line, maxsplit=1)[0].strip()
            if not in_block and stripped.startswith("/*"):
                in_block = True
                stripped = stripped[2:]
            if in_block:
                in_block = "*/" not in stripped
                continue
            if stripped:
                self._line(stripped, f"{label}, line {number}")

    def _line(self, text: str, where: str) -> None:
        if _CONTROL.search(text):
            raise FeederImportError(f"{where}: contains control characters; it is not an OpenDSS script.")
        tokens = _tokens(text, where)
        if not tokens:
            return
        head, args = tokens[0], tokens[1:]
        if head.name is not None and head.name.count(".") >= 2:  # Class.name.property=value
            element, _, prop = head.name.rpartition(".")
            edits = self._properties([_Token(prop, head.value), *args], where)
            self._emit("edit", [_Token(None, element), *edits], where)
            return
        command = _lookup(head.value, self.commands) if head.name is None else None
        if command is None:
            raise FeederImportError(f"{where}: {_clip(head.text())} is not an OpenDSS command.")
        if command == "//":
            return
        if command in _DEFINE:
            self._emit(command, self._properties(args, where), where)
        elif command in _SETTINGS:
            self._emit(command, self._settings(command, args, where), where)
        elif command in _SCRIPTS:
            path = self.resolve(self._one_file(command, args, where), where)
            self.script(path, where, compile_=command == "compile")
        elif command in _DATA:
            path = self.resolve(self._one_file(command, args, where), where)
            self._emit(command, [_Token(None, _quoted(path, where))], where)
        elif command in _REPORTS:
            return
        elif command in _WRITERS:
            raise FeederImportError(
                f"{where}: '{command}' writes files, changes folder or runs a program; "
                "an imported feeder may only define its circuit."
            )
        else:
            raise FeederImportError(
                f"{where}: '{command}' is not accepted in an imported feeder, which may only define its "
                "circuit (New, Edit, More, Set, Redirect, Compile, Buscoords, CalcVoltageBases, …)."
            )

    def _emit(self, command: str, args: list[_Token], where: str) -> None:
        self.out.append(ScriptLine(" ".join([command, *(t.text() for t in args)]), where))

    def _one_file(self, command: str, args: list[_Token], where: str) -> str:
        if len(args) != 1 or args[0].name not in (None, "file"):
            raise FeederImportError(f"{where}: '{command}' takes one file name and nothing else.")
        return args[0].value

    def _settings(self, command: str, args: list[_Token], where: str) -> list[_Token]:
        checked = []
        for token in args:
            option = _lookup(token.name, self.options) if token.name else None
            if option is None or option not in _OPTIONS:
                raise FeederImportError(
                    f"{where}: the {command} option {_clip(token.name or token.value)} is not accepted "
                    "in an imported feeder (only options that describe the circuit and its snapshot "
                    "solution)."
                )
            if option == "mode" and _unquote(token.value).strip().lower() not in _SNAPSHOT:
                raise FeederImportError(f"{where}: an imported feeder is solved in snapshot mode only.")
            checked.append(_Token(option, token.value))
        return self._files(checked, where)

    def _properties(self, args: list[_Token], where: str) -> list[_Token]:
        for token in args:
            name = (token.name or "").lower()
            value = _unquote(token.value).strip().lower()
            if not name or name in _FILE_PROPERTIES:
                continue
            if any(p.startswith(name) for p in _FILE_PROPERTIES):
                raise FeederImportError(f"{where}: write the property '{token.name}…' out in full.")
            if any(p.startswith(name) for p in _LIBRARIES) and value:
                raise FeederImportError(
                    f"{where}: {token.name} loads a program library into the server; it is not accepted."
                )
            if "debugtrace".startswith(name) and value[:1] not in ("n", "f"):
                raise FeederImportError(f"{where}: DebugTrace writes a trace file; it is not accepted.")
            if "action".startswith(name) and value[:1] not in _SAFE_ACTIONS:
                raise FeederImportError(f"{where}: action={_clip(value)} writes a file; it is not accepted.")
        return self._files(args, where)

    def _files(self, args: list[_Token], where: str) -> list[_Token]:
        """Every file a value names, checked and rewritten as an absolute path; any `file=` left
        that this reader did not recognise is refused rather than passed on."""
        checked, found = [], 0
        for token in args:
            if token.value.startswith("@") or (token.name or "").startswith("@"):
                raise FeederImportError(
                    f"{where}: script variables ({_clip(token.text())}) are not accepted."
                )
            if (token.name or "").lower() in _FILE_PROPERTIES:
                path = self.resolve(token.value, where)
                token, found = _Token(token.name, _quoted(path, where)), found + 1
            elif (inner := _INNER_FILE.match(_unquote(token.value))) is not None:
                path = self.resolve(inner["path"], where)
                value = f"({inner['kind']}={_quoted(path, where)}{inner['rest']})"
                token, found = _Token(token.name, value), found + 1
            checked.append(token)
        written = _NOT_IN_FILE_COUNT.sub("", " ".join(t.text() for t in args)).lower()
        if written.count("file=") != found:
            raise FeederImportError(f"{where}: names a file in a way this import cannot check.")
        return checked
