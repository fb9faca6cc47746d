"""The host protocol of the batched runners (Aer, IBM Runtime, Lightning): circuits in JAX.

A runner records its circuit once per trace into a program: static gate structure plus the gate
angles as JAX expressions of (angles, weights). The angles come in two groups: ``batched``
columns differ per binding (they depend on the angles), ``shared`` columns are the same for all
N bindings of a call (they depend on the weights only). ``expectation(program, batched,
shared)`` is then an ordinary JAX function: its values come from ONE host callback per call,
vmapped heads included (``vmap_method="expand_dims"``), and its VJP from the program's Jacobian
with respect to the columns JAX differentiates (``Shifts``: original heads stop the angles'
gradient, so only the weights' columns are differentiated, and a shared column's gradient is
summed over N). JAX's chain rule carries the columns' gradients back to angles and weights.

Two derivative strategies fit the protocol (``HostProgram.joint``):

* parameter shift (Aer, Runtime): the Jacobian is a job of its own, ``N * 2K`` shifted bindings,
  run in the backward pass only when a cotangent arrives;
* adjoint (Lightning): the Jacobian comes with the values from the same forward simulation, so
  the forward pass computes both and keeps the Jacobian as its residual.

A runner owns its failures: it keeps the error of its last failed call as ``last_failure``.
JAX re-raises an exception from a host callback as its own error (the type lost, the message
kept); ``reraise_failures`` restores the runner's error from it.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from qgpt_jax.errors import QuantumExecutionError


@jax.tree_util.register_static
@dataclass(frozen=True)
class Shifts:
    """Which column groups JAX differentiates: a static residual of the custom VJP."""

    batched: bool
    shared: bool


class FailureOwner(Protocol):
    last_failure: QuantumExecutionError | None


class HostProgram(Protocol):
    """What ``expectation`` needs of a recorded circuit. Must hash by identity (it is a static
    argument of the custom VJP)."""

    runner: FailureOwner
    batched: tuple[int, ...]
    """Indices, among the P gate angles, of the columns that differ per binding."""
    shared: tuple[int, ...]
    """Indices of the columns shared by all bindings of a call."""
    n_outputs: int
    joint: bool
    """True when the Jacobian comes with the values (adjoint: ``values_and_jacobian``), False
    when it is a run of its own (parameter shift: ``jacobian``)."""

    def expvals(self, batched: np.ndarray, shared: np.ndarray) -> np.ndarray:
        """Values (..., N, outputs) of batched (..., N, Kb) and shared (..., Ks) columns."""

    def jacobian(self, batched: np.ndarray, shared: np.ndarray, shifts: Shifts) -> np.ndarray:
        """(..., N, outputs, K) derivatives of the K ``differentiated`` columns (not ``joint``)."""

    def values_and_jacobian(self, batched: np.ndarray, shared: np.ndarray, shifts: Shifts):
        """``expvals`` and ``jacobian`` from one simulation per binding (``joint``)."""


def split_columns(params: list) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The batched (a batch dimension) and shared (scalar) gate angles of a recorded circuit."""
    batched = tuple(k for k, p in enumerate(params) if np.ndim(p) > 0)
    shared = tuple(k for k, p in enumerate(params) if np.ndim(p) == 0)
    return batched, shared


def differentiated(program: HostProgram, shifts: Shifts) -> tuple[int, ...]:
    """The columns whose derivatives the gradient needs, batched first."""
    return (program.batched if shifts.batched else ()) + (program.shared if shifts.shared else ())


