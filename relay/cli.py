"""``contact-relay``: serve, check-config, screen, outbox, send-test, staff, inbox, audit.

Loads Settings once per command and passes them down. Exit codes: 0 ok, 1 a
configuration or operational problem (with a one-paragraph message on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from relay import __version__, cli_inbox
from relay.errors import ConfigError, OutboxCorrupt
from relay.inbox import inbox_in_use, key_file, open_inbox
from relay.outbox import STATES, Item, SqliteOutbox
from relay.settings import Settings, load_settings, unknown_variables
from relay.storage import unusable_folder


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contact-relay", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config", type=Path, help="TOML file (default: $RELAY_CONFIG or config/relay.toml)"
        )
        return p

    serve = with_config(sub.add_parser("serve", help="run the service"))
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    with_config(sub.add_parser("check-config", help="validate and print the configuration"))

    screen = with_config(sub.add_parser("screen", help="screen text for medical or crisis content"))
    screen.add_argument("text", nargs="?", help="the text to screen")
    screen.add_argument("--jsonl", metavar="PATH", help="JSON lines with 'message' (- = stdin)")

    outbox = with_config(sub.add_parser("outbox", help="inspect and manage the outbox"))
    ops = outbox.add_subparsers(dest="op", required=True)
    ops.add_parser("status", help="counts by state, oldest waiting item")
    listing = ops.add_parser("list", help="items, newest first (metadata only)")
    listing.add_argument("--state", choices=STATES)
    listing.add_argument("--limit", type=int, default=50)
    retry = ops.add_parser("retry", help="queue a dead item again")
    retry.add_argument("id")
    release = ops.add_parser("release", help="deliver a suspected item after all")
    release.add_argument("id")
    purge = ops.add_parser("purge", help="delete old sent metadata (and dead items)")
    purge.add_argument("--older-than-days", type=float, default=30.0)
    purge.add_argument("--dead", action="store_true", help="also delete every dead item")

    send_test = with_config(sub.add_parser("send-test", help="send one test message for real"))
    send_test.add_argument("--form", default=None, help="form id (default: the first form)")
    cli_inbox.add_parsers(sub, with_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        if args.command == "screen":
            from relay.cli_screen import run_screen
            from relay.screening import LexiconError, load_lexicon

            try:
                lexicon = load_lexicon(settings.screening.lexicon_dir)
            except LexiconError as exc:
                raise ConfigError(str(exc)) from None
            return run_screen(args.text, args.jsonl, lexicon)
        if args.command == "serve":
            return _serve(settings, args.host, args.port)
        if args.command == "check-config":
            return _check_config(settings)
        if args.command == "outbox":
            return _outbox(settings, args)
        if args.command == "send-test":
            from relay.cli_send_test import send_test

            return send_test(settings, args.form)
        if args.command == "staff":
            return cli_inbox.run_staff(settings, args)
        if args.command == "inbox":
            return cli_inbox.run_rotate(settings, args)
        if args.command == "audit":
            return cli_inbox.run_audit(settings, args.since)
    except (ConfigError, OutboxCorrupt) as exc:
        print(f"contact-relay: {exc}", file=sys.stderr)
        return 1
    raise AssertionError(args.command)  # argparse guarantees a known command


def _serve(settings: Settings, host: str | None, port: int | None) -> int:
    import uvicorn

    from relay import logs
    from relay.app import create_app
    from relay.screening import LexiconError

    logs.configure()
    log = logging.getLogger("relay.cli")
    for name, hint in unknown_variables(list(settings.forms)):
        log.warning(
            f"{name} is not a setting and is ignored" + (f"; did you mean {hint}?" if hint else ""),
            extra={"variable": name, "did_you_mean": hint},
        )
    # Open the outbox (and the maildir) once before serving, so a damaged database or
    # a folder the process cannot write stops start-up with its own message (inside
    # the lifespan it would surface only as a class name).
    SqliteOutbox(settings.storage.outbox_path, busy_timeout=settings.storage.busy_timeout).close()
    if not settings.smtp.enabled:
        from relay.delivery import MaildirSender

        MaildirSender(settings.storage.maildir)
    # Likewise the inbox: a missing or wrong key stops here, before anything is accepted.
    if inbox_in_use(settings):
        inbox, generated = open_inbox(settings, clock=time.time)
        inbox.close()
        if generated:
            print(f"contact-relay: a new inbox key was written to {key_file(settings)}; "
                  "back it up (see README, 'Inbox key').", file=sys.stderr)  # fmt: skip
    try:
        app = create_app(settings)
    except LexiconError as exc:
        raise ConfigError(str(exc)) from None
    loop, http = _server_implementation()
    log.info("server", extra={"loop": loop, "http": http})
    config = uvicorn.Config(
        app,
        host=host or settings.server.host,
        port=settings.server.port if port is None else port,
        loop=loop,
        http=http,
        log_config=None,  # keep the JSON handlers set up above
        access_log=False,  # uvicorn's would print query strings; relay.access logs instead
        proxy_headers=False,  # relay.app applies them, from server.trusted_proxies only
        server_header=False,
        timeout_graceful_shutdown=8,  # inside Docker's 10 s before SIGKILL
    )
    uvicorn.Server(config).run()
    return 0


def _server_implementation() -> tuple[str, str]:
    """uvicorn's standard extras (uvloop, httptools) when installed; else asyncio, h11."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http


