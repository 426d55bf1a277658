#!/usr/bin/env python
"""Record, in the shipped emission table's JSON, how much of each element sits in ions that have
no lines in the table (their CHIANTI collision strengths are absent from the copy it was built
from), per temperature of the table: the runtime warns from it (sherpa_rim.emission.missing).

    python tools/missing_ions.py [--chianti ../shared/data/chianti] [--check]

Reads the ionisation equilibrium the table was built with (``chianti.ioneq`` of CHIANTI 9.0.1,
from the tarball, checked against the table's recorded sha256) and the table's per-ion notes.
Fully stripped ions have no lines by nature and are not counted. ``--check`` recomputes and
compares with what the JSON holds (exit 1 when they differ).
"""
import argparse
import hashlib
import io
import json
import pathlib
import sys
import tarfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
TABLE_JSON = ROOT / "sherpa_rim" / "emission" / "data" / "cie_chianti.json"
IONEQ = "chianti-9.0.1/ioneq/chianti.ioneq"
SYMBOL = {1: "h", 2: "he", 6: "c", 7: "n", 8: "o", 10: "ne", 11: "na", 12: "mg", 13: "al",
          14: "si", 16: "s", 18: "ar", 20: "ca", 26: "fe", 28: "ni"}


def read_ioneq(text: str):
    """(logT, {(Z, stage): fractions}) from CHIANTI's .ioneq format."""
    lines = text.splitlines()
    n_t, _ = (int(v) for v in lines[0].split()[:2])
    logt = np.array(lines[1].split()[:n_t], float)
    out = {}
    for ln in lines[2:]:
        parts = ln.split()
        if not parts or parts[0] == "-1":
            break
        out[(int(parts[0]), int(parts[1]))] = np.array(parts[2:2 + n_t], float)
    return logt, out


def compute(chianti: pathlib.Path, table: dict) -> dict:
    tar_path = chianti / "chianti-9.0.1.tar.gz"
    digest = hashlib.sha256(tar_path.read_bytes()).hexdigest()
    if digest != table["chianti_sources"]["chianti-9.0.1.tar.gz"]:
        sys.exit(f"{tar_path} is not the CHIANTI tarball the table was built from (sha256 differs)")
    with tarfile.open(tar_path) as tf:
        raw = tf.extractfile(IONEQ).read()
    logt, ioneq = read_ioneq(raw.decode("ascii", "replace"))
    z_of = {v: k for k, v in SYMBOL.items()}
    missing = {}
    for name, info in table["ions"].items():
        el, stage = name.split("_")
        z, stage = z_of[el], int(stage)
        # ions without lines for lack of atomic data ("no lines: missing ..."), not those whose
        # lines all fall outside the band, nor a note about another dataset (_fblvl)
        if stage == z + 1 or not any(n.startswith(("no lines", "lines failed")) for n in info["notes"]):
            continue
        missing.setdefault(el, []).append(stage)
    grid = np.asarray(table["logT"], float)
    fraction = {}
    for el, stages in sorted(missing.items(), key=lambda kv: z_of[kv[0]]):
        f = sum(np.interp(grid, logt, ioneq[(z_of[el], s)]) for s in stages)
        fraction[el] = [round(float(v), 4) for v in f]
    return {"ions": {el: sorted(s) for el, s in missing.items()},
            "fraction": fraction,
            "what": "per element, the summed ion fraction (CHIANTI 9.0.1 ionisation equilibrium) of "
                    "its ions with no lines in the table, fully stripped ions left out, at each logT",
            "from": f"{IONEQ} in chianti-9.0.1.tar.gz (sha256 {digest[:16]}...)",
            "command": "python tools/missing_ions.py"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chianti", default=str(ROOT.parent / "shared" / "data" / "chianti"))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    table = json.loads(TABLE_JSON.read_text())
    rec = compute(pathlib.Path(args.chianti), table)
    if args.check:
        same = table.get("missing_ions") == rec
        print("missing_ions in the table's JSON: " + ("as computed" if same else "DIFFERS"))
        sys.exit(0 if same else 1)
    table["missing_ions"] = rec
    buf = io.StringIO()
    json.dump(table, buf, indent=1)
    TABLE_JSON.write_text(buf.getvalue() + "\n")
    for el, f in rec["fraction"].items():
        k = int(np.argmax(f))
        print(f"{el:>2}: ions {rec['ions'][el]} hold up to {100 * f[k]:.0f} % "
              f"(logT {table['logT'][k]})")


if __name__ == "__main__":
    main()
