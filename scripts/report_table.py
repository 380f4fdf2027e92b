"""gpu-report's Markdown: the device, the gradient checks, and one table of wgnn's speed with each
kernel family beside PyTorch's, with GFLOP/s as a fraction of the device's measured ceiling.

Usage: python3 scripts/report_table.py --steps N DIR, where DIR holds what scripts/gpu-report wrote:
  info.txt                  `wgnn info`
  version.txt               `wgnn --version`
  gradcheck-FAMILY.txt      `wgnn gradcheck` with WGNN_KERNELS=FAMILY
  bench-FAMILY-MODEL.json   `wgnn bench --json` of one model with WGNN_KERNELS=FAMILY
  pytorch.json              scripts/pytorch_bench.py's output, or
  pytorch-absent.txt        one line saying why there is no PyTorch figure
Standard library only: it needs nothing installed beside python3.
"""
import argparse
import json
import math
from pathlib import Path

FAMILIES = ["gpu", "cpu"]
MODELS = ["vgg16bn", "fcn32s", "fcn16s", "fcn8s"]
VGG_CONVS = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def multiply_adds(model, size):
    """Multiply-adds of one image's forward pass through the weighted layers, as a direct
    convolution does them (the layers of ../shared/spec/homework.md, with its 50 or 7 classes),
    and those of the first convolution, whose input needs no gradient."""
    total, first, res, c_in, pooled = 0, None, size, 3, []
    for c in VGG_CONVS:
        if c == "M":
            res //= 2
            pooled.append(res)
        else:
            layer = res * res * c_in * c * 9
            first = first or layer
            total += layer
            c_in = c
    r4, r5 = pooled[3], pooled[4]
    if model == "vgg16bn":
        total += 25088 * 50  # AdaptiveAvgPool2d((7, 7)) of 512 channels, then Linear(25088, 50)
    else:
        total += r5 * r5 * (512 * 4096 + 4096 * 4096 + 4096 * 7)  # down_sampling's 1x1 convolutions
        if model == "fcn32s":
            total += r5 * r5 * 7 * 7 * 32 * 32  # up_sampling: kernel 32, stride 32
        else:
            total += r4 * r4 * 512 * 7  # reduce_channel
            total += r5 * r5 * 7 * 7 * 2 * 2  # up_sampling2
            total += r4 * r4 * 7 * 7 * 16 * 16  # up_sampling32
    return total, first


def model_flops(model, size):
    """FLOPs per image: (inference, training). Training is the forward, every weight gradient and
    every input gradient but the first layer's, each as many multiply-adds as the forward layer."""
    total, first = multiply_adds(model, size)
    return 2 * total, 2 * (3 * total - first)


def number(v):
    """Three significant digits, never in exponent notation."""
    if v <= 0:
        return "0"
    return f"{v:.{max(0, 2 - math.floor(math.log10(v)))}f}"


def percent(fraction):
    p = 100 * fraction
    return f"{p:.1f} %" if p < 10 else f"{p:.0f} %"


def gradcheck_summary(text):
    lines = text.splitlines()
    checks = [l for l in lines if l.rstrip().endswith(("pass", "FAIL"))]
    failed = [l.split()[0] for l in checks if l.rstrip().endswith("FAIL")]
    if failed:
        return f"**{len(failed)} of {len(checks)} checks FAILED** ({', '.join(failed)})"
    return f"all {len(checks)} checks passed"


def header(d, bench, pytorch, steps):
    """The list above the table: device, kernels and their gradient checks, ceiling, PyTorch."""
    uses = next(l for l in (d / "info.txt").read_text().splitlines() if l.startswith("wgnn uses:"))
    adapter = uses.split(":", 1)[1].strip()
    lines = [f"- {(d / 'version.txt').read_text().strip()} on {adapter}."]
    if adapter.endswith(", Cpu)"):
        lines.append("- **No GPU**: wgnn's adapter is a CPU driver, so these are a CPU's figures.")
    for f in FAMILIES:
        checks = gradcheck_summary((d / f"gradcheck-{f}.txt").read_text())
        lines.append(f"- Kernels {bench[f, MODELS[0]]['kernels']}: gradcheck {checks}.")
    by_family = ", ".join(f"{f} kernels {number(ceiling(bench, [f]))}" for f in FAMILIES)
    copy = max(b["ceilings"]["copy_gbps"] for b in bench.values())
    lines.append(f"- Ceiling: {number(ceiling(bench, FAMILIES))} GFLOP/s, wgnn's fastest dense "
                 f"kernel here (best of every run; {by_family}); buffer copy {number(copy)} GB/s.")
    if pytorch:
        lines.append(f"- PyTorch {pytorch['torch']} on {pytorch['device_name']}: float32 with TF32 "
                     "off, otherwise its defaults (cuDNN's benchmark mode off), after "
                     f"{pytorch['warmup']} warm-up steps.")
    else:
        reason = (d / "pytorch-absent.txt").read_text().strip()
        lines.append(f"- **No PyTorch comparison**: {reason}.")
    timed = "1 steady step" if steps == 1 else f"the median of {steps} steady steps"
    lines.append(f"- images/s: the batch over the time of {timed} after the first.")
    return lines


