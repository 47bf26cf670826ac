"""Preprocessing steps over BGR frames, shared by data preparation and serving."""

from fingercount.preprocessing.base import STEPS, Pipeline, Step, build_pipeline

__all__ = ["STEPS", "Pipeline", "Step", "build_pipeline"]
