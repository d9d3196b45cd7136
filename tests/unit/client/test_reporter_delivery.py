"""Reporter against a real HTTP server: faults, retries, flush and close.

Every check compares the server's totals, computed as the store computes them,
with what the ledger recorded. Every body the server receives is validated
against the Heartbeat schema by the `idle_server` fixture.
"""

from __future__ import annotations

import logging
import pathlib
import threading

import pytest
from heartbeat_server import HeartbeatServer, ReporterFactory, expected_totals

from agentobs_client import UsageLedger

# Bound for flushes that must succeed; reaching it fails the test.
FLUSH_LIMIT = 30.0


def test_totals_are_exact_through_every_fault(
    idle_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
) -> None:
    ledger = UsageLedger()
    reporter = make_reporter(ledger, idle_server, timeout=0.3)

    # Connection refused: nothing arrives until the server listens.
    ledger.record("gpt-4o", input_tokens=1000, output_tokens=100, cache_read_tokens=200)
    assert not reporter.flush(timeout=0.2)
    assert idle_server.bodies == []
    assert "Connection refused" in client_logs.text
    idle_server.start()
    assert reporter.flush(timeout=FLUSH_LIMIT)
    assert idle_server.totals() == expected_totals(ledger.snapshot())

    # 500: retried.
    idle_server.fail_next("500")
    ledger.record("gpt-4o", input_tokens=500, output_tokens=50, reasoning_tokens=20)
    assert reporter.flush(timeout=FLUSH_LIMIT)
    assert 500 in idle_server.statuses
    assert "status=500 reason=internal" in client_logs.text
    assert idle_server.totals() == expected_totals(ledger.snapshot())

    # 429 with Retry-After: retried no sooner than the server asked.
    idle_server.fail_next("429")
    ledger.record("claude-sonnet-4-5", input_tokens=300, output_tokens=30, cache_write_tokens=100)
    assert reporter.flush(timeout=FLUSH_LIMIT)
    assert 429 in idle_server.statuses
    assert idle_server.totals() == expected_totals(ledger.snapshot())
    retry_logs = [record for record in client_logs.records if "retry_after=1.0" in record.message]
    assert len(retry_logs) == 1
    assert "retrying in 1.00s" in retry_logs[0].message

    # Timeout: the server stores the heartbeat but responds too late.
    idle_server.fail_next("hang")
    ledger.record("gpt-4o", input_tokens=70, output_tokens=7)
    assert reporter.flush(timeout=FLUSH_LIMIT)
    idle_server.release.set()
    assert "reason=TimeoutError" in client_logs.text
    assert idle_server.totals() == expected_totals(ledger.snapshot())

    # Duplicated delivery: the same heartbeat is stored twice.
    idle_server.fail_next("duplicate")
    ledger.record("gpt-4o", input_tokens=9, output_tokens=1)
    ledger.record_unreported("claude-sonnet-4-5")
    assert reporter.flush(timeout=FLUSH_LIMIT)
    assert idle_server.totals() == expected_totals(ledger.snapshot())

    # Success.
    ledger.record("gpt-4o", input_tokens=1, output_tokens=1)
    ledger.record_skipped()
    assert reporter.flush(timeout=FLUSH_LIMIT)
    assert idle_server.totals() == expected_totals(ledger.snapshot())


def test_records_during_a_post_reach_the_next_heartbeat(
    heartbeat_server: HeartbeatServer, make_reporter: ReporterFactory
) -> None:
    ledger = UsageLedger()
    reporter = make_reporter(ledger, heartbeat_server)
    ledger.record("gpt-4o", input_tokens=100, output_tokens=10)
    heartbeat_server.fail_next("hold")

    flushed: list[bool] = []
    flushing = threading.Thread(target=lambda: flushed.append(reporter.flush(FLUSH_LIMIT)))
    flushing.start()
    assert heartbeat_server.request_arrived.wait(FLUSH_LIMIT)
    ledger.record("gpt-4o", input_tokens=50, output_tokens=5)
    heartbeat_server.release.set()
    flushing.join()

    assert flushed == [True]
    assert heartbeat_server.bodies[0]["usage"][0]["inputTokens"] == 100
    assert reporter.flush(timeout=FLUSH_LIMIT)
    assert heartbeat_server.totals() == expected_totals(ledger.snapshot())
    assert heartbeat_server.totals()["inputTokens"] == 150


