"""A tiny random causal LM saved to disk, for fast plumbing tests of local-model code paths.

A byte-level BPE trained on a few lines, wrapped in ``PreTrainedTokenizerFast`` with a ChatML
chat template, and a 2-layer GPT-2: ~0.1 s to build, well under 1 MB. Random weights give
near-uniform probabilities, so tests assert shapes, sums and plumbing, never behaviour.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CORPUS = [
    "You are a survey respondent. Answer with one number from 1-5.",
    "How much confidence do you have in banks? 1 = a great deal, 5 = none at all. Answer:",
    "Answer with a letter A-E. A B C D E. 1 2 3 4 5 6 7 8 9 10.",
    "I am a 45 year old woman with a college degree who works as a teacher.",
    "The capital of France is Paris. The answer is 3. The answer is A.",
]


def build_tiny_model(folder: Path, *, chat_template: bool = True, seed: int = 0, n_positions: int = 512) -> Path:
    """Train the tokenizer, build the model, ``save_pretrained`` both into ``folder``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        unk_token="<|endoftext|>",
    )
    if chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(config)
    # Sharper than the default init, so distributions are not flat (variants and batching
    # differences would hide in a flat distribution).
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, 0.3)  # tied with the input embeddings
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
