# What one operating point of the quickstart main model's evaluation costs in PyTorch (CPU), with
# dense products as a plain implementation does them: 4,500 images (1,000 test + 7 OOD / shift sets
# of 500), S = 10 LRT draws through LeNet-300-100 (first layer's moments once, later layers per
# draw), softmax, and the posterior-mean network; the noise drawn once and reused (common random
# numbers, as the framework's engine). Masks do not change the cost of dense products, so one
# point stands for all 37. Random weights of the trained model's shapes.
#
#   /usr/bin/python3 experiments/bench/eval-cost-torch.py [threads]     (Debian: apt-get install python3-torch)
#
# Compare with experiments/bench/eval-bench.ts (the framework's engine on the same work, with
# compaction, the sparse path and evaluation workers). 2026-11-30 15:13 UTC, load 2.2, torch 1.13:
# 292 ms per point on 1 thread (10.8 s for 37 points), 227-278 ms on 2 threads (8.4-10.3 s).
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
torch.manual_seed(0)
S, n = 10, 4500
x = torch.rand(n, 784)
x2 = x * x
W = [torch.randn(784, 300) * 0.05, torch.randn(300, 100) * 0.05, torch.randn(100, 10) * 0.05]
V = [torch.rand_like(w) * 1e-3 for w in W]
b = [torch.zeros(w.shape[1]) for w in W]
E0 = torch.randn(S, n, 300)
E1 = torch.randn(S * n, 100)
E2 = torch.randn(S * n, 10)


def point():
    mu = x @ W[0] + b[0]
    var = x2 @ V[0]
    h = torch.relu(mu + (var + 1e-8).sqrt() * E0).reshape(S * n, 300)
    for layer, e in ((1, E1), (2, E2)):
        mu = h @ W[layer] + b[layer]
        var = (h * h) @ V[layer]
        h = mu + (var + 1e-8).sqrt() * e
        if layer == 1:
            h = torch.relu(h)
    p = torch.softmax(h, 1)
    m = torch.relu(x @ W[0] + b[0])
    m = torch.relu(m @ W[1] + b[1])
    return p, m @ W[2] + b[2]


point()
t0 = time.perf_counter()
for _ in range(5):
    point()
per = (time.perf_counter() - t0) / 5
print(f"torch {torch.__version__}, threads {threads}: {per * 1000:.0f} ms per point; 37 points: {37 * per:.1f} s")
