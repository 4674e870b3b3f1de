"""Use cases answer any input with a result or a WfmError carrying a reference code, no crash."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wfm_core.configs import service as configs
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.errors import ERROR_STATUS, WfmError
from wfm_core.mesh import service as mesh
from wfm_core.mesh.schemas import DirectionRequest, PeerLinkGroupRequest, QuickMeshRequestModel
from wfm_core.nodes import service as nodes
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.portforward import service as pf
from wfm_core.portforward.schemas import PortForwardRequest

from .helpers import Sessions, make_config, make_node, run

# Every text the request models accept: NUL and lone surrogates are refused by RequestModel
# itself (PostgreSQL cannot store them), which the API tests check.
text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40),
    st.sampled_from(["", " ", "10.66.0.300", "::1", "a" * 300, "x\ny", "1.2.3.4/33", "CON", "#"]),
)
maybe_int = st.one_of(st.none(), st.integers(min_value=-(2**40), max_value=2**40))
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def _outcome(sessions: Sessions, fn: Any, **kwargs: Any) -> None:
    try:
        await run(sessions, fn, **kwargs)
    except WfmError as exc:
        assert exc.code in ERROR_STATUS, exc.code
        assert exc.message


@SETTINGS
@given(
    name=text,
    subnet=text,
    protocol=st.sampled_from(["wireguard", "amneziawg", "amneziawg_2", "x", ""]),
    version=st.sampled_from([None, "1.5", "2.0", "3.1", "9"]),
    s1=maybe_int,
    h1=st.one_of(st.none(), text),
    options=st.dictionaries(text, st.one_of(st.none(), st.booleans(), maybe_int, text), max_size=3),
)
async def test_config_create_sweep(
    sessions: Sessions,
    name: str,
    subnet: str,
    protocol: str,
    version: str | None,
    s1: int | None,
    h1: str | None,
    options: dict[str, Any],
) -> None:
    data = ConfigRequest.model_construct(
        name=name,
        virtual_subnet=subnet,
        tunnel_protocol=protocol,
        awg_version=version,
        awg_s1=s1,
        awg_h1=h1,
        awg_options=options,
        **{
            k: v.default
            for k, v in ConfigRequest.model_fields.items()
            if k
            not in {
                "name",
                "virtual_subnet",
                "tunnel_protocol",
                "awg_version",
                "awg_s1",
                "awg_h1",
                "awg_options",
            }
        },
    )
    await _outcome(sessions, configs.create_config, data=data)


@SETTINGS
@given(
    name=text,
    ipv4=text,
    ipv6=text,
    vip=text,
    dns=text,
    private_key=text,
    tags=st.lists(text, max_size=3),
    hooks=st.lists(text, max_size=2),
    jc=maybe_int,
    i1=st.one_of(st.none(), text),
)
async def test_node_create_sweep(
    sessions: Sessions,
    name: str,
    ipv4: str,
    ipv6: str,
    vip: str,
    dns: str,
    private_key: str,
    tags: list[str],
    hooks: list[str],
    jc: int | None,
    i1: str | None,
) -> None:
    config_id = await make_config(
        sessions, f"sweep-{uuid.uuid4().hex[:8]}", tunnel_protocol="amneziawg", awg_version="2.0"
    )
    given_fields = {
        "name": name,
        "ipv4_address": ipv4,
        "ipv6_address": ipv6,
        "virtual_ip": vip,
        "dns": dns,
        "private_key": private_key or None,
        "tags": tags,
        "post_up": hooks,
        "awg_jc": jc,
        "awg_i1": i1,
    }
    defaults = {
        key: field.get_default(call_default_factory=True)
        for key, field in NodeRequest.model_fields.items()
        if key not in given_fields
    }
    # model_construct skips pydantic checks: the use case itself must reject bad values.
    data = NodeRequest.model_construct(**defaults, **given_fields)
    await _outcome(sessions, nodes.create_node, config_id=config_id, data=data)
    await run(sessions, configs.delete_config, config_id=config_id)


@SETTINGS
@given(
    allowed=text,
    mode=text,
    family=st.one_of(st.none(), text),
    host=st.one_of(st.none(), text),
    port_mode=text,
    port=maybe_int,
    keepalive=maybe_int,
    quick_mode=text,
    from_port=maybe_int,
    to_port=maybe_int,
    platform=text,
    protocol=text,
)
async def test_mesh_and_port_forward_sweep(
    sessions: Sessions,
    allowed: str,
    mode: str,
    family: str | None,
    host: str | None,
    port_mode: str,
    port: int | None,
    keepalive: int | None,
    quick_mode: str,
    from_port: int | None,
    to_port: int | None,
    platform: str,
    protocol: str,
) -> None:
    cid = await make_config(sessions, f"sweep-{uuid.uuid4().hex[:8]}")
    a = await make_node(sessions, cid, "a", ipv4_address="192.0.2.1")
    b = await make_node(sessions, cid, "b", ipv4_address="192.0.2.2")
    fields = {
        "allowed_ips": allowed,
        "endpoint_mode": mode,
        "endpoint_ref_family": family,
        "endpoint_manual_host": host,
        "endpoint_port_mode": port_mode,
        "endpoint_manual_port": port,
        "persistent_keepalive": keepalive,
    }
    group = PeerLinkGroupRequest(
        forward=DirectionRequest(local_node_id=a, peer_node_id=b, **fields),
        reverse=DirectionRequest(local_node_id=b, peer_node_id=a, **fields),
    )
    await _outcome(sessions, mesh.create_link_group, config_id=cid, data=group)
    await _outcome(
        sessions,
        mesh.quick_generate,
        config_id=cid,
        data=QuickMeshRequestModel(mode=quick_mode, endpoint_ref_family=family or ""),
    )
    rule = PortForwardRequest.model_construct(
        from_node_id=a,
        from_port=from_port,
        to_node_id=b,
        to_port=to_port,
        to_platform=platform,
        protocol=protocol,
    )
    await _outcome(sessions, pf.create_rule, config_id=cid, data=rule)
    await run(sessions, configs.delete_config, config_id=cid)
