"""The one error type of fine-tuning: a message for the user, never a traceback."""


class FinetuneError(Exception):
    """Something in the spec, the data or the environment stops a fine-tuning run."""
