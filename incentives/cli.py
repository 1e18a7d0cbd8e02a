"""The `incentives` command: serve, db, bootstrap, demo, sweep, worker, ledger, leaderboard and push."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from incentives.config import ConfigError, Settings
from incentives.db import Database
from incentives.errors import DomainError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="incentives", description="Partner incentive and engagement service.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--no-access-log", action="store_true", help="do not log each request (when a proxy in front logs them)"
    )

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="create or migrate the schema of DATABASE_URL")
    backup = db_commands.add_parser("backup", help="write a consistent copy of DATABASE_URL, taken online")
    backup.add_argument("file", type=Path)
    restore = db_commands.add_parser(
        "restore", help="replace DATABASE_URL's content with a backup (stop the service first)"
    )
    restore.add_argument("file", type=Path)

    boot = commands.add_parser("bootstrap", help="create a program, its manufacturer and an admin with a token")
    boot.add_argument("--program", required=True)
    boot.add_argument("--email", required=True)
    boot.add_argument("--name")

    commands.add_parser("demo", help="create the demo program (once) and print its logins")
    commands.add_parser("sweep", help="run every due periodic job once (escalation, feedback due, expiry, ...)")
    worker = commands.add_parser("worker", help="run an RQ worker on REDIS_URL that also schedules the sweeps")
    worker.add_argument("--no-cron", action="store_true", help="do not schedule sweeps from this worker")
    worker.add_argument("--burst", action="store_true", help="work off the queue, then exit")

    ledger = commands.add_parser("ledger", help="the points ledger")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    ledger_commands.add_parser(
        "verify", help="recompute every balance and lot from the transfers; exit 1 on a difference"
    )

    boards = commands.add_parser("leaderboard", help="the leaderboards")
    board_commands = boards.add_subparsers(dest="leaderboard_command", required=True)
    rebuild = board_commands.add_parser(
        "rebuild", help="recompute the boards from the ledger and refill Redis (when REDIS_URL is set)"
    )
    rebuild.add_argument("--program", type=int, help="only this program")

    reports = commands.add_parser("reports", help="reports by e-mail")
    report_commands = reports.add_subparsers(dest="reports_command", required=True)
    weekly = report_commands.add_parser(
        "weekly", help="queue the weekly report for every reader (once per reader and week, whatever runs it)"
    )
    weekly.add_argument("--program", type=int, help="only this program")
    weekly.add_argument("--week", help="ISO week, e.g. 2026-W49 (default: the last complete week)")

    push = commands.add_parser("push", help="Web Push")
    push_commands = push.add_subparsers(dest="push_command", required=True)
    push_commands.add_parser("keys", help="print a new VAPID private key for VAPID_PRIVATE_KEY")

    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"incentives: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.workers, access_log=not args.no_access_log)
    if args.command == "db":
        return _db(settings, args.db_command, getattr(args, "file", None))
    if args.command == "bootstrap":
        return asyncio.run(_bootstrap(settings, args.program, args.email, args.name))
    if args.command == "sweep":
        return asyncio.run(_sweep(settings))
    if args.command == "worker":
        if settings.redis_url is None:
            print(
                "incentives: the worker needs REDIS_URL; without Redis the web app sweeps in-process", file=sys.stderr
            )
            return 2
        from incentives.jobs import run_worker

        run_worker(
            settings.redis_url,
            interval_seconds=settings.sweep_interval_seconds or 60,
            with_cron=not args.no_cron,
            burst=args.burst,
        )
        return 0
    if args.command == "ledger":
        return asyncio.run(_ledger_verify(settings))
    if args.command == "leaderboard":
        return asyncio.run(_leaderboard_rebuild(settings, args.program))
    if args.command == "reports":
        return asyncio.run(_weekly_reports(settings, args.program, args.week))
    if args.command == "push":
        from incentives.notifications.push import keys_from, new_private_key

        private = new_private_key()
        public = keys_from(private, settings.vapid_subject)
        assert public is not None
        print(f"VAPID_PRIVATE_KEY={private}")
        print(f"# the matching public key (browsers get it from the app): {public.public_key}")
        return 0
    return asyncio.run(_demo(settings))


def _serve(settings: Settings, host: str, port: int, workers: int, *, access_log: bool = True) -> int:
    import uvicorn

    uvicorn.run(
        "incentives.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        ws="none",
        log_level="info",
        access_log=access_log,
    )
    return 0


async def _bootstrap(settings: Settings, program: str, email: str, name: str | None) -> int:
    from email_validator import EmailNotValidError, validate_email

    from incentives.accounts.services import bootstrap_program
    from incentives.engagement.defaults import install_default_achievements
    from incentives.rules.defaults import install_default_rules

    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        print(f"incentives: invalid e-mail address: {exc}", file=sys.stderr)
        return 2
    if not program.strip() or len(program) > 200:
        print("incentives: the program name must be 1 to 200 characters", file=sys.stderr)
        return 2
    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            result = await bootstrap_program(session, program=program.strip(), email=email, name=name)
        async with db.transaction() as session:  # a new program starts with the default rules and achievements
            await install_default_rules(session, result.program_id)
            await install_default_achievements(session, result.program_id)
    except DomainError as exc:
        print(f"incentives: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(json.dumps({"program_id": result.program_id, "user_id": result.user_id, "token": result.token}))
    return 0


async def _demo(settings: Settings) -> int:
    from incentives.demo import PASSWORD, PROGRAM, create_demo

    db = Database(settings.database_url)
    try:
        logins = await create_demo(db)
    finally:
        await db.dispose()
    print(f"Demo program: {PROGRAM}")
    print(f"Open {settings.base_url}/login — every demo user's password is: {PASSWORD}")
    for login in logins:
        print(f"  {login.role:<20} {login.email:<28} {login.locale:<3} {login.org}")
    return 0


async def _ledger_verify(settings: Settings) -> int:
    from incentives.ledger.verify import verify

    db = Database(settings.database_url)
    try:
        async with db.reader() as session:
            differences = await verify(session)
    finally:
        await db.dispose()
    for difference in differences:
        print(difference)
    if differences:
        print(f"ledger verify: {len(differences)} difference(s)", file=sys.stderr)
        return 1
    print("ledger verify: every balance and lot matches the transfers")
    return 0


async def _sweep(settings: Settings) -> int:
    from incentives import live
    from incentives.jobs import run_sweeps

    db = Database(settings.database_url, redis_url=settings.redis_url)
    live.enable(db)  # what the sweep offers or pays shows on open pages served by other processes
    try:
        results = await run_sweeps(db)
    finally:
        await live.flush()
        await db.dispose()
    print(json.dumps(results, sort_keys=True))
    return 1 if any(count < 0 for count in results.values()) else 0


async def _leaderboard_rebuild(settings: Settings, program_id: int | None) -> int:
    from incentives.leaderboard.jobs import rebuild
    from incentives.rules.leaderboard_feed import earned_with_credit

    db = Database(settings.database_url, redis_url=settings.redis_url)
    try:
        rows = await rebuild(db, earned_with_credit, program_id)
    finally:
        await db.dispose()
    print(json.dumps({"programs": {str(program): count for program, count in rows.items()}}, sort_keys=True))
    return 0


async def _weekly_reports(settings: Settings, program_id: int | None, week_name: str | None) -> int:
    from incentives.db import utcnow
    from incentives.reports import jobs
    from incentives.reports.weekly import IsoWeek

    try:
        week = IsoWeek.parse(week_name) if week_name else jobs.last_complete_week(utcnow())
    except DomainError as exc:
        print(f"incentives: --week: {exc}", file=sys.stderr)
        return 2
    db = Database(settings.database_url, redis_url=settings.redis_url)
    try:
        done = await jobs.queue_all(db, settings.base_url, week, program_id)
    finally:
        await db.dispose()
    print(f"weekly report {week.name}: {done.queued} queued, {done.already} queued before, {len(done.failed)} failed")
    for address in done.failed:
        print(f"  could not be made for {address}", file=sys.stderr)
    return 1 if done.failed else 0


def _db(settings: Settings, command: str, file: Path | None) -> int:
    from incentives import backup
    from incentives.migrate import upgrade

    try:
        if command == "backup" and file is not None:
            backup.backup(settings.database_url, file)
            print(f"backup of {_redact(settings.database_url)} written to {file}")
            return 0
        if command == "restore" and file is not None:
            backup.restore(settings.database_url, file)
            print(f"{_redact(settings.database_url)} restored from {file}; now run: incentives db upgrade")
            return 0
    except backup.BackupError as exc:
        print(f"incentives: {exc}", file=sys.stderr)
        return 1
    upgrade(settings.database_url)
    print(f"database is up to date: {_redact(settings.database_url)}")
    return 0


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


if __name__ == "__main__":
    raise SystemExit(main())
