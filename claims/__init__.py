"""The catalogue: @claim tests only; they import the public API ``instincts``, ``fixtures`` and ``models``."""
