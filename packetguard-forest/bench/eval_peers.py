#!/usr/bin/env python3
"""Peer forests on the evaluation's own rows: isotree and scikit-learn against PacketGuard.

`cargo xtask eval` runs `packetguard evaluate --rows` on every labelled capture, which writes,
per model detector, every scored row: its label (1 when the verdict is about a labelled
attack, as the evaluation judges it), PacketGuard's score and the model's feature values. This
script trains isotree and scikit-learn's IsolationForest on the same generated baseline the
shipped model was trained on (`packetguard model generate`, the recipe's seed and rows), with
the same trees, sample size and log1p transform, scores the very same rows, and prints the ROC
AUC of each forest per detector: pooled over every run, and how many runs each forest ranks
best. Nothing here decides a test; it prints figures.

Usage: eval_peers.py ROWS_DIR --train KIND=CSV:PSI [--train ...] [--trees 100] [--seed 1]
ROWS_DIR holds one sub-directory per run, each with `<kind>.csv` files.
"""

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd
from isotree import IsolationForest as IsoTree
from sklearn.ensemble import IsolationForest as SkForest
from sklearn.metrics import roc_auc_score

# A run whose two AUCs differ by less than this is a tie, not a win.
TIE = 0.005


def log1p_signed(x):
    """The engine's log1p transform: ln(1 + x), and -ln(1 + |x|) below 0."""
    return np.sign(x) * np.log1p(np.abs(x))


def parse_train(specs):
    out = {}
    for spec in specs:
        kind, _, rest = spec.partition("=")
        path, _, psi = rest.rpartition(":")
        if not kind or not path or not psi.isdigit():
            sys.exit(f"--train {spec!r}: expected KIND=CSV:PSI")
        out[kind] = (path, int(psi))
    return out


def runs_of(rows_dir, kind):
    """(run name, frame) for every run directory that scored rows of `kind`."""
    for run in sorted(os.listdir(rows_dir)):
        path = os.path.join(rows_dir, run, f"{kind}.csv")
        if os.path.isfile(path):
            yield run, pd.read_csv(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rows_dir")
    ap.add_argument("--train", action="append", default=[])
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    train = parse_train(args.train)

    print("Peer forests on the evaluation's rows (same baseline, trees, sample size, log1p; ROC AUC)")
    print(
        f"  {'detector':<8} {'rows':>9} {'attack':>8} {'runs':>5}  "
        f"{'ours':>7} {'isotree':>8} {'sklearn':>8}   runs best (ours/isotree/tie)"
    )
    for kind, (csv, psi) in train.items():
        runs = list(runs_of(args.rows_dir, kind))
        if not runs:
            print(f"  {kind:<8} no rows")
            continue
        features = list(runs[0][1].columns[2:])
        base = pd.read_csv(csv, usecols=features)[features].to_numpy(dtype=np.float64)
        x_train = log1p_signed(base)
        psi = min(psi, len(x_train))
        start = time.monotonic()
        iso = IsoTree(
            ntrees=args.trees,
            sample_size=psi,
            ndim=1,
            nthreads=1,
            random_seed=args.seed,
            missing_action="fail",
            penalize_range=False,
        ).fit(x_train)
        sk = SkForest(n_estimators=args.trees, max_samples=psi, random_state=args.seed).fit(x_train)
        scored = []
        wins = [0, 0, 0]
        per_run = []
        for _, frame in runs:
            if list(frame.columns[2:]) != features:
                sys.exit(f"{kind}: runs name different features")
            x = log1p_signed(frame[features].to_numpy(dtype=np.float64))
            y = frame["attack"].to_numpy()
            ours = frame["score"].to_numpy()
            theirs = iso.predict(x)
            skl = -sk.score_samples(x)
            scored.append((y, ours, theirs, skl))
            if 0 < y.sum() < len(y):
                a, b = roc_auc_score(y, ours), roc_auc_score(y, theirs)
                wins[0 if a > b + TIE else 1 if b > a + TIE else 2] += 1
                per_run.append((a, b, roc_auc_score(y, skl)))
        y = np.concatenate([s[0] for s in scored])
        cols = [np.concatenate([s[i] for s in scored]) for i in (1, 2, 3)]
        if 0 < y.sum() < len(y):
            aucs = [f"{roc_auc_score(y, c):.4f}" for c in cols]
        else:
            aucs = ["-"] * 3
        medians = [f"{m:.4f}" for m in np.median(per_run, axis=0)] if per_run else ["-"] * 3
        print(
            f"  {kind:<8} {len(y):>9} {int(y.sum()):>8} {len(runs):>5}  "
            f"{aucs[0]:>7} {aucs[1]:>8} {aucs[2]:>8}   {wins[0]}/{wins[1]}/{wins[2]}"
            f"   ({time.monotonic() - start:.0f} s)"
        )
        print(
            f"  {'':<8} {'median of the runs':>24}  "
            f"{medians[0]:>7} {medians[1]:>8} {medians[2]:>8}"
        )
    print(
        f"  first line: pooled over every run's rows; second: the median run's AUC. A run counts "
        f"for the forest whose AUC is more than {TIE} higher (runs with both classes only)."
    )


if __name__ == "__main__":
    main()
