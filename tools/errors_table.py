"""Write docs/errors.md: what each case of the bad-input matrix (tests/test_bad_input.py) gets.

    python tools/errors_table.py            # runs every case (about a minute) and writes the page
"""
import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import test_bad_input as tb  # noqa: E402


def _clean(text, folder):
    text = text.replace(str(folder) + "/", "").replace(str(folder), ".")
    text = re.sub(r"/[^ ']*/site-packages/", ".../site-packages/", text)
    return " ".join(text.split()).replace("|", "\\|")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        ctx = tb.Ctx(pathlib.Path(tmp))
        rows = []
        for case in tb.CASES:
            o = case.run(ctx)
            got = tb.check(case, o)
            if case.expect == "error":
                how = (f"exit {o.code}" if o.exc is None else f"raises {type(o.exc).__name__}")
            else:
                how = "runs"
            rows.append(f"| `{case.id}` | {case.what} | {how} | {_clean(got, tmp)[:400]} |")
    text = ["# What bad input gets", "",
            "Every case of the bad-input matrix (`tests/test_bad_input.py`, which checks each one; "
            "this page is written by `python tools/errors_table.py`). On the command line an error "
            "is one line on stderr, with exit code 2 for bad input (1 for an unexpected error, "
            "130 for Ctrl-C) and no traceback (`--debug` shows it); in Python it is an exception of "
            "`sherpa_rim.errors` (`DataError`, `ResponseError`, `GridError`, `ModelFileError`, "
            "`OutputError`, all `SherpaRimError`) or a `ValueError` for an invalid argument. "
            "Nothing that exists is overwritten without `--clobber`. Also checked: an SPI run "
            "interrupted with Ctrl-C (exit 130, `sherpa-rim: interrupted: SPI interrupted after N "
            "of M sweeps of ensemble E; run the same command again to resume from RUN.h5`) resumes "
            "and finishes; an unexpected error is one line naming its type; every model and "
            "statistic survives save/restore (`tests/test_save_restore.py`, "
            "`docs/sherpa_session.md`).", "",
            "| case | input | outcome | message (paths shortened) |", "|---|---|---|---|"] + rows
    out = ROOT / "docs" / "errors.md"
    out.write_text("\n".join(text) + "\n")
    print(f"{len(rows)} cases -> {out}")


if __name__ == "__main__":
    main()
