"""Heartbeat payloads as validated models, shared by the receiver and the store.

The models mirror the `Heartbeat` and `AgentUsage` schemas of the receiver's OpenAPI
file (`agentobs/receiver/openapi.yaml`); JSON field names are camelCase, Python
attribute names snake_case. Validation is strict: a count must be a JSON integer
from 0 to 2^63-1, so floats, NaN, booleans and numeric strings are rejected.

The number of models per heartbeat is a receiver setting, so it is passed in the
validation context as `max_models` (the protocol default, 256, applies without it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

MAX_COUNT: Final = 2**63 - 1
"""The greatest count the protocol and the store accept (the bigint maximum)."""

DEFAULT_MAX_MODELS: Final = 256
MAX_MODEL_NAME_LENGTH: Final = 200

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
NamespaceName = Annotated[
    str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
KubernetesName = Annotated[
    str, Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
InstanceId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
ModelName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_MODEL_NAME_LENGTH,
        pattern=r"^[\x20-\x7E\u00A0-\uFFFF]+$",
    ),
]


class _Payload(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class ModelUsage(_Payload):
    """Cumulative counters of one model since the instance started."""

    model: ModelName
    input_tokens: Count = 0
    output_tokens: Count = 0
    cache_read_tokens: Count = 0
    cache_write_tokens: Count = 0
    reasoning_tokens: Count = 0
    calls: Count = 0
    unreported_calls: Count = 0

    @model_validator(mode="after")
    def _check_breakdowns(self) -> ModelUsage:
        # The client ledger checks the same parts one by one, so no heartbeat it builds
        # from valid records is rejected here.
        for part, parent in (
            ("cache_read_tokens", "input_tokens"),
            ("cache_write_tokens", "input_tokens"),
            ("reasoning_tokens", "output_tokens"),
        ):
            if getattr(self, part) > getattr(self, parent):
                raise ValueError(
                    f"{to_camel(part)} ({getattr(self, part)}) must not exceed"
                    f" {to_camel(parent)} ({getattr(self, parent)}), because it is a part of it"
                )
        return self


class Heartbeat(_Payload):
    """One heartbeat of an agent instance, as `POST /v1/heartbeats` receives it."""

    namespace: NamespaceName
    agent: KubernetesName
    instance: InstanceId
    sequence: Count
    started_at: AwareDatetime | None = None
    final: bool = False
    skipped_records: Count = 0
    # Lax only for the container, so Python callers may pass a list; entries stay strict.
    usage: Annotated[tuple[ModelUsage, ...], Field(strict=False)] = ()

    @field_validator("usage")
    @classmethod
    def _check_usage(
        cls, usage: tuple[ModelUsage, ...], info: ValidationInfo
    ) -> tuple[ModelUsage, ...]:
        context: dict[str, Any] = info.context or {}
        max_models = int(context.get("max_models", DEFAULT_MAX_MODELS))
        if len(usage) > max_models:
            raise ValueError(f"at most {max_models} models are allowed, received {len(usage)}")
        seen: set[str] = set()
        for entry in usage:
            if entry.model in seen:
                raise ValueError(f"model {entry.model!r} appears more than once")
            seen.add(entry.model)
        return usage


class HeartbeatAccepted(_Payload):
    """The body of a 200 response to a heartbeat."""

    instance: str
    sequence: int


class TokenTotals(_Payload):
    """Token and call counts summed over instances (and models, for an agent)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    calls: int = 0
    unreported_calls: int = 0

    @computed_field(alias="totalTokens")  # type: ignore[prop-decorator]
    @property
    def total_tokens(self) -> int:
        """Input plus output tokens; reasoning and cache tokens are already in them."""
        return self.input_tokens + self.output_tokens


class ModelTotals(TokenTotals):
    """Totals of one model."""

    model: str


class AgentUsage(_Payload):
    """Usage of the agent that one AgentObservation observes."""

    namespace: str
    name: str
    agent: str
    totals: TokenTotals
    models: tuple[ModelTotals, ...]
    last_hour: TokenTotals
    last_day: TokenTotals
    active_instances: int
    last_heartbeat_time: datetime | None


class NamespaceUsage(_Payload):
    """Usage of every AgentObservation in one namespace."""

    namespace: str
    items: tuple[AgentUsage, ...]


class ErrorBody(_Payload):
    """The body of every error response: a code, a sentence and the offending field."""

    error: str
    message: str
    field: str | None
