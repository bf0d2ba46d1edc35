"""Lab 3: evolution against random search at a chosen budget of accuracy-predictor queries, over many seeds.

    python benchmarks/lab3_search_budget.py --population 50 --generations 20 --seeds 20 \\
        --json benchmarks/results/lab3_search_budget.json

The full-profile notebook compares the two at its own budget (population 100 x 30 generations = 3,000
queries, 10 seeds). This script runs the reference notebook's code (its set-up cell, the graded answers,
the predictor trained as in the notebook) in this process and repeats the comparison
(`helpers.nas.compare_searches`, as the notebook does) at another budget: the same predictor, the same
measurement (BN re-calibration on 2,000 training images, the 10,000 test images).
"""

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path

import nbformat
from common import REPO, Goal, machine, print_table, write_json

sys.path.insert(0, str(REPO))  # grading/ (reference_cells)
from grading.labs import reference_cells  # noqa: E402

SETUP_CELLS = ("13ea5862",)      # imports, images, SEARCH and the other settings
PREDICTOR_CELLS = ("3da90e03",)  # the accuracy predictor trained on the table (its figure drawn off-screen)
TIER_CELLS = ("58925e65",)       # MAIN_CONSTRAINT, MAIN_TARGET, ...
GRADED = ("peak_memory", "efficiency_predictor", "accuracy_predictor", "train_predictor", "random_searcher",
          "mutate_sample", "crossover_sample", "evolution_search")


def load_reference(profile: str) -> dict:
    """Execute the notebook cells a search needs; return their namespace."""
    os.environ.update(LABS_PROFILE=profile, LABS_PROGRESS="0", MPLBACKEND="Agg")
    os.environ.pop("LABS_RESULTS_JSON", None)
    # the reference notebook's cells, by id: its imports and settings, the graded answers (by grade id),
    # the predictor's training, the two tiers' constraints
    nb = nbformat.read(REPO / "solutions/lab3_nas/lab3_nas.ipynb", as_version=4)
    by_grade_id = {c.metadata["nbgrader"]["grade_id"]: c.get("id") for c in nb.cells
                   if c.metadata.get("nbgrader", {}).get("grade_id")}
    missing = [g for g in GRADED if g not in by_grade_id]
    if missing:
        raise SystemExit(f"the Lab 3 reference notebook has no graded answer {missing}: update GRADED")
    setup, answers, predictor, tiers = (reference_cells("lab3_nas", ids) for ids in
                                        (SETUP_CELLS, [by_grade_id[g] for g in GRADED], PREDICTOR_CELLS, TIER_CELLS))
    sources = setup + ["supernet = load_supernet()\ntable_archs, table_accuracy, table_meta = load_arch_table()\n"
                       "encoder = ArchEncoder()"] + answers + predictor + tiers
    namespace = {}
    for source in sources:
        exec(compile(source, "lab3_nas.ipynb", "exec"), namespace)
    return namespace


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--tier", choices=("main", "bonus"), default="main")
    parser.add_argument("--profile", choices=("fast", "full"), default="full")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if args.seeds < 2:
        parser.error("--seeds must be at least 2 (the standard error needs two)")

    start = time.time()
    nb = load_reference(args.profile)
    results = nb["compare_searches"](
        partial(nb["EvolutionSearcher"], nb["efficiency_predictor"], nb["predictor"]),
        partial(nb["RandomSearcher"], nb["efficiency_predictor"], nb["predictor"]),
        nb[f"{args.tier.upper()}_CONSTRAINT"], args.seeds,
        measure=lambda arch: nb["measure_accuracy"](nb["supernet"], arch, nb["calib_images"], nb["test_images"],
                                                    nb["test_labels"]),
        population_size=args.population, max_time_budget=args.generations)
    results.update(tier=args.tier, constraint=nb[f"{args.tier.upper()}_CONSTRAINT"], population=args.population,
                   generations=args.generations,
                   run={"profile": args.profile, "notebook_seconds": round(time.time() - start), "machine": machine()})
    print_table(results, {"evolution_minus_random": Goal(">=", 0)})
    write_json(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
