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
from common import REPO, machine, print_table, write_json

GRADED = ("peak_memory", "efficiency_predictor", "accuracy_predictor", "train_predictor", "random_searcher",
          "mutate_sample", "crossover_sample", "evolution_search")


def load_reference(profile: str) -> dict:
    """Execute the notebook cells a search needs; return their namespace."""
    os.environ.update(LABS_PROFILE=profile, LABS_PROGRESS="0", MPLBACKEND="Agg")
    os.environ.pop("LABS_RESULTS_JSON", None)
    cells = [c for c in nbformat.read(REPO / "solutions/lab3_nas/lab3_nas.ipynb", as_version=4).cells
             if c.cell_type == "code"]

    def cell(predicate):
        matches = [c.source for c in cells if predicate(c)]
        if len(matches) != 1:
            raise SystemExit("the Lab 3 reference notebook changed: update benchmarks/lab3_search_budget.py")
        return matches[0]

    sources = [cell(lambda c: "nas_images()" in c.source and "SEARCH = " in c.source),
               "supernet = load_supernet()\ntable_archs, table_accuracy, table_meta = load_arch_table()\n"
               "encoder = ArchEncoder()"]
    sources += [cell(lambda c, g=g: c.metadata.get("nbgrader", {}).get("grade_id") == g) for g in GRADED]
    sources += [cell(lambda c: c.source.startswith("x_table, y_table")).split("\nfig, axes")[0],
                cell(lambda c: c.source.startswith("MAIN_CONSTRAINT, MAIN_TARGET"))]
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
    print_table(results, [("queries", "d", "", None), ("seeds", "d", "", None),
                          ("evolution_minus_random", "+.2f", ">= 0", lambda v: v >= 0),
                          ("evolution_minus_random_se", ".2f", "", None),
                          ("evolution_ahead", "d", "", None),
                          ("evolution_minus_random_predicted", "+.2f", "", None)])
    write_json(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
