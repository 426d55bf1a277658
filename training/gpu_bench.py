"""Batched RIM throughput in torch on the GPU (the ONNX graph computes the same thing).

    python -m training.gpu_bench CHECKPOINT
"""
import sys
import time

import torch

from .export import example_inputs_rim
from .rim import RIM, RIMConfig


def main(ckpt):
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = RIMConfig(**ck["model_config"])
    m = RIM(cfg)
    m.load_state_dict(ck["model"])
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    m = m.to(dev).eval()
    print("device:", torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu")
    for batch in (1, 64, 1024, 4096):
        S, R, sig = (t.to(dev) for t in example_inputs_rim(cfg, batch=batch))
        with torch.no_grad():
            for _ in range(3):
                m(S, R, sig)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            n = 20 if batch <= 1024 else 5
            t0 = time.perf_counter()
            for _ in range(n):
                m(S, R, sig)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            dt = (time.perf_counter() - t0) / n
        print(f"batch {batch:5d}: {dt * 1e3:8.2f} ms per batch, {batch / dt:12.0f} spectra/s")


if __name__ == "__main__":
    main(sys.argv[1])
