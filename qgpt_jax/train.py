"""The pure programs of training: optimizer, train step, fused steps, loss estimates.

Nothing here touches the host: no progress bars, clocks, files or device counters (those live in
``qgpt_jax.engine``). Every program takes the run's integer seed and derives its keys inside, so a
run's randomness is a function of (seed, step) alone: one root key per seed, split by purpose
(init, data, dropout, eval, sample); per-step keys are ``fold_in(purpose_key, step)``. Two models
trained with the same seed see the same batches in the same order, and a seed trained next to
others (a leading seed axis, ``jax.vmap``) sees exactly what it would see alone.

``build_programs`` jits the programs once per (model config, train config, number of seeds, mesh):
the seeds of a model are one compiled program, and the batch may be sharded over a device mesh.
Under the seed axis, threefry's CPU lowering matters for speed (not values): the entry points
switch it to unrolled rounds in ``qgpt_jax.runtime.configure_process``; importing this changes
nothing.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from flax import struct, traverse_util
from flax.training.train_state import TrainState
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from qgpt_jax.attention import KINDS, AttentionKind, kind_of
from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.data import get_batch
from qgpt_jax.model import GPT, QUANTUM_HEADS, init

SEED_AXIS, DATA_AXIS = "seed", "data"


@struct.dataclass
class RunKeys:
    """The run's root key split once by purpose."""

    init: jax.Array
    data: jax.Array
    dropout: jax.Array
    eval: jax.Array
    sample: jax.Array

    @classmethod
    def from_seed(cls, seed) -> RunKeys:
        """Keys of the run with integer ``seed`` (a Python int or a traced int32 scalar)."""
        # Threefry throughout: its split and fold_in give the same keys under jax.vmap as
        # without, so a seed trained next to others sees exactly its own dropout masks. (The
        # cheaper unsafe_rbg keys do not: Flax splits a key per vmapped head, and an unsafe_rbg
        # split under vmap differs from the same split alone.)
        return cls(*jax.random.split(jax.random.key(seed), 5))


def param_labels(params, kind: AttentionKind):
    """'quantum' for the parameters of ``kind``'s heads that feed a circuit, else 'classical'.

    A parameter is quantum when it lies in a layer's quantum heads under a name the kind lists in
    ``quantum_params``: a parameter itself or a whole submodule such as an adapter's ``Linear``
    (so a surrogate's stand-ins too). The same name elsewhere, or in another kind, is classical."""

    def label(path: tuple[str, ...]) -> str:
        if QUANTUM_HEADS not in path:
            return "classical"
        under_head = path[path.index(QUANTUM_HEADS) + 1 :]
        return "quantum" if set(under_head) & set(kind.quantum_params) else "classical"

    flat = traverse_util.flatten_dict(params)
    return traverse_util.unflatten_dict({path: label(path) for path in flat})


def learning_rate_schedule(tc: TrainConfig, peak: float):
    """Linear warmup to ``peak`` over ``warmup_iters`` steps, then constant or cosine decay to
    ``min_learning_rate`` (scaled with ``peak``) at ``max_iters``; a plain float when neither is
    asked for, as the original."""
    if tc.warmup_iters == 0 and tc.lr_schedule == "constant":
        return peak
    end = tc.min_learning_rate * peak / tc.learning_rate
    if tc.lr_schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(
            0.0, peak, tc.warmup_iters, max(tc.max_iters, tc.warmup_iters + 1), end
        )
    return optax.join_schedules(
        [optax.linear_schedule(0.0, peak, tc.warmup_iters), optax.constant_schedule(peak)],
        [tc.warmup_iters],
    )


DECAYED_LEAVES = frozenset({"kernel", "embedding"})
"""Leaf names ``weight_decay_on="matrices"`` decays: Flax's matmul kernels and embeddings."""


