"""The names of the models built into renderer.

Torch-free and at the bottom of the package, so the script parser (renderer.plan) can recognise a
built-in name without importing the models that renderer.models.demo builds from it.
"""

from __future__ import annotations

BUILTIN_MODELS = ("demo", "demo-transfer", "demo-pastel", "demo-sg3", "demo-sg3-transfer")
