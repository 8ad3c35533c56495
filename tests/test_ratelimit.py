"""The in-memory moving window (``memory://``) against a plain model of the rule."""

from __future__ import annotations

import random

from limits import parse

from relay.ratelimit import MemoryWindow, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_allows_at_most_the_limit_in_any_period() -> None:
    """Over a random run of hits from a few clients, each decision and each wait is the
    model's: a hit is allowed while fewer than ``limit`` counted hits of that client lie
    in the last ``period`` seconds (a refused hit is not counted), and a refusal waits
    until the oldest of them leaves the window."""
    clock = Clock()
    window = MemoryWindow(parse("3/minute"), clock=clock)
    counted: dict[str, list[float]] = {}
    rng = random.Random(3)
    for _ in range(3000):
        clock.now += rng.choice([0.0, 0.5, 3.0, 20.0, 61.0])
        who = rng.choice(["a", "b", "c"])
        recent = [t for t in counted.get(who, []) if t > clock.now - 60]
        wait = window.hit("contact", who)
        if len(recent) < 3:
            assert wait == 0
            counted[who] = [*recent, clock.now]
        else:
            assert wait == min(recent) + 60 - clock.now and wait > 0
            counted[who] = recent


def test_forms_count_apart_and_idle_clients_are_forgotten() -> None:
    """Each form has its own window; a client with no hit in the last period is dropped
    at the next sweep, so a flood from many addresses does not grow memory for good."""
    clock = Clock()
    window = MemoryWindow(parse("1/minute"), clock=clock)
    assert window.hit("contact", "a") == 0 and window.hit("other", "a") == 0
    assert window.hit("contact", "a") == 60
    for n in range(1000):
        window.hit("contact", f"10.0.{n // 256}.{n % 256}")
    clock.now += 61
    window.hit("contact", "b")
    assert list(window._hits) == [("contact", "b")]


async def test_the_limiter_answers_whole_seconds_to_wait() -> None:
    """RateLimiter over memory:// answers 0, then the seconds to wait (at least 1)."""
    limiter = RateLimiter("2/minute")
    assert [await limiter.hit("contact", "10.0.0.1") for _ in range(2)] == [0, 0]
    assert 59 <= await limiter.hit("contact", "10.0.0.1") <= 60
    assert await limiter.hit("contact", "10.0.0.2") == 0