def decayed(params):
    """nanoGPT's weight-decay rule as an optax mask: True for matmul kernels and embeddings,
    False for biases, layer-norm scales and circuit angles. By name, not by rank: under the
    heads' ``nn.vmap`` a bias has two axes."""

    def leaf_decays(path, _):
        return getattr(path[-1], "key", None) in DECAYED_LEAVES

    return jax.tree_util.tree_map_with_path(leaf_decays, params)


def make_optimizer(
    tc: TrainConfig, kind: AttentionKind | None = None
) -> optax.GradientTransformation:
    """AdamW with PyTorch's defaults, from named pieces: optional global-norm clipping, the
    learning-rate schedule, decay of every parameter or of the matrices only, and their own
    learning rate for ``kind``'s quantum parameters if asked."""
    mask = decayed if tc.weight_decay_on == "matrices" else None

    def adamw(learning_rate):
        return optax.adamw(
            learning_rate_schedule(tc, learning_rate),
            b1=tc.beta1,
            b2=tc.beta2,
            eps=tc.eps,
            weight_decay=tc.weight_decay,
            mask=mask,
        )

    if tc.quantum_learning_rate is not None:
        optimizer = optax.partition(
            {"classical": adamw(tc.learning_rate), "quantum": adamw(tc.quantum_learning_rate)},
            functools.partial(param_labels, kind=kind or KINDS["classical"]),
        )
    elif mask is None:
        # One flat parameter vector: a few fused update kernels instead of a few per leaf.
        optimizer = optax.flatten(adamw(tc.learning_rate))
    else:
        # optax.adamw's own pieces: the moments on the flat vector, the decay leaf by leaf (a
        # mask needs the leaves).
        optimizer = optax.chain(
            optax.flatten(optax.scale_by_adam(b1=tc.beta1, b2=tc.beta2, eps=tc.eps)),
            optax.add_decayed_weights(tc.weight_decay, mask),
            optax.scale_by_learning_rate(learning_rate_schedule(tc, tc.learning_rate)),
        )
    if tc.grad_clip is None:
        return optimizer
    return optax.chain(optax.clip_by_global_norm(tc.grad_clip), optimizer)


def init_state(mc: ModelConfig, tc: TrainConfig, seed) -> TrainState:
    """Fresh parameters and optimizer state of the run with ``seed``. Pure; jit it."""
    params = init(mc, RunKeys.from_seed(seed).init)
    return TrainState.create(
        apply_fn=GPT(mc).apply, params=params, tx=make_optimizer(tc, kind_of(mc))
    )


def create_state(mc: ModelConfig, tc: TrainConfig, seed: int = 0) -> TrainState:
    """``init_state`` for one seed, jitted so that XLA drops the forward pass Flax traces (no
    circuit runs just to create parameters)."""
    return jax.jit(init_state, static_argnums=(0, 1))(mc, tc, seed)


def cross_entropy(logits, targets):
    return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()


def train_step(state: TrainState, batch, key: jax.Array):
    """One AdamW step on ``batch = (x, y)`` with dropout driven by ``key``. Pure."""
    x, y = batch

    def loss_fn(params):
        logits = state.apply_fn({"params": params}, x, deterministic=False, rngs={"dropout": key})
        with jax.named_scope("loss"):
            return cross_entropy(logits, y)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    with jax.named_scope("optimizer"):
        state = state.apply_gradients(grads=grads)
    return state, {"loss": loss}


def train_chunk(
    state: TrainState,
    tokens,
    n_train,
    seed,
    n_steps,
    *,
    batch_size: int,
    block_size: int,
    max_steps: int,
    batch_sharding=None,
):
    """``n_steps`` (traced, at most ``max_steps``) train steps in one ``lax.fori_loop``.

    The trip count is an argument, not a shape, so one compiled program runs chunks of any length
    up to ``max_steps``: a run of 999 steps, or one whose evaluations and checkpoints fall off the
    chunk grid, needs no second compilation. Batches are drawn on the device from
    ``fold_in(data_key, step)``. Returns the new state and the losses, ``(max_steps,)`` with NaN
    past ``n_steps``.
    """
    keys = RunKeys.from_seed(seed)

    def body(i, carry):
        state, losses = carry
        step = state.step
        with jax.named_scope("batch"):
            x, y = get_batch(
                tokens, jax.random.fold_in(keys.data, step), batch_size, block_size, 0, n_train
            )
        if batch_sharding is not None:
            x = jax.lax.with_sharding_constraint(x, batch_sharding)
            y = jax.lax.with_sharding_constraint(y, batch_sharding)
        state, metrics = train_step(state, (x, y), jax.random.fold_in(keys.dropout, step))
        return state, losses.at[i].set(metrics["loss"])

    losses = jnp.full((max_steps,), jnp.nan, dtype=jnp.float32)
    return jax.lax.fori_loop(0, n_steps, body, (state, losses))


