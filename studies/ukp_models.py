"""Single Bradley–Terry vs a mixture of annotator types on UKPConvArg1 (real crowd data).

UKPConvArg1: 16k argument pairs on 32 topic/stance prompts judged by crowd workers for
convincingness (84k judgments from 3.8k workers, 23% ties, modelled with Davidson's tie
parameter). Responses are embedded with MiniLM (``mp.TextEncoder``, the bundled
all-MiniLM-L6-v2; cached, so a second run encodes nothing).

For each of two splits (annotator: 20% of the workers held out, each predicted sequentially
from the type posterior given their earlier judgments; observation: 20% of the judgments
held out, predicted with the worker's posterior type), the number of types is selected on
the training part only (``mp.select_n_types``, held-out criterion with the one-standard-error
rule), and the held-out log-likelihood per judgment is reported for the single model and the
selected mixture.

Usage::

    python studies/ukp_models.py                 # writes studies/results/ukp_models/
    python studies/ukp_models.py --ks 1-3 --restarts 2 --out /tmp/ukp   # quicker
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ks", default="1-5", help="candidate numbers of types")
    p.add_argument("--restarts", type=int, default=4)
    p.add_argument("--prior-scale", type=float, default=1.0)
    p.add_argument("--test-size", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--features", default=None, help="a Features folder to use instead of embedding with MiniLM")
    p.add_argument("--out", default=str(HERE / "results" / "ukp_models"))
    return p.parse_args(argv)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    import torch

    import mixpref as mp
    from mixpref.cli.models import parse_ks

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = mp.datasets.load("ukpconvarg1")
    if args.features:
        feats = mp.Features.load(args.features).align(data)
        feature_note = f"features from {args.features}"
    else:
        feats = mp.TextEncoder(model="minilm", progress=False).encode_data(data)
        feature_note = "MiniLM (all-MiniLM-L6-v2, bundled) embeddings of prompt + argument text, unit norm"
    print(f"{data}; features {feats} ({time.perf_counter() - t0:.1f} s)", flush=True)
    base = mp.BradleyTerry(prior_scale=args.prior_scale, device=args.device, random_state=args.seed)
    ks = parse_ks(args.ks)
    results = []
    tables = {}
    for split in ("annotator", "observation"):
        train, test = data.split(test_size=args.test_size, by=split, random_state=args.seed)
        t = time.perf_counter()
        single = mp.BradleyTerry(**base.get_params()).fit(train, feats)
        t_single = time.perf_counter() - t
        t = time.perf_counter()
        sel = mp.select_n_types(train, feats, base=base, ks=ks, n_restarts=args.restarts, random_state=args.seed)
        t_sel = time.perf_counter() - t
        mix = sel.model
        tables[split] = sel.table
        row = {
            "split": split,
            "train": len(train),
            "test": len(test),
            "single_bt_heldout_ll": single.score(test, feats),
            "chosen_k": sel.k,
            "mixture_heldout_ll": mix.score(test, feats),
            "mixture_weights": [round(float(w), 3) for w in mix.weights_],
            "single_seconds": t_single,
            "selection_seconds": t_sel,
            "tie_single": float(single.tie_[0]) if hasattr(single, "tie_") else None,
            "tie_mixture": [round(float(t), 3) for t in mix.tie_] if hasattr(mix, "tie_") else None,
        }
        if split == "annotator":
            row["mixture_heldout_ll_prior_only"] = mix.score(test, feats, new_annotators="prior")
        # the best fixed-K mixture of the candidates, for reference (fitted on the whole training part)
        results.append(row)
        print(json.dumps(row, indent=1), flush=True)
        print(sel.table.to_string(index=False), flush=True)
    command = "python studies/ukp_models.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (out / "results.json").write_text(json.dumps({"args": vars(args), "results": results,
                                                  "selection": {k: json.loads(v.to_json(orient="records"))
                                                                for k, v in tables.items()}}, indent=2))
    lines = [
        "# UKPConvArg1: single Bradley–Terry vs a selected mixture of annotator types",
        "",
        f"Command: `{command.strip()}` (total {time.perf_counter() - t0:.0f} s on {_device_note(args.device)}).",
        "",
        f"Data: {len(data)} judgments, {len(data.annotators)} workers, 32 prompts, 1,052 arguments; 22.6% ties "
        "(Davidson tie model, learned tie parameter). Features: " + feature_note + ".",
        "",
        "Held-out log-likelihood per judgment (higher is better). The number of types is chosen on the training "
        "part only, by `select_n_types` (a further 20% held out inside it; the smallest K within two paired standard errors of the best).",
        "",
        "| split | train | test | single BT | chosen K | mixture | mixture weights | tie nu (single; per type) |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['split']} | {r['train']} | {r['test']} | {r['single_bt_heldout_ll']:.4f} | {r['chosen_k']} | "
                     f"{r['mixture_heldout_ll']:.4f} | {r['mixture_weights']} | {r['tie_single']:.3f}; {r['tie_mixture']} |")
    ann = next(r for r in results if r["split"] == "annotator")
    if "mixture_heldout_ll_prior_only" in ann:
        lines += ["", f"Annotator split, mixture predicting new workers with the type weights only (no sequential "
                      f"update): {ann['mixture_heldout_ll_prior_only']:.4f}."]
    for split, table in tables.items():
        lines += ["", f"Selection table ({split} split; criterion = inner held-out LL per judgment):", "",
                  _markdown(table)]
    lines += ["", "Splits: `annotator` holds out 20% of the workers (each predicted from the type posterior given "
                  "their earlier judgments in the test part); `observation` holds out 20% of the judgments (predicted "
                  "with the worker's posterior type from training).", ""]
    (out / "report.md").write_text("\n".join(lines))
    print(f"wrote {out / 'report.md'}")
    return results


def _device_note(device):
    import torch

    from mixpref._device import resolve_device

    dev = resolve_device(device)
    return f"{dev.type} ({torch.get_num_threads()} threads)" if dev.type == "cpu" else torch.cuda.get_device_name(dev)


def _markdown(table):
    cols = list(table.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in table.iterrows():
        cells = []
        for col, v in zip(cols, row.tolist()):
            if col in ("k", "n_params"):
                cells.append(str(int(v)))
            elif col == "seconds":
                cells.append(f"{v:.1f}")
            else:
                cells.append(f"{v:.4f}")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
