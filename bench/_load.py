"""A small keep-alive HTTP/1.1 load generator on asyncio (no dependencies), so that the
client costs little next to the server it measures."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def build_post(path: str, body: bytes, content_type: str, host: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    if length:
        await reader.readexactly(length)
    return status


async def _worker(host: str, port: int, request: bytes, count: int, out: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for _ in range(count):
            start = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            out.latencies.append(time.perf_counter() - start)
            out.statuses[status] = out.statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _run(host: str, port: int, request: bytes, total: int, concurrency: int) -> LoadResult:
    result = LoadResult(total, 0.0, {}, [])
    share = total // concurrency
    start = time.perf_counter()
    await asyncio.gather(*(_worker(host, port, request, share, result) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - start
    result.requests = share * concurrency
    return result


def run_load(port: int, request: bytes, total: int, concurrency: int = 16) -> LoadResult:
    return asyncio.run(_run("127.0.0.1", port, request, total, concurrency))
