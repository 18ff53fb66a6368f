#!/usr/bin/env python3
"""
PyTorch mirror of configs/protocols-lenet300.yaml (issue 10's reference setup), on exactly the
embedded MNIST split our runs use, to find out which setup difference makes our network more or
less robust to one-shot magnitude pruning and random masks than the issue's reference.

  npx tsx experiments/protocols/export-embedded.ts /tmp/bp_torch     # writes the split as raw arrays
  /usr/bin/python3 experiments/protocols/torch_reference.py --init torch --bias torch [--at-init] [--seed 1]

LeNet-300-100 (784-300-100-10, ReLU), Adam 1e-3, batch 100, 30 epochs, examples reshuffled each epoch.
Reports, as one JSON line: dense test accuracy; one-shot global magnitude (weights only, biases kept)
at 90 / 95 / 98 % (and, as globalMagWithBiases*, with the biases ranked and pruned too); per-layer magnitude at 80 %; with --at-init, random and SNIP (|g ⊙ w| on one batch
of 100) masks drawn at initialization (global scope), then 30 epochs of training with the mask fixed.

Factors (one at a time):
  --init  torch: weights U(±1/√fan_in) (nn.Linear's default, kaiming_uniform with a = √5)
          he:    weights truncated normal (±2 std), std √(2/fan_in) (our default, src/nn/init.ts)
  --bias  torch: biases U(±1/√fan_in) (nn.Linear's default);  zero: biases 0 (ours)
  --input unit:  pixels in [0, 1] (ours);  standard: (x − 0.1307) / 0.3081 (torchvision MNIST recipe)

Also reported: SparseGPT at 80 % (sparsegpt80; 1,000 calibration images drawn with the seed, uniform per
layer, damping 1 %, blocks of 128; an independent implementation of the paper's algorithm in float64), so
that sparsegpt80 − layerMag80 is the mirror's value of issue 10's claim.

Replay (is our training the same algorithm?):
  npx tsx experiments/protocols/export-trajectory.ts configs/protocols-sparsegpt-lenet300.yaml /tmp/traj-s2 --seed 2 --epochs-ours 1
  /usr/bin/python3 experiments/protocols/torch_reference.py --replay /tmp/traj-s2 [--compare-model <run dir>]
trains our initial weights on our batch order (every epoch's permutation) with torch.optim.Adam (--adam-eps,
default 1e-8 as ours), reports after --epochs-ours epochs the largest difference from our Trainer's weights,
and after all epochs the same measures as above; with --compare-model, the difference from that run's saved
model (model/main/posterior.bin) and that model's own per-layer magnitude and SparseGPT accuracies.

  /usr/bin/python3 experiments/protocols/torch_reference.py --model <run dir>
evaluates a run's saved model only (dense, per-layer magnitude 50-90 %, SparseGPT 80 %).
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load(dir_, part):
    x = np.fromfile(os.path.join(dir_, f'{part}_x.f32'), dtype='<f4').reshape(-1, 784)
    y = np.fromfile(os.path.join(dir_, f'{part}_y.i32'), dtype='<i4').astype(np.int64)
    return torch.from_numpy(x.copy()), torch.from_numpy(y)


def make_net(init, bias, gen):
    sizes = [784, 300, 100, 10]
    layers = []
    for i in range(3):
        l = nn.Linear(sizes[i], sizes[i + 1])
        fan_in = sizes[i]
        with torch.no_grad():
            if init == 'torch':
                b = 1 / math.sqrt(fan_in)
                l.weight.uniform_(-b, b, generator=gen)
            elif init == 'he':
                std = math.sqrt(2 / fan_in)
                w = torch.empty_like(l.weight)
                # truncated normal at ±2 std by rejection (as Keras / tf.truncatedNormal)
                nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)
                l.weight.copy_(w)
            else:
                raise SystemExit(f'--init: unknown {init}')
            if bias == 'torch':
                b = 1 / math.sqrt(fan_in)
                l.bias.uniform_(-b, b, generator=gen)
            else:
                l.bias.zero_()
        layers.append(l)
    return nn.ModuleList(layers)


def forward(net, x, masks=None):
    for i, l in enumerate(net):
        w = l.weight if masks is None else l.weight * masks[i]
        x = F.linear(x, w, l.bias)
        if i < len(net) - 1:
            x = F.relu(x)
    return x


def train(net, xtr, ytr, epochs, gen, masks=None, lr=1e-3, bs=100, eps=1e-8):
    opt = torch.optim.Adam(net.parameters(), lr=lr, eps=eps)
    n = xtr.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for k in range(0, n, bs):
            idx = perm[k : k + bs]
            loss = F.cross_entropy(forward(net, xtr[idx], masks), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if masks is not None:
                with torch.no_grad():
                    for l, m in zip(net, masks):
                        l.weight.mul_(m)


@torch.no_grad()
def accuracy(net, x, y, masks=None):
    return (forward(net, x, masks).argmax(1) == y).float().mean().item()


def global_masks(scores, sparsity):
    flat = torch.cat([s.flatten() for s in scores])
    k = round(sparsity * flat.numel())
    if k == 0:
        return [torch.ones_like(s) for s in scores]
    order = torch.argsort(flat, stable=True)
    keep = torch.ones_like(flat)
    keep[order[:k]] = 0
    out, off = [], 0
    for s in scores:
        out.append(keep[off : off + s.numel()].view_as(s))
        off += s.numel()
    return out


def layer_masks(scores, sparsity):
    return [global_masks([s], sparsity)[0] for s in scores]


# ---- networks as lists of (W [in, out], b): our layout, shared by the mirror, replay and saved models ----


def as_params(net):
    return [(l.weight.detach().t().contiguous(), l.bias.detach().clone()) for l in net]


def p_forward(params, x, masks=None, upto=None):
    n = len(params) if upto is None else upto
    for i, (w, b) in enumerate(params[:n]):
        x = x @ (w if masks is None else w * masks[i]) + b
        if i < len(params) - 1:
            x = F.relu(x)
    return x


@torch.no_grad()
def p_accuracy(params, x, y, masks=None):
    return (p_forward(params, x, masks).argmax(1) == y).float().mean().item()


def sparsegpt_weight(w_out_in, H, sparsity, blocksize=128, percdamp=0.01):
    """Frantar & Alistarh (2023), Algorithm 1 with adaptive mask selection per column block; W [rows=out, cols=in]."""
    W = w_out_in.double().clone()
    H = H.double().clone()
    cols = W.shape[1]
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += percdamp * torch.mean(torch.diag(H)) * torch.eye(cols, dtype=H.dtype)
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    keep = torch.ones_like(W, dtype=torch.bool)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        tmp = W1**2 / torch.diag(Hinv1).reshape(1, -1) ** 2
        k = round(sparsity * tmp.numel())
        prune1 = torch.zeros(tmp.numel(), dtype=torch.bool)
        prune1[torch.argsort(tmp.flatten(), stable=True)[:k]] = True
        prune1 = prune1.view_as(tmp)
        for i in range(i2 - i1):
            w = W1[:, i]
            q = w.clone()
            q[prune1[:, i]] = 0
            err = (w - q) / Hinv1[i, i]
            W1[:, i:] -= err.unsqueeze(1) @ Hinv1[i, i:].unsqueeze(0)
            W1[:, i] = q
            Err1[:, i] = err
        W[:, i1:i2] = W1
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
        keep[:, i1:i2] = ~prune1
    W[~keep] = 0
    return W.float(), keep.float()


@torch.no_grad()
def sparsegpt_params(params, xcal, sparsity):
    """Each layer in turn on the inputs the already pruned layers before it produce; returns new params and masks."""
    out, masks = [], []
    h = xcal
    for i, (w, b) in enumerate(params):
        H = h.double().t() @ h.double()
        nw, m = sparsegpt_weight(w.t(), H, sparsity)
        out.append((nw.t().contiguous(), b))
        masks.append(m.t().contiguous())
        h = h @ out[-1][0] + b
        if i < len(params) - 1:
            h = F.relu(h)
    return out, masks


def layer_mag_report(params, xte, yte, out, levels=(0.8, 0.9)):
    w = [p[0].abs() for p in params]
    for s in levels:
        out[f'layerMag{round(100 * s)}'] = p_accuracy(params, xte, yte, layer_masks(w, s))


def sparsegpt_report(params, xtr, xte, yte, seed, out, n_cal=1000):
    # Its own generator, so that adding it leaves every other draw of a seed as it was.
    idx = torch.randperm(xtr.shape[0], generator=torch.Generator().manual_seed(10_000 + seed))[:n_cal]
    sp, m = sparsegpt_params(params, xtr[idx], 0.8)
    out['sparsegpt80'] = p_accuracy(sp, xte, yte, m)
    out['sparsegpt80MinusLayerMag80'] = round(out['sparsegpt80'] - out['layerMag80'], 4)


def load_flat(dir_, meta, fname):
    buf = np.fromfile(os.path.join(dir_, fname), dtype='<f4')
    vs = {v['name'].split('/')[-1]: torch.from_numpy(buf[v['offset'] : v['offset'] + v['length']].reshape(v['shape']).copy()) for v in meta['variables']}
    return [(vs[f'fc{i}.w'], vs[f'fc{i}.b']) for i in (1, 2, 3)]


def load_model(run_dir):
    d = os.path.join(run_dir, 'model', 'main')
    with open(os.path.join(d, 'posterior.json')) as f:
        meta = json.load(f)
    return load_flat(d, meta, 'posterior.bin')


def max_rel_diff(a, b):
    """Largest |Δ| over all variables, relative to the largest |value| of the same variable."""
    return max(((x.float() - y).abs().max() / y.abs().max()).item() for pa, pb in zip(a, b) for x, y in zip(pa, pb))


def rel_norm_diff(a, b):
    """‖Δ‖ / ‖b‖ over all variables together."""
    num = sum(((x.float() - y) ** 2).sum().item() for pa, pb in zip(a, b) for x, y in zip(pa, pb))
    den = sum((y**2).sum().item() for pb in b for y in pb)
    return math.sqrt(num / den)


def replay(a, xtr, ytr, xte, yte, out):
    with open(os.path.join(a.replay, 'meta.json')) as f:
        meta = json.load(f)
    n, epochs, k = meta['n'], meta['epochs'], meta['oursEpochs']
    tr = meta['train']
    if tr['optimizer']['schedule'] != 'constant' or tr['optimizer']['name'] != 'adam':
        raise SystemExit('--replay: only constant-rate Adam configs')
    lr, bs = tr['optimizer']['lr'], tr['batchSize']
    perm = torch.from_numpy(np.fromfile(os.path.join(a.replay, 'perm.i32'), dtype='<i4').astype(np.int64)).view(epochs, n)
    dt = torch.float64 if a.dtype == 'float64' else torch.float32
    params = [(w.to(dt).requires_grad_(), b.to(dt).requires_grad_()) for w, b in load_flat(a.replay, meta, 'init.f32')]
    xtr_d = xtr.to(dt)
    flat = [t for p in params for t in p]
    opt = torch.optim.Adam(flat, lr=lr, eps=a.adam_eps)
    a.seed = meta['seed']
    out.update({'replay': a.replay, 'seed': a.seed, 'adamEps': a.adam_eps, 'dtype': a.dtype, 'epochs': epochs})
    for e in range(epochs):
        for s in range(0, n, bs):
            idx = perm[e, s : s + bs]
            loss = F.cross_entropy(p_forward(params, xtr_d[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if e + 1 == k and os.path.exists(os.path.join(a.replay, 'after.f32')):
            ours = load_flat(a.replay, meta, 'after.f32')
            mine = [(w.detach(), b.detach()) for w, b in params]
            out[f'maxRelDiffAfter{k}Epochs'] = max_rel_diff(mine, ours)
            out[f'relNormDiffAfter{k}Epochs'] = rel_norm_diff(mine, ours)
    params = [(w.detach().float(), b.detach().float()) for w, b in params]
    out['dense'] = p_accuracy(params, xte, yte)
    layer_mag_report(params, xte, yte, out, (0.5, 0.7, 0.8, 0.9))
    sparsegpt_report(params, xtr, xte, yte, a.seed, out)
    if a.compare_model:
        ours = load_model(a.compare_model)
        out['oursMaxRelDiffFinal'] = max_rel_diff(params, ours)
        out['oursRelNormDiffFinal'] = rel_norm_diff(params, ours)
        o2 = {}
        o2['dense'] = p_accuracy(ours, xte, yte)
        layer_mag_report(ours, xte, yte, o2, (0.5, 0.7, 0.8, 0.9))
        sparsegpt_report(ours, xtr, xte, yte, a.seed, o2)
        out['ours'] = o2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='/tmp/bp_torch')
    ap.add_argument('--init', default='torch', choices=['torch', 'he'])
    ap.add_argument('--bias', default='torch', choices=['torch', 'zero'])
    ap.add_argument('--input', default='unit', choices=['unit', 'standard'])
    ap.add_argument('--epochs', type=int, default=30)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--at-init', action='store_true', help='also random and SNIP masks at init (98 %%), trained --epochs')
    ap.add_argument('--at-init-sparsities', default='0.98')
    ap.add_argument('--adam-eps', type=float, default=1e-8)
    ap.add_argument('--replay', help='directory written by export-trajectory.ts: train our init on our batch order')
    ap.add_argument('--compare-model', help='with --replay: a run directory whose saved model to compare with')
    ap.add_argument('--dtype', default='float32', choices=['float32', 'float64'], help='with --replay: arithmetic of the replayed training')
    ap.add_argument('--model', help='evaluate the saved model of this run directory only')
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    xtr, ytr = load(a.data, 'train')
    xte, yte = load(a.data, 'test')
    if a.input == 'standard':
        xtr, xte = (xtr - 0.1307) / 0.3081, (xte - 0.1307) / 0.3081
    t0 = time.time()
    if a.replay or a.model:
        out = {}
        if a.replay:
            replay(a, xtr, ytr, xte, yte, out)
        else:
            params = load_model(a.model)
            out.update({'model': a.model, 'dense': p_accuracy(params, xte, yte)})
            layer_mag_report(params, xte, yte, out, (0.5, 0.7, 0.8, 0.9))
            sparsegpt_report(params, xtr, xte, yte, a.seed, out)
        out['seconds'] = round(time.time() - t0, 1)
        print(json.dumps(out), flush=True)
        return
    out = {'init': a.init, 'bias': a.bias, 'input': a.input, 'seed': a.seed, 'epochs': a.epochs}

    net = make_net(a.init, a.bias, gen)
    out['initWeightStd'] = [round(l.weight.std().item(), 5) for l in net]
    train(net, xtr, ytr, a.epochs, gen, eps=a.adam_eps)
    out['dense'] = accuracy(net, xte, yte)
    w = [l.weight.detach().abs() for l in net]
    out['trainedWeightStd'] = [round(l.weight.std().item(), 5) for l in net]
    out['trainedBiasStd'] = [round(l.bias.std().item(), 5) for l in net]
    for s in (0.9, 0.95, 0.98):
        m = global_masks(w, s)
        out[f'globalMag{round(100 * s)}'] = accuracy(net, xte, yte, m)
        if s == 0.95:
            out['globalMag95LayerDensity'] = [round(x.mean().item(), 4) for x in m]
    for s in (0.8, 0.9):
        out[f'layerMag{round(100 * s)}'] = accuracy(net, xte, yte, layer_masks(w, s))
    sparsegpt_report(as_params(net), xtr, xte, yte, a.seed, out)
    # Variant: biases ranked (and removed) with the weights in the global magnitude ranking.
    bias0 = [l.bias.detach().clone() for l in net]
    for s in (0.9, 0.95, 0.98):
        m = global_masks(w + [b.abs() for b in bias0], s)
        with torch.no_grad():
            for l, b, mb in zip(net, bias0, m[3:]):
                l.bias.copy_(b * mb)
        out[f'globalMagWithBiases{round(100 * s)}'] = accuracy(net, xte, yte, m[:3])
    with torch.no_grad():
        for l, b in zip(net, bias0):
            l.bias.copy_(b)

    if a.at_init:
        for s in [float(v) for v in a.at_init_sparsities.split(',')]:
            for crit in ('random', 'snip'):
                net = make_net(a.init, a.bias, gen)
                if crit == 'random':
                    scores = [torch.rand(l.weight.shape, generator=gen) for l in net]
                else:
                    idx = torch.randperm(xtr.shape[0], generator=gen)[:100]
                    loss = F.cross_entropy(forward(net, xtr[idx]), ytr[idx])
                    grads = torch.autograd.grad(loss, [l.weight for l in net])
                    scores = [(g * l.weight).abs().detach() for g, l in zip(grads, net)]
                masks = global_masks(scores, s)
                with torch.no_grad():
                    for l, m in zip(net, masks):
                        l.weight.mul_(m)
                train(net, xtr, ytr, a.epochs, gen, masks)
                out[f'{crit}AtInit{round(100 * s)}'] = accuracy(net, xte, yte, masks)
                out[f'{crit}AtInit{round(100 * s)}LayerDensity'] = [round(x.mean().item(), 4) for x in masks]
    out['seconds'] = round(time.time() - t0, 1)
    print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