def test_close_delivers_the_last_records(
    heartbeat_server: HeartbeatServer, make_reporter: ReporterFactory
) -> None:
    ledger = UsageLedger()
    reporter = make_reporter(ledger, heartbeat_server)
    ledger.record("gpt-4o", input_tokens=42, output_tokens=4)

    assert reporter.close(timeout=FLUSH_LIMIT)

    assert heartbeat_server.totals() == expected_totals(ledger.snapshot())
    assert heartbeat_server.bodies[-1]["final"] is True


def test_close_twice_sends_once(
    heartbeat_server: HeartbeatServer, make_reporter: ReporterFactory
) -> None:
    ledger = UsageLedger()
    reporter = make_reporter(ledger, heartbeat_server)

    assert reporter.close(timeout=FLUSH_LIMIT)
    assert not reporter.close(timeout=FLUSH_LIMIT)
    assert not reporter.flush(timeout=FLUSH_LIMIT)

    assert len(heartbeat_server.bodies) == 1


def test_rejection_is_logged_once_and_counters_are_kept(
    heartbeat_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
) -> None:
    ledger = UsageLedger()
    reporter = make_reporter(ledger, heartbeat_server)
    heartbeat_server.sticky_fault = "422"

    ledger.record("gpt-4o", input_tokens=10, output_tokens=1)
    assert not reporter.flush(timeout=FLUSH_LIMIT)
    ledger.record("gpt-4o", input_tokens=20, output_tokens=2)
    assert not reporter.flush(timeout=FLUSH_LIMIT)

    rejections = [record for record in client_logs.records if "rejected" in record.message]
    assert len(rejections) == 1
    assert rejections[0].levelno == logging.WARNING
    assert "status=422" in rejections[0].message
    assert "error=invalid_field" in rejections[0].message
    assert "field=usage[0].model" in rejections[0].message
    assert heartbeat_server.totals()["inputTokens"] == 0

    heartbeat_server.sticky_fault = None
    assert reporter.flush(timeout=FLUSH_LIMIT)
    assert heartbeat_server.totals() == expected_totals(ledger.snapshot())


def test_periodic_heartbeats_share_instance_and_grow_sequence(
    heartbeat_server: HeartbeatServer, make_reporter: ReporterFactory
) -> None:
    ledger = UsageLedger()
    ledger.record("gpt-4o", input_tokens=1)
    reporter = make_reporter(ledger, heartbeat_server, interval=0.02)

    assert heartbeat_server.wait_for_bodies(3, FLUSH_LIMIT)

    bodies = heartbeat_server.bodies[:3]
    assert {body["instance"] for body in bodies} == {reporter.instance}
    assert [body["sequence"] for body in bodies] == [1, 2, 3]
    assert all(body["namespace"] == "research" for body in bodies)
    assert all(body["agent"] == "planner" for body in bodies)
    assert all(body["final"] is False for body in bodies)


def test_every_model_is_in_every_heartbeat(
    heartbeat_server: HeartbeatServer, make_reporter: ReporterFactory
) -> None:
    ledger = UsageLedger()
    reporter = make_reporter(ledger, heartbeat_server)
    ledger.record("gpt-4o", input_tokens=1)
    ledger.record("claude-sonnet-4-5", input_tokens=2)
    assert reporter.flush(timeout=FLUSH_LIMIT)
    ledger.record("gpt-4o", input_tokens=1)
    assert reporter.flush(timeout=FLUSH_LIMIT)

    models = [[usage["model"] for usage in body["usage"]] for body in heartbeat_server.bodies]
    assert models == [["claude-sonnet-4-5", "gpt-4o"], ["claude-sonnet-4-5", "gpt-4o"]]


def test_heartbeat_with_edge_values_matches_schema(
    heartbeat_server: HeartbeatServer, make_reporter: ReporterFactory
) -> None:
    ledger = UsageLedger()
    reporter = make_reporter(ledger, heartbeat_server)
    ledger.record("m" * 200, input_tokens=2**63 - 1, cache_read_tokens=2**63 - 1)
    ledger.record("modèle-été ☃", output_tokens=5, reasoning_tokens=5, calls=0)
    ledger.record_unreported("gpt-4o", calls=3)
    ledger.record_skipped(2)

    assert reporter.flush(timeout=FLUSH_LIMIT)

    assert heartbeat_server.schema_errors == []
    assert heartbeat_server.totals() == expected_totals(ledger.snapshot())


