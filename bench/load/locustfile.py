"""The mixed load of bench/load/run.py: resellers, managers and a CRM, each through the JSON API (API.md).

Read by `locust -f bench/load/locustfile.py`; the book (tokens, program, rewards) comes from the JSON file
named by LOAD_BOOK, which run.py writes. Each simulated user sends LOAD_RATE requests per second at most
(locust's constant_throughput), so the offered load is users × rate whatever the server answers: a slow server
shows as latency and a lower throughput, not as fewer requests asked for.

Every request is named by its kind (the `name=` below), so locust's stats CSV has one row per kind. Answers the
scenario expects (409 already reserved, 403 feedback required, 422 insufficient points) count as successes.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from typing import Any

from locust import FastHttpUser, constant_throughput, task

BOOK: dict[str, Any] = json.loads(open(os.environ["LOAD_BOOK"]).read())  # noqa: SIM115 - read once at import
RATE = float(os.environ.get("LOAD_RATE", "3"))
FEEDBACK = ["contacted", "meeting", "proposal", "won", "lost"]


def _headers(token: str, write: bool = False) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if write:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    return headers


class Reseller(FastHttpUser):
    """A rep: polls the pick list, reserves from it, gives feedback, reads wallet and leaderboard, redeems."""

    weight = 10
    wait_time = constant_throughput(RATE)

    def on_start(self) -> None:
        rep = random.choice(BOOK["reps"])
        self.token: str = rep["token"]
        self.manager: str = rep["manager"]  # the partner's manager redeems (rewards/scope.py)
        self.reserved: list[int] = []  # leads this user reserved and has not closed yet
        self.seen: list[int] = []  # lead ids of the last pick list

    @task(6)
    def picklist(self) -> None:
        headers = _headers(self.token)
        with self.client.get("/api/v1/picklist", headers=headers, name="picklist", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}")
                return
            self.seen = [item["lead_id"] for item in r.json()["items"]]
            r.success()

    @task(2)
    def reserve(self) -> None:
        if not self.seen:
            return
        lead = self.seen.pop(random.randrange(len(self.seen)))
        with self.client.post(
            f"/api/v1/leads/{lead}/reserve", headers=_headers(self.token, True), name="reserve", catch_response=True
        ) as r:
            if r.status_code == 200:
                self.reserved.append(lead)
                r.success()
            elif r.status_code in (403, 404, 409):  # gate, withdrawn/escalated away, another partner was first
                r.success()
            else:
                r.failure(f"{r.status_code}")

    @task(2)
    def feedback(self) -> None:
        if not self.reserved:
            return
        lead = random.choice(self.reserved)
        status = random.choice(FEEDBACK)
        body: dict[str, Any] = {"status": status}
        if status == "won":
            body["deal_value"] = random.randint(1, 90) * 1000
        if status == "lost":
            body["lost_reason"] = "price"
        with self.client.post(
            f"/api/v1/leads/{lead}/feedback",
            json=body,
            headers=_headers(self.token, True),
            name="feedback",
            catch_response=True,
        ) as r:
            if r.status_code in (200, 409, 422):  # 409/422: closed already, a step back in the funnel
                r.success()
            else:
                r.failure(f"{r.status_code}")
        if status in ("won", "lost"):
            self.reserved.remove(lead)

    @task(3)
    def wallet(self) -> None:
        self.client.get("/api/v1/points", headers=_headers(self.token), name="wallet")

    @task(2)
    def leaderboard(self) -> None:
        self.client.get(
            f"/api/v1/leaderboard?program_id={BOOK['program_id']}&period=month&limit=20",
            headers=_headers(self.token),
            name="leaderboard",
        )

    @task(1)
    def redeem(self) -> None:
        reward = random.choice(BOOK["rewards"])
        with self.client.post(
            "/api/v1/redemptions",
            json={"reward_id": reward},
            headers=_headers(self.manager, True),
            name="redeem",
            catch_response=True,
        ) as r:
            if r.status_code in (201, 422, 409):  # 422 insufficient points, 409 out of stock
                r.success()
            else:
                r.failure(f"{r.status_code}")


class Manager(FastHttpUser):
    """A partner manager: lists the pending redemptions and approves one."""

    weight = 1
    wait_time = constant_throughput(RATE)

    @task
    def approve(self) -> None:
        token = BOOK["manager_token"]
        r = self.client.get("/api/v1/redemptions?status=pending", headers=_headers(token), name="redemptions pending")
        if r.status_code != 200 or not r.json()["items"]:
            return
        redemption = random.choice(r.json()["items"][:20])["id"]
        path = f"/api/v1/redemptions/{redemption}/approve"
        with self.client.post(path, headers=_headers(token, True), name="approve", catch_response=True) as answer:
            if answer.status_code in (200, 409):  # 409: another manager approved it first
                answer.success()
            else:
                answer.failure(f"{answer.status_code}")


class Crm(FastHttpUser):
    """The manufacturer's CRM: creates a lead, qualifies it and offers it to the best partners."""

    weight = 1
    wait_time = constant_throughput(RATE / 3)  # three requests per lead

    @task
    def new_lead(self) -> None:
        token = BOOK["crm_token"]
        body = {
            "program_id": BOOK["program_id"],
            "external_id": uuid.uuid4().hex,
            "company": "Kunde GmbH",
            "contact": {"name": "Eva Muster", "email": "eva@kunde.example"},
            "country": "DE",
            "postal_code": f"8{random.randint(0, 9999):04d}",
            "city": "München",
            "product_line": "heat_pumps",
            "temperature": random.choice(["hot", "warm", "cold"]),
            "estimated_value": random.randint(1, 300) * 1000,
        }
        r = self.client.post("/api/v1/leads", json=body, headers=_headers(token, True), name="lead create")
        if r.status_code != 201:
            return
        lead = r.json()["id"]
        self.client.post(f"/api/v1/leads/{lead}/qualify", headers=_headers(token, True), name="lead qualify")
        self.client.post(f"/api/v1/leads/{lead}/offer", headers=_headers(token, True), name="lead offer")