def ceiling(bench, families):
    return max(b["ceilings"]["compute_gflops"] for (f, _), b in bench.items() if f in families)


def table(bench, pytorch):
    """One row per engine and model; the ratio columns only where PyTorch ran."""
    best = ceiling(bench, FAMILIES)
    head = ["model", "batch @ size", "engine", "train images/s", "inference images/s"]
    if pytorch:
        head += ["train vs PyTorch", "inference vs PyTorch"]
    head += ["train GFLOP/s [^flops]", "inference GFLOP/s [^flops]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    torch_runs = {r["model"]: r for r in pytorch["models"]} if pytorch else {}
    for m in MODELS:
        rows = [(f"wgnn, {f} kernels", bench[f, m]["models"][0]) for f in FAMILIES]
        if pytorch:
            rows.append((f"PyTorch, {pytorch['device']}", torch_runs[m]))
        batch, size = rows[0][1]["batch"], rows[0][1]["size"]
        infer_flops, train_flops = model_flops(m, size)
        for i, (engine, r) in enumerate(rows):
            train, infer = r["train_images_per_second"], r["inference_images_per_second"]
            cells = [m, f"{batch} @ {size}x{size}"] if i == 0 else ["", ""]
            cells += [engine, number(train), number(infer)]
            if pytorch and engine.startswith("wgnn"):
                t = torch_runs[m]
                cells += [f"{number(train / t['train_images_per_second'])}x",
                          f"{number(infer / t['inference_images_per_second'])}x"]
            elif pytorch:
                cells += ["", ""]
            for gflops in (train * train_flops / 1e9, infer * infer_flops / 1e9):
                cells.append(f"{number(gflops)} ({percent(gflops / best)})")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


FOOTNOTE = (
    "[^flops]: The model's own FLOPs per image times images/s, and in brackets that as a share of "
    "the ceiling above. FLOPs are 2 x the multiply-adds of the convolutions, transposed "
    "convolutions and linear layers as a direct convolution does them (batch norm, ReLU and "
    "pooling not counted); a training step counts the forward pass, every weight gradient and "
    "every input gradient but the first layer's. The count is the same for every engine and "
    "kernel family, so the columns compare work done per second; an algorithm that needs fewer "
    "operations (the cpu kernels' Winograd convolutions) can pass 100 %. The per-kernel GFLOP/s "
    "of `wgnn bench` count each kernel's own operations (fewer for Winograd), so their sums "
    "would not compare the families. The ceiling is the highest `compute_gflops` of all bench "
    "runs here: a 1024^3 matmul or a 3x3 convolution 64->64 at 32x32, batch 32, with wgnn's "
    "kernels."
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, required=True,
                        help="the steady steps each wgnn figure is the median of")
    parser.add_argument("dir", type=Path)
    args = parser.parse_args()
    d = args.dir
    bench = {(f, m): json.loads((d / f"bench-{f}-{m}.json").read_text())
             for f in FAMILIES for m in MODELS}
    torch_file = d / "pytorch.json"
    pytorch = json.loads(torch_file.read_text()) if torch_file.exists() else None
    lines = ["# wgnn on this machine", ""] + header(d, bench, pytorch, args.steps) + [""]
    lines += table(bench, pytorch) + ["", FOOTNOTE]
    if pytorch:
        lines += ["", "\"vs PyTorch\" is wgnn's images/s over PyTorch's: above 1x, wgnn is faster."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
