"""PyTorch reference fixtures for wgnn's exactness tests.

Builds the homework's models (VGG16-bn, FCN32s, FCN16s, FCN8s; homework_models.py) with weights from a
hash formula that tests/exactness.rs reproduces bit for bit, runs an eval-mode forward and one
train-mode SGD step (momentum 0, weight decay 0, mean cross-entropy), and writes what the Rust test
compares:
  inputs, targets, eval logits, the loss, and the updated state_dict (small tensors whole; large
  ones as the norm of their change plus values at hashed positions).

Usage: python scripts/pytorch_reference.py OUT_DIR [CASE ...]   (needs torch, numpy, safetensors)
  CASEs (vgg16bn, fcn32s, fcn16s, fcn8s) limit it to those fixtures; all of them without.
"""
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors.numpy import save_file

from homework_models import FCN8s, FCN16s, FCN32s, VGG16bn

MASK64 = (1 << 64) - 1
LR = 0.05
SAMPLES = 64


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def hashed_uniform(seed, n):
    """n values in [-1, 1): 24-bit integers from splitmix64(seed + i), exact in float32."""
    i = np.arange(n, dtype=np.uint64)
    z = (np.uint64(seed) + i + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(MASK64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)
    return u * np.float32(2.0) - np.float32(1.0)


def name_seed(name):
    h = 0
    for b in name.encode():
        h = splitmix64(h ^ b)
    return h


def hashed_value(name, shape):
    """The value of state_dict entry `name`; the same formula as tests/exactness.rs."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = hashed_uniform(name_seed(name), n)
    if name.endswith("running_var"):
        v = np.float32(1.0) + np.float32(0.5) * np.abs(u)
    elif name.endswith("running_mean"):
        v = np.float32(0.1) * u
    elif len(shape) == 1 and name.endswith("weight"):  # BN gamma
        v = np.float32(1.0) + np.float32(0.25) * u
    elif name.endswith("bias"):
        v = np.float32(0.1) * u
    else:
        fan_in = int(np.prod(shape[1:]))
        v = u * np.float32(1.0 / np.sqrt(fan_in))
    return v.reshape(shape)


CASES = {
    # name: (model, classes, input shape, target shape)
    "vgg16bn": (VGG16bn, 10, (2, 3, 32, 32), (2,)),
    # FCN32s' dropout draws from PyTorch's generator, so its train step is not compared.
    "fcn32s": (FCN32s, 7, (1, 3, 64, 64), (1, 64, 64)),
    "fcn16s": (FCN16s, 7, (2, 3, 64, 32), (2, 64, 32)),
    "fcn8s": (FCN8s, 7, (2, 3, 64, 32), (2, 64, 32)),
}


def main(out_dir, only):
    unknown = sorted(set(only) - set(CASES))
    if unknown:
        sys.exit(f"unknown case {unknown[0]}; the cases are {', '.join(CASES)}")
    torch.use_deterministic_algorithms(True)
    for case, (cls, classes, x_shape, t_shape) in CASES.items():
        if only and case not in only:
            continue
        model = cls(classes)
        state = model.state_dict()
        with torch.no_grad():
            for name, t in state.items():
                if name.endswith("num_batches_tracked"):
                    t.fill_(3)
                else:
                    t.copy_(torch.from_numpy(hashed_value(name, tuple(t.shape))))
        x = torch.from_numpy(hashed_uniform(name_seed(case + ".input"), int(np.prod(x_shape))).reshape(x_shape) * 2)
        t_raw = (hashed_uniform(name_seed(case + ".target"), int(np.prod(t_shape))) + 1) * classes / 2
        targets = torch.from_numpy(np.minimum(t_raw.astype(np.int64), classes - 1).reshape(t_shape))
        out = {"input": x.numpy(), "targets": targets.numpy().astype(np.int32)}

        model.eval()
        with torch.no_grad():
            out["eval_logits"] = model(x).numpy()

        if case != "fcn32s":
            model.train()
            before = {k: v.clone() for k, v in model.state_dict().items()}
            opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0, weight_decay=0)
            loss = nn.functional.cross_entropy(model(x), targets)
            loss.backward()
            opt.step()
            out["train_loss"] = np.array([loss.item()], dtype=np.float32)
            for name, after in model.state_dict().items():
                after = after.numpy()
                if name.endswith("num_batches_tracked"):
                    out["after." + name] = np.array([after], dtype=np.int64)
                elif after.size <= 8192:
                    out["after." + name] = after
                else:
                    delta = (after - before[name].numpy()).astype(np.float64).ravel()
                    pos = (hashed_uniform(name_seed(name + ".positions"), SAMPLES) + 1) / 2 * after.size
                    pos = np.minimum(pos.astype(np.int64), after.size - 1)
                    out["delta_norm." + name] = np.array([np.linalg.norm(delta)], dtype=np.float64)
                    out["sampled." + name] = after.ravel()[pos]
        save_file(out, f"{out_dir}/{case}.safetensors")
        print(case, {k: v.shape for k, v in out.items() if not k.startswith(("after.", "delta", "sampled"))})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
