"""A sample agent that reports token usage with the real agentobs client library.

It plays a plan of model calls from a JSON file, which lists rounds of calls.
Each call is recorded in a `UsageLedger`, directly or through a LangChain fake
chat model whose messages carry usage metadata, and a `Reporter` sends the
heartbeats. Between rounds it sleeps, so the receiver can be restarted while it
runs. At the end it closes the reporter and prints the ledger's totals as JSON.

    python -m devenv.sample_agent --plan plan.json [--langchain] [--pause 0.2]

Configuration comes from the usual AGENTOBS_* environment variables. The exit
code is 0 only when the final flush delivered every record.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import agentobs_client

Call = dict[str, Any]


def play_directly(ledger: agentobs_client.UsageLedger, calls: list[Call]) -> None:
    for call in calls:
        ledger.record(
            call["model"],
            input_tokens=call.get("input_tokens", 0),
            output_tokens=call.get("output_tokens", 0),
            cache_read_tokens=call.get("cache_read_tokens", 0),
            cache_write_tokens=call.get("cache_write_tokens", 0),
            reasoning_tokens=call.get("reasoning_tokens", 0),
        )


def play_through_langchain(ledger: agentobs_client.UsageLedger, calls: list[Call]) -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from agentobs_client.integrations.langchain import track_usage

    messages = [
        AIMessage(
            content="done",
            response_metadata={"model_name": call["model"]},
            usage_metadata={
                "input_tokens": call.get("input_tokens", 0),
                "output_tokens": call.get("output_tokens", 0),
                "total_tokens": call.get("input_tokens", 0) + call.get("output_tokens", 0),
                "input_token_details": {
                    "cache_read": call.get("cache_read_tokens", 0),
                    "cache_creation": call.get("cache_write_tokens", 0),
                },
                "output_token_details": {"reasoning": call.get("reasoning_tokens", 0)},
            },
        )
        for call in calls
    ]
    model = GenericFakeChatModel(messages=iter(messages))

    @track_usage(ledger)
    def call_model(prompt: str) -> object:
        return model.invoke(prompt)

    for index in range(len(calls)):
        call_model(f"step {index}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plan", type=Path, required=True, help="JSON file of rounds of calls")
    parser.add_argument("--langchain", action="store_true", help="record through LangChain")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between rounds")
    parser.add_argument("--interval", type=float, default=0.5, help="heartbeat interval, seconds")
    parser.add_argument(
        "--close-timeout", type=float, default=60.0, help="seconds the final flush may take"
    )
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    rounds: list[list[Call]] = json.loads(arguments.plan.read_text())
    ledger = agentobs_client.UsageLedger()
    reporter = agentobs_client.Reporter(
        ledger,
        interval=arguments.interval,
        backoff_initial=0.2,
        backoff_max=1.0,
        timeout=5.0,
        shutdown_timeout=arguments.close_timeout,
    )
    play = play_through_langchain if arguments.langchain else play_directly
    for calls in rounds:
        play(ledger, calls)
        time.sleep(arguments.pause)

    delivered = reporter.close(arguments.close_timeout)
    snapshot = ledger.snapshot()
    print(
        json.dumps(
            {
                "delivered": delivered,
                "input_tokens": snapshot.totals.input_tokens,
                "output_tokens": snapshot.totals.output_tokens,
                "calls": snapshot.totals.calls,
            }
        )
    )
    return 0 if delivered else 1


if __name__ == "__main__":
    sys.exit(main())
