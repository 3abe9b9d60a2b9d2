"""The networked online store on AWS: one DynamoDB table (issue 15 contract).

Table layout: partition key `k` (S); attributes `v` (B, the value), `ver` (N, the version) and `ttl` (N, the
table's TTL attribute = Put.expires_at; absent when expires_at is 0). Reads are BatchGetItem in chunks of
100 keys; writes are one conditional PutItem per item (`ver` compare-and-set), run in parallel.

The budget: every call to `get_many`/`put_many` ends within `timeout_s`, answered or with StoreUnavailable.
botocore's own retries are switched off and each HTTP attempt gets `timeout_s / attempts` as its connect
and read timeout; this module retries (throttling, a dropped connection, UnprocessedKeys) only while a
whole further attempt still fits in the budget. A stopped endpoint (connection refused) or a slow one
(no answer) therefore costs at most `timeout_s`, never a hang.

Expired items: DynamoDB deletes them some time after `ttl` (typically within days), so a read may still
return one. The contract lets a store keep an item past `expires_at`; callers own their windows.

boto3 is imported when a store is made, not when this module is imported.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

from fraudcore.online.errors import OnlineConfigError
from fraudcore.online.store import Item, Put, StoreConflict, StoreItemTooLarge, StoreUnavailable

KEY_ATTRIBUTE, TTL_ATTRIBUTE = "k", "ttl"   # deploy/infra/template.yaml declares the same (a test checks)
BATCH_GET_LIMIT = 100        # DynamoDB BatchGetItem takes at most 100 keys a call
DEFAULT_ATTEMPTS = 2
MAX_BACKOFF_S = 0.05
RETRYABLE_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                             "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable"})
UNAVAILABLE_CODES = frozenset({"ResourceNotFoundException", "AccessDeniedException", "UnrecognizedClientException",
                               "ExpiredTokenException", "InvalidSignatureException"})


@dataclass(frozen=True)
class DynamoOptions:
    """How a DynamoStore talks to its table. `consistent_read` makes reads strongly consistent, so a read
    right after a write sees it (compare-and-set needs this; it costs one read unit per 4 KB, not half)."""

    attempts: int = DEFAULT_ATTEMPTS     # HTTP attempts that share the budget; each gets timeout_s / attempts
    write_threads: int = 8               # conditional PutItems of one put_many run in parallel
    consistent_read: bool = True
    region: str | None = None            # default: AWS_REGION, then AWS_DEFAULT_REGION

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.write_threads < 1:
            raise OnlineConfigError(f"DynamoOptions attempts and write_threads must be >= 1; "
                                    f"got {self.attempts}, {self.write_threads}")


class _Deadline:
    """The end of one call's budget; an attempt starts only if its worst case still ends before it."""

    def __init__(self, store: DynamoStore, action: str) -> None:
        self.store, self.action = store, action
        self.end = time.monotonic() + store.timeout_s
        self.attempts = 0
        self.last_error = "none"

    def begin_attempt(self) -> None:
        if self.attempts and time.monotonic() + self.store.attempt_timeout_s > self.end:
            raise StoreUnavailable(
                f"DynamoDB table {self.store.table!r} did not answer {self.action} within its budget of "
                f"{self.store.timeout_s} s ({self.attempts} attempt(s); last: {self.last_error})")
        self.attempts += 1

    def backoff(self, error: str) -> None:
        self.last_error = error
        pause = min(MAX_BACKOFF_S, 0.002 * 2 ** self.attempts,
                    self.end - time.monotonic() - self.store.attempt_timeout_s)
        if pause > 0:
            time.sleep(pause)