def test_empty_heartbeat_matches_schema(
    heartbeat_server: HeartbeatServer, make_reporter: ReporterFactory
) -> None:
    reporter = make_reporter(UsageLedger(), heartbeat_server)

    assert reporter.flush(timeout=FLUSH_LIMIT)

    assert heartbeat_server.bodies[0]["usage"] == []
    assert heartbeat_server.schema_errors == []


def test_token_file_is_read_before_every_heartbeat(
    heartbeat_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
    tmp_path: pathlib.Path,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    reporter = make_reporter(UsageLedger(), heartbeat_server, token_file=str(token_file))

    assert reporter.flush(timeout=FLUSH_LIMIT)
    token_file.write_text("second-token")
    assert reporter.flush(timeout=FLUSH_LIMIT)

    assert heartbeat_server.authorizations == ["Bearer first-token", "Bearer second-token"]
    assert "first-token" not in client_logs.text
    assert "first-token" not in repr(reporter.config)


def test_static_token_is_sent_and_never_logged(
    heartbeat_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
) -> None:
    reporter = make_reporter(UsageLedger(), heartbeat_server, token="static-secret")
    heartbeat_server.fail_next("500", "422")

    assert not reporter.flush(timeout=FLUSH_LIMIT)

    assert heartbeat_server.authorizations == ["Bearer static-secret", "Bearer static-secret"]
    assert "static-secret" not in client_logs.text
    assert "static-secret" not in repr(reporter.config)


def test_unreadable_token_file_is_logged_once(
    heartbeat_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
    tmp_path: pathlib.Path,
) -> None:
    missing = tmp_path / "missing-token"
    reporter = make_reporter(UsageLedger(), heartbeat_server, token_file=str(missing))

    assert reporter.flush(timeout=FLUSH_LIMIT)
    assert reporter.flush(timeout=FLUSH_LIMIT)

    warnings = [record for record in client_logs.records if "token file" in record.message]
    assert len(warnings) == 1
    assert heartbeat_server.authorizations == [None, None]


async def test_reporter_flushes_from_asyncio_code(
    heartbeat_server: HeartbeatServer, make_reporter: ReporterFactory
) -> None:
    ledger = UsageLedger()
    reporter = make_reporter(ledger, heartbeat_server)
    ledger.record("gpt-4o", input_tokens=8, output_tokens=2)

    assert await reporter.aflush(timeout=FLUSH_LIMIT)
    ledger.record("gpt-4o", input_tokens=2)
    assert await reporter.aclose(timeout=FLUSH_LIMIT)

    assert heartbeat_server.totals() == expected_totals(ledger.snapshot())


def test_context_manager_closes_the_reporter(
    heartbeat_server: HeartbeatServer, make_reporter: ReporterFactory
) -> None:
    ledger = UsageLedger()

    with make_reporter(ledger, heartbeat_server):
        ledger.record("gpt-4o", input_tokens=3)

    assert heartbeat_server.bodies[-1]["final"] is True
    assert heartbeat_server.totals() == expected_totals(ledger.snapshot())


def undelivered_warnings(logs: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The log records of close() about records the receiver has not accepted."""
    return [record for record in logs.records if "records not delivered" in record.message]


def test_close_warns_about_rejected_records(
    heartbeat_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
) -> None:
    ledger = UsageLedger()
    reporter = make_reporter(ledger, heartbeat_server, token="bad-secret")
    heartbeat_server.sticky_fault = "401"
    ledger.record("gpt-4o", input_tokens=1000, output_tokens=50)
    ledger.record_unreported("gpt-4o")

    assert not reporter.close(timeout=FLUSH_LIMIT)

    warnings = undelivered_warnings(client_logs)
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "tokens=1050 calls=2" in warnings[0].message
    assert "namespace=research agent=planner" in warnings[0].message
    assert "status=401 error=invalid_token" in warnings[0].message
    assert "AGENTOBS_URL" in warnings[0].message
    assert "AGENTOBS_TOKEN_FILE or AGENTOBS_TOKEN" in warnings[0].message
    assert "bad-secret" not in client_logs.text


def test_close_warns_when_receiver_is_unreachable(
    idle_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
) -> None:
    ledger = UsageLedger()
    reporter = make_reporter(ledger, idle_server, timeout=0.3)
    ledger.record("claude-sonnet-4-5", input_tokens=70, output_tokens=7, calls=3)

    assert not reporter.close(timeout=0.5)

    warnings = undelivered_warnings(client_logs)
    assert len(warnings) == 1
    assert "tokens=77 calls=3" in warnings[0].message
    assert "error=URLError" in warnings[0].message
    assert "status=" not in warnings[0].message
    assert f"url={idle_server.url}/v1/heartbeats" in warnings[0].message


def test_close_counts_only_records_since_last_accepted(
    heartbeat_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
) -> None:
    ledger = UsageLedger()
    reporter = make_reporter(ledger, heartbeat_server)
    ledger.record("gpt-4o", input_tokens=500, output_tokens=50)
    assert reporter.flush(timeout=FLUSH_LIMIT)
    heartbeat_server.sticky_fault = "401"
    ledger.record("gpt-4o", input_tokens=8, output_tokens=1)
    ledger.record("claude-sonnet-4-5", input_tokens=20, output_tokens=2)

    assert not reporter.close(timeout=FLUSH_LIMIT)

    warnings = undelivered_warnings(client_logs)
    assert len(warnings) == 1
    assert "tokens=31 calls=2" in warnings[0].message


def test_close_without_new_records_does_not_warn(
    heartbeat_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
) -> None:
    """The final heartbeat fails, but the receiver has every record already."""
    ledger = UsageLedger()
    reporter = make_reporter(ledger, heartbeat_server)
    ledger.record("gpt-4o", input_tokens=500, output_tokens=50)
    assert reporter.flush(timeout=FLUSH_LIMIT)
    heartbeat_server.sticky_fault = "401"

    assert not reporter.close(timeout=FLUSH_LIMIT)

    assert undelivered_warnings(client_logs) == []


def test_delivered_close_does_not_warn(
    heartbeat_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
) -> None:
    ledger = UsageLedger()
    reporter = make_reporter(ledger, heartbeat_server)
    ledger.record("gpt-4o", input_tokens=5)

    assert reporter.close(timeout=FLUSH_LIMIT)

    assert undelivered_warnings(client_logs) == []


def test_rejection_of_final_heartbeat_promises_nothing(
    heartbeat_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
) -> None:
    """No heartbeat follows the final one, so the rejection must not say so."""
    ledger = UsageLedger()
    reporter = make_reporter(ledger, heartbeat_server)
    heartbeat_server.sticky_fault = "401"
    ledger.record("gpt-4o", input_tokens=5)

    assert not reporter.close(timeout=FLUSH_LIMIT)

    rejections = [record for record in client_logs.records if "rejected" in record.message]
    assert len(rejections) == 1
    assert "next accepted heartbeat" not in rejections[0].message


def test_rejection_without_field_leaves_field_out(
    heartbeat_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
) -> None:
    reporter = make_reporter(UsageLedger(), heartbeat_server)
    heartbeat_server.sticky_fault = "401"

    assert not reporter.flush(timeout=FLUSH_LIMIT)
    assert not reporter.flush(timeout=FLUSH_LIMIT)

    rejections = [record for record in client_logs.records if "rejected" in record.message]
    assert len(rejections) == 1
    assert "status=401 error=invalid_token" in rejections[0].message
    assert "field=" not in rejections[0].message
    assert "next accepted heartbeat carries them" in rejections[0].message


def test_missing_token_is_warned_once_at_start(
    heartbeat_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
) -> None:
    reporter = make_reporter(UsageLedger(), heartbeat_server)
    assert reporter.flush(timeout=FLUSH_LIMIT)
    assert reporter.flush(timeout=FLUSH_LIMIT)

    warnings = [record for record in client_logs.records if "no bearer token" in record.message]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "namespace=research agent=planner" in warnings[0].message
    assert "set AGENTOBS_TOKEN_FILE" in warnings[0].message
    assert "or AGENTOBS_TOKEN" in warnings[0].message


@pytest.mark.parametrize(
    "token_settings",
    [
        {"token": "static-secret"},
        {"token_file": "/var/run/secrets/agentobs/token"},
        {"environ": {"AGENTOBS_TOKEN": "static-secret"}},
        {"environ": {"AGENTOBS_TOKEN_FILE": "/var/run/secrets/agentobs/token"}},
    ],
)
def test_configured_token_is_not_warned(
    heartbeat_server: HeartbeatServer,
    make_reporter: ReporterFactory,
    client_logs: pytest.LogCaptureFixture,
    token_settings: dict[str, object],
) -> None:
    make_reporter(UsageLedger(), heartbeat_server, **token_settings)

    assert "no bearer token" not in client_logs.text
    assert "static-secret" not in client_logs.text