def _writable_problem(folder: Path) -> str | None:
    """Why the data folder (or, if it does not exist yet, its nearest parent) cannot
    be written by this process, or None."""
    probe = folder
    while not os.path.lexists(probe) and probe.parent != probe:  # never raises
        probe = probe.parent
    if os.path.isdir(probe) and os.access(probe, os.W_OK | os.X_OK):
        return None
    reason = (
        "not a folder"
        if os.path.lexists(probe) and not os.path.isdir(probe)
        else ("permission denied")
    )
    return unusable_folder(folder, PermissionError(13, reason))


def _check_config(settings: Settings) -> int:
    from relay.pages import check_templates

    check_templates(settings.pages)  # raises ConfigError naming the template and line
    print(json.dumps(settings.masked(), indent=2))
    for name, hint in unknown_variables(list(settings.forms)):
        print(f"warning: {name} is not a setting and is ignored"
              + (f"; did you mean {hint}?" if hint else ""), file=sys.stderr)  # fmt: skip
    problem = _writable_problem(settings.storage.data_dir)
    if problem:
        print(f"contact-relay: {problem}", file=sys.stderr)
        return 1
    if not settings.smtp.enabled:
        print(
            f"note: smtp.host is empty: mail is written to {settings.storage.maildir}/new/",
            file=sys.stderr,
        )
    return 0


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _row(item: Item) -> str:
    return (
        f"{item.id}  {item.state:<7} {item.kind:<10} {item.verdict:<7} form={item.form_id} "
        f"attempts={item.attempts} created={_when(item.created_at)} "
        f"next={_when(item.next_attempt_at) if item.state == 'queued' else '-'} "
        f"error={item.last_error or '-'}"
    )


def _outbox(settings: Settings, args: argparse.Namespace) -> int:
    outbox = SqliteOutbox(settings.storage.outbox_path)
    try:
        now = time.time()
        if args.op == "status":
            stats = outbox.stats()
            for state in STATES:
                print(f"{state:<8} {stats.counts[state]}")
            oldest = stats.oldest_queued_at
            print(f"oldest waiting: {f'{now - oldest:.0f} s' if oldest else '-'}")
            return 0
        if args.op == "list":
            for item in outbox.items(state=args.state, limit=args.limit):
                print(_row(item))
            return 0
        if args.op == "retry":
            if outbox.retry(args.id, now=now, give_up_after=settings.delivery.give_up_after):
                print(f"{args.id} queued again")
                return 0
            print(f"contact-relay: no dead item {args.id} with its message kept", file=sys.stderr)
            return 1
        if args.op == "release":
            give_up_after = settings.delivery.give_up_after
            if outbox.release_suspected(args.id, now=now, give_up_after=give_up_after):
                print(f"{args.id} released: it will be delivered")
                return 0
            print(f"contact-relay: no suspected item {args.id}", file=sys.stderr)
            return 1
        if args.op == "purge":
            count = outbox.purge(
                now=now, sent_older_than=args.older_than_days * 86400, dead=args.dead
            )
            print(f"purged {count} item(s)")
            return 0
    finally:
        outbox.close()
    raise AssertionError(args.op)
