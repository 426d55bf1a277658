"""Catalogue scale: the batch runner's throughput, its resilience, and one-core latencies.

    ./dev.sh bench batch [--n 2000] [--tasks estimate deconvolve] [--quick]

1. ``--n`` spectra simulated through the held-out test ObsIDs' real responses (written as PHA
   files naming their ARF and RMF), plus a truncated file and a spectrum whose RMF is
   missing: spectra per hour for the batch with 1 and 2 Dask workers, beside a plain Python
   loop of the same work (``process_chunk`` spectrum by spectrum, no Dask) and a loop of
   Sherpa cie fits with ``conf()`` (on 40 of them, per hour), and the machine's own ceiling
   for two workers: the same plain loop on one thread in one process, then in two at once
   (``--only scaling`` runs this alone).
2. The run killed halfway (SIGINT) after one worker was SIGKILLed, then rerun: every
   spectrum once in the table, and the numbers equal the uninterrupted run's.
3. One core (a child process with one thread for BLAS and ONNX Runtime): the RIM
   deconvolution per spectrum (ONNX Runtime, batched, on the canonical
   grid; the network alone and with the data-consistency step), ONNX Runtime's profile of
   where its time goes, and the response fold (batched by channel bands, float64 / float32)
   beside a loop over Sherpa's ``rmf_fold`` and the dense product, and the ceilings: a large
   single-thread matrix product's rate, the RIM's convolution multiply-adds at that rate,
   and the bands' and the RMF's non-zero elements at that rate.
4. On a GPU, when one is present: the RIM through ONNX Runtime's CUDA provider at batch
   1, 64, 1024, 4096 (otherwise it says "no GPU").
"""
import argparse
import json
import logging
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from sherpa_rim.batch import read_inputs, run_batch  # noqa: E402
from sherpa_rim.batch.work import process_chunk  # noqa: E402
from common import fake_spectrum, test_responses  # noqa: E402


# after the imports: importing Sherpa sets its logger to INFO (fit and conf() chatter)
logging.getLogger("sherpa").setLevel(logging.ERROR)

def write_set(folder, n, seed=0):
    """``n`` PHA files through the test ObsIDs' responses (counts 3e3-3e4), their ARF / RMF
    named by absolute path, plus two bad inputs."""
    from badfiles import spectrum, truncated
    folder = pathlib.Path(folder)
    pairs = test_responses()
    paths = {}
    from sherpa_rim.response.library import ResponseLibrary
    for p in ResponseLibrary.default():
        paths[p.key] = (str(p.arf), str(p.rmf))
    rng = np.random.default_rng(seed)
    for i in range(n):
        key, _, arf, rmf = pairs[rng.integers(len(pairs))]
        truth = {"kT": float(np.exp(rng.uniform(np.log(0.7), np.log(6.0)))),
                 "abundance": float(rng.uniform(0.2, 1.0)), "redshift": float(rng.uniform(0, 0.2)),
                 "nH": 0.02}
        d = fake_spectrum(arf, rmf, truth, float(np.exp(rng.uniform(np.log(3e3), np.log(3e4)))), rng)
        spectrum(folder / f"s{i:05d}.pi", counts=d.counts.astype(int), exposure=d.exposure,
                 ancrfile=paths[key][0], respfile=paths[key][1])
    truncated(folder / "s00000.pi", folder / "s99998_truncated.pi")
    spectrum(folder / "s99999_norsp.pi", counts=np.ones(1024, int), ancrfile="none",
             respfile=str(folder / "missing.rmf"))
    return sorted(folder.glob("s*.pi"))


