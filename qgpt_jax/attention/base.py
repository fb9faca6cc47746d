"""What an attention kind is, and the helpers its head uses to run circuits.

A kind is one ``AttentionKind`` value in its own module of this package: its head, its circuit,
how many circuits a forward pass runs, which parameters are quantum, whether it is causal, which
configurations can run it (``validate``). The rest of the project (configuration checks, model,
optimizer, circuit counts, resource report, evaluation, CLI help) asks the registry in
``qgpt_jax.attention`` and nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import flax.linen as nn
import jax

from qgpt_jax.errors import ConfigError
from qgpt_jax.quantum.circuits import Circuit, n_circuit_weights
from qgpt_jax.quantum.devices import DEVICES, executor_for, validate_device
from qgpt_jax.quantum.surrogate import surrogate

SURROGATE_SUFFIX = "-surrogate"


@dataclass(frozen=True)
class AttentionKind:
    name: str
    head: type[nn.Module]
    """A Flax module ``head(config)(x (B, T, C), deterministic) -> (B, T, head_size)``."""
    help: str
    """One line for ``--help`` and the report."""
    circuit: Circuit | None = None
    """The circuit a QPU would run for this kind (the one the resource report transpiles)."""
    circuits_per_head: Callable | None = None
    """``(config, batch, length) -> int``: circuit executions of one head's forward pass on
    ``config``'s device (a surrogate runs the same count through its classical function)."""
    quantum_params: tuple[str, ...] = ()
    """Names, under the head, of the parameters or submodules (an adapter's ``Linear``) that feed
    the circuits: the optimizer may give them their own learning rate."""
    input_gradients: bool = True
    """Whether gradients reach the circuit's input angles (else only its weights are shifted)."""
    causal: bool = True
    switch_off: Callable | None = None
    """``params -> params`` with the circuit's contribution switched off, where a kind has such a
    switch (``None``: it has none)."""
    surrogate_of: str | None = None
    """For a classical surrogate, the quantum kind it stands in for."""
    same_surrogate_params: bool = True
    """Whether the surrogate has the very parameters of the quantum head (product-state stand-ins
    do); ``False`` where it is a differently parametrised classical model (orthogonal's
    unconstrained matrices)."""
    needs_states: bool = False
    """Whether the head reads state vectors on every device (no overlap or expectation-value
    form exists), so only devices returning differentiable states can run it."""
    hardware: Callable | None = None
    """``(config, batch, length) -> dict`` for a kind whose QPU circuit is not the one it
    simulates (Quixer's post-selected LCU): that circuit's ``circuit``, ``width``, ``depth``,
    ``two_qubit_gates`` and ``parameters`` (transpiled as ``quantum.resources`` does), the
    ``circuits_per_head`` of one forward pass, the ``shifted`` angles of its parameter-shift
    gradient and a ``note`` for the report. ``None``: the QPU runs ``circuit``."""
    post_selection: str | None = None
    """For a kind whose QPU circuit post-selects: the name of the Flax ``intermediates`` entry
    where its head sows, per position, the probability that a shot is kept."""

    @property
    def runs_circuits(self) -> bool:
        """Whether the model runs circuits (a surrogate has the shape but runs none)."""
        return self.circuit is not None and self.surrogate_of is None

    def validate(self, config) -> None:
        """Raise a one-line ``ConfigError`` unless ``config`` (a ``ModelConfig`` of this kind) can
        run: its device, shots and noise (``quantum.devices.validate_device``; a classical model
        too, so that a device setting is never silently ignored), and for a kind that reads state
        vectors, a device that returns them (its surrogate runs anywhere)."""
        validate_device(config)
        if self.needs_states and self.surrogate_of is None and not DEVICES[config.device].states:
            state_devices = ", ".join(n for n, s in DEVICES.items() if s.states)
            raise ConfigError(
                f"attention {self.name!r} reads state vectors, which device {config.device!r} "
                f"does not return; use --device {state_devices}"
            )

    def surrogate(self) -> AttentionKind:
        """The same head with every circuit replaced by its classical surrogate."""
        return dataclasses.replace(
            self,
            name=self.name + SURROGATE_SUFFIX,
            help=f"control for {self.name}: the same head, each circuit replaced by a classical "
            "product-state function with the same inputs, outputs and weights",
            surrogate_of=self.name,
        )


def is_surrogate(config) -> bool:
    return config.attention.endswith(SURROGATE_SUFFIX)


def run_circuit(config, circuit: Circuit, angles, weights):
    """``circuit`` on ``angles`` (N, inputs) with ``weights``, on ``config``'s device, or through
    its classical surrogate for a surrogate kind: (N,) or (N, outputs)."""
    with jax.named_scope("circuit"):  # the profile's circuit time (a surrogate's stand-in too)
        if is_surrogate(config):
            return surrogate(circuit, angles, weights, config.n_qubits)
        return executor_for(config, circuit)(angles, weights)


def returns_states(config) -> bool:
    """Whether heads may read state vectors (differentiable simulators and surrogates)."""
    return is_surrogate(config) or DEVICES[config.device].states


def circuit_weights_param(module: nn.Module, n_qubits: int, name="circuit_weights", sets=()):
    """Ansatz angles initialised as the original's (0.1 * standard normal): shape
    ``(*sets, 3 n_qubits)``."""
    init = nn.initializers.normal(stddev=0.1)
    return module.param(name, init, (*sets, n_circuit_weights(n_qubits)))
