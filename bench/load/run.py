"""The mixed load of issue 19: resellers, managers and a CRM against the served app, then the books checked.

    .venv/bin/python bench/load/run.py [--quick] [--run-time 60] [--backend sqlite|postgresql] [--web 1,2]
                                       [--workers 1] [--users 100] [--rate 3.2] [--faults] [--out DIR]

Per configuration a fresh database is built: 300 resellers with a rep and a manager each (bench/leads.py's book:
5,000 leads, 2,000 of them offered to 5 partners each), the default rules and achievements, 2,000 points per
partner, two rewards (one auto-approved, one waiting for a manager); LOAD_KEEP=1 keeps the SQLite database.
Then the app runs as in production:
- PostgreSQL: `incentives serve --workers N` (each N of --web) and `incentives worker` × --workers, a private
  Redis (redis-server on port 6390, no persistence) and a private SMTP sink (aiosmtpd, port 8026);
- SQLite, the zero-set-up default: one `incentives serve` process, no Redis (jobs run in the web process).
Locust (bench/load/locustfile.py) runs headless for --run-time seconds with --users users, each sending at most
--rate requests per second. Afterwards checks.py checks the books. --faults injects faults.py's faults during
the PostgreSQL run with the most web processes (the app then reaches PostgreSQL through a TCP proxy).
Prints throughput and p50/p95/p99 per request kind (from Locust's stats CSV, kept in --out).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import checks  # type: ignore[import-not-found]  # noqa: E402
import faults  # type: ignore[import-not-found]  # noqa: E402
import leads as lead_bench  # type: ignore[import-not-found]  # noqa: E402
from _support import PG_ADMIN_URL, pg_admin  # type: ignore[import-not-found]  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from incentives.accounts import services as accounts  # noqa: E402
from incentives.accounts.models import User  # noqa: E402
from incentives.db import Database, utcnow  # noqa: E402
from incentives.engagement.defaults import install_default_achievements  # noqa: E402
from incentives.leaderboard.jobs import rebuild  # noqa: E402
from incentives.ledger import services as ledger  # noqa: E402
from incentives.migrate import upgrade  # noqa: E402
from incentives.rules.defaults import install_default_rules  # noqa: E402
from incentives.rules.leaderboard_feed import earned_with_credit  # noqa: E402

WEB_PORT, REDIS_PORT, SMTP_PORT, PROXY_PORT = 8820, 6390, 8026, 6543
PARTNERS, LEADS, OFFERED, START_POINTS = 300, 5_000, 2_000, 2_000
KINDS = ["picklist", "reserve", "feedback", "wallet", "leaderboard", "redeem", "redemptions pending", "approve"]
KINDS += ["lead create", "lead qualify", "lead offer"]
TARGETED = ["picklist", "reserve", "feedback", "wallet"]  # p99 ≤ 250 ms (issue 19)


async def build(url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        book = await lead_bench.build(db, LEADS, PARTNERS, OFFERED, focus_offers=20)
        program_id, admin, orgs = book["program_id"], book["admin"], book["org_ids"]
        async with db.transaction() as session:
            await install_default_rules(session, program_id)
            await install_default_achievements(session, program_id)
        async with db.transaction() as session:
            awards = [ledger.Award(org, START_POINTS, f"load-start-{org}") for org in orgs]
            await ledger.award_batch(session, program_id=program_id, awards=awards)
        await rebuild(db, earned_with_credit, program_id)  # the starting points on the boards too
        async with db.transaction() as session:  # each partner's manager, who redeems (rewards/scope.py)
            now = utcnow()
            await session.execute(
                insert(User),
                [
                    {"email": f"manager{org}@bench.example", "name": f"Manager {org}", "org_id": org,
                     "role": "reseller_manager", "created_at": now, "active": True}
                    for org in orgs
                ],
            )  # fmt: skip
        reps = []
        async with db.reader() as session:
            users = (await session.execute(select(User.org_id, User.id, User.role).order_by(User.id))).all()
        tokens: dict[tuple[int | None, str], str] = {}
        async with db.transaction() as session:
            for org_id, user_id, role in users:
                tokens[org_id, role] = await accounts.create_token(session, admin, user_id=user_id)
        for org in orgs:
            if (org, "reseller_rep") in tokens:
                reps.append({"token": tokens[org, "reseller_rep"], "manager": tokens[org, "reseller_manager"]})
        manager = tokens[admin.org_id, str(admin.role)]
    finally:
        await db.dispose()
    return {"program_id": program_id, "reps": reps, "manager_token": manager, "crm_token": manager}


def add_rewards(base: str, book: dict[str, Any]) -> None:
    """One bonus that is approved at once and one that waits for a manager, both with ample stock."""
    headers = {"Authorization": f"Bearer {book['manager_token']}"}
    book["rewards"] = []
    for name, auto in (("Kaffee", 10_000), ("Prämie", 0)):
        body = {
            "program_id": book["program_id"],
            "kind": "bonus",
            "name": {"de": name, "en": name},
            "points": 100,
            "value": 10,
            "stock": 100_000,
            "auto_approve_up_to": auto,
        }
        answer = httpx.post(f"{base}/api/v1/rewards", json=body, headers=headers, timeout=30)
        assert answer.status_code == 201, answer.text
        book["rewards"].append(answer.json()["id"])


class Stack:
    """The processes of one run: web, workers, Redis, SMTP (and the database proxy, with faults)."""

    def __init__(self, url: str, web: int, workers: int, redis: bool, proxy: bool, out: Path) -> None:
        self.out = out
        self.redis: subprocess.Popen[bytes] | None = None
        self.proxy: faults.TcpProxy | None = None
        app_url = url
        if proxy:
            self.proxy = faults.TcpProxy(PROXY_PORT, ("127.0.0.1", 5432))
            app_url = url.replace("127.0.0.1:5432", f"127.0.0.1:{PROXY_PORT}")
        self.smtp = self.start_smtp()
        self.env = {
            **os.environ,
            "DATABASE_URL": app_url,
            "SECRET_KEY": "l" * 40,
            "SMTP_URL": f"smtp://127.0.0.1:{SMTP_PORT}",
            "SWEEP_INTERVAL_SECONDS": "5",
            "INCENTIVES_ENV": "development",
        }
        self.env.pop("REDIS_URL", None)
        if redis:
            self.redis = self.start_redis()
            self.env["REDIS_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"
        self.web = self.spawn(["serve", "--port", str(WEB_PORT), "--workers", str(web), "--no-access-log"], "web.log")
        self.workers = [self.start_worker(cron=i == 0) for i in range(workers if redis else 0)]
        wait_for(f"http://127.0.0.1:{WEB_PORT}/login")

    def spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        with open(self.out / log, "ab") as sink:
            return subprocess.Popen(
                [sys.executable, "-m", "incentives.cli", *args], env=self.env, stdout=sink, stderr=sink
            )

    def start_worker(self, cron: bool) -> subprocess.Popen[bytes]:
        return self.spawn(["worker", *([] if cron else ["--no-cron"])], "worker.log")

    def start_redis(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True).returncode == 0:
                return process
            time.sleep(0.05)
        raise RuntimeError("the private Redis did not start")

    def restart_redis(self) -> None:
        assert self.redis is not None
        self.redis.kill()
        self.redis.wait()
        self.redis = self.start_redis()

    def start_smtp(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{SMTP_PORT}", "-c", "aiosmtpd.handlers.Sink"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        for process in [self.web, *self.workers, self.smtp, *([self.redis] if self.redis else [])]:
            process.terminate()
        for process in [self.web, *self.workers, self.smtp, *([self.redis] if self.redis else [])]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its descendants, alive now."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def wait_for(url: str) -> None:
    for _ in range(600):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered at {url}")


def locust(base: str, book_file: Path, args: argparse.Namespace, prefix: Path) -> None:
    command = [
        str(Path(sys.executable).with_name("locust")),
        "-f", str(HERE / "locustfile.py"),
        "--headless", "--only-summary", "--skip-log-setup",
        "-u", str(args.users), "-r", str(args.users),
        "--run-time", f"{args.run_time}s", "--stop-timeout", "5",
        "--host", base, "--csv", str(prefix),
    ]  # fmt: skip
    env = {**os.environ, "LOAD_BOOK": str(book_file), "LOAD_RATE": str(args.rate)}
    with open(prefix.with_suffix(".log"), "wb") as sink:
        subprocess.run(command, env=env, stdout=sink, stderr=sink, check=False)


def report(label: str, prefix: Path) -> dict[str, Any]:
    rows = {row["Name"]: row for row in csv.DictReader(open(f"{prefix}_stats.csv"))}  # noqa: SIM115
    total = rows["Aggregated"]
    print(
        f"  {label}: {float(total['Requests/s']):,.0f} req/s, {int(total['Request Count']):,} requests, "
        f"{int(total['Failure Count'])} failed; p50 {total['50%']} ms, p95 {total['95%']} ms, p99 {total['99%']} ms"
    )
    for kind in KINDS:
        if kind in rows:
            row = rows[kind]
            mark = " (target p99 ≤ 250 ms)" if kind in TARGETED else ""
            print(
                f"    {kind:<20} {float(row['Requests/s']):7.1f} req/s  p50 {row['50%']:>5} ms  "
                f"p95 {row['95%']:>5} ms  p99 {row['99%']:>5} ms  failed {row['Failure Count']}{mark}"
            )
    p99 = {kind: float(rows[kind]["99%"]) for kind in TARGETED if kind in rows}
    return {"rate": float(total["Requests/s"]), "requests": int(total["Request Count"]), "p99": p99}


def run_one(backend: str, url: str, web: int, args: argparse.Namespace, with_faults: bool) -> list[str]:
    label = f"{backend}, {web} web process{'es' if web > 1 else ''}"
    if backend == "postgresql":
        label += f", {args.workers} worker{'s' if args.workers > 1 else ''}"
    label += ", faults injected" if with_faults else ""
    out = args.out / label.replace(", ", "_").replace(" ", "-")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    book = asyncio.run(build(url))
    print(f"{label}: book built in {time.monotonic() - started:.0f} s", flush=True)
    stack = Stack(url, web, args.workers, backend == "postgresql", with_faults, out)
    base = f"http://127.0.0.1:{WEB_PORT}"
    problems: list[str] = []
    try:
        add_rewards(base, book)
        book_file = out / "book.json"
        book_file.write_text(json.dumps(book))
        injected: list[str] = []
        injector = None
        if with_faults:
            spacing = max(2.0, args.run_time / 6 - 3)

            def go() -> None:
                injected.extend(faults.inject(stack, base, book["reps"][0]["token"], spacing, print))

            injector = threading.Thread(target=go)
            injector.start()
        web_cpu, worker_cpu = cpu_seconds(stack.web.pid), sum(cpu_seconds(w.pid) for w in stack.workers)
        locust(base, book_file, args, out / "locust")
        web_cpu = cpu_seconds(stack.web.pid) - web_cpu
        worker_cpu = sum(cpu_seconds(w.pid) for w in stack.workers) - worker_cpu
        if injector is not None:
            injector.join()
        problems += injected
        summary = report(label, out / "locust")
        served = summary["requests"]
        print(
            f"    CPU during the load: web {web_cpu:.1f} s ({1000 * web_cpu / max(served, 1):.1f} ms a request), "
            f"workers {worker_cpu:.1f} s (forked job processes that ended are not counted); "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        env = {**stack.env, "DATABASE_URL": url}
        problems += asyncio.run(checks.books(url, env, base, book))
        summary["award_p99"] = book.get("award_p99", [float("nan")])[-1]
        args.summaries.append((label, summary))
    finally:
        stack.stop()
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 s per run instead of --run-time")
    parser.add_argument("--run-time", type=int, default=60, help="seconds of load per run (default 60)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--web", default="1,2", help="web process counts on PostgreSQL (default 1,2)")
    parser.add_argument("--workers", type=int, default=1, help="`incentives worker` processes (default 1)")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rate", type=float, default=3.2, help="requests/s per user at most (default 3.2)")
    parser.add_argument("--faults", action="store_true", help="inject faults.py's faults (PostgreSQL, most web)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / f"load-{int(time.time())}")
    args = parser.parse_args()
    if args.quick:
        args.run_time = 20
    args.summaries = []
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; results in {args.out}", flush=True)
    problems: list[str] = []
    for backend in args.backend or ["sqlite", "postgresql"]:
        counts = [int(n) for n in args.web.split(",")] if backend == "postgresql" else [1]
        for web in counts:
            with_faults = args.faults and backend == "postgresql" and web == max(counts)
            if backend == "sqlite":
                directory = tempfile.mkdtemp()
                url = f"sqlite+aiosqlite:///{directory}/load.db"
                upgrade(url)
                try:
                    problems += run_one(backend, url, web, args, with_faults)
                finally:
                    if not os.environ.get("LOAD_KEEP"):
                        shutil.rmtree(directory)
                    else:
                        print(f"kept {url}")
                continue
            name = f"incentives_load_{os.getpid()}_{web}"
            asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
            try:
                url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
                upgrade(url)
                problems += run_one(backend, url, web, args, with_faults)
            finally:
                asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    pg = [s for label, s in args.summaries if label.startswith("postgresql") and "faults" not in label]
    if len(pg) >= 2:
        print(f"1 → {len(pg)} web processes: {pg[0]['rate']:,.0f} → {pg[-1]['rate']:,.0f} req/s")
    print("problems: " + ("; ".join(problems) if problems else "none"))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
