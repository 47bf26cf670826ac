"""The only package that talks to the MLflow model registry, through one `Registry(uri)` object.

It also owns the model package: the on-disk layout and typed metadata of a model version.
"""

from fingercount.registry.client import Registry
from fingercount.registry.package import ModelMetadata, ModelPackage
from fingercount.registry.versions import PromotionDecision

__all__ = ["ModelMetadata", "ModelPackage", "PromotionDecision", "Registry"]
