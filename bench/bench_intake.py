"""Intake throughput and latency against a bare Starlette endpoint, and memory over a
long run. Both servers run the same way (one uvicorn worker in a subprocess) and are
measured in the same run, so the ratio is what counts, not the machine.

    .venv/bin/python bench/bench_intake.py [--requests 4000] [--long 20000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import build_post, run_load
from tests.support import ROOT, RelayProcess, clean_env, free_port, wait_for

FORM = urlencode(
    {
        "name": "Bench Visitor",
        "email": "visitor@example.com",
        "phone": "555-010-1234",
        "message": "Hello, do you have any appointments next Tuesday afternoon? Thank you!",
    }
).encode()
FORM_TYPE = "application/x-www-form-urlencoded"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_bare() -> tuple[subprocess.Popen[bytes], int]:
    import httpx2 as httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench._bare_app:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=clean_env({}),
    )  # fmt: skip

    def up() -> bool:
        try:
            httpx.post(f"http://127.0.0.1:{port}/f/contact", content=FORM,
                       headers={"content-type": FORM_TYPE})  # fmt: skip
            return True
        except httpx.TransportError:
            return False

    assert wait_for(up, 15), "bare server did not start"
    return proc, port


def relay_env() -> dict[str, str]:
    return {"RELAY_LIMITS__RATE": "100000000/minute"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--long", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    request = build_post("/f/contact", FORM, FORM_TYPE, "127.0.0.1")

    bare, bare_port = start_bare()
    try:
        run_load(bare_port, request, 500, args.concurrency)  # warm-up
        base = run_load(bare_port, request, args.requests, args.concurrency)
    finally:
        bare.terminate()
        bare.wait()

    with tempfile.TemporaryDirectory() as tmp:
        relay = RelayProcess(Path(tmp) / "data", relay_env())
        relay.start()
        try:
            assert relay.proc is not None
            run_load(relay.port, request, 500, args.concurrency)  # warm-up
            ours = run_load(relay.port, request, args.requests, args.concurrency)
            done = 500 + args.requests
            top_up = max(0, 1000 - done)
            if top_up:
                run_load(relay.port, request, top_up, args.concurrency)
            rss_1k = rss_kib(relay.proc.pid)
            run_load(relay.port, request, max(0, args.long - max(done, 1000)), args.concurrency)
            time.sleep(1)
            rss_long = rss_kib(relay.proc.pid)
        finally:
            relay.stop()

    ok = ours.statuses.get(202, 0)
    print(f"intake: {args.requests} form posts, {args.concurrency} keep-alive connections, "
          "one uvicorn worker each")  # fmt: skip
    print(f"{'server':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, r in (("bare Starlette", base), ("contact-relay", ours)):
        print(f"{name:<22}{r.rate:>10.0f}{r.percentile(0.5):>10.2f}{r.percentile(0.99):>10.2f}")
    print(f"ratio (relay / bare):  throughput {ours.rate / base.rate:.2f}, "
          f"p50 {ours.percentile(0.5) / base.percentile(0.5):.1f}x, "
          f"p99 {ours.percentile(0.99) / base.percentile(0.99):.1f}x")  # fmt: skip
    print(f"accepted {ok}/{ours.requests} (statuses {ours.statuses})")
    print(
        f"memory: RSS {rss_1k / 1024:.1f} MiB after 1,000 submissions, "
        f"{rss_long / 1024:.1f} MiB after {args.long:,} ({(rss_long / rss_1k - 1) * 100:+.1f}%)"
    )


if __name__ == "__main__":
    main()
