"""Run every byok_magic benchmark and print one table.

usage: .venv/bin/python benchmarks/run.py [--quick] [--only load,stream,cold,compare,memory,render]
                                          [--readme]

``--quick`` uses fewer runs and shorter windows (about 2 minutes instead of about 6-10).
``--readme`` also writes the table into benchmarks/README.md (between the "results" markers).
Loopback servers only: nothing leaves 127.0.0.1, and no real key is read or sent.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, ROOT, Row, table

SECTIONS = ("load", "stream", "cold", "compare", "memory", "render")


def _isolate_env() -> None:
    """No real key or proxy may reach a benchmark: they talk to 127.0.0.1 only."""
    for v in list(os.environ):
        if v.endswith(("_API_KEY", "_API_TOKEN", "_AD_TOKEN")) or v in ("OLLAMA_HOST",):
            del os.environ[v]
    for v in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        os.environ.pop(v, None)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    # Fresh processes must find compiled bytecode, as on an installed system, without writing
    # into the source tree: keep .pyc files in a cache of our own.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "byok-bench-pycache")


def machine() -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "byok_magic"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit, dirty = "?", ""
    return (
        f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} · {platform.machine()} · "
        f"{os.cpu_count()} CPUs · Python {platform.python_version()} · "
        f"{platform.system()} {platform.release()} · byok_magic at {commit}"
        + (" + uncommitted changes" if dirty else "")
    )


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs, shorter windows")
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    ap.add_argument("--readme", action="store_true", help="write the table into README.md")
    args = ap.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections: {', '.join(sorted(unknown))}")
    _isolate_env()
    started = time.perf_counter()
    header = machine() + (" · --quick" if args.quick else "")
    log(header)
    rows: list[Row] = []
    timings: list[str] = []

    def section(name: str, fn: object, *a: object) -> None:
        if name not in only:
            return
        log(f"[{name}]")
        t0 = time.perf_counter()
        try:
            rows.extend(fn(*a))  # type: ignore[operator]
        except Exception as exc:  # one broken section must not hide the others
            import traceback

            traceback.print_exc()
            rows.append(Row(name, f"FAILED: {type(exc).__name__}: {exc}"[:200], "", met=False))
        timings.append(f"{name} {time.perf_counter() - t0:.0f} s")

    import bench_load

    section("load", bench_load.run, args.quick, log)
    if set(only) & {"stream", "cold", "compare", "memory"}:
        from common import bench_home
        from servers import ServerProcess

        with ServerProcess() as srv:
            bench_home(srv.url)
            import bench_compare
            import bench_memory
            import bench_stream

            section("stream", bench_stream.run, srv, args.quick, log)
            section("cold", bench_stream.cold, srv.url, args.quick, log)
            section("compare", bench_compare.run, args.quick, log)
            section("memory", bench_memory.run, srv.url, args.quick, log)
    if "render" in only:
        import bench_render

        section("render", bench_render.run, args.quick, log)

    total = time.perf_counter() - started
    met = sum(1 for r in rows if r.met is True)
    missed = [r for r in rows if r.met is False]
    footer = f"{met} targets met, {len(missed)} missed · {total:.0f} s ({', '.join(timings)})"
    print()
    print(header)
    print(table(rows))
    print()
    print(footer)
    for r in missed:
        print(f"  MISSED: {r.section}: {r.name}: {r.target}")
    if args.readme:
        _write_readme(header, table(rows, markdown=True), footer)
    return 0


def _write_readme(header: str, md: str, footer: str) -> None:
    path = BENCH / "README.md"
    text = path.read_text(encoding="utf-8")
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    block = f"{start}\n{header}\n\n{md}\n\n{footer}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text += "\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
    log(f"wrote the table into {path}")


if __name__ == "__main__":
    raise SystemExit(main())
