"""Which model the server uses, and swapping it without failing a request.

A model spec is a bundle directory (`/opt/ml/model` or any path), a `model.tar.gz`, a TrainFlow run id,
or `champion`, resolved by `fraudcore.registry.store` as the monitor resolves it. A swap loads and warms
the new `Scorer` completely (off the event loop) and then replaces one reference; a request that
started on the old scorer finishes on it, so nothing in flight fails. The previous scorer is kept
for `rollback`.
"""
from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass
from typing import Any

from fraudcore.online.bundled import bundle_feature_set
from fraudcore.online.store import Store
from fraudcore.registry.store import ModelSpecError, resolve_bundle
from fraudcore.serving.checkout import CheckoutForm
from fraudcore.serving.parsing import RequestParser
from fraudcore.serving.scoring import Scorer, ScorerOptions

SAGEMAKER_MODEL_DIR = "/opt/ml/model"


def load_scorer(spec: str, options: ScorerOptions = ScorerOptions()) -> Scorer:
    return Scorer(resolve_bundle(spec), options)


@dataclass(frozen=True)
class Loaded:
    """A scorer with the request parser for its bundle's schema (a swap may bring a new schema)."""

    scorer: Scorer
    parser: RequestParser
    spec: str
    loaded_at: float
    checkout: CheckoutForm | None = None   # None: no online store, or a model trained on precomputed features


class ModelHolder:
    """The current scorer plus the previous one; swaps are serialised, reads are a plain attribute."""

    def __init__(self, spec: str, options: ScorerOptions = ScorerOptions(), max_batch: int = 256,
                 pinned: bool = False, online: Store | None = None) -> None:
        self.options = options
        self.online = online
        self.max_batch = max_batch
        self.pinned = pinned
        self.current = self._load(spec)
        self.previous: Loaded | None = None
        self._lock = threading.Lock()

    @property
    def scorer(self) -> Scorer:
        return self.current.scorer

    def _load(self, spec: str) -> Loaded:
        scorer = load_scorer(spec, self.options)
        checkout = None
        if self.online is not None:
            fs = bundle_feature_set(scorer.bundle.manifest, scorer.bundle.schema)
            checkout = None if fs is None else CheckoutForm(fs, self.online)
        return Loaded(scorer, RequestParser(scorer.bundle.schema, self.max_batch), spec, time.time(), checkout)

    def swap(self, spec: str) -> dict[str, Any]:
        """Load `spec` fully, then switch to it. Blocking: call it from a worker thread."""
        with self._lock:
            new = self._load(spec)
            gc.collect()
            gc.freeze()  # as at startup: keep the new model's objects out of later collections
            old = self.current
            self.current, self.previous = new, old
        return {"from": old.scorer.version, "to": new.scorer.version, "spec": spec}

    def rollback(self) -> dict[str, Any]:
        with self._lock:
            if self.previous is None:
                raise ModelSpecError("there is no previous model to roll back to")
            old = self.current
            self.current, self.previous = self.previous, old
        return {"from": old.scorer.version, "to": self.current.scorer.version, "spec": self.current.spec}

    def describe(self) -> dict[str, Any]:
        return {"model_version": self.scorer.version, "spec": self.current.spec, "pinned": self.pinned,
                "checkout_form": self.current.checkout is not None,
                "previous": None if self.previous is None else self.previous.scorer.version,
                "bundle": str(self.scorer.bundle.path)}
