"""Find the submissions in a folder or a zip and put them where nbgrader expects them.

Recognised layouts (mixed freely; ``.ipynb_checkpoints`` and ``__MACOSX`` are skipped):

* nbgrader: ``[submitted/]<student>/<lab>/<lab>.ipynb`` (a renamed notebook in the lab folder is
  accepted and reported);
* Canvas: ``<login>_[LATE_]<user id>_<submission id>_<file>.ipynb``, e.g.
  ``smithjane_12345_67890_lab1_pruning.ipynb`` (a resubmission ``..._lab1_pruning-1.ipynb`` too);
* Moodle: ``<Full Name>_<participant id>_assignsubmission_file_/<file>.ipynb``;
* anything else whose name holds a roster id (``jsmith_lab1.ipynb``).

The lab comes from the file or folder names (:func:`grading.labs.match`) or ``--lab``. With a roster
(CSV with a ``student_id`` column; every other column holds aliases: Canvas login or user id, Moodle
participant id or full name, e-mail...) LMS names map to the course's student ids; without one the
LMS login / participant id is the student id. Two files for one student and lab: the newest is kept.
A file that is not a notebook is still listed, with the reason, so that the batch reports it.
"""

from __future__ import annotations

import csv
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grading.labs import match

CANVAS = re.compile(r"^(?P<login>[a-z0-9]+)_(?P<late>late_)?(?P<uid>\d+)_(?P<sid>\d+)_(?P<rest>.+)$", re.I)
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_file_?$", re.I)
MAX_ZIP_BYTES = 4 << 30  # refuse to unpack more than this (a zip bomb)


@dataclass
class Submission:
    student: str
    lab: str
    path: Path  # the file as found
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # why it cannot be graded (then it scores 0 with this reason)
    mtime: float = 0.0


@dataclass
class Collected:
    submissions: list[Submission]
    skipped: list[str]  # files that could not be matched to a student and a lab, with the reason


def safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text.strip()).strip("._") or "unknown"


class Roster:
    """``student_id`` plus alias columns; ``lookup(key)`` -> student id or None."""

    def __init__(self, path: Path | None):
        self.ids: set[str] = set()
        self.alias: dict[str, str] = {}
        if path is None:
            return
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "student_id" not in reader.fieldnames:
                raise SystemExit(f"{path}: the roster needs a 'student_id' column (found: {reader.fieldnames})")
            for row in reader:
                sid = (row.get("student_id") or "").strip()
                if not sid:
                    continue
                self.ids.add(sid)
                for value in row.values():
                    if value and value.strip():
                        self.alias[self._norm(value)] = sid

    @staticmethod
    def _norm(text: str) -> str:
        return re.sub(r"[^a-z0-9@.]+", "", text.lower())

    def __bool__(self) -> bool:
        return bool(self.ids)

    def lookup(self, *keys: str) -> str | None:
        for key in keys:
            if key and self._norm(key) in self.alias:
                return self.alias[self._norm(key)]
        return None

    def find_in(self, text: str) -> str | None:
        """A roster id or alias that appears as a whole word in ``text``."""
        words = set(re.split(r"[^a-z0-9@.]+", text.lower()))
        hits = {self.alias[w] for w in words if w in self.alias}
        return hits.pop() if len(hits) == 1 else None


def unpack(source: Path, into: Path) -> Path:
    """A folder as is; a zip extracted into ``into`` (no path escapes, size-limited)."""
    if source.is_dir():
        return source
    if not zipfile.is_zipfile(source):
        raise SystemExit(f"{source}: not a folder nor a zip file")
    with zipfile.ZipFile(source) as z:
        if sum(i.file_size for i in z.infolist()) > MAX_ZIP_BYTES:
            raise SystemExit(f"{source}: unpacks to more than {MAX_ZIP_BYTES >> 30} GiB; unpack it yourself")
        for info in z.infolist():
            target = (into / info.filename).resolve()
            if not str(target).startswith(str(into.resolve())):
                raise SystemExit(f"{source}: refusing a member outside the folder: {info.filename}")
        z.extractall(into)
    return into


def identify(rel: Path, labs: list[str], roster: Roster, lab_hint: str | None):
    """(student, lab, notes) for a notebook at ``rel`` inside the submissions folder, or a reason."""
    parts, name, notes = rel.parts, rel.stem, []
    if len(parts) >= 3 and parts[-2] in labs:  # nbgrader: <student>/<lab>/<file>
        lab, key = parts[-2], parts[-3]
        student = roster.lookup(key) or key
        if rel.name != f"{lab}.ipynb":
            notes.append(f"renamed notebook {rel.name!r} graded as {lab}.ipynb")
        if roster and student not in roster.ids:
            notes.append(f"{key!r} is not on the roster")
        return safe_id(student), lab, notes
    lab = match(name, labs) or next((match(p, labs) for p in reversed(parts[:-1]) if match(p, labs)), None) or lab_hint
    if lab is None:
        return f"cannot tell the lab from {rel} (name a lab in the file, or pass --lab)"
    canvas = CANVAS.match(name)
    moodle = next((MOODLE.match(p) for p in reversed(parts[:-1]) if MOODLE.match(p)), None)
    if canvas:
        key = canvas["login"]
        student = roster.lookup(canvas["uid"], canvas["login"])
        if canvas["late"]:
            notes.append("marked LATE by Canvas")
    elif moodle:
        key = moodle["pid"]
        student = roster.lookup(moodle["pid"], moodle["name"])
    else:
        key = None
        student = roster.find_in(rel.as_posix()) if roster else None
        if student is None:
            return f"cannot tell the student from {rel} (not nbgrader, Canvas or Moodle naming; no roster id in it)"
    if student is None:
        if roster:
            return f"{rel}: {key!r} is not in the roster"
        student = key
        notes.append(f"no roster: student id {key!r} taken from the file name")
    return safe_id(student), lab, notes


def collect(source: Path, labs: list[str], roster: Roster, scratch: Path, lab_hint: str | None = None) -> Collected:
    root = unpack(Path(source), scratch / "unpacked")
    found: dict[tuple[str, str], Submission] = {}
    skipped: list[str] = []
    for path in sorted(root.rglob("*.ipynb")):
        rel = path.relative_to(root)
        if any(p in (".ipynb_checkpoints", "__MACOSX") for p in rel.parts) or not path.is_file():
            continue
        who = identify(rel, labs, roster, lab_hint)
        if isinstance(who, str):
            skipped.append(who)
            continue
        student, lab, notes = who
        sub = Submission(student, lab, path, notes, mtime=path.stat().st_mtime)
        old = found.get((student, lab))
        if old is not None:
            keep, drop = (sub, old) if sub.mtime >= old.mtime else (old, sub)
            keep.notes.append(f"also submitted {drop.path.name} (older, not graded)")
            sub = keep
        found[(student, lab)] = sub
    return Collected(sorted(found.values(), key=lambda s: (s.lab, s.student)), skipped)


def place(sub: Submission, course: Path) -> None:
    """Write ``sub`` as ``course/submitted/<student>/<lab>/<lab>.ipynb`` without outputs; on a file
    that is no notebook, set ``sub.error`` instead."""
    size = sub.path.stat().st_size
    try:
        nb = nbformat.read(sub.path, as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as exc:  # invalid JSON, a truncated file, another format
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        sub.error = f"not a readable notebook: {type(exc).__name__}: {first}"
        return
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    if size > 20 << 20:
        sub.notes.append(f"outputs removed (the file was {size >> 20} MB)")
    folder = course / "submitted" / sub.student / sub.lab
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{sub.lab}.ipynb")
