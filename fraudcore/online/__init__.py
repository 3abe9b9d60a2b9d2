"""Online features: the store, window state, ingestion and request-time enrichment (issue 15).

The online half of config/features.toml. `plan` reads the same FeatureSet the offline engine reads;
`state` keeps each (stream, key) group's events inside its longest window, so an aggregate is exact at
request time; `ingest` applies events to a `store`; `enrich` computes a checkout request's features
from the store with the offline engine's rules. Nothing here names a PayLink field.
"""
