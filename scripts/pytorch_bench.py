"""PyTorch's training and inference speed on the homework's models, to set beside `wgnn bench`.

Measures what `wgnn bench` measures, on the same models (homework_models.py, PyTorch's default
initialisation: nothing is downloaded) and one fixed batch: a training step is forward, mean
cross-entropy, backward and SGD (lr 1e-4, momentum 0.9, weight decay 5e-4) and reads the loss
back; inference is an eval-mode forward without autograd that reads the output back. Each step is
timed between two device synchronisations, after warm-up steps (cuDNN's algorithm choice, the
caching allocator), and the median is reported. float32 throughout with TF32 off, as wgnn computes.

Usage: python3 scripts/pytorch_bench.py [--device auto|cuda|mps|cpu] [--steps N] [--warmup N]
                                        --model NAME BATCH SIZE [--model NAME BATCH SIZE ...]
Prints one JSON document: torch, device, device_name, warmup, steps, and models: [{model, batch,
size, train_images_per_second, inference_images_per_second}]. With --device auto (the default)
it uses a CUDA, ROCm (which PyTorch calls cuda) or MPS device, and exits with status 2 and the
reason on stderr when there is none: a CPU run would not measure the GPU that wgnn runs on.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from homework_models import HOMEWORK

NO_DEVICE = 2


def pick_device(requested):
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    print(f"PyTorch {torch.__version__} sees no CUDA, ROCm or MPS device", file=sys.stderr)
    sys.exit(NO_DEVICE)


def device_name(device):
    if device.type == "cuda":
        api = "ROCm" if torch.version.hip else "CUDA"
        return f"{torch.cuda.get_device_name(device)} ({api})"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return "CPU"


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def median_seconds(step, device, warmup, steps):
    """The median wall-clock time of `steps` calls of `step` after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        synchronize(device)
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(name, batch, size, device, warmup, steps):
    module, classes = HOMEWORK[name]
    model = module(classes).to(device)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=generator).to(device)
    target_shape = (batch,) if name == "vgg16bn" else (batch, size, size)
    targets = torch.randint(classes, target_shape, generator=generator).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), targets)
        loss.backward()
        optimizer.step()
        loss.item()

    def inference_step():
        with torch.inference_mode():
            model(x).cpu()

    model.train()
    train = median_seconds(train_step, device, warmup, steps)
    model.eval()
    inference = median_seconds(inference_step, device, warmup, steps)
    return {
        "model": name,
        "batch": batch,
        "size": size,
        "train_images_per_second": batch / train,
        "inference_images_per_second": batch / inference,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    parser.add_argument("--steps", type=int, default=3, help="timed steps (the median is reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    parser.add_argument("--model", nargs=3, action="append", required=True,
                        metavar=("NAME", "BATCH", "SIZE"))
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    shapes = []
    for name, batch, size in args.model:
        if name not in HOMEWORK:
            parser.error(f"unknown model {name}: use one of {', '.join(HOMEWORK)}")
        if not (batch.isdigit() and size.isdigit() and int(batch) > 0 and int(size) > 0):
            parser.error(f"--model {name} {batch} {size}: BATCH and SIZE must be positive integers")
        shapes.append((name, int(batch), int(size)))

    device = pick_device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    models = [bench(name, batch, size, device, args.warmup, args.steps)
              for name, batch, size in shapes]
    print(json.dumps({"torch": torch.__version__, "device": device.type,
                      "device_name": device_name(device), "warmup": args.warmup,
                      "steps": args.steps, "models": models}, indent=2))


if __name__ == "__main__":
    main()
