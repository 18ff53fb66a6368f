#!/usr/bin/env python3
"""
Summary of experiments/protocols/mirror-seeds.sh: per seed and side (replay = our draws, mirror = PyTorch's),
dense, per-layer magnitude at 80 %, SparseGPT at 80 % and their difference (points); the mean, sd and 95 %
Student-t interval of each; Welch's t for replay − mirror.

  /usr/bin/python3 experiments/protocols/summarize_mirror.py [dir, default /tmp/bp_mirror]
"""
import json
import math
import os
import statistics as st
import sys

KEYS = ['dense', 'layerMag80', 'sparsegpt80', 'sparsegpt80MinusLayerMag80']


# Student-t 97.5 % quantiles, df 1-30 (beyond: the normal 1.96).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df):
    return T975[df - 1] if df <= len(T975) else 1.96


def read(path):
    if not os.path.exists(path):
        return []
    rows = [json.loads(l) for l in open(path) if l.strip()]
    rows = [r for r in rows if r.get('dtype', 'float32') == 'float32']
    return sorted({r['seed']: r for r in rows}.values(), key=lambda r: r['seed'])


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else '/tmp/bp_mirror'
    sides = {'replay (our init and batch order, torch Adam)': read(os.path.join(d, 'replay.jsonl')), 'mirror (PyTorch draws)': read(os.path.join(d, 'mirror.jsonl'))}
    for name, rows in sides.items():
        print(name)
        for r in rows:
            print(f"  seed {r['seed']:2d}  " + '  '.join(f'{k} {100 * r[k]:5.1f}' for k in KEYS))
        n = len(rows)
        if n < 2:
            continue
        for k in KEYS:
            xs = [100 * r[k] for r in rows]
            m, sd = st.mean(xs), st.stdev(xs)
            h = t975(n - 1) * sd / math.sqrt(n)
            print(f'  {k:28s} n {n}  mean {m:6.2f}  sd {sd:5.2f}  95 % [{m - h:.2f}, {m + h:.2f}]')
        print(f"  seeds with SparseGPT − magnitude ≥ 15 points: {sum(r['sparsegpt80MinusLayerMag80'] >= 0.15 for r in rows)} of {n}")
    a, b = sides.values()
    if len(a) > 1 and len(b) > 1:
        for k in ('layerMag80', 'sparsegpt80MinusLayerMag80'):
            xa, xb = [100 * r[k] for r in a], [100 * r[k] for r in b]
            se = math.sqrt(st.variance(xa) / len(xa) + st.variance(xb) / len(xb))
            diff = st.mean(xa) - st.mean(xb)
            print(f'Welch {k}: replay − mirror = {diff:.2f} points, se {se:.2f}, t {diff / se:.2f}')


if __name__ == '__main__':
    main()
