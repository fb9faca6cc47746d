"""The only place qgpt-jax touches another library's private API.

Each function below reaches one undocumented name of a dependency, says which version of that
library it was checked against (``CHECKED_AGAINST``, the versions pinned in ``constraints.txt``),
and fails with a ``QGPTError`` naming the library, the installed and the checked version when
the name is gone: never a silent fallback. The rest of the package imports these functions
instead of the private names (``grep -rn _src qgpt_jax`` finds them here only).

Nothing here runs at import, and importing this module imports no dependency.

What is reached, and the version it was checked against:

- ``threefry_rules``: ``_threefry2x32_lowering_rule`` and ``_threefry2x32_cpu_lowering_rule`` of
  ``jax._src.random.threefry2x32`` (jax 0.10.2).
- ``cpu_lowering_rule``: ``jax._src.interpreters.mlir._platform_specific_lowerings`` (jax 0.10.2).
- ``jax_callback_logger``: ``jax._src.callback.logger``, the logger of a private module
  (jax 0.10.2).
- ``lightning_kernels``: ``pennylane_lightning.lightning_base._serialize.QuantumScriptSerializer``
  and the C++ bindings ``pennylane_lightning.lightning_qubit_ops`` (pennylane-lightning 0.45.0).

Public names used beside them (``jax.extend.random.threefry2x32_p``,
``jax.interpreters.mlir.register_lowering``, glibc's ``malloc_trim`` through ``ctypes`` in
``qgpt_jax.runtime``) are not listed.
"""

from __future__ import annotations

import types
from importlib import metadata

CHECKED_AGAINST = types.MappingProxyType({"jax": "0.10.2", "pennylane-lightning": "0.45.0"})
"""The version of each library whose private names this module was last checked against."""


def installed_version(library: str) -> str:
    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def api_changed(library: str, what: str, cause: Exception, error: type | None = None):
    """The error to raise when ``library`` no longer has the private ``what`` qgpt-jax uses."""
    if error is None:
        from qgpt_jax.errors import QGPTError as error
    return error(
        f"{library} {installed_version(library)} lacks {what}, a private part of {library} that "
        f"qgpt-jax uses (checked against {library} {CHECKED_AGAINST[library]}): {cause}; install "
        "the versions in constraints.txt"
    )


def threefry_rules():
    """JAX's threefry2x32 primitive, its unrolled lowering rule (the one JAX uses off CPU) and
    its rolled CPU rule (jax 0.10.2: ``_threefry2x32_lowering_rule`` and
    ``_threefry2x32_cpu_lowering_rule`` of ``jax._src.random.threefry2x32``)."""
    try:
        from jax._src.random import threefry2x32 as module
        from jax.extend.random import threefry2x32_p

        unrolled = module._threefry2x32_lowering_rule
        rolled = module._threefry2x32_cpu_lowering_rule
    except (ImportError, AttributeError) as exc:
        raise api_changed("jax", "the lowering rules of threefry2x32", exc) from exc
    return threefry2x32_p, unrolled, rolled


def cpu_lowering_rule(primitive):
    """The lowering rule registered for ``primitive`` on CPU, ``None`` if only the common rule
    applies (jax 0.10.2: ``jax._src.interpreters.mlir._platform_specific_lowerings``, a dict of
    platform -> primitive -> ``LoweringRuleEntry(rule, inline)``)."""
    try:
        from jax._src.interpreters import mlir

        entry = mlir._platform_specific_lowerings["cpu"].get(primitive)
        return None if entry is None else entry.rule
    except (ImportError, AttributeError, KeyError, TypeError) as exc:
        raise api_changed("jax", "its table of platform-specific lowering rules", exc) from exc


def jax_callback_logger():
    """The logger through which JAX reports an exception raised in a host callback (with its
    traceback); jax 0.10.2 names it after its private module ``jax._src.callback``."""
    try:
        from jax._src import callback

        return callback.logger
    except (ImportError, AttributeError) as exc:
        raise api_changed("jax", "its host-callback logger (jax._src.callback)", exc) from exc


def lightning_kernels():
    """Lightning's double-precision state vector, measurements, adjoint Jacobian, operation list
    and serialiser (``QuantumScriptSerializer("lightning.qubit", use_csingle=False)``), none of
    them public in pennylane-lightning 0.45.0; a ``QuantumExecutionError`` when they are gone."""
    from qgpt_jax.errors import QuantumExecutionError

    try:
        from pennylane_lightning.lightning_base._serialize import QuantumScriptSerializer
        from pennylane_lightning.lightning_qubit_ops import MeasurementsC128, StateVectorC128
        from pennylane_lightning.lightning_qubit_ops.algorithms import (
            AdjointJacobianC128,
            create_ops_listC128,
        )
    except ImportError as exc:
        raise api_changed(
            "pennylane-lightning", "the kernels qgpt-jax calls", exc, QuantumExecutionError
        ) from exc
    return (
        StateVectorC128,
        MeasurementsC128,
        AdjointJacobianC128,
        create_ops_listC128,
        QuantumScriptSerializer("lightning.qubit", False),
    )
