"""Fixtures for tests/pth.rs: one state_dict saved by torch.save in both formats, and the same
tensors as safetensors (what wgnn must read from them, bit for bit).

    /work/venv-torch/bin/python scripts/pth_fixtures.py tests/fixtures/pth [--wgnn target/release/wgnn]

Writes, into the folder:
  plain.pth          torch.save(sd, f): the zip archive of PyTorch >= 1.6
  plain_legacy.pth   torch.save(sd, f, _use_new_zipfile_serialization=False): the legacy format
  wrapped.pth        {"ema": p, "state_dict": p, "epoch": 3, "lr": 0.1} (zip), where
                     p = {"module." + k: v}, one object (the second a memo reference)
  wrapped_legacy.pth the same in the legacy format
  evil.pth           a zip archive whose data.pkl asks for os.system (written by hand, never run)
  expected.safetensors  the tensors contiguous, f16/bf16/f64 ones as f32 (torch's .float()),
                        int64 ones as they are

The state_dict holds f32, f16 (with a subnormal, 65504 and -0.0), bf16 and f64 tensors, int64
ones (num_batches_tracked and a vector), a transposed view and a slice with a storage offset
(non-contiguous), two tensors sharing one storage, and an nn.Parameter (_rebuild_parameter).

With --wgnn BINARY it also checks wgnn's writer: `wgnn convert expected.safetensors X.pth`, then
torch.load(X.pth, weights_only=True) must give expected.safetensors' tensors exactly; and wgnn's
round trip plain.pth -> .safetensors -> .pth likewise.
"""

import collections
import io
import os
import subprocess
import sys
import tempfile
import zipfile

import torch
from safetensors.torch import load_file, save_file


def state_dict():
    g = torch.Generator().manual_seed(13)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(4, 3, 3, 3, generator=g)
    half = torch.randn(5, 7, generator=g).to(torch.float16)
    half[0, 0] = 1e-6  # subnormal in f16
    half[0, 1] = 65504.0
    half[0, 2] = -0.0
    sd["half"] = half
    sd["half_t"] = torch.randn(3, 4, generator=g).to(torch.float16).t()
    sd["bf"] = torch.randn(6, generator=g).to(torch.bfloat16)
    sd["double"] = torch.randn(3, 4, generator=g, dtype=torch.float64) / 3
    sd["bn.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    sd["ints"] = torch.tensor([-5, 0, 1 << 40], dtype=torch.int64)
    base = torch.randn(5, 3, generator=g)
    sd["transposed"] = base.t()
    assert not sd["transposed"].is_contiguous()
    grid = torch.randn(6, 8, generator=g)
    sd["sliced"] = grid[1:4, 2:7:2]
    assert sd["sliced"].storage_offset() > 0
    shared = torch.randn(10, generator=g)
    sd["shared_a"] = shared[:4]
    sd["shared_b"] = shared[4:].view(2, 3)
    sd["param"] = torch.nn.Parameter(torch.randn(2, generator=g))
    return sd


def expected(sd):
    out = {}
    for k, v in sd.items():
        v = v.detach()
        if v.is_floating_point():
            v = v.float()
        out[k] = v.contiguous().clone()
    return out


def evil_zip(path):
    # GLOBAL os.system, a tuple of one string, REDUCE: what a malicious checkpoint does.
    pickle = b"\x80\x02cos\nsystem\nX\x0b\x00\x00\x00echo hackedq\x00\x85R."
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")


def same(a, b, what):
    assert a.keys() == b.keys(), (what, sorted(a.keys() ^ b.keys()))
    for k in a:
        x, y = a[k], b[k]
        assert x.dtype == y.dtype and x.shape == y.shape, (what, k, x.dtype, y.dtype, x.shape, y.shape)
        assert torch.equal(x.view(-1).view(torch.uint8) if x.numel() else x,
                           y.view(-1).view(torch.uint8) if y.numel() else y), (what, k)


def check_wgnn(wgnn, out):
    want = load_file(os.path.join(out, "expected.safetensors"))
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "from_wgnn.pth")
        subprocess.run([wgnn, "convert", os.path.join(out, "expected.safetensors"), pth], check=True)
        same(want, dict(torch.load(pth, weights_only=True)), "wgnn's .pth")
        st = os.path.join(tmp, "plain.safetensors")
        back = os.path.join(tmp, "plain.pth")
        subprocess.run([wgnn, "convert", os.path.join(out, "plain.pth"), st], check=True)
        subprocess.run([wgnn, "convert", st, back], check=True)
        same(want, dict(torch.load(back, weights_only=True)), "wgnn's round trip")
    print("torch.load(weights_only=True) reads wgnn's .pth files: same tensors, bit for bit")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    sd = state_dict()
    torch.save(sd, os.path.join(out, "plain.pth"))
    torch.save(sd, os.path.join(out, "plain_legacy.pth"), _use_new_zipfile_serialization=False)
    prefixed = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
    # The same dict twice: the second is a reference to the first in the pickle (its memo).
    wrapped = {"ema": prefixed, "state_dict": prefixed, "epoch": 3, "lr": 0.1}
    torch.save(wrapped, os.path.join(out, "wrapped.pth"))
    torch.save(wrapped, os.path.join(out, "wrapped_legacy.pth"), _use_new_zipfile_serialization=False)
    evil_zip(os.path.join(out, "evil.pth"))
    save_file(expected(sd), os.path.join(out, "expected.safetensors"))
    # What PyTorch itself reads back, as a check of the fixtures.
    for name in ["plain.pth", "plain_legacy.pth"]:
        same(expected(sd), expected(torch.load(os.path.join(out, name), weights_only=True)), name)
    if "--wgnn" in sys.argv:
        check_wgnn(sys.argv[sys.argv.index("--wgnn") + 1], out)
    print(f"wrote the fixtures in {out}")


if __name__ == "__main__":
    main()
