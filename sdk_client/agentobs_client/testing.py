"""Helpers for testing an agent's own code against a ledger, without a server.

Give the code under test a fresh `UsageLedger` and check what it recorded::

    from agentobs_client import UsageLedger
    from agentobs_client.testing import assert_usage

    def test_summary_records_one_call():
        ledger = UsageLedger()
        summarize(ledger, "some text")
        assert_usage(ledger, model="gpt-4o-mini", calls=1, input_tokens=42)

To check only what one step added to a shared ledger, take a snapshot before
it and pass it as `since`.
"""

from __future__ import annotations

import dataclasses
import types

from agentobs_client._ledger import TokenCounts, UsageLedger, UsageSnapshot

__all__ = ["assert_usage", "usage_since"]

_FIELDS = tuple(field.name for field in dataclasses.fields(TokenCounts))


def usage_since(before: UsageSnapshot, after: UsageLedger | UsageSnapshot) -> UsageSnapshot:
    """Return what was recorded between two snapshots of the same ledger.

    Models with nothing recorded in between are left out.

    Raises:
        ValueError: A counter in `after` is smaller than in `before`, so the
            snapshots come from different ledgers or are passed in the wrong order.
    """
    later = after.snapshot() if isinstance(after, UsageLedger) else after

    models: dict[str, TokenCounts] = {}
    for model, counts in later.models.items():
        difference = _subtract(counts, before.models.get(model, TokenCounts()), model)
        if difference != TokenCounts():
            models[model] = difference

    skipped = later.skipped_records - before.skipped_records
    if skipped < 0:
        raise ValueError("skipped_records went down: pass the earlier snapshot first")
    totals = _subtract(later.totals, before.totals, "totals")
    return UsageSnapshot(
        models=types.MappingProxyType(models), totals=totals, skipped_records=skipped
    )


def assert_usage(
    source: UsageLedger | UsageSnapshot,
    *,
    model: str | None = None,
    skipped_records: int | None = None,
    **expected: int,
) -> None:
    """Assert that counters of a ledger or snapshot have the expected values.

    Args:
        source: A ledger (its current snapshot is checked) or a snapshot.
        model: Check this model's counters; None checks the totals over all
            models. A model that was never recorded fails the assertion.
        skipped_records: Expected count of skipped malformed responses, if given.
        **expected: Expected counters by `TokenCounts` field name, such as
            `input_tokens=1200` or `unreported_calls=1`, and `total_tokens`.
            Counters not named are not checked.

    Raises:
        AssertionError: A counter differs. The message lists every difference.
        TypeError: An expected name is not a counter.
    """
    unknown = sorted(set(expected) - {*_FIELDS, "total_tokens"})
    if unknown:
        raise TypeError(
            f"unknown counters {unknown}, expected some of {[*_FIELDS, 'total_tokens']}"
        )
    snapshot = source.snapshot() if isinstance(source, UsageLedger) else source

    if model is None:
        counts, label = snapshot.totals, "totals"
    else:
        found = snapshot.models.get(model)
        if found is None:
            raise AssertionError(
                f"model {model!r} was not recorded; recorded models: {sorted(snapshot.models)}"
            )
        counts, label = found, f"model {model!r}"

    differences = [
        f"{name}: expected {value}, recorded {getattr(counts, name)}"
        for name, value in sorted(expected.items())
        if getattr(counts, name) != value
    ]
    if skipped_records is not None and snapshot.skipped_records != skipped_records:
        differences.append(
            f"skipped_records: expected {skipped_records}, recorded {snapshot.skipped_records}"
        )
    if differences:
        raise AssertionError(f"unexpected usage for {label}: " + "; ".join(differences))


def _subtract(after: TokenCounts, before: TokenCounts, label: str) -> TokenCounts:
    values = {name: getattr(after, name) - getattr(before, name) for name in _FIELDS}
    negative = sorted(name for name, value in values.items() if value < 0)
    if negative:
        raise ValueError(
            f"{label}: {negative} went down: pass the earlier snapshot first, from the same ledger"
        )
    return TokenCounts(**values)
