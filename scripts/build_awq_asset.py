"""Build the AWQ asset Lab 5 runs on when a student's Lab 4 saved none: the per-channel scales and the
clipping thresholds that Lab 4's reference answers find for SmolLM2-135M-Instruct at W4, groups of 64
(the scales and thresholds only, never the weights: 1.5 M numbers, stored as fp16).

    python scripts/build_awq_asset.py                           # what was shipped (2 CPU cores, about 7 min)
    python scripts/build_awq_asset.py --profile fast --out /tmp/awq.pt   # a smoke test

It runs Lab 4's own cells, selected by id from the reference notebook (imports and settings, the model
and the Austen windows, the graded answers), in the chosen profile, then what Lab 4's AWQ cell does for
W4: ``run_awq`` with the scale and clipping searches. It records in the asset's metadata the W4 g64
AWQ + clipping perplexity on Lab 4's Persuasion windows, as searched (in the full profile, Lab 4's
recorded ``w4g64.awq_clip_ppl``) and with the stored fp16 values, with the command, profile, commit,
time and machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # grading.labs (the reference notebook's cells by id)

from grading.labs import reference_cells  # noqa: E402

LAB = "lab4_llm_compression"
SETUP_CELLS = ("d4931e25", "b8c18e87")  # imports and settings; the model, the Austen windows, the baseline
ANSWER_CELLS = ("484b388e", "e0629915", "95257955", "9271e225")  # pseudo_quantize_tensor ... auto_clip_layer
W_BIT = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=("fast", "full"), default="full")
    parser.add_argument("--out", type=Path, default=REPO / "helpers" / "shipped" / "awq_smollm2_w4g64.pt")
    args = parser.parse_args()
    os.environ.update(LABS_PROFILE=args.profile, LABS_PROGRESS="0", MPLBACKEND="Agg")
    os.environ.pop("LABS_RESULTS_JSON", None)

    start = time.time()
    namespace: dict = {}
    for source in reference_cells(LAB, SETUP_CELLS + ANSWER_CELLS):
        exec(compile(source, f"{LAB}.ipynb", "exec"), namespace)
    ns = namespace
    import functools

    import torch

    from helpers.awq import apply_awq_results, load_awq_results, run_awq, save_awq_results

    model, group = ns["model"], ns["Q_GROUP_SIZE"]

    def w4_perplexity():  # Lab 4's RTN step after the AWQ transform, then its evaluation
        ns["quantize_linears"](model, lambda w: ns["pseudo_quantize_tensor"](w, W_BIT, group))
        return ns["perplexity"](model, ns["eval_windows"])

    clip = functools.partial(ns["auto_clip_layer"], n_grid=ns["N_GRID"], n_sample_token=ns["CLIP_TOKENS"])
    results = run_awq(model, ns["calib_windows"], W_BIT, group,
                      functools.partial(ns["auto_scale_block"], n_grid=ns["N_GRID"]), clip)
    search_ppl = w4_perplexity()  # = Lab 4's w4g64.awq_clip_ppl in the same profile
    save_awq_results(results, args.out)
    ns["restore"](model, ns["baseline_state"])
    apply_awq_results(model, load_awq_results(args.out, verbose=False)[0])  # what Lab 5 gets (fp16-stored values)
    ppl = w4_perplexity()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    meta = {"model": ns["MODEL_NAME"], "w_bit": W_BIT, "group_size": group, "profile": args.profile,
            "calib_tokens": int(ns["calib_windows"].numel()), "n_grid": ns["N_GRID"],
            "eval_tokens": int(ns["eval_windows"].numel()), "awq_clip_ppl": round(ppl, 4),
            "search_awq_clip_ppl": round(search_ppl, 4),
            "baseline_ppl": round(ns["baseline_ppl"], 4), "made_by": f"reference {LAB}",
            "command": shlex.join(["python", "scripts/build_awq_asset.py", *sys.argv[1:]]),
            "git_commit": commit, "seconds": round(time.time() - start),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
                       f"{torch.__version__}"}
    save_awq_results(results, args.out, meta)
    print(f"W{W_BIT} g{group} AWQ + clipping: perplexity {ppl:.2f} with the stored values, {search_ppl:.2f} as "
          f"searched (baseline {ns['baseline_ppl']:.2f}) "
          f"on {meta['eval_tokens']} tokens; wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, "
          f"{meta['seconds']} s)")


if __name__ == "__main__":
    main()
