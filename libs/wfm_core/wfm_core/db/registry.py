"""Imports every model module so `Base.metadata` knows all tables (Alembic, tests, snapshots)."""

from __future__ import annotations

from sqlalchemy import MetaData

from wfm_core.configs import models as _configs  # noqa: F401
from wfm_core.db.base import Base
from wfm_core.endpoints import models as _endpoints  # noqa: F401
from wfm_core.mcp_access import models as _mcp_access  # noqa: F401
from wfm_core.mesh import models as _mesh  # noqa: F401
from wfm_core.nodes import models as _nodes  # noqa: F401
from wfm_core.outbox import models as _outbox  # noqa: F401
from wfm_core.portforward import models as _portforward  # noqa: F401
from wfm_core.snapshots import models as _snapshots  # noqa: F401
from wfm_core.sync import models as _sync  # noqa: F401
from wfm_core.system import models as _system  # noqa: F401

metadata: MetaData = Base.metadata
