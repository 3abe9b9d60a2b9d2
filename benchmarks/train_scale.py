"""Wall time and peak memory of a whole TrainFlow run (tuning included) at given synthetic sizes.

Each size runs `python flows/train.py run --rows N` in a fresh process tree. Two memory figures:
`peak_process_rss_mb` (the largest single process, from getrusage, as `/usr/bin/time -v` reports it) and
`peak_tree_rss_mb` (the sum over every process of the run, sampled from /proc every 0.5 s: tuning
branches run side by side, so this is what the machine must hold). Data generation is timed apart from
the flow (the generated dataset is reused by later runs). Prints JSON; with --save, merges the result
into benchmarks/results/train_scale.json.

    python benchmarks/train_scale.py --rows 2000000 8000000 --save
    python benchmarks/train_scale.py --rows 42000000 --save          # alone: ~all of both cores
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "train_scale.json"
PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_rss(root_pid: int) -> int:
    """Resident bytes of `root_pid` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            rss[int(d.name)] = int((d / "statm").read_text().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(p for p, pp in parents.items() if pp == pid)
    return total


def _run(cmd: list[str], env: dict[str, str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{out[-4000:]}")
    return {"seconds": round(time.perf_counter() - t0, 1), "peak_process_rss_mb": round(after.ru_maxrss / 1024, 1),
            "peak_tree_rss_mb": round(peak[0] / 2**20, 1),
            "cpu_seconds": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1), "log": out}


def _run_summary(log: str) -> dict:
    """Headline metrics and per-step seconds of the run just finished, through the Metaflow client."""
    import metaflow

    run_id = next(line.split("run-id ")[1].split(")")[0] for line in log.splitlines() if "Workflow starting (run-id" in line)
    metaflow.namespace(None)
    run = metaflow.Flow("TrainFlow")[run_id]
    steps = {}
    for s in run.steps():
        tasks = list(s.tasks())
        steps[s.id] = round(max((t.finished_at - t.created_at).total_seconds() for t in tasks), 1)
    h = run.data.headline
    keys = ("pr_auc", "roc_auc", "recall_at_p20", "oracle_pr_auc", "model_oracle_ratio", "lr_pr_auc", "val_pr_auc",
            "alert_rate", "gate")
    return {"run_id": run_id, "metrics": {k: h.get(k) for k in keys}, "step_seconds": steps,
            "sampling": run.data.matrices, "tuning": {k: run.data.tuning[k] for k in
                                                      ("best_value", "best_iteration", "n_trials", "n_pruned")}}


def measure(rows: int, seed: int, extra: list[str]) -> dict:
    env = {**os.environ, "METAFLOW_USER": os.environ.get("METAFLOW_USER", "paylink-dev")}
    py = sys.executable
    gen = _run([py, "-c", "from fraudcore.prepare import ensure_synthetic; from fraudcore.schema import paylink_schema; "
                f"print(ensure_synthetic('data/synthetic', {rows}, {seed}, paylink_schema()))"], env)
    flow = _run([py, "flows/train.py", "--no-pylint", "run", "--rows", str(rows), *extra], env)
    return {"rows": rows, "generate": {k: v for k, v in gen.items() if k != "log"},
            "flow": {k: v for k, v in flow.items() if k != "log"}, **_run_summary(flow["log"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[2_000_000])
    p.add_argument("--seed", type=int, default=7, help="the synthetic dataset's seed (data.synthetic_seed)")
    p.add_argument("--save", action="store_true")
    p.add_argument("flow_args", nargs="*", help="extra `run` options after --, e.g. -- --trials 3")
    a = p.parse_args()
    results = [measure(n, a.seed, a.flow_args) for n in a.rows]
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_avg_at_end": os.getloadavg()}
    for r in results:
        r["measured"] = meta
    print(json.dumps(results, indent=2))
    if a.save:
        saved = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        saved.update({str(r["rows"]): r for r in results})
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(saved, indent=2) + "\n")


if __name__ == "__main__":
    main()
