"""The host protocol (``qgpt_jax.quantum.host``) on a program whose values are a known function:
values and gradients equal JAX's own autodiff of that function, for both derivative strategies,
under ``jit`` and ``vmap``, with one host call per call whatever the vmapped heads."""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qgpt_jax.errors import QuantumExecutionError
from qgpt_jax.quantum import host


def function(rows):
    """(..., N, P) -> (..., N, 2): a smooth stand-in for a circuit's readout values."""
    return jnp.stack([jnp.sin(rows).sum(-1), jnp.cos(rows[..., 0] * rows[..., -1])], -1)


@dataclass(eq=False)
class Runner:
    calls: list = field(default_factory=list)
    last_failure: QuantumExecutionError | None = None
    fail: bool = False


@dataclass(frozen=True, eq=False)
class Program:
    runner: Runner
    batched: tuple[int, ...]
    shared: tuple[int, ...]
    joint: bool
    n_outputs: int = 2

    def values(self, batched, shared):
        if self.runner.fail:
            self.runner.last_failure = QuantumExecutionError("the stand-in device broke")
            raise self.runner.last_failure
        rows = host.bindings(self, batched, shared)
        return np.asarray(function(jnp.asarray(rows, jnp.float32)))

    def expvals(self, batched, shared):
        self.runner.calls.append(("values", batched.shape))
        return self.values(batched, shared)

    def derivatives(self, batched, shared, shifts):
        rows = jnp.asarray(host.bindings(self, batched, shared), jnp.float32)
        full = jnp.vectorize(jax.jacobian(function), signature="(p)->(o,p)")(rows)
        return np.asarray(full[..., list(host.differentiated(self, shifts))])

    def jacobian(self, batched, shared, shifts):
        self.runner.calls.append(("jacobian", batched.shape))
        return self.derivatives(batched, shared, shifts)

    def values_and_jacobian(self, batched, shared, shifts):
        self.runner.calls.append(("values and jacobian", batched.shape))
        return self.values(batched, shared), self.derivatives(batched, shared, shifts)


def loss_of(program, reference: bool, mixed: bool = True):
    """Loss over vmapped heads of (angles (H, N, 2), weights (H, 3)): P = 5 columns, the batched
    ones at 0, 2, 4 (of the angles; column 2 times a weight when ``mixed``), the shared ones at
    1, 3 (weights)."""

    def head(angles, weights):
        third = angles[:, 1] * weights[1] if mixed else angles[:, 1]
        params = [angles[:, 0], weights[0], third, weights[2], angles[:, 0]]
        if reference:
            rows = jnp.stack([jnp.broadcast_to(p, angles.shape[:1]) for p in params], -1)
            return function(rows)
        return host.run_program(program, params, angles.shape[0])

    return lambda angles, weights: (jax.vmap(head)(angles, weights) ** 2).sum()


@pytest.fixture
def inputs():
    key_a, key_w = jax.random.split(jax.random.key(0))
    return jax.random.normal(key_a, (3, 4, 2)), jax.random.normal(key_w, (3, 3))


@pytest.mark.parametrize("joint", [False, True], ids=["parameter-shift", "adjoint"])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_values_and_gradients_equal_autodiff_with_one_call_per_direction(inputs, joint, jit):
    runner = Runner()
    program = Program(runner, batched=(0, 2, 4), shared=(1, 3), joint=joint)
    grad = jax.value_and_grad(loss_of(program, False), argnums=(0, 1))
    reference = jax.value_and_grad(loss_of(program, True), argnums=(0, 1))
    got = (jax.jit(grad) if jit else grad)(*inputs)
    want = reference(*inputs)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    kinds = [kind for kind, _ in runner.calls]
    assert kinds == (["values and jacobian"] if joint else ["values", "jacobian"])
    assert all(shape[:2] == (3, 4) for _, shape in runner.calls)  # all heads in one call


@pytest.mark.parametrize("joint", [False, True], ids=["parameter-shift", "adjoint"])
def test_only_the_differentiated_columns_are_asked_for(inputs, joint):
    """Gradients to the weights only (an original head stops the angles' gradient): the
    program is asked for the shared columns' derivatives alone."""
    asked = []

    class Recording(Program):
        def derivatives(self, batched, shared, shifts):
            asked.append(host.differentiated(self, shifts))
            return super().derivatives(batched, shared, shifts)

    program = Recording(Runner(), batched=(0, 2, 4), shared=(1, 3), joint=joint)
    loss = loss_of(program, False, mixed=False)
    jax.grad(lambda w: loss(jax.lax.stop_gradient(inputs[0]), w))(inputs[1])
    assert asked == [(1, 3)]


def test_a_runner_failure_comes_back_as_its_own_error(inputs):
    runner = Runner(fail=True)
    program = Program(runner, batched=(0, 2, 4), shared=(1, 3), joint=False)
    loss = jax.jit(loss_of(program, False))
    with pytest.raises(QuantumExecutionError, match="^the stand-in device broke$"):
        with host.reraise_failures(runner):
            loss(*inputs).block_until_ready()
    assert runner.last_failure is None
