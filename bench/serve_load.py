"""Load test of `personae serve` on an ml-100k model: the server in its own process, load from this one.

Three runs, each ``--seconds`` long (default 60):
1. open loop, ``--rate`` (200) explained top-10 requests per second: GET /users/{u}/recommendations?k=10&explain=true
2. open loop, ``--post-rate`` (100) events per second: POST /users/{u}/events
3. closed loop, ``--clients`` (50) concurrent clients sending explained top-10 requests back to back

Open-loop latency is measured from each request's scheduled send time, so a stalled server is charged for the
queue it causes (no coordinated omission); an answer later than 10 s counts as an error. The server's own CPU
time per answered request is reported beside each run (a figure that does not depend on the other jobs). Control: GET /healthz at the same open-loop rate (the cost of
HTTP, the event loop and the load generator themselves) is reported beside run 1.

    python bench/serve_load.py runs/ml100k-ampcf --json bench/results/serve_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from personae.experiment import write_json
from personae.models.persistence import read_config


def start_server(model_dir: str, db: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "personae", "serve", model_dir, "--db", str(db),
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(1200):
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} (port {port} in use?)")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start")


def summary(latencies: list[float], errors: int, seconds: float, offered: float | None) -> dict:
    ms = np.asarray(latencies) * 1000
    return {"requests": len(ms) + errors, "ok": len(ms), "errors": errors, "seconds": seconds,
            "offered_per_s": offered, "achieved_per_s": len(ms) / seconds,
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
            "p90_ms": float(np.percentile(ms, 90)) if len(ms) else None,
            "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None,
            "max_ms": float(ms.max()) if len(ms) else None}


TIMEOUT_S = 10.0  # an answer later than this counts as an error (and bounds the drain of an overloaded run)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Connections:
    """Keep-alive HTTP/1.1 connections on plain asyncio streams: a load generator far cheaper per request than
    a general client, so the figures measure the server, not the generator. Opens up to ``size`` connections."""

    def __init__(self, port: int, size: int) -> None:
        self.port, self.size, self.opened = port, size, 0
        self.idle: asyncio.Queue = asyncio.Queue()

    async def _take(self):
        if self.idle.empty() and self.opened < self.size:
            self.opened += 1
            try:
                return await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.opened -= 1
                raise
        return await self.idle.get()

    async def request(self, method: str, path: str, body: bytes = b"") -> int:
        """Send one request and read the whole answer; returns the HTTP status."""
        reader, writer = await self._take()
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        try:
            writer.write(head.encode() + b"\r\n" + body)
            answer = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in answer.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, StopIteration):
            writer.close()
            self.opened -= 1
            raise OSError("connection failed") from None
        except asyncio.CancelledError:  # timed out: the answer may still come, so this connection is spent
            writer.close()
            self.opened -= 1
            raise
        self.idle.put_nowait((reader, writer))
        return int(answer[9:12])


async def attempt(client: Connections, request, n: int, since: float, latencies: list[float]) -> bool:
    """Send request ``n``; on a 200 record the latency from ``since`` and return True."""
    try:
        status = await asyncio.wait_for(request(client, n), TIMEOUT_S)
    except (TimeoutError, OSError):
        return False
    if status != 200:
        return False
    latencies.append(time.perf_counter() - since)
    return True


async def open_loop(client: Connections, rate: float, seconds: float, request) -> dict:
    """Send ``request(n)`` at fixed intervals regardless of answers; latency from the scheduled time."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()

    async def one(n: int, scheduled: float) -> None:
        nonlocal errors
        if not await attempt(client, request, n, scheduled, latencies):
            errors += 1  # (not `errors += not await ...`: that reads errors before the await and loses counts)

    tasks = []
    n = 0
    while (scheduled := start + n / rate) < start + seconds:
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, scheduled)))
        n += 1
    await asyncio.gather(*tasks)
    return summary(latencies, errors, seconds, rate)


async def closed_loop(client: Connections, clients: int, seconds: float, request) -> dict:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        nonlocal errors
        n = w
        while time.perf_counter() < stop:
            if not await attempt(client, request, n, time.perf_counter(), latencies):
                errors += 1
            n += clients

    await asyncio.gather(*(worker(w) for w in range(clients)))
    result = summary(latencies, errors, seconds, None)
    result["clients"] = clients
    return result


async def run(args: argparse.Namespace, users: list[str], items: list[str], server_pid: int) -> dict:
    rng = np.random.default_rng(0)
    user_of = rng.choice(users, size=1_000_000)
    item_of = rng.choice(items, size=1_000_000)

    async def recommend(client, n):
        return await client.request("GET", f"/users/{user_of[n]}/recommendations?k=10&explain=true")

    async def health(client, n):
        return await client.request("GET", "/healthz")

    async def post(client, n):
        user = f"load-{n % 500}" if n % 2 else user_of[n]  # half new users (fold-in), half known ones
        return await client.request("POST", f"/users/{user}/events",
                                    json.dumps({"item": str(item_of[n]), "kind": "click"}).encode())

    client = Connections(args.port, args.clients + 50)
    for n in range(50):  # warm-up
        await recommend(client, n)
    phases = [("healthz_control", open_loop(client, args.rate, min(args.seconds, 20), health)),
              ("recommend_open_loop", open_loop(client, args.rate, args.seconds, recommend)),
              ("post_open_loop", open_loop(client, args.post_rate, args.seconds, post)),
              ("recommend_closed_loop", closed_loop(client, args.clients, args.seconds, recommend))]
    report = {}
    for name, phase in phases:
        before = cpu_seconds(server_pid)
        report[name] = await phase
        report[name]["server_cpu_ms_per_ok_request"] = (cpu_seconds(server_pid) - before) * 1000 / max(
            report[name]["ok"], 1)
        print(name, report[name], flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--post-rate", type=float, default=100)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--json", default="bench/results/serve_load.json")
    args = parser.parse_args()
    config = read_config(args.model_dir)
    from personae.models.persistence import load_model

    data = load_model(args.model_dir).fitted_data
    users, items = [str(u) for u in data.user_ids], [str(i) for i in data.item_ids]
    with tempfile.TemporaryDirectory() as scratch:
        server = start_server(args.model_dir, Path(scratch) / "load.sqlite", args.port)
        try:
            report = asyncio.run(run(args, users, items, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
    report.update({"model": config["model"], "model_dir": args.model_dir, "n_items": config["n_items"],
                   "server": "one uvicorn worker, loopback, SQLite synchronous=FULL",
                   "load_average_after": os.getloadavg(),
                   "machine": f"{platform.machine()}, 2 cores, 24 GiB, shared with other jobs",
                   "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    write_json(args.json, report)
    for name in ("healthz_control", "recommend_open_loop", "post_open_loop", "recommend_closed_loop"):
        r = report[name]
        print(f"{name}: {r['achieved_per_s']:.0f}/s p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms errors {r['errors']}")


if __name__ == "__main__":
    main()
