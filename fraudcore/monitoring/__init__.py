"""Monitoring of the live model from its own capture: drift, latency, failures and quality under late labels.

`report.monitor` (the sequence `fraud monitor run` and MonitorFlow share) resolves the bundle, reads the
labels and the capture window and returns a `MonitorReport` with every figure, every signal and the
verdict (healthy / investigate / retrain); `publish.publish_report` sends its figures
to CloudWatch; `cli.main` is `fraud monitor`. Thresholds come from `config/monitor.toml` via
`config.load_monitor_config`. Importing this package does nothing (no clients, no files).
"""
