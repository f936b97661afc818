"""First-token KL fine-tuning (Cao et al., NAACL 2025) of a local model with LoRA.

``examples`` turns a spec's ``finetune`` block into (prompt, option tokens, target shares)
examples, ``loss`` holds the first-token losses, ``train`` runs the LoRA training and saves
the adapter that a model's ``adapter = finetune.NAME`` loads. The light part the checker
and the plan need (the config hash, adapter folders) is ``silspec.spec.finetune``.
"""

from silspec.spec.finetune import adapter_dir, config_hash, finetune_config

__all__ = ["adapter_dir", "config_hash", "finetune_config"]
