"""Seed-compatible entry point: `python main.py train --evaluate` runs the same CLI."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from fingercount.cli import run

if __name__ == "__main__":
    run()
