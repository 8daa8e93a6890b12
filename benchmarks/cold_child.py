"""One cold first request in a fresh process (run by bench_stream.cold; prints one JSON line).

usage: python cold_child.py raw|byok|byok-keyring-ready|openai-sdk URL

Every mode starts the same way: an IPython ``InteractiveShell``. ``byok`` then runs a cell with
``%load_ext byok_magic`` (not timed here: bench_load measures it) and makes its first request
right after, with no pause, as "Run All" would. The clock starts at the first
request: for raw httpx that includes ``import httpx`` and building the client (its SSL context),
because byok defers exactly those to its first request too.
"""

from __future__ import annotations

import json
import os
import sys
import time

mode, url = sys.argv[1], sys.argv[2]
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

shell = InteractiveShell.instance()
if mode.startswith("byok"):
    # as a notebook does it: %load_ext in a cell of its own, then (Run All) the next cell at
    # once; the extension's background warm-up starts when that cell finishes
    shell.run_cell("%load_ext byok_magic")
if mode == "byok-keyring-ready":
    # interactive use: the next cell comes after the warm-up the loading cell started has done
    # its work (it resolves the keyring and builds the HTTP client in a background thread)
    import threading

    for t in threading.enumerate():
        if t.name == "byok-warm-up":
            t.join(30)
key = os.environ["BYOK_BENCH_KEY"]
prompt = [{"role": "user", "content": "benchmark"}]
model = "n5-p4"

c0 = time.process_time()
t0 = time.perf_counter()
first = None
if mode == "raw":
    import httpx

    client = httpx.Client(timeout=60)
    body = {"model": model, "messages": prompt, "stream": True}
    with client.stream(
        "POST", url + "/v1/chat/completions", json=body, headers={"authorization": "Bearer " + key}
    ) as r:
        buf = b""
        for chunk in r.iter_bytes():
            buf += chunk
            *events, buf = buf.split(b"\n\n")
            for ev in events:
                if ev[:6] != b"data: " or ev[6:] == b"[DONE]":
                    continue
                for c in json.loads(ev[6:]).get("choices") or ():
                    if c["delta"].get("content") and first is None:
                        first = time.perf_counter()
elif mode.startswith("byok"):
    import byok_magic
    from byok_magic.events import TextDelta

    for ev in byok_magic.stream("benchmark", f"bench:{model}"):
        if first is None and type(ev) is TextDelta:
            first = time.perf_counter()
elif mode == "openai-sdk":
    from openai import OpenAI

    client = OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    for chunk in client.chat.completions.create(model=model, messages=prompt, stream=True):
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter()
else:
    raise SystemExit(f"unknown mode {mode}")
cpu = time.process_time() - c0
assert first is not None, "no text arrived"
print(json.dumps({"ttft_ms": (first - t0) * 1000, "cpu_ms": cpu * 1000}))
