"""The only module that talks to the MLflow model registry: register, promote, resolve, list."""

from fingercount.registry.versions import (
    PromotionDecision,
    describe_version,
    list_models,
    promote,
    register_version,
    resolve_model_uri,
)

__all__ = [
    "PromotionDecision",
    "describe_version",
    "list_models",
    "promote",
    "register_version",
    "resolve_model_uri",
]
