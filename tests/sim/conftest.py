"""Fixtures for the simulator interop tests."""

from __future__ import annotations

import pytest

from tests.simulator import sim_binary, start_sim  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _sim_sockets(socket_enabled: None) -> None:
    """Home Assistant's test plugin blocks sockets; these tests need real ones."""
