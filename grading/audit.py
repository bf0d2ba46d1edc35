"""Flag submissions for a human look: code that tampers with the grading rather than answering.

nbgrader runs the student's cells and the (restored) test cells in ONE Python kernel, so a student
can rebind what a test cell calls (``check_close = lambda *a, **k: None``, ``math.isclose = ...``,
``builtins.AssertionError``) and pass hidden tests with a wrong answer. The sandbox cannot prevent that
(it is the same program); this static check, run on every cell the student wrote, lists such code in
the summary and ``totals.csv`` so that the instructor looks at it. It flags, it never changes a score.
"""

from __future__ import annotations

import ast
import threading

import nbformat

SUSPICIOUS_CALLS = {
    "setattr": "setattr() on an object", "delattr": "delattr() on an object", "exec": "exec()",
    "eval": "eval()", "__import__": "__import__()", "os._exit": "os._exit() (kills the kernel)",
    "os.fork": "os.fork()", "os.kill": "os.kill()", "sys.exit": "sys.exit()", "exit": "exit()", "quit": "quit()",
    "os.remove": "deletes files", "os.unlink": "deletes files", "shutil.rmtree": "deletes folders",
    "os.system": "runs shell commands", "subprocess.run": "runs programs", "subprocess.Popen": "runs programs",
    "socket.socket": "opens a network socket", "socket.create_connection": "opens a network connection",
}
SUSPICIOUS_NAMES = {"AssertionError", "Exception", "BaseException", "print", "builtins", "__builtins__",
                    "sys.modules", "sys.stderr", "sys.stdout"}
SECRET_WORDS = ("solutions", "gradebook", "submitted", "autograded", "..")


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def imported_names(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


# Python 3.11's ast.parse is not safe in threads: a parse racing another can fail with "SystemError: AST
# constructor recursion depth mismatch" (CPython gh-106905); grading.cli audits its submissions in threads
_PARSE_LOCK = threading.Lock()


def _parse(source: str) -> ast.Module:
    with _PARSE_LOCK:
        return ast.parse(source)


def flag_source(source: str, provided: set[str]) -> list[str]:
    """Reasons to look at ``source``; ``provided`` = names the lab's locked cells import (and its tests call)."""
    try:
        tree = _parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return []  # nbgrader reports it as an error in the cell
    flags = []
    modules = imported_names(tree) | provided

    def target(t, line):
        name = _dotted(t)
        if isinstance(t, ast.Attribute) and name.split(".")[0] in modules | {"builtins", "__builtins__"}:
            flags.append(f"line {line}: monkeypatches {name}")
        elif isinstance(t, ast.Name) and t.id in provided:
            flags.append(f"line {line}: rebinds {t.id}, which the lab's own cells provide")
        elif name in SUSPICIOUS_NAMES:
            flags.append(f"line {line}: rebinds {name}")

    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            for t in getattr(node, "targets", None) or [node.target]:
                for sub in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]):
                    target(sub, node.lineno)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in provided | SUSPICIOUS_NAMES:
            flags.append(f"line {node.lineno}: redefines {node.name}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in SUSPICIOUS_CALLS:
                flags.append(f"line {node.lineno}: {SUSPICIOUS_CALLS[name]}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "/" in node.value and any(w in node.value for w in SECRET_WORDS):
                flags.append(f"line {node.lineno}: a path to {node.value[:60]!r}")
    return list(dict.fromkeys(flags))


def _is_answer(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def audit(submitted: nbformat.NotebookNode, references: list[nbformat.NotebookNode]) -> list[str]:
    """Flags for every code cell of ``submitted`` that the student wrote: any cell whose source is not,
    verbatim, a locked cell of the lab's ``references`` (its source and released notebooks)."""
    locked = [c for nb in references for c in nb.cells if c.cell_type == "code" and not _is_answer(c)]
    known = {c.source for c in locked}
    provided = set()
    for c in locked:
        try:
            provided |= imported_names(_parse(c.source))
        except SyntaxError:
            pass
    flags = []
    for cell in submitted.cells:
        if cell.get("cell_type") == "code" and cell.source not in known:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "a cell without id")
            flags += [f"{gid}: {f}" for f in flag_source(cell.source, provided)]
    return flags
