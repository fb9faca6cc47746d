"""What a run writes for a person to read: markdown renderers, figures, the facts they report.

- ``comparison``: ``results.md`` of ``python -m experiments.compare``, one renderer per section,
  and the one-line summary per model printed at the end of a run.
- ``bench``: the bench's line per entry and ``bench.md``.
- ``plots``: every figure (loss curves, loss against parameters, throughput, the bench and its
  sweeps, the study across sizes), written atomically.
- ``measures``: the facts a report records about where it ran and how two samples differ.

``results.json`` and ``bench.json`` themselves are built by ``qgpt_jax.compare`` and
``qgpt_jax.bench``; every file is written whole or not at all by ``qgpt_jax.storage``.
"""
