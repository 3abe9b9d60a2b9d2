"""Category codes from the schema, looked up once per generator run."""
from __future__ import annotations

import numpy as np

from fraudcore.schema import Schema
from fraudcore.synth.month import CURRENCY_OF_COUNTRY


class Codes:
    """`codes.channel.ecommerce` -> the code of 'ecommerce' in the schema's 'channel' categories."""

    FIELDS = ("currency", "payment_method", "device_type", "channel", "entry_mode", "avs_result",
              "merchant_category", "country")

    def __init__(self, schema: Schema):
        self.schema = schema
        for name in self.FIELDS:
            cats = schema[name].categories or ()
            setattr(self, name, type(name, (), {c: i for i, c in enumerate(cats)}))
        countries = schema["country"].categories or ()
        currencies = schema["currency"].categories or ()
        self.currency_of_country = np.array([currencies.index(CURRENCY_OF_COUNTRY[c]) for c in countries])

    def categories(self, name: str) -> list[str]:
        return list(self.schema[name].categories or ())

    def many(self, name: str, values: list[str]) -> np.ndarray:
        cats = self.schema[name].categories or ()
        return np.array([cats.index(v) for v in values], dtype=np.int64)
