"""What the HTTP server itself costs: the highest open-loop rate each candidate holds for a trivial handler.

    python benchmarks/http_servers.py --json     # ~2 min, writes benchmarks/results/http_servers.json

Each candidate serves the same handler (read the JSON body, parse it with orjson, answer a fixed
small JSON) on core 0; `latency.py`'s generator drives it from core 1 with the benchmark's real
request bodies, up a ladder of 4 s steps until p99 passes 10 ms. This isolates the per-request cost
of the server and framework from the model's: if every candidate holds far more than the scoring
server does, the server is not where the time goes. Candidates not installed are reported as such
(granian is not a project dependency; `pip install granian` to include it).
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
RATES = (4000, 8000, 12000, 16000, 20000, 25000)
BODY = orjson.dumps({"score": 0.01, "decision": "approve", "model_version": "x", "request_id": "abc"})


# ---- the candidates' apps (imported by the server processes as `http_servers:<name>`) -----------
async def raw_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            done = msg["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete" if done else "lifespan.startup.complete"})
            if done:
                return
    if scope["type"] != "http":
        return
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    orjson.loads(body)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


def _starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def invocations(request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(BODY, media_type="application/json")

    return Starlette(routes=[Route("/invocations", invocations, methods=["POST"])])


class _Rsgi:
    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        orjson.loads(await proto())
        proto.response_bytes(200, [("content-type", "application/json")], BODY)


if os.environ.get("HTTP_SERVERS_APP") == "starlette":
    starlette = _starlette_app()
rsgi = _Rsgi()


def commands(port: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    py = sys.executable
    uv = [py, "-m", "uvicorn", "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
          "--log-level", "warning"]
    gr = [py, "-m", "granian", "--port", str(port), "--loop", "uvloop", "--no-ws", "--log-level", "warning",
          "--runtime-threads", "1"]
    return {
        "uvicorn+starlette": ([*uv, "http_servers:starlette"], {"HTTP_SERVERS_APP": "starlette"}),
        "uvicorn+raw_asgi": ([*uv, "http_servers:raw_asgi"], {}),
        "granian_asgi": ([*gr, "--interface", "asgi", "http_servers:raw_asgi"], {}),
        "granian_rsgi": ([*gr, "--interface", "rsgi", "http_servers:rsgi"], {}),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the result JSON on stdout")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "http_servers.json")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import latency as L

    os.sched_setaffinity(0, {L.LOAD_CORE})
    if L.RT_PRIORITY:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(L.RT_PRIORITY))
    sys.path.insert(0, str(REPO))
    bodies = [orjson.dumps({"transaction_id": i, "amount": 12.5 + i, "merchant_category": "grocery",
                            "device_risk_score": 0.1}) for i in range(1000)]
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "server_core": L.SERVER_CORE,
                                          "load_core": L.LOAD_CORE, "load_avg_before": os.getloadavg()},
                              "method": {"rates": list(RATES), "step_s": 4, "held_means": "p99 <= 10 ms, no errors"},
                              "servers": {}}
    gc.collect()
    gc.freeze()
    gc.disable()
    for name, (cmd, env) in commands(L.free_port()).items():
        module = "granian" if name.startswith("granian") else "uvicorn"
        if importlib.util.find_spec(module) is None:
            result["servers"][name] = {"skipped": f"{module} is not installed"}
            continue
        port = int(cmd[cmd.index("--port") + 1])
        log = ROOT / ".cache" / f"http-{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([*L._nice(), "taskset", "-c", str(L.SERVER_CORE), *cmd], cwd=ROOT,
                                stdout=open(log, "wb"), stderr=subprocess.STDOUT, env={**os.environ, **env})
        steps: dict[str, Any] = {}
        try:
            time.sleep(3)
            gen = L.OpenLoop(port, "/invocations", bodies, lambda *a: None)
            gen.run(500, 1)
            held = 0
            for rate in RATES:
                r = gen.run(rate, 4)
                steps[str(rate)] = {k: r[k] for k in ("p50_ms", "p99_ms", "max_ms", "errors", "late_sends",
                                                      "send_lag_ms")}
                print(f"  {name} {rate}/s p99 {r['p99_ms']} ms", file=sys.stderr)
                if r["p99_ms"] > L.P99_HELD_MS or r["errors"]:
                    break
                held = rate
                time.sleep(1)
            gen.close()
        finally:
            L.stop(proc)
        result["servers"][name] = {"max_rate_p99_le_10ms": held, "steps": steps}
    result["machine"]["load_avg_after"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    args.out.write_text(text + "\n")
    if args.json:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
