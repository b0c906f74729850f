"""Shared code shipped as a layer (Lambda puts the layer's python/ folder on sys.path)."""

import os


def greet(name: str) -> str:
    return f"hello, {name}, from {os.path.basename(os.path.dirname(os.path.dirname(__file__)))}"
