"""Small helpers to run use cases the way services do: one unit of work per call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wfm_core.configs import service as configs
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.db.uow import unit_of_work
from wfm_core.errors import WfmError
from wfm_core.nodes import service as nodes
from wfm_core.nodes.schemas import NodeRequest

T = TypeVar("T")
Sessions = async_sessionmaker[AsyncSession]


async def run(sessions: Sessions, fn: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
    async with unit_of_work(sessions) as session:
        return await fn(session, **kwargs)


async def expect_error(
    sessions: Sessions, code: str, fn: Callable[..., Awaitable[Any]], **kwargs: Any
) -> WfmError:
    with pytest.raises(WfmError) as info:
        await run(sessions, fn, **kwargs)
    assert info.value.code == code, f"expected {code}, got {info.value.code}: {info.value.message}"
    return info.value


async def make_config(sessions: Sessions, name: str = "main", **fields: Any) -> str:
    config = await run(sessions, configs.create_config, data=ConfigRequest(name=name, **fields))
    return config.id


async def make_node(sessions: Sessions, config_id: str, name: str, **fields: Any) -> str:
    node = await run(
        sessions, nodes.create_node, config_id=config_id, data=NodeRequest(name=name, **fields)
    )
    return node.id
