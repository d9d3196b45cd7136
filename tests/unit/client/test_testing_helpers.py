"""agentobs_client.testing: assertions that agent developers use in their tests."""

from __future__ import annotations

import pytest

from agentobs_client import TokenCounts, UsageLedger
from agentobs_client.testing import assert_usage, usage_since


def test_matching_usage_passes() -> None:
    ledger = UsageLedger()
    ledger.record("gpt-4o", input_tokens=100, output_tokens=10, cache_read_tokens=60)
    ledger.record_unreported("gpt-4o")

    assert_usage(ledger, model="gpt-4o", input_tokens=100, cache_read_tokens=60, unreported_calls=1)
    assert_usage(ledger.snapshot(), calls=1, total_tokens=110, skipped_records=0)


def test_mismatch_lists_every_difference() -> None:
    ledger = UsageLedger()
    ledger.record("gpt-4o", input_tokens=100, output_tokens=10)

    with pytest.raises(AssertionError) as raised:
        assert_usage(ledger, model="gpt-4o", input_tokens=99, output_tokens=11, calls=1)

    message = str(raised.value)
    assert "input_tokens: expected 99, recorded 100" in message
    assert "output_tokens: expected 11, recorded 10" in message
    assert "calls" not in message


def test_unrecorded_model_fails_with_the_recorded_ones() -> None:
    ledger = UsageLedger()
    ledger.record("gpt-4o", input_tokens=1)

    with pytest.raises(AssertionError, match=r"'claude' was not recorded.*\['gpt-4o'\]"):
        assert_usage(ledger, model="claude", calls=1)


def test_skipped_records_mismatch_fails() -> None:
    ledger = UsageLedger()
    ledger.record_skipped()

    with pytest.raises(AssertionError, match="skipped_records: expected 0, recorded 1"):
        assert_usage(ledger, skipped_records=0)


def test_unknown_counter_name_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="input_token"):
        assert_usage(UsageLedger(), input_token=1)


def test_usage_since_returns_only_the_new_records() -> None:
    ledger = UsageLedger()
    ledger.record("gpt-4o", input_tokens=100, output_tokens=10)
    ledger.record("claude", input_tokens=5)
    before = ledger.snapshot()

    ledger.record("gpt-4o", input_tokens=7, output_tokens=1)
    ledger.record_skipped()
    step = usage_since(before, ledger)

    assert dict(step.models) == {"gpt-4o": TokenCounts(input_tokens=7, output_tokens=1, calls=1)}
    assert step.totals == TokenCounts(input_tokens=7, output_tokens=1, calls=1)
    assert step.skipped_records == 1
    assert_usage(step, model="gpt-4o", input_tokens=7)


def test_usage_since_rejects_swapped_snapshots() -> None:
    ledger = UsageLedger()
    before = ledger.snapshot()
    ledger.record("gpt-4o", input_tokens=1)

    with pytest.raises(ValueError, match="earlier snapshot first"):
        usage_since(ledger.snapshot(), before)
