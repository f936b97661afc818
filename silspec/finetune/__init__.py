"""First-token KL fine-tuning (Cao et al., NAACL 2025) of a local model with LoRA.

``examples`` turns a spec's ``finetune`` block into (prompt, option tokens, target shares)
examples, ``loss`` holds the first-token losses, ``train`` runs the LoRA training and saves
the adapter that a model's ``adapter = finetune.NAME`` loads. ``config`` is the light part
the checker needs (the config hash): it imports neither torch nor transformers.
"""

from silspec.finetune.config import adapter_dir, config_hash, finetune_config

__all__ = ["adapter_dir", "config_hash", "finetune_config"]
