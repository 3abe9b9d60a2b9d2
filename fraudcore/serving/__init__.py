"""Online scoring: a SageMaker-compatible HTTP service around one model bundle.

`fraud serve` (cli.py) starts it; app.py is the ASGI app; parsing.py turns request bodies into
validated records using the schema; scoring.py scores them with the bundle's own pipeline and
booster; fastshap.py explains flagged ones; capture.py, metrics.py and holder.py keep records,
counters and the current model. Importing this package does nothing.
"""
