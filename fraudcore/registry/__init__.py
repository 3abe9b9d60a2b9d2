"""Model versions and the champion: TrainFlow runs, their tags, the champion log and their bundles.

- `lookup`: find TrainFlow runs through the Metaflow client (a run id, the champion, the latest run
  that passed its gate), list them, and record a run's gate result as its tag.
- `champion`: the champion protocol: promote and roll back as a compare-and-set on an append-only log
  (`champion_log` stores it: a JSON Lines file or one S3 object per move).
- `store`: a run's bundle on this machine (downloaded from its artifact, verified and cached), and the
  one resolver from a directory, a `model.tar.gz`, a run id or `champion` to a bundle directory.
- `cli`: `fraud models`.

Metaflow and boto3 are imported lazily: importing any of these modules never touches them.
"""
from __future__ import annotations

from fraudcore.errors import FraudError


class RegistryError(FraudError, ValueError):
    """A registry operation that cannot be done; the message names the run, the rule and what was found."""