def bindings(program: HostProgram, batched: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """Full parameter rows (..., N, P) from batched (..., N, Kb) and shared (..., Ks) columns.
    Leading dimensions come from ``jax.vmap`` (the heads of a layer): every head's rows go into
    the same run."""
    lead = np.broadcast_shapes(batched.shape[:-2], shared.shape[:-1])
    n_params = len(program.batched) + len(program.shared)
    rows = np.empty((*lead, batched.shape[-2], n_params))
    rows[..., list(program.batched)] = batched
    rows[..., list(program.shared)] = shared[..., None, :]
    return rows


def stack_columns(values: list, shape: tuple[int, ...]):
    """Stack gate angles (each broadcast to ``shape``) along a new last axis, float32."""
    columns = [jnp.broadcast_to(jnp.asarray(v, jnp.float32), shape) for v in values]
    return jnp.stack(columns, axis=-1) if columns else jnp.zeros((*shape, 0), jnp.float32)


def _values_shape(program: HostProgram, batched):
    return jax.ShapeDtypeStruct((batched.shape[0], program.n_outputs), jnp.float32)


def _jacobian_shape(program: HostProgram, batched, shifts: Shifts):
    n_columns = len(differentiated(program, shifts))
    return jax.ShapeDtypeStruct((batched.shape[0], program.n_outputs, n_columns), jnp.float32)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def expectation(program: HostProgram, batched, shared):
    """The program's values (N, outputs) on batched (N, Kb) and shared (Ks,) columns."""
    return jax.pure_callback(
        program.expvals,
        _values_shape(program, batched),
        batched,
        shared,
        vmap_method="expand_dims",  # vmapped heads: one call for all of them
    )


def _expectation_fwd(program: HostProgram, batched, shared):
    shifts = Shifts(batched=batched.perturbed, shared=shared.perturbed)
    batched, shared = batched.value, shared.value
    if program.joint and differentiated(program, shifts):
        values, jacobian = jax.pure_callback(
            functools.partial(program.values_and_jacobian, shifts=shifts),
            (_values_shape(program, batched), _jacobian_shape(program, batched, shifts)),
            batched,
            shared,
            vmap_method="expand_dims",
        )
        return values, (batched, shared, shifts, jacobian)
    return expectation(program, batched, shared), (batched, shared, shifts, None)


def _expectation_bwd(program: HostProgram, residuals, cotangent):
    batched, shared, shifts, jacobian = residuals
    columns = differentiated(program, shifts)
    if isinstance(cotangent, SymbolicZero) or not columns:
        return jnp.zeros_like(batched), jnp.zeros_like(shared)
    if jacobian is None:
        jacobian = jax.pure_callback(
            functools.partial(program.jacobian, shifts=shifts),
            _jacobian_shape(program, batched, shifts),
            batched,
            shared,
            vmap_method="expand_dims",  # vmapped heads: one call for all of them
        )
    grads = jnp.einsum("no,nok->nk", cotangent, jacobian)  # (N, K)
    n_batched = len(program.batched) if shifts.batched else 0
    d_batched = grads[:, :n_batched] if shifts.batched else jnp.zeros_like(batched)
    d_shared = grads[:, n_batched:].sum(0) if shifts.shared else jnp.zeros_like(shared)
    return d_batched, d_shared


expectation.defvjp(_expectation_fwd, _expectation_bwd, symbolic_zeros=True)


def run_program(program: HostProgram, params: list, n: int):
    """``expectation`` of a program recorded on N bindings with gate angles ``params``: (N,)
    for one readout value, else (N, outputs)."""
    batched = stack_columns([params[k] for k in program.batched], (n,))
    shared = stack_columns([params[k] for k in program.shared], ())
    with reraise_failures(program.runner):
        values = expectation(program, batched, shared)
    return values[:, 0] if program.n_outputs == 1 else values


@contextlib.contextmanager
def reraise_failures(*runners: FailureOwner):
    """Turn JAX's wrapper around a runner's failure back into that runner's error.

    Wrap calls of jitted code that runs a host runner in this, naming the ``runners`` that may
    fail inside it (a batched runner, the ``qgpt.aer`` PennyLane device): a runner's
    ``last_failure`` is raised again here when JAX's error carries its message, and cleared.
    """
    try:
        yield
    except (jax.errors.JaxRuntimeError, ValueError) as exc:
        for runner in runners:
            failure = runner.last_failure
            if failure is not None and str(failure) in str(exc):
                runner.last_failure = None
                raise failure from exc
        raise