class DynamoStore:
    """The Store protocol on one DynamoDB table; thread-safe (boto3 clients are)."""

    name = "dynamodb"

    def __init__(self, table: str, timeout_s: float, client: Any = None, endpoint_url: str | None = None,
                 options: DynamoOptions | None = None) -> None:
        """`client`: a boto3 DynamoDB client to use as is (its timeouts must fit the budget); otherwise one is
        made for `options.region` and `endpoint_url` (default: boto3's own, i.e. AWS_ENDPOINT_URL_DYNAMODB /
        AWS_ENDPOINT_URL, or AWS)."""
        if not table:
            raise OnlineConfigError(f"DynamoStore table must be a table name; got {table!r}")
        if not timeout_s > 0:
            raise OnlineConfigError(f"DynamoStore timeout_s must be > 0 seconds; got {timeout_s!r}")
        self.options = options or DynamoOptions()
        self.table, self.timeout_s = table, float(timeout_s)
        self.attempt_timeout_s = self.timeout_s / self.options.attempts
        self.client = client if client is not None else self._make_client(endpoint_url)
        cfg = self.client.meta.config
        for setting in ("connect_timeout", "read_timeout"):
            value = getattr(cfg, setting, None)
            if value is None or value > self.attempt_timeout_s + 1e-9:
                raise OnlineConfigError(f"DynamoStore client {setting} must be <= timeout_s/attempts = "
                                        f"{self.attempt_timeout_s:g} s so a call cannot outlive its budget; "
                                        f"got {value!r}")
        self._writers = ThreadPoolExecutor(max_workers=self.options.write_threads, thread_name_prefix="dynamo-put")

    def _make_client(self, endpoint_url: str | None) -> Any:
        import boto3
        from botocore.config import Config

        pool = self.options.write_threads
        region = self.options.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise OnlineConfigError("DynamoStore needs a region: set DynamoOptions.region or AWS_REGION; got none")
        config = Config(connect_timeout=self.attempt_timeout_s, read_timeout=self.attempt_timeout_s,
                        retries={"total_max_attempts": 1, "mode": "standard"}, tcp_keepalive=True,
                        max_pool_connections=max(10, pool))
        return boto3.session.Session().client("dynamodb", region_name=region, endpoint_url=endpoint_url,
                                              config=config)

    # -- reads ----------------------------------------------------------------------------------------------
    def get_many(self, keys: Sequence[str]) -> dict[str, Item]:
        wanted = list(dict.fromkeys(keys))  # BatchGetItem refuses duplicate keys
        deadline = _Deadline(self, "BatchGetItem")
        found: dict[str, Item] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            pending = [{"k": {"S": k}} for k in wanted[start:start + BATCH_GET_LIMIT]]
            while pending:
                request = {self.table: {"Keys": pending, "ConsistentRead": self.options.consistent_read,
                                        "ProjectionExpression": "k, v, ver"}}
                reply = self._call(deadline, self.client.batch_get_item, RequestItems=request)
                if reply is None:
                    continue
                for row in reply.get("Responses", {}).get(self.table, []):
                    found[row["k"]["S"]] = Item(bytes(row["v"]["B"]), int(row["ver"]["N"]))
                pending = reply.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                if pending:
                    deadline.backoff(f"{len(pending)} UnprocessedKeys")
        return found

    # -- writes ---------------------------------------------------------------------------------------------
    def put_many(self, items: Sequence[Put]) -> None:
        keys = [p.key for p in items]
        if len(set(keys)) != len(keys):
            raise OnlineConfigError(f"put_many got the same key twice in one call; keys: {sorted(keys)}")
        for p in items:   # checked before any write: DynamoDB would refuse the item with a ValidationException
            size = _item_bytes(p)
            if size > ITEM_LIMIT_BYTES:
                raise StoreItemTooLarge(p.key, size, ITEM_LIMIT_BYTES)
        if len(items) <= 1:
            results = [self._put(p) for p in items]
        else:
            results = list(self._writers.map(self._put, items))
        conflicts = [p.key for p, ok in zip(items, results) if not ok]
        if conflicts:
            raise StoreConflict(conflicts)

    def _put(self, put: Put) -> bool:
        """Write one item if its stored version is `expected_version`; False if it was not."""
        item: dict[str, Any] = {"k": {"S": put.key}, "v": {"B": put.value}, "ver": {"N": str(put.expected_version + 1)}}
        if put.expires_at:
            item[TTL_ATTRIBUTE] = {"N": str(int(put.expires_at))}
        if put.expected_version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(k)"}
        else:
            condition = {"ConditionExpression": "ver = :expected",
                         "ExpressionAttributeValues": {":expected": {"N": str(put.expected_version)}}}
        deadline = _Deadline(self, "PutItem")
        while True:
            try:
                reply = self._call(deadline, self.client.put_item, TableName=self.table, Item=item, **condition)
            except _ConditionFailed:
                return False
            if reply is not None:
                return True

    # -- one HTTP attempt, errors mapped ----------------------------------------------------------------------
    def _call(self, deadline: _Deadline, method: Any, **kwargs: Any) -> dict[str, Any] | None:
        """One attempt: the reply, or None after a retryable failure (the caller tries again)."""
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, NoCredentialsError

        deadline.begin_attempt()
        try:
            return method(**kwargs)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise _ConditionFailed() from err
            if code in RETRYABLE_CODES:
                deadline.backoff(code)
                return None
            if code in UNAVAILABLE_CODES:
                raise StoreUnavailable(f"DynamoDB table {self.table!r} refused {deadline.action}: {code}: "
                                       f"{err.response.get('Error', {}).get('Message', '')}") from err
            raise
        except (ConnectionError, HTTPClientError) as err:  # refused, timed out, reset, closed
            deadline.backoff(f"{type(err).__name__}: {err}")
            return None
        except NoCredentialsError as err:
            raise StoreUnavailable(f"DynamoDB table {self.table!r}: no AWS credentials to sign "
                                   f"{deadline.action} ({err})") from err

    def close(self) -> None:
        self._writers.shutdown(wait=True)
        self.client.close()


ITEM_LIMIT_BYTES = 400 * 1024   # DynamoDB's item size limit: attribute names and values together


def _item_bytes(put: Put) -> int:
    """The item's size as DynamoDB counts it: UTF-8 names and values; a number is at most 21 bytes."""
    size = len("k") + len(put.key.encode()) + len("v") + len(put.value) + len("ver") + 21
    return size + (len(TTL_ATTRIBUTE) + 21 if put.expires_at else 0)


class _ConditionFailed(Exception):
    """Internal: a conditional PutItem found another version (turned into StoreConflict by put_many)."""


def create_table(client: Any, table: str) -> None:
    """Create the store's table as deploy/infra/template.yaml declares it (on-demand, TTL on `ttl`), for
    local runs and tests; on AWS the template creates it."""
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}])
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    client.update_time_to_live(TableName=table,
                               TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE})
