#!/usr/bin/env python3
"""Times scikit-learn and isotree on the rows `forest-bench --data-dir` wrote, and prints one
table with packetguard-forest's figures (from `forest-bench --json`) and the ratios.

Usage: compare.py DATA_DIR OURS_JSON

Same workload for all three: 100 trees, sub-sample 256, train on the training rows, score
the scoring rows, one thread. Run through bench/run.sh, which makes the virtualenv.
"""

import json
import os
import sys
import time

import numpy as np


def median_of(n, f):
    """Median wall time of n runs of f (the machine may be shared), and f's last result."""
    times = []
    result = None
    for _ in range(n):
        t = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - t)
    times.sort()
    return (times[(n - 1) // 2] + times[n // 2]) / 2, result


def auc(scores, labels):
    from sklearn.metrics import roc_auc_score
    return roc_auc_score(labels, scores)


def main():
    data_dir, ours_json = sys.argv[1], sys.argv[2]
    shape = json.load(open(os.path.join(data_dir, "shape.json")))
    d = shape["features"]
    train = np.fromfile(os.path.join(data_dir, "train.f64")).reshape(-1, d)
    score = np.fromfile(os.path.join(data_dir, "score.f64")).reshape(-1, d)
    labels = np.fromfile(os.path.join(data_dir, "score_labels.u8"), dtype=np.uint8)
    ours = json.load(open(ours_json))

    from sklearn.ensemble import IsolationForest
    import isotree

    rows = {}
    fit_s, skl = median_of(5, lambda: IsolationForest(
        n_estimators=100, max_samples=256, random_state=0, n_jobs=1).fit(train))
    score_s, s = median_of(3, lambda: -skl.score_samples(score))
    rows["scikit-learn"] = (fit_s, score_s * 1e6 / len(score), auc(s, labels))

    fit_s, iso = median_of(5, lambda: isotree.IsolationForest(
        ntrees=100, sample_size=256, ndim=1, nthreads=1, random_seed=0).fit(train))
    score_s, s = median_of(3, lambda: iso.predict(score))
    rows["isotree"] = (fit_s, score_s * 1e6 / len(score), auc(s, labels))

    ours_row = (ours["train_s"], ours["score_us_per_row"], ours["auc"])
    print(f"\n{len(train)} training rows, {len(score)} scored rows ({ours.get('data', '?')}), "
          f"{d} features, 100 trees, psi 256, 1 thread; our kernel: {ours.get('kernel', '?')}; "
          f"load average {os.getloadavg()[0]:.2f}; medians\n")
    print(f"{'':18}{'train s':>10}{'score us/row':>14}{'AUC':>8}"
          f"{'train vs ours':>15}{'score vs ours':>15}")
    print(f"{'packetguard':18}{ours_row[0]:>10.4f}{ours_row[1]:>14.3f}{ours_row[2]:>8.4f}"
          f"{'1.0x':>15}{'1.0x':>15}")
    for name, (fit_s, us, a) in rows.items():
        print(f"{name:18}{fit_s:>10.4f}{us:>14.3f}{a:>8.4f}"
              f"{fit_s / ours_row[0]:>14.1f}x{us / ours_row[1]:>14.1f}x")
    print("\n(ratios > 1: packetguard-forest is that many times faster)")


if __name__ == "__main__":
    main()