def throughput(folder, tasks, out_dir, n_fit=40):
    rows = {}
    pattern = str(folder / "s*.pi")
    for label, workers in (("batch, 1 worker", 1), ("batch, 2 workers", 2)):
        out = out_dir / f"w{workers}.fits"
        t0 = time.perf_counter()
        s = run_batch([pattern], tasks=tasks, out=out, workers=workers, progress=False, clobber=True)
        rows[label] = (s.done, time.perf_counter() - t0, s.failed)
    inputs = read_inputs([pattern])
    t0 = time.perf_counter()
    failed = sum(process_chunk([r], tasks, {"method": "network"})[0]["STATUS"] != "ok" for r in inputs)
    rows["plain loop (no Dask)"] = (len(inputs), time.perf_counter() - t0, failed)
    t0 = time.perf_counter()
    for r in inputs[:n_fit]:
        process_chunk([r], ("fit",), {"method": "network"})
    rows[f"Sherpa cie fit + conf() loop ({n_fit})"] = (n_fit, time.perf_counter() - t0, 0)
    print(f"\n## 1. Throughput: {len(inputs)} inputs, tasks {', '.join(tasks)} ("
          f"{os.cpu_count()} cores)\n")
    print("| run | spectra | seconds | spectra per hour | failed rows |")
    print("|---|---|---|---|---|")
    for label, (n, t, f) in rows.items():
        print(f"| {label} | {n} | {t:.0f} | {3600 * n / t:.0f} | {f} |")
    one, two = rows["batch, 1 worker"], rows["batch, 2 workers"]
    print(f"\n2 workers / 1 worker: {(two[0] / two[1]) / (one[0] / one[1]):.2f}x (target >= 1.7x); "
          "wall time includes starting the cluster")
    scaling(folder, tasks)


def _loop_part(folder, tasks, n):
    """A child's plain loop over the first ``n`` inputs, started when a line arrives on stdin
    (so that two children start together); prints its seconds (imports excluded)."""
    inputs = read_inputs([str(pathlib.Path(folder) / "s*.pi")])[:n]
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.perf_counter()
    for r in inputs:
        process_chunk([r], tasks, {"method": "network"})
    print(json.dumps({"seconds": time.perf_counter() - t0, "n": len(inputs)}), flush=True)


def scaling(folder, tasks, n=100):
    """The machine's own ceiling for two workers: the same one-thread plain loop over ``n``
    inputs in one process alone, then in two processes started together (no Dask)."""
    cmd = [sys.executable, __file__, "--loop-part", str(folder), str(n), "--tasks", *tasks]
    env = dict(os.environ, **ONE_THREAD)

    def run(k):
        ps = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
              for _ in range(k)]
        for p in ps:                                    # every child has imported and read its list
            while p.stdout.readline().strip() != "ready":
                if p.poll() is not None:
                    raise RuntimeError(f"the loop child exited with {p.returncode} before starting")
        for p in ps:
            p.stdin.write("go\n")
            p.stdin.flush()
        out = []
        for p in ps:
            text = p.communicate()[0]
            if p.returncode:
                raise RuntimeError(f"the loop child exited with {p.returncode}")
            out.append(json.loads(text.strip().splitlines()[-1]))
        return out
    alone = run(1)[0]
    pair = run(2)
    rate1 = alone["n"] / alone["seconds"]
    rate2 = sum(r["n"] for r in pair) / max(r["seconds"] for r in pair)
    print(f"\nThe machine's own two-process scaling (anchor): the plain loop over {n} inputs on "
          f"one thread, alone {3600 * rate1:.0f} spectra/h, two processes at once "
          f"{3600 * rate2:.0f} spectra/h: {rate2 / rate1:.2f}x", flush=True)


