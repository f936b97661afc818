"""First-token losses: the model's distribution over the options' first tokens vs the target.

The model side is the softmax over the option logits at the last prompt position (Cao et al.,
eq. 1: "applying the softmax function to normalize the indexed option logits"). An option with
several first-token ids (the hf backend's token variants, ``"A"`` and ``" A"``) gets the
log-sum-exp of their logits, which is exactly the backend's "sum the variants' probabilities,
then renormalise over the options". Rows of a batch may have different option counts: they are
padded with ``-inf`` logits and zero targets, and padding never contributes to a loss.

Per example (``t`` = target shares, ``p`` = model shares, natural log):

- ``kl``: KL(t || p) = sum t log(t / p) — the paper's loss;
- ``ce``: cross-entropy - sum t log p (= KL + H(t): the same gradient, a different offset);
- ``js``: JS(t, p) = KL(t || m) / 2 + KL(p || m) / 2 with m = (t + p) / 2;
- ``wasserstein``: ordinal W1 with unit spacing, sum_k |T_k - P_k| over the CDFs.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

LOSSES = ("kl", "ce", "js", "wasserstein")


def option_logits(last_logits: Any, option_ids: Sequence[Sequence[Sequence[int]]]) -> tuple[Any, Any]:
    """(logits ``(B, K)``, mask ``(B, K)``): per row, per option, log-sum-exp over its ids.

    ``last_logits`` is ``(B, V)``; ``option_ids[b][k]`` lists option k's first-token ids in
    row b. ``K`` is the largest option count; missing options are ``-inf`` and masked out.
    """
    import torch

    width = max(len(ids) for ids in option_ids)
    rows = []
    for row, ids_per_option in zip(last_logits, option_ids):
        values = [torch.logsumexp(row[list(ids)], dim=0) for ids in ids_per_option]
        pad = width - len(values)
        if pad:
            values.extend([row.new_tensor(float("-inf"))] * pad)
        rows.append(torch.stack(values))
    logits = torch.stack(rows)
    mask = torch.tensor([[k < len(ids) for k in range(width)] for ids in option_ids], device=logits.device)
    return logits, mask


def padded_targets(targets: Sequence[Sequence[float]], like: Any) -> Any:
    """``(B, K)`` float tensor of target shares, zero-padded, on ``like``'s device."""
    import torch

    width = max(len(t) for t in targets)
    data = [list(t) + [0.0] * (width - len(t)) for t in targets]
    return torch.tensor(data, dtype=torch.float32, device=like.device)


def _log_probs(logits: Any) -> Any:
    import torch

    return torch.log_softmax(logits.float(), dim=-1)


def kl_loss(logits: Any, target: Any, mask: Any) -> Any:
    import torch

    log_p = _log_probs(logits)
    keep = mask & (target > 0)
    terms = torch.where(keep, target * (torch.log(target.clamp_min(1e-38)) - log_p), torch.zeros_like(target))
    return terms.sum(-1)


def ce_loss(logits: Any, target: Any, mask: Any) -> Any:
    import torch

    log_p = _log_probs(logits)
    keep = mask & (target > 0)
    return -torch.where(keep, target * log_p, torch.zeros_like(target)).sum(-1)


def js_loss(logits: Any, target: Any, mask: Any) -> Any:
    import torch

    log_p = _log_probs(logits)
    p = torch.where(mask, log_p.exp(), torch.zeros_like(target))
    m = 0.5 * (p + target)
    log_m = torch.log(m.clamp_min(1e-38))
    zero = torch.zeros_like(target)
    kl_tm = torch.where(mask & (target > 0), target * (torch.log(target.clamp_min(1e-38)) - log_m), zero)
    kl_pm = torch.where(mask & (p > 0), p * (torch.where(mask, log_p, zero) - log_m), zero)
    return 0.5 * (kl_tm.sum(-1) + kl_pm.sum(-1))


def wasserstein_loss(logits: Any, target: Any, mask: Any) -> Any:
    import torch

    p = torch.where(mask, _log_probs(logits).exp(), torch.zeros_like(target))
    # Padding sits after the last option, where both CDFs are 1: it adds nothing.
    return (torch.cumsum(target, -1) - torch.cumsum(p, -1)).abs()[..., :-1].sum(-1)


_BY_NAME: dict[str, Callable[[Any, Any, Any], Any]] = {
    "kl": kl_loss, "ce": ce_loss, "js": js_loss, "wasserstein": wasserstein_loss,
}


def loss_function(name: str) -> Callable[[Any, Any, Any], Any]:
    """``(logits (B, K), target (B, K), mask (B, K)) -> per-example loss (B,)``."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown first-token loss {name!r}; known: {', '.join(LOSSES)}") from None


def option_probabilities(logits: Any, mask: Any) -> Any:
    """The model's option shares (rows sum to 1 over their real options, 0 on padding)."""
    import torch

    return torch.where(mask, _log_probs(logits).exp(), torch.zeros_like(logits, dtype=torch.float32))
