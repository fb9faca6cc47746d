"""The codebase's shape: no module-level mutable state outside the two registries."""

from __future__ import annotations

import importlib
import pkgutil

import qgpt_jax
from qgpt_jax.attention import KINDS
from qgpt_jax.quantum.devices import DEVICES

REGISTRIES = (
    KINDS,  # register() adds kinds: the one seam for a new kind
    DEVICES,  # the device table, which the tests patch per case
)


def test_no_module_holds_a_mutable_container_but_the_registries():
    found = []
    for info in pkgutil.walk_packages(qgpt_jax.__path__, "qgpt_jax."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            mutable = type(value) in (dict, list, set, bytearray)
            registry = any(value is r for r in REGISTRIES)
            if mutable and not registry and not name.startswith("__"):
                found.append(f"{info.name}.{name}")
    assert found == []