def resilience(folder, tasks, out_dir):
    ref = out_dir / "w1.fits"
    out = out_dir / "killed.fits"
    journal = out_dir / "killed.fits.journal"
    cmd = [sys.executable, "-m", "sherpa_rim.cli", "batch", str(folder / "s*.pi"), "--tasks",
           *tasks, "--out", str(out), "--workers", "2", "--chunk", "8", "--no-progress",
           "--clobber"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    total = len(read_inputs([str(folder / "s*.pi")]))
    killed = interrupted = None
    while p.poll() is None:
        time.sleep(0.5)
        rows = journal.read_text().splitlines()[1:] if journal.exists() else []
        if killed is None and len(rows) >= total // 4:
            killed = json.loads(rows[-1])["WORKER"]
            os.kill(killed, signal.SIGKILL)
        elif killed is not None and interrupted is None and len(rows) >= total // 2:
            p.send_signal(signal.SIGINT)
            interrupted = len(rows)
    _, err = p.communicate()
    t0 = time.perf_counter()
    r = subprocess.run([c for c in cmd if c != "--clobber"], capture_output=True, text=True)
    from astropy.table import Table
    a, b = Table.read(out), Table.read(ref)
    same = list(a["KEY"]) == list(b["KEY"]) and len(set(a["KEY"])) == len(a)
    cols = [c for c in a.colnames if c.startswith(("NET_", "RIM_", "EXACT_")) and a[c].dtype.kind == "f"]
    diff = max(float(np.nanmax(np.abs(np.ma.filled(a[c], np.nan) - np.ma.filled(b[c], np.nan))
                               / np.maximum(np.abs(np.ma.filled(b[c], np.nan)), 1e-300)))
               for c in cols)
    print("\n## 2. Killed and resumed\n")
    print(f"worker {killed} SIGKILLed at {total // 4} spectra, the run SIGINTed at {interrupted} "
          f"(exit {p.returncode}{', no traceback' if 'Traceback' not in err else ', TRACEBACK'}); "
          f"the rerun (exit {r.returncode}, {time.perf_counter() - t0:.0f} s) ends with "
          f"{len(a)} rows for {total} inputs, each once: {same}; largest relative difference "
          f"from the uninterrupted run over {len(cols)} columns: {diff:.1e}; error rows: "
          f"{int(np.sum(a['STATUS'] == 'error'))} ({'; '.join(sorted(set(e.split(':')[0] for e in a['ERROR'] if e)))})")


ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "SHERPA_RIM_ORT_THREADS": "1"}


def conv_macs(path):
    """Multiply-adds per spectrum in the Conv and ConvTranspose nodes of an ONNX model, from
    its graph's inferred shapes (per spectrum: the batch axis, which inference does not carry
    through every node, is left out); None without the onnx package."""
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        return None
    m = onnx.load(str(path))
    for i in m.graph.input:
        d = i.type.tensor_type.shape.dim[0]
        d.ClearField("dim_param")
        d.dim_value = 1
    m = shape_inference.infer_shapes(m)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input)}
    weights = {t.name: list(t.dims) for t in m.graph.initializer}
    total = 0
    for n in m.graph.node:
        if n.op_type not in ("Conv", "ConvTranspose") or n.input[1] not in weights:
            continue
        if n.output[0] not in shapes or n.input[0] not in shapes:
            raise ValueError(f"{path}: no inferred shape for the {n.op_type} node {n.name}")
        w = weights[n.input[1]]
        if n.op_type == "Conv":          # each output element: C_in / groups x kernel
            total += int(np.prod(shapes[n.output[0]][1:]) * np.prod(w[1:]))
        else:                            # each input element: C_out / groups x kernel
            total += int(np.prod(shapes[n.input[0]][1:]) * np.prod(w[1:]))
    return total


