import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from fraudcore.synth import GeneratorSpec, generate_frame, iter_months, write_dataset


@pytest.fixture(scope="module")
def frame_200k():
    return generate_frame(200_000, 7)


def test_fraud_rate_is_point_seven_percent(frame_200k):
    assert abs(frame_200k["is_fraud"].mean() - 0.007) <= 0.0005


def test_expected_rate_is_exact_each_month(frame_200k):
    by_month = frame_200k.groupby(frame_200k["event_time"].dt.strftime("%Y-%m"))["fraud_probability"].mean()
    assert len(by_month) == 18
    assert np.allclose(by_month.to_numpy(), 0.007, atol=1e-6)


def test_merchant_risk_fields_are_missing_about_eight_percent_together(frame_200k):
    risk_missing = frame_200k["merchant_risk_score"].isna()
    assert 0.06 <= risk_missing.mean() <= 0.10
    assert (risk_missing == frame_200k["merchant_chargeback_rate_90d"].isna()).all()


def test_customer_history_is_missing_about_three_percent_mostly_new_customers(frame_200k):
    missing = frame_200k["avg_amount_30d"].isna()
    assert 0.02 <= missing.mean() <= 0.04
    new = frame_200k["account_age_days"] < 30
    assert missing[new].mean() > 10 * missing[~new].mean()
    assert missing[new].sum() > missing[~new].sum()


def test_missingness_is_informative(frame_200k):
    f = frame_200k
    assert f.loc[f["merchant_risk_score"].isna(), "is_fraud"].mean() > f.loc[f["merchant_risk_score"].notna(), "is_fraud"].mean()
    assert f.loc[f["avg_amount_30d"].isna(), "is_fraud"].mean() > 2 * f["is_fraud"].mean()


def test_dtypes_follow_the_schema(schema, frame_200k):
    for fld in schema.fields:
        col = frame_200k[fld.name]
        if fld.dtype == "category":
            assert isinstance(col.dtype, pd.CategoricalDtype)
            assert list(col.cat.categories) == list(fld.categories)
        elif fld.dtype == "bool":
            assert col.dtype == bool
        elif fld.dtype == "timestamp":
            assert str(col.dtype) == "datetime64[ns, UTC]"
        elif fld.role == "feature" and (fld.dtype == "float" or fld.nullable):
            assert col.dtype == np.float32
        if not fld.nullable:
            assert col.notna().all(), fld.name
        if fld.min is not None:
            assert (col.dropna() >= fld.min).all(), fld.name
        if fld.max is not None:
            assert (col.dropna() <= fld.max).all(), fld.name


def test_time_order_ids_and_entities_repeat(frame_200k):
    t = frame_200k["event_time"]
    assert t.is_monotonic_increasing
    assert frame_200k["transaction_id"].is_unique
    assert frame_200k["customer_id"].value_counts().max() > 20
    assert frame_200k["merchant_id"].nunique() < len(frame_200k) / 100
    assert (frame_200k["hour_of_day"] == t.dt.hour).all()
    assert (frame_200k["day_of_week"] == t.dt.day_of_week).all()


def test_daily_cycle_and_heavy_tailed_amounts(frame_200k):
    hours = frame_200k["hour_of_day"].value_counts()
    assert hours[12] > 5 * hours[3]
    amount = frame_200k["amount"]
    assert amount.quantile(0.999) > 10 * amount.median()


def test_generation_is_deterministic_and_chunk_independent():
    full = generate_frame(30_000, 11)
    again = generate_frame(30_000, 11)
    pd.testing.assert_frame_equal(full, again)
    month_5 = next(f for i, _, f in iter_months(30_000, 11, months=[5]))
    months = full["event_time"].dt.strftime("%Y-%m")
    pd.testing.assert_frame_equal(full[months == sorted(months.unique())[5]].reset_index(drop=True), month_5)
    other = generate_frame(30_000, 12)
    assert not np.array_equal(other["amount"].to_numpy(), full["amount"].to_numpy())


def test_new_pattern_drifts_in_before_the_holdout(frame_200k):
    f = frame_200k
    pattern = (f["payment_method"] == "digital_wallet") & f["merchant_category"].isin(["gaming", "digital_goods"]) \
        & f["device_type"].isin(["ios_app", "android_app"])
    month = f["event_time"].dt.strftime("%Y-%m")
    early = f.loc[pattern & (month < "2026-02"), "fraud_probability"].mean()
    train_tail = f.loc[pattern & (month >= "2026-03") & (month < "2026-05"), "fraud_probability"].mean()
    holdout = f.loc[pattern & (month >= "2026-08"), "fraud_probability"].mean()
    assert early < train_tail < holdout


def test_oracle_is_calibrated_against_labels(frame_200k):
    f = frame_200k
    bins = pd.qcut(f["fraud_probability"], 5, labels=False, duplicates="drop")
    observed = f.groupby(bins)["is_fraud"].mean()
    expected = f.groupby(bins)["fraud_probability"].mean()
    assert np.all(np.abs(observed - expected) < 0.25 * expected + 0.002)
    top = f["fraud_probability"] > 0.5
    assert abs(f.loc[top, "is_fraud"].mean() - f.loc[top, "fraud_probability"].mean()) < 0.08


def test_label_noise_caps_the_oracle(frame_200k):
    assert frame_200k["fraud_probability"].max() <= 1 - GeneratorSpec().missed_chargeback_rate + 1e-9
    assert frame_200k["fraud_probability"].min() >= GeneratorSpec().false_review_rate - 1e-12


def test_oracle_beats_a_random_split_of_itself(frame_200k):
    month = frame_200k["event_time"].dt.strftime("%Y-%m")
    hold = month >= "2026-08"
    ap = average_precision_score(frame_200k.loc[hold, "is_fraud"], frame_200k.loc[hold, "fraud_probability"])
    assert 0.40 < ap < 0.80  # the spec band [0.50, 0.70] is checked at 1M rows by `fraud data difficulty`


def test_write_dataset_partitions_by_month(tmp_path):
    files = write_dataset(tmp_path / "d", 5_000, 3)
    assert len(files) == 18
    assert files[0].parent.name == "month=2025-05"
    back = pd.read_parquet(files[0])
    assert len(back) > 0 and back["event_time"].is_monotonic_increasing


def test_spec_rejects_out_of_range_rates():
    with pytest.raises(ValueError, match="fraud_rate"):
        GeneratorSpec(fraud_rate=1.5)


def test_month_span_rejects_an_empty_or_misplaced_month():
    import datetime as dt

    from fraudcore.synth.calendar import MonthSpan

    day = dt.date(2025, 3, 1)
    with pytest.raises(ValueError, match="period_start <= start < end"):
        MonthSpan(0, day, day, dt.date(2025, 1, 1), frozenset())
    with pytest.raises(ValueError, match="period_start <= start < end"):
        MonthSpan(0, day, dt.date(2025, 4, 1), dt.date(2025, 6, 1), frozenset())
    with pytest.raises(ValueError, match="'index' must be >= 0; got -1"):
        MonthSpan(-1, day, dt.date(2025, 4, 1), dt.date(2025, 1, 1), frozenset())
