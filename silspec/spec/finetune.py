"""The canonical configuration of a ``finetune`` block and its hash.

The hash names a trained adapter: a model with ``adapter = finetune.NAME`` carries it in its
options and in its plan ``model_id`` (``<base>+lora:<NAME>:<hash[:12]>``), so request ids, and
therefore stored answers, change whenever anything that changes the trained weights changes.
It covers the base model's identity, the prompt and system templates (their text, not their
file location), the splits, the loss and every hyperparameter; it leaves out spans and absolute
paths, so moving the project keeps it.
"""

from __future__ import annotations

import os
from typing import Any

from silspec.spec.hashing import canonical_json, sha256_text
from silspec.spec.model import Finetune, Model, Template

# /2: the losses became the authors' forms (kl / n, hard-label ce, their js and "WA"); an adapter
# trained under /1 is another configuration and is retrained, never reused.
FORMAT = "silspec-finetune/2"
ADAPTER_FOLDER = "adapter"


def _template(template: Template | None) -> str | None:
    return None if template is None else template.source


def finetune_config(finetune: Finetune, base: Model, study_seed: int = 0) -> dict[str, Any]:
    """Plain JSON-able description of what training depends on."""
    return {
        "format": FORMAT,
        "name": finetune.name,
        "base": {
            "name": base.name,
            "backend": base.backend,
            "model_id": base.model_id,
            "path": base.path.path if base.path is not None else None,
            "weights_sha256": base.path.sha256 if base.path is not None else None,
            "package": base.package,
            "external": base.external.env_var if base.external is not None else None,
            "dtype": base.options.get("dtype"),
        },
        "prompt": _template(finetune.prompt),
        "system": _template(finetune.system),
        "option_labels": finetune.option_labels,
        "splits": {
            kind: None if split is None else {"countries": list(split.countries), "items": list(split.items)}
            for kind, split in (("train", finetune.train), ("valid", finetune.valid), ("test", finetune.test))
        },
        "loss": finetune.loss,
        "lora": {
            "rank": finetune.lora_rank,
            "alpha": finetune.lora_alpha,
            "dropout": finetune.lora_dropout,
            "targets": list(finetune.lora_targets),
        },
        "optimiser": finetune.optimiser,
        "learning_rate": finetune.learning_rate,
        "optimiser_options": dict(sorted(finetune.options.items())),
        "batch_size": finetune.batch_size,
        "epochs": finetune.epochs,
        "seed": finetune.seed if finetune.seed is not None else study_seed,
    }


def config_hash(finetune: Finetune, base: Model, study_seed: int = 0) -> str:
    """sha256 of the canonical JSON of ``finetune_config``."""
    return sha256_text(canonical_json(finetune_config(finetune, base, study_seed)))


def default_finetune_root(root: str, study: str) -> str:
    """``<spec root>/runs/<study>/finetune``: where ``silspec finetune`` writes by default."""
    return os.path.join(root, "runs", study, "finetune")


def default_pilot_root(root: str, study: str) -> str:
    """``<spec root>/runs/<study>/finetune-pilot``: where a pilot (``--limit-examples`` /
    ``--max-steps``) writes by default, so a pilot adapter is never taken for the real one
    (both share the finetune block's config hash, and so the adapter models' request ids)."""
    return os.path.join(root, "runs", study, "finetune-pilot")


def adapter_dir(root: str, study: str, name: str) -> str:
    """Where a trained adapter lives by default: ``<root>/runs/<study>/finetune/<name>/adapter``."""
    return os.path.join(default_finetune_root(root, study), name, ADAPTER_FOLDER)


def adapter_model_id(base_model_id: str, name: str, hash_: str) -> str:
    """The plan's model id of a base model with a trained adapter."""
    return f"{base_model_id}+lora:{name}:{hash_[:12]}"
