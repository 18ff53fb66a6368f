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


def train(net, xtr, ytr, epochs, gen, masks=None, lr=1e-3, bs=100):
    opt = torch.optim.Adam(net.parameters(), lr=lr)
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
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    xtr, ytr = load(a.data, 'train')
    xte, yte = load(a.data, 'test')
    if a.input == 'standard':
        xtr, xte = (xtr - 0.1307) / 0.3081, (xte - 0.1307) / 0.3081
    t0 = time.time()
    out = {'init': a.init, 'bias': a.bias, 'input': a.input, 'seed': a.seed, 'epochs': a.epochs}

    net = make_net(a.init, a.bias, gen)
    out['initWeightStd'] = [round(l.weight.std().item(), 5) for l in net]
    train(net, xtr, ytr, a.epochs, gen)
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
