"""The `gridbot` command: run, user add/list/passwd, token create, classify, eval, db upgrade.

Every subcommand takes --config PATH; without it gridbot uses its embedded default. Operator
mistakes (a bad config, a port in use) end with one clear line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from bot import logs
from bot.config import ConfigError, Settings, load_settings
from handlers.intake.rules import RulesError

if TYPE_CHECKING:
    from sqlmodel import Session

TOKEN_ROLES = ("admin", "staff")
ACCOUNT_ROLES = ("township_admin", "community_staff", "grid_leader", "grid_worker")
log = logging.getLogger("gridbot")


class CliError(Exception):
    """An operator's mistake, already phrased as the one line to show; exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # --config/--quiet are shared by every subcommand and may stand before or after it; they
    # default to SUPPRESS so a subcommand's parser does not overwrite a value given earlier.
    args.config = getattr(args, "config", None)
    args.quiet = getattr(args, "quiet", False)
    try:
        settings = load_settings(args.config)
        logs.configure(fmt=settings.logging.format, level=settings.logging.level,
                       quiet=args.quiet, account=settings.instance.account)
        quiet_libraries()
        return int(args.func(settings, args) or 0)
    except (ConfigError, RulesError, CliError) as exc:
        print(f"gridbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def quiet_libraries() -> None:
    """jieba logs its dictionary loading at DEBUG on its own handler; alembic narrates each
    plugin. Neither helps an operator reading the start-up lines."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="TOML config file (default: the embedded default)")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="log warnings and errors only")
    parser = argparse.ArgumentParser(prog="gridbot", parents=[common],
                                     description="网格助手: grid WeChat groups → tracked cases")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run the bot and its web app")
    run.set_defaults(func=cmd_run)

    token = sub.add_parser("token", parents=[common], help="manage API tokens")
    token_sub = token.add_subparsers(required=True, metavar="ACTION")
    create = token_sub.add_parser("create", parents=[common], help="create an API token")
    create.add_argument("--role", choices=TOKEN_ROLES, required=True)
    create.add_argument("--label", default="", help="a note to recognise the token by")
    create.add_argument("--scope", choices=("read", "write"), default="read",
                        help="read: GET only (default); write: may also act on cases "
                             "(needs --user)")
    create.add_argument("--user", metavar="USERNAME",
                        help="the token sees and acts as this dashboard account (its scope)")
    create.set_defaults(func=cmd_token_create)

    user = sub.add_parser("user", parents=[common], help="manage dashboard accounts")
    user_sub = user.add_subparsers(required=True, metavar="ACTION")
    add = user_sub.add_parser("add", parents=[common], help="create a dashboard account")
    add.add_argument("name", help="the login name")
    add.add_argument("--role", required=True, choices=ACCOUNT_ROLES,
                     help="township_admin (all grids), community_staff (--community), "
                          "grid_leader or grid_worker (--grid and --contact)")
    add.add_argument("--community", help="community name or id (community_staff)")
    add.add_argument("--grid", help="grid name or id (grid_leader, grid_worker)")
    add.add_argument("--contact", metavar="CONTACT_ID",
                     help="the person's chat contact id: the account acts as them")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of stdin (no prompt)")
    add.set_defaults(func=cmd_user_add)
    ls = user_sub.add_parser("list", parents=[common], help="list dashboard accounts")
    ls.set_defaults(func=cmd_user_list)
    passwd = user_sub.add_parser("passwd", parents=[common],
                                 help="set an account's password (logs its sessions out)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(func=cmd_user_passwd)

    classify = sub.add_parser("classify", parents=[common],
                              help="classify a message (or --jsonl: one per stdin line)")
    classify.add_argument("text", nargs="?", help="the message text")
    classify.add_argument("--jsonl", action="store_true",
                          help="read one message a line on stdin, print one JSON object a line")
    classify.add_argument("--explain", action="store_true",
                          help="also print the words and rules that decided it")
    classify.set_defaults(func=cmd_classify)

    ev = sub.add_parser("eval", parents=[common],
                        help="measure the classifier on a labelled corpus (JSON lines)")
    ev.add_argument("file", nargs="?", help="corpus: {text, is_request, category, urgent, "
                                            "location[, split]} a line")
    ev.add_argument("--split", choices=("train", "test"), help="only this part of the corpus")
    ev.add_argument("--mistakes", type=int, default=None, metavar="N",
                    help="show at most N misclassified lines (default: all)")
    ev.add_argument("--corrections", action="store_true",
                    help="also measure on messages workers corrected (改类, 不是工单) and list "
                         "the most frequent corrections, from the configured database")
    ev.set_defaults(func=cmd_eval)

    dbp = sub.add_parser("db", parents=[common], help="database maintenance")
    db_sub = dbp.add_subparsers(required=True, metavar="ACTION")
    upgrade = db_sub.add_parser("upgrade", parents=[common], help="migrate the schema to head")
    upgrade.set_defaults(func=cmd_db_upgrade)
    backup = db_sub.add_parser("backup", parents=[common],
                               help="write a consistent copy of the database to FILE "
                                    "(SQLite online backup, or pg_dump for PostgreSQL)")
    backup.add_argument("file")
    backup.set_defaults(func=cmd_db_backup)
    restore = db_sub.add_parser("restore", parents=[common],
                                help="replace the database with a backup from FILE "
                                     "(stop gridbot first)")
    restore.add_argument("file")
    restore.set_defaults(func=cmd_db_restore)
    return parser


# --- run ----------------------------------------------------------------------------------------


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.runtime import build_classifier, prepare_database
    from handlers.accounts import DEMO_ADMIN, demo_admin_password
    from storage import queries
    from storage.db import session_scope

    classifier = build_classifier(settings)  # rule errors surface here, before anything starts
    engine = prepare_database(settings)
    token = login = None
    with session_scope(engine) as session:
        if settings.demo.seed:
            token = queries.create_token(session, role="admin", label="startup")
            login = f"{DEMO_ADMIN} / {demo_admin_password(session)}"
        elif not queries.list_accounts(session):
            login = "none yet: create one with gridbot user add NAME --role township_admin"
    engine.dispose()
    return asyncio.run(_serve(settings, classifier, token, login))


async def _serve(settings: Settings, classifier: object, token: str | None,
                 login: str | None = None) -> int:
    from aiohttp import web

    from bot.transport.base import TransportError
    from bot.web.app import create_app

    app = create_app(settings, classifier=classifier)  # type: ignore[arg-type]
    runner = web.AppRunner(app, access_log=None)
    try:
        await runner.setup()
    except TransportError as exc:
        await runner.cleanup()
        print(f"gridbot: {exc}", file=sys.stderr)
        return 2
    site = web.TCPSite(runner, settings.web.host, settings.web.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        print(f"gridbot: cannot listen on {settings.web.host}:{settings.web.port}: "
              f"{exc.strerror or exc} (change [web] port in the config)", file=sys.stderr)
        return 2
    base = f"http://{settings.web.host}:{settings.web.port}"
    print(f"gridbot is running ({settings.transport.kind} transport, {settings.storage.url})")
    print(f"  dashboard:      {base}/")
    if login and settings.demo.seed:
        print(f"  dashboard login for this run (shown once): {login}")
    elif login:
        print(f"  dashboard accounts: {login}")
    if settings.transport.kind == "sim":
        print(f"  chat simulator: {base}/sim")
    else:
        print(f"  WeChat:         logged in through {settings.transport.resolved_endpoint}")
    print(f"  JSON API:       {base}/api/")
    if token:
        print("  admin token for this run (shown once):")
        print(f"  {token}")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
    return 0


# --- token --------------------------------------------------------------------------------------


def cmd_token_create(settings: Settings, args: argparse.Namespace) -> int:
    from storage import queries

    if args.scope == "write" and not args.user:
        raise CliError("a write token acts as someone: give --user USERNAME")
    with _database(settings) as session:
        account = queries.get_account(session, username=args.user) if args.user else None
        if args.user and account is None:
            raise CliError(f"no dashboard account named {args.user}")
        token = queries.create_token(session, role=args.role, label=args.label,
                                     scope=args.scope,
                                     account_id=account.id if account else None)
    print(f"created a {args.role} token ({args.scope}"
          f"{', as ' + args.user if args.user else ''}); keep it secret, it is not shown again:")
    print(token)
    return 0


# --- user ---------------------------------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise CliError("the two passwords differ")
    return first


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    from handlers.accounts import AccountError, create_account
    from storage.models import Person

    password = _read_password(args)
    try:
        with _database(settings) as session:
            account = create_account(session, username=args.name, password=password,
                                     role=args.role, community=args.community, grid=args.grid,
                                     contact=args.contact)
            person = session.get(Person, account.person_id)
            contact = person.contact_id if person else "?"
    except AccountError as exc:
        raise CliError(f"user add: {exc}") from None
    print(f"created dashboard account {args.name} ({args.role}), acting as contact {contact}")
    return 0


def cmd_user_list(settings: Settings, args: argparse.Namespace) -> int:
    from storage import queries

    with _database(settings) as session:
        for a in queries.list_accounts(session):
            where = f"grid {a.grid_id}" if a.grid_id else (
                f"community {a.community_id}" if a.community_id else "all grids")
            state = " (disabled)" if a.disabled_at else ""
            print(f"{a.username}\t{a.role}\t{where}{state}")
    return 0


def cmd_user_passwd(settings: Settings, args: argparse.Namespace) -> int:
    from handlers.accounts import AccountError, set_password
    from storage import queries

    password = _read_password(args)
    try:
        with _database(settings) as session:
            account = queries.get_account(session, username=args.name)
            if account is None:
                raise CliError(f"no dashboard account named {args.name}")
            set_password(session, account, password)
    except AccountError as exc:
        raise CliError(f"user passwd: {exc}") from None
    print(f"password of {args.name} changed; its open sessions are logged out")
    return 0


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[Session]:
    """One unit of work on the configured database, its schema brought to head first."""
    from storage import db

    engine = db.make_engine(settings.storage.url)
    db.upgrade(engine)
    try:
        with db.session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


# --- classify -----------------------------------------------------------------------------------


def cmd_classify(settings: Settings, args: argparse.Namespace) -> int:
    from bot.runtime import build_classifier

    if not args.jsonl and args.text is None:
        print("gridbot: classify needs a message text, or --jsonl to read stdin", file=sys.stderr)
        return 2
    classifier = build_classifier(settings)
    lines = (line.rstrip("\n") for line in sys.stdin) if args.jsonl else iter([args.text])
    for text in lines:
        decision = classifier.classify(text)
        print(json.dumps(decision.as_json(), ensure_ascii=False), flush=True)
        if args.explain:
            for hit in decision.hits:
                print(f"  {hit}")
            scores = ", ".join(f"{k}={v:g}" for k, v in
                               sorted(decision.scores.items(), key=lambda kv: -kv[1]))
            print(f"  scores: {scores or '-'}; decided by: {decision.reason}")
    return 0


# --- eval ---------------------------------------------------------------------------------------


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.runtime import build_classifier
    from handlers.intake.evaluation import evaluate, format_report, load_corpus

    if not args.file and not args.corrections:
        print("gridbot: eval needs a corpus file, or --corrections", file=sys.stderr)
        return 2
    classifier = build_classifier(settings)
    names = {c.key: c.name for c in classifier.rules.categories}
    if args.file:
        try:
            examples = load_corpus(Path(args.file), args.split)
        except (OSError, ValueError) as exc:
            print(f"gridbot: {exc}", file=sys.stderr)
            return 2
        report = evaluate(classifier, examples)
        print(format_report(report, category_names=names, mistakes=args.mistakes))
    if args.corrections:
        from handlers.intake.corrections import correction_report
        from storage import db

        engine = db.make_engine(settings.storage.url)
        db.upgrade(engine)
        with db.session_scope(engine) as session:
            print(correction_report(session, classifier, category_names=names))
        engine.dispose()
    return 0


# --- db -----------------------------------------------------------------------------------------


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from storage import db

    engine = db.make_engine(settings.storage.url)
    db.upgrade(engine)
    print(f"database at revision {db.current_revision(engine)}")
    engine.dispose()
    return 0


def cmd_db_backup(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from storage.backup import BackupError, backup

    try:
        target = backup(settings.storage.url, Path(args.file))
    except BackupError as exc:
        print(f"gridbot: backup failed: {exc}", file=sys.stderr)
        return 2
    print(f"backup written to {target} ({target.stat().st_size} bytes)")
    return 0


def cmd_db_restore(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from storage.backup import BackupError, restore

    try:
        revision = restore(settings.storage.url, Path(args.file))
    except BackupError as exc:
        print(f"gridbot: restore failed: {exc}", file=sys.stderr)
        return 2
    print(f"database restored from {args.file}, at revision {revision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
