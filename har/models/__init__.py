"""Model zoo. Each family registers its models when imported, and the registry imports a
family only when one of its models is asked for (registry.MODEL_MODULES)."""

from har.models.registry import (ModelEntry, check_model_params, count_parameters, create_model,
                                 get_entry, list_models, options, pretrained_weights,
                                 register_model)

__all__ = ["ModelEntry", "check_model_params", "count_parameters", "create_model", "get_entry", "list_models",
           "options", "pretrained_weights", "register_model"]
