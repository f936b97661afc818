"""First-token losses: the model's distribution over the options' first tokens vs the target.

The model side is the softmax over the option logits at the last prompt position (Cao et al.,
eq. 1: "applying the softmax function to normalize the indexed option logits"). An option with
several first-token ids (the hf backend's token variants, ``"A"`` and ``" A"``) gets the
log-sum-exp of their logits, which is exactly the backend's "sum the variants' probabilities,
then renormalise over the options". Rows of a batch may have different option counts: they are
padded with ``-inf`` logits and zero targets, and padding never contributes to a loss.

The four losses a spec names are the ones the authors ran (their released
``llama_recipes/utils/train_utils.py``; paper §4.2 and Table 7), per example, with ``z`` the
option logits, ``p = softmax(z)``, ``t`` the target shares, ``n`` the example's option count,
natural log:

- ``kl``: KL(t || p) / n — eq. 2, normalised as the authors' code does it
  (``F.kl_div(log_softmax(z), t, reduction="batchmean")`` on one example's ``n`` options
  divides the sum by ``n``);
- ``ce``: hard-label cross-entropy, - log p[argmax t] (the first largest share wins ties);
- ``js``: the authors' "JS": q = softmax(t) (a softmax *of the shares*), m = (p + q) / 2,
  (KL(m || p) + KL(m || q)) / (2 n);
- ``wasserstein``: the authors' "WA": sum_k |z_k - t_k|, an L1 distance between the *raw
  logits* and the shares (not an earth mover's distance).

``EXTRA_LOSSES`` are the textbook forms, nameable in a spec (``loss = soft_ce`` ...) under names
that do not borrow the paper's ablation ranking (Table 7 ranks the authors' forms, not these):

- ``kl_sum``: KL(t || p) summed over the options (eq. 2 as printed, without ``/ n``);
- ``soft_ce``: - sum t log p (soft-label cross-entropy; KL's gradient, offset by H(t));
- ``js_divergence``: JS(t, p) with m = (t + p) / 2, natural log, bounded by ln 2;
- ``ordinal_w1``: the earth mover's distance over the option order (unit spacing), sum |CDF_t - CDF_p|.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

LOSSES = ("kl", "ce", "js", "wasserstein")
EXTRA_LOSSES = ("kl_sum", "soft_ce", "js_divergence", "ordinal_w1")


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



def _zero(target: Any) -> Any:
    import torch

    return torch.zeros_like(target)


def _counts(mask: Any) -> Any:
    """Options per row, as float (the authors' ``batchmean`` divisor)."""
    return mask.float().sum(-1)


def _kl_terms(target: Any, log_p: Any, mask: Any) -> Any:
    import torch

    keep = mask & (target > 0)
    return torch.where(keep, target * (torch.log(target.clamp_min(1e-38)) - log_p), _zero(target)).sum(-1)


def kl_sum_loss(logits: Any, target: Any, mask: Any) -> Any:
    """KL(t || p), summed over the options (eq. 2 as printed)."""
    return _kl_terms(target, _log_probs(logits), mask)


def kl_loss(logits: Any, target: Any, mask: Any) -> Any:
    """KL(t || p) / n: the paper's loss as the authors normalised it."""
    return kl_sum_loss(logits, target, mask) / _counts(mask)


def ce_loss(logits: Any, target: Any, mask: Any) -> Any:
    """Hard-label cross-entropy on the option with the largest share (the authors' CE ablation)."""
    import torch

    label = torch.where(mask, target, torch.full_like(target, -1.0)).argmax(-1, keepdim=True)
    return -_log_probs(logits).gather(-1, label).squeeze(-1)


def soft_ce_loss(logits: Any, target: Any, mask: Any) -> Any:
    """- sum t log p (= KL + H(t): KL's gradient, offset by the target's entropy)."""
    import torch

    keep = mask & (target > 0)
    return -torch.where(keep, target * _log_probs(logits), _zero(target)).sum(-1)


def _masked_log_softmax(values: Any, mask: Any) -> Any:
    import torch

    return _log_probs(torch.where(mask, values.float(), torch.full_like(values.float(), float("-inf"))))


def js_loss(logits: Any, target: Any, mask: Any) -> Any:
    """The authors' JS ablation: q = softmax(t), m = (p + q) / 2, (KL(m||p) + KL(m||q)) / (2 n)."""
    import torch

    log_p = _masked_log_softmax(logits, mask)
    log_q = _masked_log_softmax(target, mask)
    m = torch.where(mask, 0.5 * (log_p.exp() + log_q.exp()), _zero(target))
    log_m = torch.log(m.clamp_min(1e-38))
    zero = _zero(target)
    kl_mp = torch.where(mask & (m > 0), m * (log_m - torch.where(mask, log_p, zero)), zero).sum(-1)
    kl_mq = torch.where(mask & (m > 0), m * (log_m - torch.where(mask, log_q, zero)), zero).sum(-1)
    return 0.5 * (kl_mp + kl_mq) / _counts(mask)


def js_divergence_loss(logits: Any, target: Any, mask: Any) -> Any:
    """JS(t, p) = KL(t || m) / 2 + KL(p || m) / 2 with m = (t + p) / 2 (bounded by ln 2)."""
    import torch

    log_p = _log_probs(logits)
    p = torch.where(mask, log_p.exp(), _zero(target))
    m = 0.5 * (p + target)
    log_m = torch.log(m.clamp_min(1e-38))
    zero = _zero(target)
    kl_tm = torch.where(mask & (target > 0), target * (torch.log(target.clamp_min(1e-38)) - log_m), zero)
    kl_pm = torch.where(mask & (p > 0), p * (torch.where(mask, log_p, zero) - log_m), zero)
    return 0.5 * (kl_tm.sum(-1) + kl_pm.sum(-1))


def wasserstein_loss(logits: Any, target: Any, mask: Any) -> Any:
    """The authors' "WA" ablation: the L1 norm of raw option logits minus target shares."""
    import torch

    return torch.where(mask, (logits.float() - target).abs(), _zero(target)).sum(-1)


def ordinal_w1_loss(logits: Any, target: Any, mask: Any) -> Any:
    """Ordinal W1 (unit spacing): sum_k |T_k - P_k| over the CDFs."""
    import torch

    p = torch.where(mask, _log_probs(logits).exp(), _zero(target))
    # Padding sits after the last option, where both CDFs are 1: it adds nothing.
    return (torch.cumsum(target, -1) - torch.cumsum(p, -1)).abs()[..., :-1].sum(-1)


_BY_NAME: dict[str, Callable[[Any, Any, Any], Any]] = {
    "kl": kl_loss, "ce": ce_loss, "js": js_loss, "wasserstein": wasserstein_loss,
    "kl_sum": kl_sum_loss, "soft_ce": soft_ce_loss, "js_divergence": js_divergence_loss,
    "ordinal_w1": ordinal_w1_loss,
}


def loss_function(name: str) -> Callable[[Any, Any, Any], Any]:
    """``(logits (B, K), target (B, K), mask (B, K)) -> per-example loss (B,)``."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown first-token loss {name!r}; known: {', '.join(LOSSES + EXTRA_LOSSES)}") from None


def option_probabilities(logits: Any, mask: Any) -> Any:
    """The model's option shares (rows sum to 1 over their real options, 0 on padding)."""
    import torch

    return torch.where(mask, _log_probs(logits).exp(), torch.zeros_like(logits, dtype=torch.float32))
