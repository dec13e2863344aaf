"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Generator

import pytest
import zeroconf

# Home Assistant's zeroconf integration, once set up, replaces
# zeroconf.Zeroconf's constructor process-wide so that any other instance
# becomes Home Assistant's shared one (with a usage report).  In a test run,
# that outlives the test's Home Assistant, and every later Zeroconf() (python-
# zeroconf in the discovery tests, or the next test's HaZeroconf) gets a stale,
# possibly mocked instance.  Undo it after every test.
_ZEROCONF_NEW = vars(zeroconf.Zeroconf).get("__new__")
_ZEROCONF_INIT = zeroconf.Zeroconf.__init__


@pytest.fixture(autouse=True)
def restore_zeroconf_constructor() -> Generator[None]:
    """Give every test the real zeroconf.Zeroconf constructor back."""
    yield
    if vars(zeroconf.Zeroconf).get("__new__") is not _ZEROCONF_NEW:
        # Deleting the replacement would be the obvious undo, but CPython then
        # keeps a constructor slot that rejects arguments; install a plain one.
        zeroconf.Zeroconf.__new__ = _plain_new  # type: ignore[method-assign,assignment]
    zeroconf.Zeroconf.__init__ = _ZEROCONF_INIT  # type: ignore[method-assign]


def _plain_new(
    cls: type[zeroconf.Zeroconf], *args: object, **kwargs: object
) -> zeroconf.Zeroconf:
    return object.__new__(cls)
