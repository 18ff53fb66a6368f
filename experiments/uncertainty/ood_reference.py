#!/usr/bin/env python3
"""
Independent PyTorch reference for issue 13's Fashion-MNIST OOD claim: how well does a plain
LeNet-300-100 trained on exactly the quickstart's 8,000 embedded MNIST digits separate MNIST test
digits from Fashion-MNIST test images, by predictive entropy and max probability; and how well does
a deep ensemble of such networks (Lakshminarayanan et al. 2017) do, by entropy, max probability and
mutual information (disagreement between members)?

  npx tsx experiments/protocols/export-embedded.ts /tmp/bp_torch       # the embedded split as raw arrays
  /usr/bin/python3 experiments/uncertainty/ood_reference.py [--members 5] [--epochs 30] [--seed 1]

Data: pixels in [0, 1], flat 784, row-major (the layout of both the embedded split and the IDX files);
Fashion-MNIST test images from the Debian IDX files (uint8 / 255), exactly what the quickstart's
`eval.ood` feeds the network. Network: 784-300-100-10 ReLU, nn.Linear's default init, Adam 1e-3,
batch 100, examples reshuffled each epoch, optional weight decay (--wd) and standardized inputs (--input).

AUROCs (OOD positive, higher score = more OOD, ties ½) on two in/out pairs:
  - "500":  the first 500 test digits vs the first 500 Fashion-MNIST test images (the quickstart's sets);
  - "full": all 1,000 test digits vs all 10,000 Fashion-MNIST test images (less sampling noise).
Prints one JSON line: per member and for the ensemble of all members.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_split(dir_, part):
    x = np.fromfile(os.path.join(dir_, f'{part}_x.f32'), dtype='<f4').reshape(-1, 784)
    y = np.fromfile(os.path.join(dir_, f'{part}_y.i32'), dtype='<i4').astype(np.int64)
    return torch.from_numpy(x.copy()), torch.from_numpy(y)


def load_idx_images(path):
    """uint8 IDX images [N, 28, 28] (gzipped or raw) → float32 [N, 784] in [0, 1]."""
    raw = open(path, 'rb').read()
    if raw[:2] == b'\x1f\x8b':
        raw = gzip.decompress(raw)
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != 3:
        raise SystemExit(f'{path}: expected a uint8 IDX file with 3 dims')
    n, h, w = (int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], 'big') for i in range(3))
    x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h * w)
    return torch.from_numpy(x.astype(np.float32) / 255.0)


def auroc(s_in, s_out):
    """P(s_out > s_in) + ½ P(s_out = s_in), by the rank sum with mid-ranks (float64)."""
    s = np.concatenate([np.asarray(s_in, np.float64), np.asarray(s_out, np.float64)])
    order = np.argsort(s, kind='mergesort')
    ranks = np.empty(len(s))
    sv = s[order]
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and sv[j] == sv[i]:
            j += 1
        ranks[order[i:j]] = (i + 1 + j) / 2
        i = j
    m, n = len(s_out), len(s_in)
    return float((ranks[n:].sum() - m * (m + 1) / 2) / (m * n))


def scores(prob_samples):
    """prob_samples [S, n, k] → entropy of the mean, 1 − max of the mean, MI = H[mean] − mean H."""
    p = prob_samples.mean(0)
    ent = -(p * torch.log(p.clamp_min(1e-30))).sum(1)
    exp_ent = -(prob_samples * torch.log(prob_samples.clamp_min(1e-30))).sum(2).mean(0)
    return {'entropy': ent.numpy(), 'maxprob': (1 - p.max(1).values).numpy(), 'mi': (ent - exp_ent).clamp_min(0).numpy()}


def make_net():
    return nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))


def train(net, x, y, epochs, gen, lr, wd, bs=100):
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=wd)
    n = x.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for k in range(0, n, bs):
            idx = perm[k : k + bs]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='/tmp/bp_torch')
    ap.add_argument('--fashion', default=os.environ.get('FASHION_MNIST_DIR', '/usr/share/datasets/fashion-mnist'))
    ap.add_argument('--members', type=int, default=5)
    ap.add_argument('--epochs', type=int, default=30)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--wd', type=float, default=0.0)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--input', default='unit', choices=['unit', 'standard'], help='standard: (x − 0.1307) / 0.3081 for every set (torchvision recipe)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    xtr, ytr = load_split(a.data, 'train')
    xte, yte = load_split(a.data, 'test')
    fpath = os.path.join(a.fashion, 't10k-images-idx3-ubyte.gz')
    if not os.path.exists(fpath):
        fpath = os.path.join(a.fashion, 't10k-images-idx3-ubyte')
    if not os.path.exists(fpath):
        raise SystemExit(f'no Fashion-MNIST t10k images in {a.fashion} (apt-get install dataset-fashion-mnist, or --fashion DIR)')
    xf = load_idx_images(fpath)
    if a.input == 'standard':
        xtr, xte, xf = ((v - 0.1307) / 0.3081 for v in (xtr, xte, xf))
    pairs = {'500': (xte[:500], xf[:500]), 'full': (xte, xf)}
    stats = {
        'mnistTestMean': round(xte.mean().item(), 4),
        'fashionTestMean': round(xf.mean().item(), 4),
        'mnistTestStd': round(xte.std().item(), 4),
        'fashionTestStd': round(xf.std().item(), 4),
    }
    t0 = time.time()
    # Pixels that are 0 in every training digit: their first-layer weights never get a gradient (unit inputs) and
    # keep their random initial values; 'deadZeroed' below re-scores each member with those weights set to 0.
    dead = (xtr != xtr[0:1]).sum(0) == 0 if a.input == 'standard' else (xtr != 0).sum(0) == 0
    stats['deadPixels'] = int(dead.sum().item())
    probs = {k: ([], []) for k in pairs}
    members = []
    for m in range(a.members):
        torch.manual_seed(a.seed * 1000 + m)
        gen = torch.Generator().manual_seed(a.seed * 1000 + m)
        net = make_net()
        train(net, xtr, ytr, a.epochs, gen, a.lr, a.wd)
        net.eval()
        rec = {'member': m}
        with torch.no_grad():
            rec['testAccuracy'] = round((net(xte).argmax(1) == yte).float().mean().item(), 4)
            for key, (xi, xo) in pairs.items():
                pi, po = F.softmax(net(xi), 1), F.softmax(net(xo), 1)
                probs[key][0].append(pi)
                probs[key][1].append(po)
                si, so = scores(pi[None]), scores(po[None])
                rec[key] = {s: round(auroc(si[s], so[s]), 4) for s in ('entropy', 'maxprob')}
            net[0].weight[:, dead] = 0
            pi, po = F.softmax(net(xte[:500]), 1), F.softmax(net(xf[:500]), 1)
            si, so = scores(pi[None]), scores(po[None])
            rec['deadZeroed500'] = {s: round(auroc(si[s], so[s]), 4) for s in ('entropy', 'maxprob')}
        members.append(rec)
    ens = {}
    with torch.no_grad():
        for key in pairs:
            pi, po = torch.stack(probs[key][0]), torch.stack(probs[key][1])
            si, so = scores(pi), scores(po)
            ens[key] = {s: round(auroc(si[s], so[s]), 4) for s in ('entropy', 'maxprob', 'mi')}
        ens['testAccuracy'] = round((torch.stack(probs['full'][0]).mean(0).argmax(1) == yte).float().mean().item(), 4)
    out = {
        'epochs': a.epochs,
        'lr': a.lr,
        'wd': a.wd,
        'input': a.input,
        'seed': a.seed,
        'pixels': stats,
        'members': members,
        'memberMean': {
            key: {s: round(float(np.mean([r[key][s] for r in members])), 4) for s in ('entropy', 'maxprob')} for key in pairs
        },
        'ensemble': ens,
        'seconds': round(time.time() - t0, 1),
    }
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
