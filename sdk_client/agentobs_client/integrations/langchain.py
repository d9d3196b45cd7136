"""Records from LangChain and LangGraph model calls, through callbacks.

`UsageCallbackHandler` reads the `usage_metadata` of the AIMessage that each
chat model call returns. LangChain's `input_tokens` already includes cached
input (`input_token_details.cache_read` and `cache_creation`) and its
`output_tokens` includes `output_token_details.reasoning`, so the counts are
recorded as they are. A call whose message has no `usage_metadata` is counted
as an unreported call; failed calls (`on_llm_error`) are not counted.

Pass the handler in a run's config, or let `track_usage` add it to every
LangChain run inside a function, a LangGraph node or a `with` block::

    handler = UsageCallbackHandler(ledger)
    model.invoke("hello", config={"callbacks": [handler]})

    @track_usage(ledger)
    def call_model(state: State) -> dict[str, list[AnyMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

Requires `langchain-core` (the `langchain` extra). The model name comes from
the message's `response_metadata` ("model_name" or "model"), else from the
run's `ls_model_name` metadata or invocation parameters, else `default_model`.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
import types
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ParamSpec, TypeVar, cast, overload

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.tracers.context import register_configure_hook

from agentobs_client import _ledger
from agentobs_client.integrations import _usage

__all__ = ["UsageCallbackHandler", "UsageTracking", "track_usage"]

_INTEGRATION = "langchain"

_P = ParamSpec("_P")
_R = TypeVar("_R")


class UsageCallbackHandler(BaseCallbackHandler):
    """LangChain callback handler that records every chat model call in a ledger.

    Safe to share between threads and event loops. It never raises into the
    run: malformed usage is skipped and counted in the ledger.

    Args:
        ledger: The ledger to record in.
        default_model: Model name to use when neither the response nor the run
            names one.
    """

    # Recording is a few additions under a lock, so it can run on the event
    # loop instead of in an executor.
    run_inline = True

    def __init__(self, ledger: _ledger.UsageLedger, *, default_model: str | None = None) -> None:
        super().__init__()
        self.ledger = ledger
        self.default_model = default_model
        self._run_models: dict[uuid.UUID, str] = {}
        self._lock = threading.Lock()

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: uuid.UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember the model that the run names, for responses that name none."""
        self._remember_model(run_id, metadata, kwargs.get("invocation_params"))

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: uuid.UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember the model that the run names, for responses that name none."""
        self._remember_model(run_id, metadata, kwargs.get("invocation_params"))

    def on_llm_end(self, response: LLMResult, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        """Record one call per prompt of the run, from its `usage_metadata`."""
        with self._lock:
            run_model = self._run_models.pop(run_id, None)
        try:
            llm_output_model = _model_from(response.llm_output)
            for generations in response.generations:
                self._record_prompt(generations, run_model or llm_output_model)
        except Exception as error:
            _usage.skip(
                self.ledger,
                integration=_INTEGRATION,
                kind="unreadable_result",
                detail=f"{type(error).__name__}: {error}",
            )

    def on_llm_error(self, error: BaseException, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        """Forget a failed run; its usage is unknown and it is not counted."""
        with self._lock:
            self._run_models.pop(run_id, None)

    def _remember_model(
        self, run_id: uuid.UUID, metadata: Mapping[str, Any] | None, invocation: object
    ) -> None:
        model = None
        if metadata is not None:
            candidate = metadata.get("ls_model_name")
            model = candidate if isinstance(candidate, str) and candidate else None
        if model is None and isinstance(invocation, Mapping):
            model = _model_from(invocation)
        if model is not None:
            with self._lock:
                self._run_models[run_id] = model

    def _record_prompt(self, generations: list[Any], run_model: str | None) -> None:
        # One prompt is one provider call. With n > 1 candidates the provider
        # reports one usage for all of them, so the first one found is used.
        message_model = None
        for generation in generations:
            if not isinstance(generation, ChatGeneration):
                continue
            message = generation.message
            message_model = message_model or _model_from(message.response_metadata)
            usage = getattr(message, "usage_metadata", None)
            if usage is not None:
                model = message_model or run_model or self.default_model
                _usage.record_response(
                    self.ledger,
                    {"model": model, "usage": usage},
                    None,
                    _read_usage_metadata,
                    integration=_INTEGRATION,
                )
                return

        model = message_model or run_model or self.default_model
        if model is None:
            _usage.skip(
                self.ledger,
                integration=_INTEGRATION,
                kind="missing_model",
                detail="the run named no model and returned no usage; pass default_model=",
            )
            return
        _usage.record_unreported(self.ledger, model, integration=_INTEGRATION)


def track_usage(ledger: _ledger.UsageLedger, *, default_model: str | None = None) -> UsageTracking:
    """Record every LangChain chat model call made inside a block or function.

    The result works as a context manager and as a decorator of plain and
    async functions, such as LangGraph nodes. While active, a
    `UsageCallbackHandler` for `ledger` is added to every LangChain run started
    in the current context (threads and tasks started from it inherit the
    context). A run that already has this handler does not get it twice.

    Args:
        ledger: The ledger to record in.
        default_model: Model name to use when neither the response nor the run
            names one.

    Limitation: an inner `track_usage` replaces an outer one for the calls
    inside it, so nested blocks with different ledgers do not both count a call.
    """
    return UsageTracking(UsageCallbackHandler(ledger, default_model=default_model))


class UsageTracking:
    """The context manager and decorator that `track_usage` returns."""

    def __init__(self, handler: UsageCallbackHandler) -> None:
        self.handler = handler
        self._tokens: list[contextvars.Token[UsageCallbackHandler | None]] = []

    def __enter__(self) -> UsageCallbackHandler:
        self._tokens.append(_active_handler.set(self.handler))
        return self.handler

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        _active_handler.reset(self._tokens.pop())

    @overload
    def __call__(
        self, function: Callable[_P, Coroutine[Any, Any, _R]]
    ) -> Callable[_P, Coroutine[Any, Any, _R]]: ...

    @overload
    def __call__(self, function: Callable[_P, _R]) -> Callable[_P, _R]: ...

    def __call__(self, function: Callable[_P, Any]) -> Callable[_P, Any]:
        """Wrap `function` so that every call of it is tracked."""
        handler = self.handler

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def tracked_coroutine(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                token = _active_handler.set(handler)
                try:
                    return await function(*args, **kwargs)
                finally:
                    _active_handler.reset(token)

            return tracked_coroutine

        @functools.wraps(function)
        def tracked(*args: _P.args, **kwargs: _P.kwargs) -> Any:
            token = _active_handler.set(handler)
            try:
                return function(*args, **kwargs)
            finally:
                _active_handler.reset(token)

        return tracked


def _read_usage_metadata(usage: object) -> _usage.NormalizedUsage:
    input_details = _usage.read_field(usage, "input_token_details")
    output_details = _usage.read_field(usage, "output_token_details")
    return _usage.NormalizedUsage(
        input_tokens=_usage.read_count(usage, "input_tokens", path="usage_metadata", required=True),
        output_tokens=_usage.read_count(
            usage, "output_tokens", path="usage_metadata", required=True
        ),
        cache_read_tokens=_usage.read_count(
            input_details, "cache_read", path="usage_metadata.input_token_details"
        ),
        cache_write_tokens=_usage.read_count(
            input_details, "cache_creation", path="usage_metadata.input_token_details"
        ),
        reasoning_tokens=_usage.read_count(
            output_details, "reasoning", path="usage_metadata.output_token_details"
        ),
    )


def _model_from(source: Mapping[str, Any] | None) -> str | None:
    if not source:
        return None
    for key in ("model_name", "model"):
        value = source.get(key)
        if isinstance(value, str) and value:
            return value
    return None


# LangChain adds the handler in this variable to every run it configures.
_active_handler: contextvars.ContextVar[UsageCallbackHandler | None] = contextvars.ContextVar(
    "agentobs_client_usage_handler", default=None
)
register_configure_hook(cast("contextvars.ContextVar[Any | None]", _active_handler), True)
