"""Intake throughput and latency against a bare Starlette endpoint, and memory over a
long run. Both servers run the same way (one uvicorn worker in a subprocess, the same
venv) and are measured in the same run, so the ratio is what counts, not the machine.

Load comes from wrk (one thread, 32 keep-alive connections, as in issue 10) when it is
installed (`apt-get install wrk`), else from bench/_load.py; two messages: 70
characters, and about 1 KB ("Hello I would like to know your opening hours " * 20).

    .venv/bin/python bench/bench_intake.py [--seconds 10] [--long 100000]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import build_post, run_load
from tests.support import ROOT, RelayProcess, clean_env, free_port, wait_for

FORM_TYPE = "application/x-www-form-urlencoded"
MESSAGES = {
    "70 characters": "Hello, do you have any appointments next Tuesday afternoon? Thank you!",
    "about 1 KB": "Hello I would like to know your opening hours " * 20,
}
CONNECTIONS = 32


def form(message: str) -> bytes:
    fields = {"name": "Bench Visitor", "email": "visitor@example.com",
              "phone": "555-010-1234", "message": message}  # fmt: skip
    return urlencode(fields).encode()


@dataclass
class Figures:
    rate: float
    p99_ms: float
    errors: int


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _wrk(port: int, body: bytes, seconds: float) -> Figures:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        lua_body = body.decode().replace("\\", "\\\\").replace('"', '\\"')
        script.write(
            'wrk.method = "POST"\n'
            f'wrk.body = "{lua_body}"\n'
            f'wrk.headers["Content-Type"] = "{FORM_TYPE}"\n'
            'wrk.headers["Accept"] = "application/json"\n'
        )
    done = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency",
         "-s", script.name, f"http://127.0.0.1:{port}/f/contact"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    Path(script.name).unlink()
    out = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Figures(rate, p99, int(errors.group(1)) if errors else 0)


def measure(port: int, body: bytes, seconds: float) -> Figures:
    if shutil.which("wrk"):
        _wrk(port, body, 1)  # warm-up
        return _wrk(port, body, seconds)
    request = build_post("/f/contact", body, FORM_TYPE, "127.0.0.1")
    run_load(port, request, 500, CONNECTIONS)  # warm-up
    result = run_load(port, request, max(CONNECTIONS, int(seconds * 500)), CONNECTIONS)
    errors = sum(n for status, n in result.statuses.items() if status >= 300)
    return Figures(result.rate, result.percentile(0.99), errors)


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
            httpx.post(f"http://127.0.0.1:{port}/f/contact", content=form("x"),
                       headers={"content-type": FORM_TYPE})  # fmt: skip
            return True
        except httpx.TransportError:
            return False

    assert wait_for(up, 15), "bare server did not start"
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="per message and server")
    parser.add_argument("--long", type=int, default=100_000, help="submissions for memory")
    args = parser.parse_args()

    bare, bare_port = start_bare()
    try:
        base = {name: measure(bare_port, form(m), args.seconds) for name, m in MESSAGES.items()}
    finally:
        bare.terminate()
        bare.wait()

    with tempfile.TemporaryDirectory() as tmp:
        relay = RelayProcess(Path(tmp) / "data", {"RELAY_LIMITS__RATE": "100000000/minute"})
        relay.start()
        try:
            assert relay.proc is not None
            ours = {
                name: measure(relay.port, form(m), args.seconds) for name, m in MESSAGES.items()
            }
            request = build_post("/f/contact", form(MESSAGES["70 characters"]), FORM_TYPE,
                                 "127.0.0.1")  # fmt: skip
            run_load(relay.port, request, 1000, CONNECTIONS)
            time.sleep(1)
            rss_1k = rss_kib(relay.proc.pid)
            run_load(relay.port, request, max(0, args.long - 1000), CONNECTIONS)
            time.sleep(1)
            rss_long = rss_kib(relay.proc.pid)
        finally:
            relay.stop()

    loader = "wrk -t1 -c32" if shutil.which("wrk") else "bench/_load.py, 32 connections"
    print(f"intake: form posts for {args.seconds:.0f} s each ({loader}), one uvicorn worker")
    print(f"{'message':<16}{'bare req/s':>12}{'relay req/s':>13}{'ratio':>8}"
          f"{'bare p99 ms':>13}{'relay p99 ms':>14}{'p99 x':>7}{'errors':>8}")  # fmt: skip
    for name in MESSAGES:
        b, r = base[name], ours[name]
        print(f"{name:<16}{b.rate:>12.0f}{r.rate:>13.0f}{r.rate / b.rate:>8.2f}"
              f"{b.p99_ms:>13.2f}{r.p99_ms:>14.2f}{r.p99_ms / b.p99_ms:>7.1f}"
              f"{r.errors:>8}")  # fmt: skip
    worst = min(ours[n].rate / base[n].rate for n in MESSAGES)
    print(f"ratio (relay / bare): {worst:.2f} at worst")
    print(
        f"memory: RSS {rss_1k / 1024:.1f} MiB after 1,000 submissions, "
        f"{rss_long / 1024:.1f} MiB after {args.long:,} ({(rss_long / rss_1k - 1) * 100:+.1f}%)"
    )


if __name__ == "__main__":
    main()
