"""Core benchmarks (issue "Foundation"): rendering a 250-node full mesh and persisting quick mesh.

Targets: render all configs of a 250-node full mesh (62,250 link rows) under 1 s; quick mesh
full_mesh for 250 nodes persisted on PostgreSQL under 3 s. Run: `make bench` or
`uv run python bench/core.py [--nodes N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("WFM_SECRET_KEY", "wfm-bench-secret-key")

from _common import drop_postgres_database, fresh_postgres_database, record, summary, timed

from wfm_core.configs.schemas import ConfigRequest
from wfm_core.configs.service import create_config
from wfm_core.db import migrate
from wfm_core.db.engine import create_engine, session_factory
from wfm_core.db.uow import unit_of_work
from wfm_core.mesh import service as mesh
from wfm_core.mesh.quick_mesh import QuickMeshRequest, plan_quick_mesh
from wfm_core.mesh.schemas import QuickMeshRequestModel
from wfm_core.mesh.validation import validate_mesh
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.nodes.service import create_node
from wfm_core.render.keys import generate_keypair
from wfm_core.render.wireguard import render_node_config, sha256_text
from wfm_core.views import ConfigData, LinkData, NodeData


def in_memory_mesh(count: int) -> tuple[ConfigData, list[NodeData], list[LinkData]]:
    base = datetime.now(UTC)
    nodes = []
    for i in range(count):
        private, public = generate_keypair()
        nodes.append(
            NodeData(
                id=f"node_{i:04d}",
                name=f"node-{i}",
                node_type="static",
                virtual_ip=f"10.66.{i // 250}.{i % 250 + 1}/32",
                ipv4_address=f"198.18.{i // 250}.{i % 250 + 1}",
                public_key=public,
                private_key=private,
                created_at=base + timedelta(microseconds=i),
            )
        )
    pairs = plan_quick_mesh(
        request=QuickMeshRequest(mode="full_mesh"),
        nodes=nodes,
        virtual_subnet="10.66.0.0/16",
        default_listen_port=51820,
    )
    links = []
    for index, pair in enumerate(pairs):
        stamp = base + timedelta(microseconds=2 * index)
        for suffix, local, peer, allowed, keepalive in (
            (
                "f",
                pair.local_node_id,
                pair.peer_node_id,
                pair.forward_allowed_ips,
                pair.forward_keepalive,
            ),
            (
                "r",
                pair.peer_node_id,
                pair.local_node_id,
                pair.reverse_allowed_ips,
                pair.reverse_keepalive,
            ),
        ):
            links.append(
                LinkData(
                    id=f"l{index}{suffix}",
                    local_node_id=local,
                    peer_node_id=peer,
                    link_group_id=f"g{index}",
                    direction="forward" if suffix == "f" else "reverse",
                    allowed_ips=allowed,
                    persistent_keepalive=keepalive,
                    created_at=stamp,
                )
            )
    return ConfigData(id="cfg_bench", name="bench", virtual_subnet="10.66.0.0/16"), nodes, links


def bench_render(count: int) -> dict[str, Any]:
    config, nodes, links = in_memory_mesh(count)
    by_id = {node.id: node for node in nodes}

    def render_all() -> None:
        by_local: dict[str, list[LinkData]] = {}
        for link in links:
            by_local.setdefault(link.local_node_id, []).append(link)
        for node in nodes:
            sha256_text(
                render_node_config(
                    config=config, node=node, links=by_local.get(node.id, []), nodes_by_id=by_id
                )
            )

    render = summary(timed(render_all, repeat=5))
    validate = summary(
        timed(lambda: validate_mesh(nodes=nodes, links=links, default_listen_port=51820), repeat=5)
    )
    return {
        "nodes": count,
        "link_rows": len(links),
        "render_all_configs": render,
        "validate_mesh": validate,
    }


async def bench_quick_mesh(count: int) -> dict[str, Any]:
    url, name = await fresh_postgres_database()
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        async with unit_of_work(sessions) as session:
            config = await create_config(
                session, data=ConfigRequest(name="bench", virtual_subnet="10.66.0.0/16")
            )
        start = time.perf_counter()
        for i in range(count):
            async with unit_of_work(sessions) as session:
                await create_node(
                    session,
                    config_id=config.id,
                    data=NodeRequest(
                        name=f"node-{i}",
                        ipv4_address=f"198.18.{i // 250}.{i % 250 + 1}",
                        node_type="static",
                    ),
                )
        add_nodes = time.perf_counter() - start
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            async with unit_of_work(sessions) as session:
                result = await mesh.quick_generate(
                    session, config_id=config.id, data=QuickMeshRequestModel(mode="full_mesh")
                )
            runs.append(time.perf_counter() - start)
        return {
            "nodes": count,
            "link_rows": 2 * result.generated_groups,
            "add_nodes_one_by_one_s": add_nodes,
            "quick_mesh_full_mesh_persisted": summary(runs),
        }
    finally:
        await engine.dispose()
        await drop_postgres_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=250)
    args = parser.parse_args()
    render = bench_render(args.nodes)
    median = render["render_all_configs"]["median_s"]
    print(
        f"render all configs, {args.nodes} nodes / {render['link_rows']} links: "
        f"median {median:.3f} s (target < 1 s)"
    )
    print(f"validate_mesh: median {render['validate_mesh']['median_s']:.3f} s")
    quick = asyncio.run(bench_quick_mesh(args.nodes))
    q = quick["quick_mesh_full_mesh_persisted"]
    print(
        f"quick mesh full_mesh persisted on PostgreSQL ({quick['link_rows']} rows): "
        f"median {q['median_s']:.3f} s, max {q['p99_s']:.3f} s (target < 3 s)"
    )
    record("core", {"render": render, "quick_mesh_postgres": quick})


if __name__ == "__main__":
    main()
