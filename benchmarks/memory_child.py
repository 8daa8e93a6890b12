"""Peak RSS growth while one 1 MB answer streams (run by bench_memory; prints one JSON line).

usage: python memory_child.py byok|raw URL CHUNKS PIECE

Warm up with a small request first (imports, client, connection), collect garbage, reset the
kernel's peak-RSS counter (``/proc/self/clear_refs``), stream, read the peak (``VmHWM``).
The whole answer text is kept until the end, as a notebook would keep it.
"""

from __future__ import annotations

import gc
import json
import os
import re
import sys

mode, url, n, p = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
key = os.environ["BYOK_BENCH_KEY"]


def mem() -> tuple[int, int]:
    with open("/proc/self/status") as f:
        s = f.read()
    hwm = int(re.search(r"VmHWM:\s+(\d+)", s).group(1))  # type: ignore[union-attr]
    rss = int(re.search(r"VmRSS:\s+(\d+)", s).group(1))  # type: ignore[union-attr]
    return hwm * 1024, rss * 1024


if mode == "byok":
    from byok_magic.router import Answer, router

    def stream(model: str) -> str:
        r = router()
        profile, req = r.request("benchmark", f"bench:{model}")
        answer = Answer(target="bench")
        for _ in r.stream(profile, req, answer):
            pass
        return answer.text
else:
    import httpx

    client = httpx.Client(timeout=60)

    def stream(model: str) -> str:
        parts = []
        body = {"model": model, "messages": [{"role": "user", "content": "x"}], "stream": True}
        with client.stream(
            "POST",
            url + "/v1/chat/completions",
            json=body,
            headers={"authorization": "Bearer " + key},
        ) as r:
            buf = b""
            for chunk in r.iter_bytes():
                buf += chunk
                *events, buf = buf.split(b"\n\n")
                for ev in events:
                    if ev[:6] != b"data: " or ev[6:] == b"[DONE]":
                        continue
                    for c in json.loads(ev[6:]).get("choices") or ():
                        t = c["delta"].get("content")
                        if t:
                            parts.append(t)
        return "".join(parts)


stream("n50-p16")
gc.collect()
_, before = mem()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
text = stream(f"n{n}-p{p}")
peak, after = mem()
assert len(text) == n * p, len(text)
print(json.dumps({"growth": peak - before, "retained": after - before, "chars": len(text)}))