def op_profile(path, feeds):
    """ONNX Runtime's own profile of one run of a model on one thread: seconds per operator
    type, and the multiply-adds the convolutions did (from the shapes it records)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.enable_profiling = True
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    sess.run(None, feeds)                                   # warm
    sess.run(None, feeds)
    prof = pathlib.Path(sess.end_profiling())
    events = json.loads(prof.read_text())
    prof.unlink()
    last = [e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"][-1]
    per_op, conv_macs_done = {}, 0
    for e in events:
        if (e.get("cat") != "Node" or not e["name"].endswith("_kernel_time")
                or not last["ts"] <= e["ts"] <= last["ts"] + last["dur"]):
            continue
        op = e["args"]["op_name"]
        per_op[op] = per_op.get(op, 0.0) + e["dur"] * 1e-6
        if op in ("Conv", "FusedConv"):     # (ConvTranspose's profile omits its packed weight)
            w = next(iter(e["args"]["input_type_shape"][1].values()))
            y = next(iter(e["args"]["output_type_shape"][0].values()))
            conv_macs_done += int(np.prod(y) * np.prod(w[1:]))
    return per_op, conv_macs_done


def int8_anchor(path, feeds, calib, truth):
    """The RIM with its convolutions statically quantised to int8 by ONNX Runtime (weights per
    channel, activations calibrated on validation spectra): its time on one thread and how far
    its output moves. Not shipped: its intervals would need calibrating afresh. None without
    ONNX Runtime's quantisation tools (they need the onnx package)."""
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                              quantize_static)
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:
        return None

    class Reader(CalibrationDataReader):
        def __init__(self):
            n = len(calib["S"])
            self.it = iter([{k: v[i:i + 8] for k, v in calib.items()} for i in range(0, n, 8)])

        def get_next(self):
            return next(self.it, None)
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as tmp:
        pre, q = pathlib.Path(tmp) / "pre.onnx", pathlib.Path(tmp) / "int8.onnx"
        quant_pre_process(str(path), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(q), Reader(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["Conv"], per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
        out = {}
        for label, p in (("float32", path), ("int8", q)):
            sess = ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"])
            name = "F"                                    # the deconvolved spectrum
            F = sess.run([name], feeds)[0]
            out[label] = (F, min(_timed(lambda: sess.run([name], feeds)) for _ in range(3)))

    def rel(a, b):
        return float(np.median(np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)))
    return {"seconds": {k: v[1] for k, v in out.items()},
            "moved": rel(out["int8"][0], out["float32"][0]),
            "error": {k: rel(v[0], truth) for k, v in out.items()}}


def gemm_rate(dtype, n=1536):
    """Multiply-adds per second of a large matrix product on this process's threads: the
    practical ceiling for any dense or sparse kernel here."""
    a = np.random.default_rng(0).random((n, n)).astype(dtype)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(3))
    return n ** 3 / best


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def latencies():
    """Section 3 in a child process with one thread everywhere (BLAS, ONNX Runtime): what
    one core of a catalogue run gets."""
    print("\n## 3. One core (a process with one thread for BLAS and ONNX Runtime)\n", flush=True)
    env = dict(os.environ, **ONE_THREAD)
    subprocess.run([sys.executable, __file__, "--one-thread-latencies"], env=env, check=True)


