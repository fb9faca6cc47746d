"""qgpt-jax: do quantum circuits in a transformer's attention help, and what do they cost?

The names a user scripts against::

    import jax, qgpt_jax
    config = qgpt_jax.ModelConfig.from_preset("original", attention="enhance")
    params = qgpt_jax.init(config, jax.random.key(0))
    logits = qgpt_jax.forward(config, params, idx)        # (B, T, vocab), evaluation mode
    config, params, tokenizer = qgpt_jax.load_checkpoint("runs/compare-.../checkpoints/...")
"""

from qgpt_jax.checkpoint import load_checkpoint, save_checkpoint
from qgpt_jax.config import PRESETS, ModelConfig, TrainConfig
from qgpt_jax.data import CharTokenizer, load_dataset
from qgpt_jax.engine import train, train_seeds
from qgpt_jax.errors import QGPTError
from qgpt_jax.generate import generate
from qgpt_jax.model import count_params, forward, init

__all__ = [
    "PRESETS",
    "CharTokenizer",
    "ModelConfig",
    "QGPTError",
    "TrainConfig",
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