def final_window_count(split_tokens: int, block_size: int, final_tokens: int) -> int:
    """Windows of the final estimate in a split of ``split_tokens``: every non-overlapping
    window of ``block_size``, or an evenly spaced ``final_tokens``' worth of them if fewer."""
    return min((split_tokens - 1) // block_size, -(-final_tokens // block_size))


def final_sweeps(tc: TrainConfig, block_size: int, split_tokens: tuple[int, int]) -> int:
    """Calls of the loss program the final estimate makes on splits of ``split_tokens`` (each
    call evaluates ``eval_iters * batch_size`` windows of both splits; 0 without an estimate)."""
    if not tc.final_eval_tokens:
        return 0
    windows = max(final_window_count(n, block_size, tc.final_eval_tokens) for n in split_tokens)
    return -(-windows // (tc.eval_iters * tc.batch_size))


def window_starts(key, start, stop, sweep, *, eval_iters, batch_size, block_size, final_tokens):
    """Where the loss windows of ``tokens[start:stop]`` start, (eval_iters, B), and their weights
    (1, or 0 past the end of a sweep). ``sweep < 0``: random windows drawn from ``key`` (the
    in-training estimate); ``sweep = k``: the k-th (eval_iters * B) windows of the final estimate,
    ``final_window_count`` non-overlapping windows spread evenly over the split."""
    shape = (eval_iters, batch_size)

    def drawn(_):
        draw = jax.vmap(lambda k: jax.random.randint(k, (batch_size,), start, stop - block_size))
        return draw(jax.random.split(key, eval_iters)), jnp.ones(shape, jnp.float32)

    def swept(_):
        n_windows = (stop - start - 1) // block_size
        count = jnp.minimum(n_windows, -(-final_tokens // block_size))
        index = sweep * eval_iters * batch_size + jnp.arange(eval_iters * batch_size)
        index = index.reshape(shape)
        valid = index < count
        stride = n_windows // count
        return start + block_size * stride * jnp.where(valid, index, 0), valid.astype(jnp.float32)

    return jax.lax.cond(sweep < 0, drawn, swept, None)


def estimate_loss(state: TrainState, tokens, starts, weights, block_size, batch_sharding=None):
    """Evaluation-mode loss of the windows at ``starts`` (eval_iters, B): their weighted mean and
    total weight, (2,)."""
    offsets = jnp.arange(block_size)

    def one(batch):
        rows, weight = batch
        x = tokens[rows[:, None] + offsets]  # (B, T)
        y = tokens[rows[:, None] + offsets + 1]  # (B, T)
        if batch_sharding is not None:
            x = jax.lax.with_sharding_constraint(x, batch_sharding)
            y = jax.lax.with_sharding_constraint(y, batch_sharding)
        logits = state.apply_fn({"params": state.params}, x, deterministic=True)
        per_window = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(-1)  # (B,)
        return (per_window * weight).sum()

    total = jax.lax.map(one, (starts, weights)).sum()
    count = weights.sum()
    return jnp.stack([total / jnp.maximum(count, 1.0), count])


def estimate_losses(
    state,
    tokens,
    n_train,
    seed,
    step,
    sweep,
    *,
    eval_iters,
    batch_size,
    block_size,
    final_tokens,
    batch_sharding=None,
):
    """(train, validation) x (mean loss, windows counted), (2, 2): at ``step`` on random batches
    from ``fold_in(eval_key, step)`` when ``sweep < 0``, else part ``sweep`` of the final
    estimate (see ``window_starts``). One program serves both, so the final estimate adds no
    compilation."""
    key = jax.random.fold_in(RunKeys.from_seed(seed).eval, step)
    splits = ((0, n_train), (n_train, tokens.shape[0]))
    where = functools.partial(
        window_starts,
        eval_iters=eval_iters,
        batch_size=batch_size,
        block_size=block_size,
        final_tokens=final_tokens,
    )
    return jnp.stack(
        [
            estimate_loss(
                state, tokens, *where(split_key, start, stop, sweep), block_size, batch_sharding
            )
            for (start, stop), split_key in zip(splits, jax.random.split(key), strict=True)
        ]
    )  # (2, 2)


@dataclasses.dataclass(frozen=True)
class Programs:
    """The jitted programs of one (model config, train config, seed count, mesh).

    Every program maps over a leading seed axis: ``init(seeds (S,)) -> state``,
    ``train_chunk(state, tokens, n_train, seeds, n_steps) -> (state, losses (S, max_steps))``,
    ``evaluate(state, tokens, n_train, seeds, step, sweep) -> (S, 2, 2)`` (see
    ``estimate_losses``).
    """

    init: object
    train_chunk: object
    evaluate: object
    seed_sharding: object
    """Where arrays with a leading seed axis live on the mesh."""
    replicated: object
    max_steps: int


@functools.cache
def build_programs(mc: ModelConfig, tc: TrainConfig, n_seeds: int, mesh=None) -> Programs:
    """Jit the programs once; jax caches their compilations (and the persistent cache, if on,
    keeps them across processes)."""
    seeds_spmd = mesh is not None and SEED_AXIS in mesh.axis_names
    data_spmd = mesh is not None and DATA_AXIS in mesh.axis_names
    batch_sharding = NamedSharding(mesh, P(DATA_AXIS, None)) if data_spmd else None
    vmap = functools.partial(jax.vmap, spmd_axis_name=SEED_AXIS if seeds_spmd else None)
    max_steps = min(tc.steps_per_call, max(tc.max_iters, 1))
    chunk = functools.partial(
        train_chunk,
        batch_size=tc.batch_size,
        block_size=mc.block_size,
        max_steps=max_steps,
        batch_sharding=batch_sharding,
    )
    evaluate = functools.partial(
        estimate_losses,
        eval_iters=tc.eval_iters,
        batch_size=tc.batch_size,
        block_size=mc.block_size,
        final_tokens=max(tc.final_eval_tokens, 1),
        batch_sharding=batch_sharding,
    )
    init = vmap(functools.partial(init_state, mc, tc))
    chunk = vmap(chunk, in_axes=(0, None, None, 0, None))
    evaluate = vmap(evaluate, in_axes=(0, None, None, 0, None, None))
    if mesh is None:
        return Programs(
            init=jax.jit(init),
            train_chunk=jax.jit(chunk, donate_argnums=0),
            evaluate=jax.jit(evaluate),
            seed_sharding=None,
            replicated=None,
            max_steps=max_steps,
        )
    replicated = NamedSharding(mesh, P())
    per_seed = NamedSharding(mesh, P(SEED_AXIS)) if seeds_spmd else replicated
    state_sharding = per_seed  # every leaf of the state has the leading seed axis
    return Programs(
        init=jax.jit(init, in_shardings=per_seed, out_shardings=state_sharding),
        train_chunk=jax.jit(
            chunk,
            in_shardings=(state_sharding, replicated, replicated, per_seed, replicated),
            out_shardings=(state_sharding, replicated),
            donate_argnums=0,
        ),
        evaluate=jax.jit(
            evaluate,
            in_shardings=(state_sharding, replicated, replicated, per_seed, replicated, replicated),
            out_shardings=replicated,
        ),
        seed_sharding=per_seed,
        replicated=replicated,
        max_steps=max_steps,
    )