def _latencies_one_thread():
    from sherpa.astro import io
    from sherpa.astro.utils import rmf_fold

    from sherpa_rim.response import load_response
    from sherpa_rim.response.library import sherpa_data_dir
    from sherpa_rim.rim.deconvolver import RIMDeconvolver
    from sherpa_rim.sim import SimConfig, build_response_sets, simulate
    sets = build_response_sets(n_total=1000, seed=0)
    rs = sets["test"]
    data = simulate(SimConfig(n=512, split="test", seed=1, noise="poisson", counts_range=(3e3, 3e5)), rs)
    R = rs.matrices[data["response_index"]]
    dec = RIMDeconvolver()
    rate32, rate64 = gemm_rate(np.float32), gemm_rate(np.float64)
    for label, kw in (("RIM network", dict(refine=False)), ("RIM + data-consistency step", dict(statistic="cash"))):
        dec.run(data["S"][:8], R[:8], data["sigma"][:8], **kw)
        ms = 1e3 * min(_timed(lambda: dec.run(data["S"], R, data["sigma"], **kw)) for _ in range(2)) / 512
        print(f"- {label}: {ms:.2f} ms per spectrum, batched (512 spectra; target <= 5 ms)", flush=True)
    macs = conv_macs(dec.session.path)
    print(f"- single-thread matrix product (1536^2): {rate32 / 1e9:.1f} G multiply-adds/s float32, "
          f"{rate64 / 1e9:.1f} G float64")
    if macs:
        print(f"- the RIM's convolutions: {macs / 1e6:.0f} M multiply-adds per spectrum; at the "
              f"float32 matrix-product rate they alone take {1e3 * macs / rate32:.2f} ms")
    nb = 256
    feeds = {"S": data["S"][:nb].astype(np.float32), "R": R[:nb].astype(np.float32),
             "sigma": data["sigma"][:nb].astype(np.float32)}
    per_op, done = op_profile(dec.session.path, feeds)
    total = sum(per_op.values())
    conv = per_op.get("Conv", 0.0) + per_op.get("FusedConv", 0.0)
    top = ", ".join(f"{k} {1e3 * v / nb:.2f}" for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])[:5])
    print(f"- where the RIM's time goes (ONNX Runtime's profile, batch {nb}, ms per spectrum): "
          f"{top}; the convolutions (Conv, FusedConv) {1e3 * conv / nb:.2f} of "
          f"{1e3 * total / nb:.2f} ms "
          f"({conv / total:.0%}), {done / nb / 1e6:.0f} M multiply-adds per spectrum at "
          f"{done / conv / 1e9:.1f} G/s ({done / conv / rate32:.0%} of the float32 "
          "matrix-product rate)", flush=True)
    vs = sets["val"]
    cd = simulate(SimConfig(n=64, split="val", seed=5, noise="poisson", counts_range=(3e3, 3e5)), vs)
    calib = {"S": cd["S"].astype(np.float32), "R": vs.matrices[cd["response_index"]].astype(np.float32),
             "sigma": cd["sigma"].astype(np.float32)}
    q = int8_anchor(dec.session.path, feeds, calib, data["F"][:nb])
    if q:
        t = q["seconds"]
        print(f"- anchor, not shipped: the convolutions quantised to int8 (ONNX Runtime, static, "
              f"calibrated on 64 validation spectra): {1e3 * t['int8'] / nb:.2f} ms per spectrum "
              f"against {1e3 * t['float32'] / nb:.2f} ms ({t['float32'] / t['int8']:.1f}x, batch "
              f"{nb}); the network's deconvolved spectrum (no data-consistency step) moves by "
              f"{q['moved']:.1%} (median relative L2), "
              f"its median relative L2 error against the truth {q['error']['float32']:.1%} -> "
              f"{q['error']['int8']:.1%}", flush=True)
    d = sherpa_data_dir()
    rsp = load_response(pha=d / "acisf07867_000N001_r0002_pha3.fits")
    rmf = io.read_rmf(str(d / "acisf07867_000N001_r0002_rmf3.fits"))
    arf = io.read_arf(str(d / "acisf07867_000N001_r0002_arf3.fits"))
    n = 4000
    rng = np.random.default_rng(0)
    e = rsp.energy_mid()
    flux = rng.uniform(1e-4, 1e-3, n)[:, None] * e[None, :] ** (-rng.uniform(1, 3, n)[:, None]) * (rsp.energy_hi - rsp.energy_lo)
    spec = np.asarray(arf.specresp) * rsp.exposure

    def best(fn, k=5):
        out = fn()
        return min(_timed(fn) for _ in range(k)), out
    t_loop, ref = best(lambda: np.array([rmf_fold(flux[i] * spec, rmf.n_grp, rmf.f_chan, rmf.n_chan, rmf.matrix,
                                                  int(rmf.detchans), int(rmf.offset)) for i in range(n)]), 5)
    nnz = int(np.count_nonzero(rmf.matrix))
    print(f"- Sherpa's rmf_fold: {1e6 * t_loop / n:.1f} us per spectrum over the RMF's {nnz:,} "
          f"non-zero elements ({rsp.n_energy} x {rsp.n_channels}), {nnz * n / t_loop / 1e9:.1f} G "
          "multiply-adds/s")
    for label, dt, rate in (("float64", np.float64, rate64), ("float32", np.float32, rate32)):
        t, out = best(lambda: rsp.fold(flux, dtype=dt))
        m = np.ascontiguousarray(rsp.matrix, dtype=dt)
        f = flux.astype(dt)
        t_dense, _ = best(lambda: f @ m.T)
        cover = sum((c1 - c0) * (e1 - e0) for c0, c1, e0, e1, _ in rsp._blocks(dt) or []) / m.size
        print(f"- response fold, batched by channel bands, {label}: {1e6 * t / n:.1f} us per "
              f"spectrum, {t_loop / t:.1f}x a loop over Sherpa's rmf_fold ({1e6 * t_loop / n:.1f} "
              f"us; max rel. diff {np.max(np.abs(out - ref)) / ref.max():.1e}; target >= 10x). "
              f"Anchors: the dense product {1e6 * t_dense / n:.1f} us ({t_loop / t_dense:.1f}x); "
              f"the bands' {cover:.0%} of the matrix at the {label} matrix-product rate "
              f"{1e6 * cover * m.size / rate:.1f} us ({t_loop / n / (cover * m.size / rate):.1f}x); "
              f"the non-zero elements alone at that rate {1e6 * nnz / rate:.1f} us "
              f"({t_loop / n / (nnz / rate):.1f}x)", flush=True)


