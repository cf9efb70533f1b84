"""Load test of the HTTP API: `assistant serve --no-web` in a subprocess, concurrent clients on /v1/search.

Prints throughput, latency percentiles and errors; asserts nothing (figures depend on the machine and on
whatever else runs beside it, so the load average is printed too). See bench/README.md.

    python bench/bench_api.py                          # temp data dir, ingests data/feeds first
    python bench/bench_api.py --data-dir data          # an existing index (not locked by another server)
    python bench/bench_api.py --clients 20 --duration 30
    python bench/bench_api.py --requests 2000          # a fixed number of requests instead of a duration
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]

# Short queries of the kind people type into a paper search box, on topics of the seed feeds and beside them.
QUERIES = [
    "post-training quantization of GPT models to 3-4 bits",
    "speculative decoding for faster LLM inference",
    "long context language models",
    "text to video generation with diffusion",
    "3D mesh generation from text",
    "mixture of experts routing",
    "vision language model benchmark",
    "reinforcement learning from human feedback",
    "retrieval augmented generation",
    "code generation with large language models",
    "image editing with instructions",
    "KV cache compression",
    "multimodal instruction tuning",
    "humanoid robot control",
    "neural radiance fields",
    "math reasoning chain of thought",
    "small open-source GPT models survey",
    "diffusion transformer scaling",
    "speech synthesis zero-shot",
    "agents that use tools",
    "efficient attention for high-resolution images",
    "hallucination in language models",
    "video understanding with LLMs",
    "GAN made only of attention layers",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assistant_command() -> list[str]:
    script = Path(sys.executable).with_name("assistant")
    return [str(script)] if script.exists() else [sys.executable, "-m", "assistant"]


def server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_LLM_MODEL": "none"})
    return env


def ensure_index(data_dir: Path, feeds: Path) -> None:
    """Ingest the feeds when the data dir holds no index yet (a fresh temp dir, typically)."""
    if (data_dir / "qdrant").exists() and any((data_dir / "qdrant").iterdir()):
        return
    print(f"ingesting {feeds} into {data_dir} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    done = subprocess.run([*assistant_command(), "ingest", str(feeds), "--json"], env=server_env(data_dir),
                          cwd=data_dir, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"ingest failed ({done.returncode}): {done.stderr.strip()}")
    report = json.loads(done.stdout)
    print(f"ingested {report['papers_seen']} papers in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    # stderr goes to a file, not a pipe: nobody reads a pipe during the load, and a full one would stall the server.
    log = tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen([*assistant_command(), "serve", "--no-web", "--port", str(port)],
                              env=server_env(data_dir), cwd=data_dir, stdout=subprocess.DEVNULL, stderr=log, text=True)
    server.log_file = log
    return server


def wait_ready(server: subprocess.Popen, url: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            server.log_file.seek(0)
            sys.exit(f"the server exited ({server.returncode}): {server.log_file.read().strip()}")
        try:
            response = httpx.get(f"{url}/readyz", timeout=5)
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    sys.exit(f"the server was not ready within {timeout:.0f} s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly and releases the index lock
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


async def run_load(url: str, clients: int, duration: float | None, total: int | None, k: int) -> dict:
    """`clients` workers issue searches back to back until the time or the request budget is spent."""
    queries = itertools.cycle(QUERIES)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    issued = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal issued
        while time.monotonic() < deadline and (total is None or issued < total):
            issued += 1
            started = time.perf_counter()
            try:
                response = await client.get("/v1/search", params={"q": next(queries), "k": k})
                ok = response.status_code == 200 and isinstance(response.json(), list)
                key = None if ok else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            if key:
                errors[key] = errors.get(key, 0) + 1
            else:
                latencies.append((time.perf_counter() - started) * 1000)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        deadline = time.monotonic() + (duration if duration is not None else 3600)
        await asyncio.gather(*(worker(client, deadline) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "latencies_ms": latencies, "errors": errors}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] if ordered else float("nan")


def report(result: dict, clients: int, ready: dict, load_before: tuple[float, ...]) -> None:
    latencies, errors = result["latencies_ms"], result["errors"]
    done = len(latencies) + sum(errors.values())
    print(f"server: {ready['papers']} papers, model {ready['model']}; {clients} concurrent clients on /v1/search")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores: above 2 means contention)")
    print(f"requests: {done} in {result['elapsed_s']:.1f} s = {done / result['elapsed_s']:.1f} req/s "
          f"({len(latencies) / result['elapsed_s']:.1f} successful/s)")
    print(f"errors: {sum(errors.values())}" + (f" {errors}" if errors else ""))
    if latencies:
        print(f"latency ms: p50 {percentile(latencies, 50):.1f}  p95 {percentile(latencies, 95):.1f}  "
              f"p99 {percentile(latencies, 99):.1f}  max {max(latencies):.1f}  mean {statistics.fmean(latencies):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="Data dir with an index (default: a temp dir, ingested).")
    parser.add_argument("--feeds", type=Path, default=REPO / "data" / "feeds", help="What to ingest into an empty dir.")
    parser.add_argument("--clients", type=int, default=20, help="Concurrent clients (default 20).")
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds of load (default 20).")
    parser.add_argument("--requests", type=int, help="Stop after this many requests instead of a duration.")
    parser.add_argument("--warmup", type=int, default=10, help="Untimed requests first (default 10).")
    parser.add_argument("-k", type=int, default=5, help="Papers per search (default 5).")
    args = parser.parse_args()

    temp = None if args.data_dir else Path(tempfile.mkdtemp(prefix="bench-api-"))
    data_dir = (args.data_dir or temp).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        ensure_index(data_dir, args.feeds.resolve())
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(data_dir, port)
        try:
            ready = wait_ready(server, url)
            asyncio.run(run_load(url, 1, None, args.warmup, args.k))
            load_before = os.getloadavg()
            duration = None if args.requests else args.duration
            result = asyncio.run(run_load(url, args.clients, duration, args.requests, args.k))
        finally:
            stop_server(server)
        report(result, args.clients, ready, load_before)
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
