"""What a tool is: a name, an arguments model (its input schema), an effect text, one use case.

Tools are registered by the `read_tool` / `write_tool` decorators into `REGISTRY`. A tool body
only parses (its arguments model did that), calls one `wfm_core` use case (the same one the
REST route calls) and shapes the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ConfigDict, Field
from pydantic_core import to_jsonable_python
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.mcp_access.schemas import McpPrincipal
from wfm_core.schemas import RequestModel
from wfm_core.settings import Settings
from wfm_mcp.tools.docs import described_schema

# Ids are checked by the use cases (CONFIG_NOT_FOUND, …); the bounds keep a broken call cheap.
ID_BOUNDS: dict[str, Any] = {"min_length": 1, "max_length": 128}


class ToolArgs(RequestModel):
    """Tool arguments: unknown names are refused, so a misspelt argument is reported."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoArgs(ToolArgs):
    """This tool takes no arguments."""


def config_id_field() -> Any:
    return Field(description="Config id (`cfg_…`), as listed by read_configs", **ID_BOUNDS)


def node_id_field() -> Any:
    return Field(description="Node id (`node_…`), as listed by read_nodes", **ID_BOUNDS)


class ConfigArgs(ToolArgs):
    config_id: str = config_id_field()


class NodeArgs(ToolArgs):
    config_id: str = config_id_field()
    node_id: str = node_id_field()


@dataclass(frozen=True, slots=True)
class ToolEnv:
    """What a tool body may use: the request's unit of work and the process's resources."""

    session: AsyncSession
    settings: Settings
    redis: Redis
    principal: McpPrincipal
    # The origin clients should use for URLs we hand out (public origin, else the request's).
    base_url: str


@dataclass(frozen=True, slots=True)
class Effect:
    """The confirmation and audit text of one call: what it does, and what it changes."""

    summary: str
    impact: str = ""


A = TypeVar("A", bound=RequestModel)
Run = Callable[[ToolEnv, A], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ToolSpec(Generic[A]):
    name: str
    title: str
    description: str
    args: type[A]
    run: Run[A]
    effect: Callable[[A], Effect]
    write: bool

    def input_schema(self) -> dict[str, Any]:
        return described_schema(self.args)


REGISTRY: dict[str, ToolSpec[Any]] = {}


def to_plain(value: Any) -> Any:
    """A use case's answer (models, dataclasses, datetimes) as plain JSON values."""
    return to_jsonable_python(value)


def _register(spec: ToolSpec[Any]) -> None:
    if spec.name in REGISTRY:
        raise ValueError(f"tool {spec.name} registered twice")
    REGISTRY[spec.name] = spec


def read_tool(
    name: str,
    *,
    title: str,
    description: str,
    args: type[A],
    summary: Callable[[A], str],
) -> Callable[[Run[A]], Run[A]]:
    if not name.startswith("read_"):
        raise ValueError(f"read tool {name} must start with read_")

    def decorate(run: Run[A]) -> Run[A]:
        _register(
            ToolSpec(
                name=name,
                title=title,
                description=description,
                args=args,
                run=run,
                effect=lambda a: Effect(summary(a)),
                write=False,
            )
        )
        return run

    return decorate


def write_tool(
    name: str,
    *,
    title: str,
    description: str,
    args: type[A],
    summary: Callable[[A], str],
    impact: Callable[[A], str] | str,
) -> Callable[[Run[A]], Run[A]]:
    if not name.startswith("write_"):
        raise ValueError(f"write tool {name} must start with write_")

    def effect(a: A) -> Effect:
        return Effect(summary(a), impact(a) if callable(impact) else impact)

    def decorate(run: Run[A]) -> Run[A]:
        _register(
            ToolSpec(
                name=name,
                title=title,
                description=description,
                args=args,
                run=run,
                effect=effect,
                write=True,
            )
        )
        return run

    return decorate
