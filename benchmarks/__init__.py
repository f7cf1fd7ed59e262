"""Performance measurements, runnable by anyone: ``python -m benchmarks --help``.

``training``   vectorised seeds (bmm, vmap) against a loop of per-seed models, per model and K
``sequential`` seeds saved by sequential looks against a fixed n (provided by the sequential-looks work)
``suite``      the smoke claim suite serially against ``-n auto``, with identical verdicts required
"""
