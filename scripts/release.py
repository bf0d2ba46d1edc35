"""Regenerate the student notebooks in labs/ from solutions/ with nbgrader (`make release`), after
stamping the measured numbers quoted in the text from benchmarks/results (scripts/quote_numbers.py).

    python scripts/release.py            # every lab in solutions/
    python scripts/release.py lab1_pruning
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(labs):
    import quote_numbers

    quote_numbers.main([])
    labs = labs or sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)  # nbgrader calls `alembic` through PATH
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    for lab in labs:
        subprocess.run([os.path.join(bin_dir, "nbgrader"), "generate_assignment", lab, "--force"],
                       cwd=REPO, env=env, check=True)
        print(f"labs/{lab}/{lab}.ipynb regenerated from solutions/{lab}/{lab}.ipynb")


if __name__ == "__main__":
    main(sys.argv[1:])
