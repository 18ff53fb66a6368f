"""PyTorch CPU mirror of the training step that `npm run bench` times (run by lrt-step.ts).

LeNet-300-100 with local reparameterization on every layer, the sparse-VD KL
(Molchanov et al. 2017, eq. 14, log alpha clipped to +-8), ELBO per example
(NLL mean + KL / N), Adam 1e-3, batch 100, on one thread. Inputs are synthetic
MNIST-shaped uniform values (timing does not depend on the values).

Usage: python3 lrt-step-torch.py STEPS ROUNDS   -> one JSON line on stdout:
  {"torch": version, "threads": 1, "rounds": [ms/step, ...]}
"""

import json
import sys
import time

import torch

torch.set_num_threads(1)
torch.manual_seed(1)
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
B = 100
N = STEPS * B
SIZES = [784, 300, 100, 10]
K1, K2, K3 = 0.63576, 1.8732, 1.48695
CLIP = 8.0

x_all = torch.rand(N, 784)
y_all = torch.randint(0, 10, (N,))

params = []
layers = []
for i in range(3):
    fan_in, fan_out = SIZES[i], SIZES[i + 1]
    theta = (torch.randn(fan_in, fan_out) * (2.0 / fan_in) ** 0.5).requires_grad_()
    log_sigma2 = torch.full((fan_in, fan_out), -10.0).requires_grad_()
    bias = torch.zeros(fan_out).requires_grad_()
    layers.append((theta, log_sigma2, bias))
    params += [theta, log_sigma2, bias]
opt = torch.optim.Adam(params, lr=1e-3)


def step(x, y):
    h = x
    for i, (theta, ls, b) in enumerate(layers):
        mu = h @ theta + b
        var = (h * h) @ torch.exp(ls)
        h = mu + torch.sqrt(var + 1e-8) * torch.randn_like(mu)
        if i < 2:
            h = torch.relu(h)
    nll = torch.nn.functional.cross_entropy(h, y)
    kl = 0.0
    for theta, ls, _ in layers:
        la = torch.clamp(ls - torch.log(theta * theta + 1e-8), -CLIP, CLIP)
        kl = kl + (K1 - K1 * torch.sigmoid(K2 + K3 * la) + 0.5 * torch.nn.functional.softplus(-la)).sum()
    loss = nll + kl / N
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def epoch():
    perm = torch.randperm(N)
    for s in range(STEPS):
        idx = perm[s * B : (s + 1) * B]
        step(x_all[idx], y_all[idx])


epoch()  # warm-up
rounds = []
for _ in range(ROUNDS):
    t0 = time.perf_counter()
    epoch()
    rounds.append((time.perf_counter() - t0) * 1000 / STEPS)
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "rounds": rounds}))
