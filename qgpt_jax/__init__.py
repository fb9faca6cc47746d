"""qgpt-jax: do quantum circuits in a transformer's attention help, and what do they cost?

The names a user scripts against::

    import jax, qgpt_jax
    config = qgpt_jax.ModelConfig.from_preset("original", attention="enhance")
    params = qgpt_jax.init(config, jax.random.key(0))
    logits = qgpt_jax.forward(config, params, idx)        # (B, T, vocab), evaluation mode
    config, params, tokenizer = qgpt_jax.load_checkpoint("runs/compare-.../checkpoints/...")

Importing the package changes nothing outside it (warning filters, loggers, the environment,
JAX's lowering rules). ``qgpt_jax.configure_process()`` makes the process-wide changes the
command-line entry points make (XLA flags, JAX's unrolled threefry lowering on CPU, quieter
libraries; see ``qgpt_jax.runtime``); call it first, before any JAX computation, to train as fast
as they do.
"""

from qgpt_jax.checkpoint import load_checkpoint, save_checkpoint
from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.data import CharTokenizer, load_dataset
from qgpt_jax.engine import train, train_seeds
from qgpt_jax.errors import QGPTError
from qgpt_jax.generate import generate
from qgpt_jax.model import count_params, forward, init
from qgpt_jax.presets import PRESETS
from qgpt_jax.runtime import configure_process

__all__ = [
    "PRESETS",
    "CharTokenizer",
    "ModelConfig",
    "QGPTError",
    "TrainConfig",
    "configure_process",
    "count_params",
    "forward",
    "generate",
    "init",
    "load_checkpoint",
    "load_dataset",
    "save_checkpoint",
    "train",
    "train_seeds",
]
