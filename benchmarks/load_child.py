"""One fresh IPython start, optionally followed by ``%load_ext MODULE`` (prints one JSON line).

usage: python load_child.py bare|MODULE

Reports the CPU and wall time of ``%load_ext`` measured inside the process, and which heavy
modules were imported by the end. The parent also measures the whole process (its rusage).
"""

from __future__ import annotations

import json
import sys
import time

what = sys.argv[1]
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

shell = InteractiveShell.instance()
before = set(sys.modules)
c0 = time.process_time()
t0 = time.perf_counter()
if what != "bare":
    shell.run_line_magic("load_ext", what)
cpu = time.process_time() - c0
wall = time.perf_counter() - t0
new = set(sys.modules) - before
heavy = ("httpx", "httpcore", "keyring", "ipywidgets", "openai", "anthropic", "langchain", "ssl")
print(
    json.dumps(
        {
            "cpu_ms": cpu * 1000,
            "wall_ms": wall * 1000,
            "heavy": sorted(m for m in new if m.split(".")[0] in heavy and "." not in m),
            "new_modules": len(new),
            "byok_modules": sorted(m for m in new if m.startswith("byok_magic")),
        }
    )
)
