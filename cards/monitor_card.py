"""The MonitorFlow card: verdict banner, drift table and histograms, latency, failures, quality by maturity.

Turns a `fraudcore.monitoring.report.MonitorReport` into Metaflow card components; every number shown
was computed by fraudcore. Figures are matplotlib images, so the HTML file works offline.
"""
from __future__ import annotations

from typing import Any

from fraudcore.monitoring.report import MonitorReport

BANNER = {"healthy": ("HEALTHY", "no signal crossed its threshold"),
          "investigate": ("INVESTIGATE", "a signal crossed its threshold: look before the next run"),
          "retrain": ("RETRAIN", "matured labels show the model has lost quality")}
WORST_FEATURES = 4


def _fmt(v: Any, pattern: str = "{:.3f}") -> str:
    return "-" if v is None else pattern.format(v)


def _histograms(report: MonitorReport) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    feats = [f for f in report.drift.features if not f.expected_to_move][:WORST_FEATURES]
    # shares of all rows, with the missing ones as a last bar, so a feed outage is visible at a glance
    panels = [(f.name, [*f.bins, "missing"], [v * (1 - f.ref_missing_rate) for v in f.ref_freqs] + [f.ref_missing_rate],
               [v * (1 - f.missing_rate) for v in f.live_freqs] + [f.missing_rate],
               f"PSI {_fmt(f.psi)}, missing {f.missing_rate:.1%} (ref {f.ref_missing_rate:.1%})") for f in feats]
    s = report.drift.score
    panels.append(("score", s.bins, s.ref_freqs, s.live_freqs, f"PSI {_fmt(s.psi)}"))
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.6 * len(panels)))
    for ax, (name, bins, ref, live, note) in zip(np.atleast_1d(axes), panels):
        x = np.arange(len(bins))
        ax.bar(x - 0.2, ref, 0.4, label="training reference", color="#9aa5b1")
        ax.bar(x + 0.2, live, 0.4, label="live", color="#d9480f")
        ax.set_xticks(x, bins, rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{name}: {note}", fontsize=9)
        ax.set_ylabel("share")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _latency_figure(report: MonitorReport) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    b = pd.DataFrame(report.operations.buckets)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    if len(b):
        t = pd.to_datetime(b["start"])
        for key, color in (("p50", "#2b8a3e"), ("p95", "#f08c00"), ("p99", "#c92a2a")):
            ax1.plot(t, b[key], label=key, color=color, marker=".")
        ax2.bar(t, b["requests_per_s"], width=0.03, color="#1971c2")
    ax1.set_ylabel("latency (ms)")
    ax1.legend(fontsize=8)
    ax2.set_ylabel("requests / s")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def monitor_card(report: MonitorReport) -> list[Any]:
    """Card components, in reading order."""
    import matplotlib.pyplot as plt
    from metaflow.cards import Image, Markdown, Table

    title, why = BANNER[report.verdict]
    out: list[Any] = [Markdown(f"# Verdict: **{title}**\n\n{why}. Model `{report.model_version}`, traffic "
                               f"{report.window_start or 'all'} to {report.window_end or 'all'}.")]
    if report.signals:
        out.append(Table([[s.level, s.name, s.subject, s.message] for s in report.signals],
                         headers=["level", "signal", "subject", "detail"]))
    else:
        out.append(Markdown("No signal crossed its threshold."))
    c = report.capture
    out.append(Markdown(f"## Capture\n{c['files']} files, {c['lines']} lines: {c['scored']} scored, "
                        f"{c['failures']} failed requests, **{c['bad_lines']} unreadable lines** "
                        f"({c['bad_line_rate']:.2%}). Model versions seen: {report.versions}."))
    if c["bad_by_reason"]:
        out.append(Table([[k, v] for k, v in c["bad_by_reason"].items()], headers=["bad line reason", "count"]))
        out.append(Table([[e["source"], e["line"], e["reason"], e["detail"]] for e in c["bad_examples"][:10]],
                         headers=["file", "line", "reason", "detail"]))
    d = report.drift
    out.append(Markdown(f"## Drift against the training reference\n{d.n} scored transactions"
                        + ("" if d.judged else " (too few to judge drift)") + ". Sorted by severity; features "
                        "that move with the calendar are listed last and never raise a signal."))
    out.append(Table([[f.name, f.group, f.severity + (" (calendar)" if f.expected_to_move else "")
                       + (" (per merchant)" if f.clustered and not f.expected_to_move else ""), _fmt(f.psi),
                       f"{f.missing_rate:.1%}", f"{f.ref_missing_rate:.1%}", f"{f.missing_shift:+.1%}"]
                      for f in d.features],
                     headers=["feature", "group", "severity", "PSI", "missing", "missing (ref)", "shift"]))
    s = d.score
    out.append(Markdown(f"**Scores:** PSI {_fmt(s.psi)}; alert rate {_fmt(s.alert_rate, '{:.2%}')} vs expected "
                        f"{s.ref_alert_rate:.2%} (ratio {_fmt(s.alert_rate_ratio, '{:.2f}')}) at the review "
                        f"threshold {s.review_threshold:.4f}."))
    if d.n:
        fig = _histograms(report)
        out.append(Image.from_matplotlib(fig, label="worst features and scores: reference vs live"))
        plt.close(fig)
    ops = report.operations
    lat = ops.latency_ms
    out.append(Markdown(f"## Latency and throughput\np50 {_fmt(lat['p50'], '{:.2f}')} ms, p95 "
                        f"{_fmt(lat['p95'], '{:.2f}')} ms, p99 {_fmt(lat['p99'], '{:.2f}')} ms over "
                        f"{ops.requests:.0f} requests."))
    if ops.buckets:
        fig = _latency_figure(report)
        out.append(Image.from_matplotlib(fig, label="latency percentiles and throughput per bucket"))
        plt.close(fig)
    out.append(Markdown(f"## Failures\n{ops.failure_rate:.2%} of requests failed."))
    if ops.failures_by_reason:
        out.append(Table([[r["rule"], r["field"] or "-", r["count"], f"{r['rate']:.2%}"]
                          for r in ops.failures_by_reason], headers=["rule", "field", "count", "rate"]))
    q = report.quality
    ref = q.reference
    out.append(Markdown(f"## Quality by label maturity (as of {q.as_of})\nReference ({ref.source}): PR-AUC "
                        f"{_fmt(ref.pr_auc)}, recall {_fmt(ref.recall, '{:.1%}')}, precision "
                        f"{_fmt(ref.precision, '{:.1%}')} at threshold {q.threshold:.4f}. Labels known: "
                        f"{q.labels_total}, matched to this capture: {q.labels_matched}. A window is judged once "
                        f"its expected share of chargebacks arrived (maturity) is high enough."))
    rows = [[w.start[:10], w.n, w.labels_arrived, f"{w.maturity:.0%}", "yes" if w.judged else "no", _fmt(w.pr_auc),
             _fmt(w.recall, "{:.1%}"), _fmt(w.precision, "{:.1%}"), w.note] for w in q.windows]
    if q.pooled is not None:
        p = q.pooled
        rows.append(["all mature", p.n, p.labels_arrived, f"{p.maturity:.0%}", "yes" if p.judged else "no",
                     _fmt(p.pr_auc), _fmt(p.recall, "{:.1%}"), _fmt(p.precision, "{:.1%}"), p.note])
    out.append(Table(rows, headers=["window", "transactions", "frauds labelled", "maturity", "judged", "PR-AUC",
                                    "recall", "precision", "note"]))
    return out
