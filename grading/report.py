"""What the instructor reads after a run: grades.csv, totals.csv, summary.md and summary.png.

* ``grades.csv``  one row per student, lab and question: score, max_score, needs_manual_grade, status
  (``graded`` / ``failed``) and the reason of a failure; scores as stored in the gradebook.
* ``totals.csv``  one row per student and lab: autograded points and maximum (code cells), how many cells
  wait for a human (written answers), status, reason, notes.
* ``summary.md``  per-question mean / min / max and how many got full marks, the failures with their
  reasons, the skipped files, how the kernels were sandboxed, the throughput.
* ``summary.png`` per lab, the distribution of each autograded question's score (share of its points).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from grading.worker import Result


def write_csvs(out: Path, stored: dict, results: list[Result]) -> None:
    by_key = {(r.student, r.lab): r for r in results}
    with open(out / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "lab", "question", "score", "max_score", "needs_manual_grade", "status", "reason"])
        for (student, lab), grades in sorted(stored.items()):
            r = by_key.get((student, lab))
            for q, (score, max_score, manual, _, _) in grades.items():
                w.writerow([student, lab, q, "" if score is None else score, max_score, int(bool(manual)),
                            r.status if r else "graded earlier", r.reason if r else ""])
    with open(out / "totals.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "lab", "autograded_score", "autograded_max", "to_grade_by_hand", "status", "reason",
                    "notes"])
        for (student, lab), grades in sorted(stored.items()):
            r = by_key.get((student, lab))
            auto = [g for g in grades.values() if g.cell_type == "code"]
            w.writerow([student, lab, sum(g.score or 0 for g in auto), sum(g.max_score for g in auto),
                        sum(g.needs_manual_grade for g in grades.values()), r.status if r else "graded earlier",
                        r.reason if r else "", "; ".join(r.notes) if r else ""])


def question_table(stored: dict) -> dict:
    """``{lab: {question: [share of points per graded student]}}`` for autograded questions."""
    table: dict = defaultdict(lambda: defaultdict(list))
    for (_, lab), grades in sorted(stored.items()):
        for q, (score, max_score, _, _, cell_type) in grades.items():
            if cell_type == "code" and score is not None and max_score:
                table[lab][q].append(score / max_score)
    return table


def plot(stored: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = question_table(stored)
    labs = sorted(table)
    if not labs:
        return
    fig, axes = plt.subplots(len(labs), 1, figsize=(10, 2.8 * len(labs)), squeeze=False)
    for ax, lab in zip(axes[:, 0], labs):
        questions = list(table[lab])
        data = [[100 * v for v in table[lab][q]] for q in questions]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(questions) + 1), questions, rotation=30, ha="right", fontsize=8)
        for i, values in enumerate(data, start=1):  # every student as a dot (jittered)
            ax.scatter([i + 0.15 * ((j % 7) - 3) / 3 for j in range(len(values))], values, s=6, alpha=0.4, color="k")
        ax.set_ylim(-5, 105)
        ax.set_ylabel("score (% of points)")
        ax.set_title(f"{lab}: {len(data[0]) if data else 0} submissions")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary(stored: dict, results: list[Result], skipped: list[str], sandbox: str, timing: dict) -> str:
    lines = ["# Grading summary", ""]
    graded = sum(r.status == "graded" for r in results)
    lines += [f"{len(results)} submissions: {graded} graded, {len(results) - graded} failed; "
              f"{len(skipped)} files skipped.",
              f"{timing['workers']} workers, {timing['seconds']:.0f} s, {timing['per_min']:.1f} submissions/min.",
              f"Sandbox: {sandbox}", ""]
    for lab, questions in sorted(question_table(stored).items()):
        lines += [f"## {lab}", "", "| question | mean | min | max | full marks |", "|---|---|---|---|---|"]
        for q, values in questions.items():
            full = sum(v >= 1 for v in values)
            lines.append(f"| {q} | {100 * sum(values) / len(values):.0f} % | {100 * min(values):.0f} % | "
                         f"{100 * max(values):.0f} % | {full}/{len(values)} |")
        lines.append("")
    failed = [r for r in results if r.status != "graded"]
    if failed:
        lines += ["## Failed submissions (autograded cells scored 0)", ""]
        lines += [f"- {r.student} / {r.lab}: {r.reason}" for r in failed] + [""]
    flagged = [r for r in results if any(n.startswith("review:") for n in r.notes)]
    if flagged:
        lines += ["## Flagged for review (code that may tamper with the tests; scores unchanged)", ""]
        lines += [f"- {r.student} / {r.lab}: {n[len('review: '):]}" for r in flagged for n in r.notes
                  if n.startswith("review:")] + [""]
    noted = [r for r in results if any(not n.startswith("review:") for n in r.notes)]
    if noted:
        lines += ["## Notes", ""]
        for r in noted:
            lines.append(f"- {r.student} / {r.lab}: " + "; ".join(n for n in r.notes if not n.startswith("review:")))
        lines.append("")
    if skipped:
        lines += ["## Skipped files", ""] + [f"- {s}" for s in skipped] + [""]
    return "\n".join(lines)
