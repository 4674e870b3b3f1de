"""GET /metrics (Prometheus). Scraped inside the deployment network; the gateway does not
route it, so it carries no admin token."""

from __future__ import annotations

from fastapi import APIRouter, Response

from wfm_api import metrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False, name="metrics")
async def prometheus_metrics() -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
