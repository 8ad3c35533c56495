"""Slowloris against the real service (a script, not a test).

Starts the relay (tests/support.RelayProcess), measures a legitimate submission's
latency over ~200 requests (a new connection each), then opens N idle or half-sent
connections (raw sockets; the half-sent ones trickle one header line every few
seconds and never finish) and measures again. With ``--proxy caddy`` the same runs go
through Caddy with the header/body read timeouts of deploy/Caddyfile.

.venv/bin/python bench/slowloris.py [--attackers 500] [--requests 200] [--proxy none|caddy|both]
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2 as httpx

from tests.support import CLEAN, RelayProcess, free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    setup: str
    phase: str
    ok: int
    failed: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    attackers_open: str = "-"


def measure(url: str, n: int, timeout: float = 10.0) -> tuple[list[float], int]:
    """n sequential legitimate submissions, each on its own connection."""
    times: list[float] = []
    failed = 0
    for _ in range(n):
        start = time.perf_counter()
        try:
            response = httpx.post(
                url + "/f/contact", json=CLEAN, headers={"accept": "application/json"},
                timeout=timeout,
            )  # fmt: skip
            if response.status_code != 202:
                failed += 1
                continue
        except httpx.TransportError:
            failed += 1
            continue
        times.append((time.perf_counter() - start) * 1000)
    return times, failed


def row(setup: str, phase: str, times: list[float], failed: int, open_: str = "-") -> Row:
    if not times:
        return Row(setup, phase, 0, failed, float("nan"), float("nan"), float("nan"), open_)
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return Row(setup, phase, len(times), failed, round(statistics.median(ordered), 2),
               round(p99, 2), round(ordered[-1], 2), open_)  # fmt: skip


class Attack:
    """N sockets to host:port: half idle (connected, nothing sent), half sending partial
    headers one line every ``trickle`` seconds, never the blank line that ends them."""

    def __init__(self, port: int, n: int, trickle: float = 2.0) -> None:
        self.port, self.n, self.trickle = port, n, trickle
        self.socks: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def start(self) -> None:
        for i in range(self.n):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            if i % 2:
                sock.sendall(b"POST /f/contact HTTP/1.1\r\nHost: x\r\n")
            self.socks.append(sock)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stop.wait(self.trickle):
            for sock in self.socks[1::2]:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass

    def still_open(self) -> int:
        """Sockets the server has not closed (a closed one reads EOF or errors)."""
        alive = 0
        for sock in self.socks:
            sock.setblocking(False)
            try:
                alive += sock.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        return alive

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.socks:
            sock.close()


def caddy_config(listen: int, upstream: int) -> str:
    """deploy/Caddyfile's timeouts, on plain HTTP to the local relay."""
    source = (ROOT / "deploy" / "Caddyfile").read_text()
    timeouts = re.search(r"timeouts \{(.*?)\}", source, re.S)
    body = re.search(r"request_body \{(.*?)\}", source, re.S)
    assert timeouts and body, "deploy/Caddyfile lost its timeouts or request_body block"
    return (
        "{\n\tadmin off\n\tauto_https off\n\tservers {\n\t\ttimeouts {"
        + timeouts.group(1) + "}\n\t}\n}\n"
        f"http://127.0.0.1:{listen} {{\n\trequest_body {{{body.group(1)}}}\n"
        f"\treverse_proxy 127.0.0.1:{upstream}\n}}\n"
    )  # fmt: skip


def run(setup: str, url: str, port: int, args: argparse.Namespace) -> list[Row]:
    rows = []
    measure(url, 10)  # warm up
    rows.append(row(setup, "baseline", *measure(url, args.requests)))
    attack = Attack(port, args.attackers)
    attack.start()
    try:
        time.sleep(args.settle)
        times, failed = measure(url, args.requests)
        rows.append(row(setup, f"{args.attackers} slow conns", times, failed,
                        f"{attack.still_open()}/{args.attackers}"))  # fmt: skip
    finally:
        attack.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attackers", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--settle", type=float, default=8.0,
                        help="seconds between opening the attack and measuring")  # fmt: skip
    parser.add_argument("--proxy", choices=["none", "caddy", "both"], default="both")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slowloris-"))
    relay = RelayProcess(work / "relay", {"RELAY_LIMITS__RATE": "1000000/minute"})
    relay.start()
    rows: list[Row] = []
    caddy: subprocess.Popen[bytes] | None = None
    try:
        if args.proxy in ("none", "both"):
            rows += run("uvicorn direct", relay.url, relay.port, args)
        if args.proxy in ("caddy", "both"):
            exe = shutil.which("caddy")
            if exe is None:
                print("caddy not installed: skipping the proxy run", file=sys.stderr)
            else:
                listen = free_port()
                conf = work / "Caddyfile"
                conf.write_text(caddy_config(listen, relay.port))
                log = (work / "caddy.log").open("wb")
                caddy = subprocess.Popen([exe, "run", "--config", str(conf), "--adapter",
                                          "caddyfile"], stdout=log, stderr=log)  # fmt: skip
                url = f"http://127.0.0.1:{listen}"
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    try:
                        httpx.get(url + "/healthz", timeout=0.5)
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                rows += run("caddy -> uvicorn", url, listen, args)
    finally:
        if caddy is not None:
            caddy.terminate()
            caddy.wait(10)
        relay.stop()
    head = ("setup", "phase", "ok", "failed", "p50 ms", "p99 ms", "max ms", "attackers open")
    print(f"settle {args.settle:g} s; attackers: half idle, half trickling a header line "
          f"every 2 s; legitimate = POST /f/contact JSON, new connection each")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(f"| {r.setup} | {r.phase} | {r.ok} | {r.failed} | {r.p50_ms} | {r.p99_ms} | "
              f"{r.max_ms} | {r.attackers_open} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
