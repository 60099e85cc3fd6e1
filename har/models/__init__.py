"""Model zoo. Importing this package registers every architecture."""

from har.models import cnn3d, crnn, resnet_crnn, timedistributed, tsn, video  # noqa: F401  (registration)
from har.models.registry import (ModelEntry, check_model_params, count_parameters, create_model,
                                 get_entry, list_models, options, pretrained_weights,
                                 register_model)

__all__ = ["ModelEntry", "check_model_params", "count_parameters", "create_model", "get_entry", "list_models",
           "options", "pretrained_weights", "register_model"]