def gpu():
    try:
        import onnxruntime as ort
        cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    except ImportError:
        cuda = False
    print("\n## 4. GPU\n")
    if not cuda:
        print("no GPU: ONNX Runtime has no CUDA execution provider here")
        return
    from sherpa_rim.rim.deconvolver import RIMDeconvolver
    from sherpa_rim.sim import SimConfig, build_response_sets, simulate
    rs = build_response_sets(n_total=1000, seed=0)["test"]
    data = simulate(SimConfig(n=4096, split="test", seed=2, noise="poisson"), rs)
    R = rs.matrices[data["response_index"]]
    dec = RIMDeconvolver(providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    for b in (1, 64, 1024, 4096):
        dec.run(data["S"][:b], R[:b], data["sigma"][:b], batch=b, refine=False)
        t0 = time.perf_counter()
        dec.run(data["S"][:b], R[:b], data["sigma"][:b], batch=b, refine=False)
        print(f"- batch {b}: {b / (time.perf_counter() - t0):.0f} spectra per second ({dec.session.provider})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="simulated spectra (default 2000)")
    ap.add_argument("--tasks", nargs="+", default=["estimate", "deconvolve"])
    ap.add_argument("--quick", action="store_true", help="200 spectra")
    ap.add_argument("--keep", help="folder for the spectra and tables (default: a temporary one)")
    ap.add_argument("--only", nargs="+",
                    choices=("throughput", "scaling", "resilience", "latencies", "gpu"))
    ap.add_argument("--one-thread-latencies", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--loop-part", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_thread_latencies:
        return _latencies_one_thread()
    if args.loop_part:
        return _loop_part(args.loop_part[0], tuple(args.tasks), int(args.loop_part[1]))
    only = set(args.only or ("throughput", "resilience", "latencies", "gpu"))
    if not only & {"throughput", "scaling", "resilience"}:
        if "latencies" in only:
            latencies()
        if "gpu" in only:
            gpu()
        return
    n = args.n or (200 if args.quick else 2000)
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(args.keep or tmp)
        (folder / "spectra").mkdir(parents=True, exist_ok=True)
        (folder / "out").mkdir(exist_ok=True)
        t0 = time.perf_counter()
        write_set(folder / "spectra", n)
        print(f"# Batch benchmark: {n} spectra written in {time.perf_counter() - t0:.0f} s")
        if "throughput" in only or "resilience" in only:   # resilience compares with w1.fits
            throughput(folder / "spectra", tuple(args.tasks), folder / "out")
        elif "scaling" in only:
            scaling(folder / "spectra", tuple(args.tasks))
        if "resilience" in only:
            resilience(folder / "spectra", tuple(args.tasks), folder / "out")
        if "latencies" in only:
            latencies()
        if "gpu" in only:
            gpu()


if __name__ == "__main__":
    main()
