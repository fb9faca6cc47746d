"""Noise from IBM's fake backends (``qiskit_ibm_runtime.fake_provider``), chosen by short name.

A fake backend carries a real device's calibration snapshot: noise model, basis gates and coupling
map. ``--noise manila`` simulates the circuit as that device would run it, after transpiling to its
gates and qubit layout. Only 5- and 7-qubit devices are offered: noisy simulation uses density
matrices over the device's qubits that routing touches, which on a 16-qubit device already takes
tens of seconds per job.
"""

from __future__ import annotations

import functools
import types

from qgpt_jax.errors import ConfigError

_FAKE_BACKENDS = types.MappingProxyType(
    {
        "belem": "FakeBelemV2",  # 5 qubits
        "lima": "FakeLimaV2",  # 5
        "manila": "FakeManilaV2",  # 5
        "quito": "FakeQuitoV2",  # 5
        "jakarta": "FakeJakartaV2",  # 7
        "lagos": "FakeLagosV2",  # 7
        "nairobi": "FakeNairobiV2",  # 7
        "perth": "FakePerth",  # 7
    }
)


def available_backends() -> list[str]:
    """Names accepted by ``--noise``: lower case, without the ``Fake`` prefix."""
    return sorted(_FAKE_BACKENDS)


def _canonical(name: str) -> str:
    return name.strip().lower().removeprefix("fake")


@functools.cache
def fake_backend(name: str):
    """The fake backend instance called ``name`` (cached: loading its calibration takes a while)."""
    key = _canonical(name)
    if key not in _FAKE_BACKENDS:
        raise ConfigError(
            f"unknown noise backend {name!r}; available: {', '.join(available_backends())}"
        )
    from qiskit_ibm_runtime import fake_provider

    return getattr(fake_provider, _FAKE_BACKENDS[key])()


def validate_backend(name: str, n_qubits: int) -> None:
    """Raise a one-line ``ConfigError`` unless ``name`` is a known backend with ``n_qubits``."""
    backend = fake_backend(name)
    if n_qubits > backend.num_qubits:
        raise ConfigError(
            f"noise backend {_canonical(name)!r} has {backend.num_qubits} qubits but the circuit "
            f"needs {n_qubits}; use fewer qubits or a larger backend "
            f"({', '.join(available_backends())})"
        )
