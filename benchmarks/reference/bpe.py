"""Byte-level BPE's merge loop, as CLIP's tokenizer runs it, shared by the PyTorch references
(clip_reference.py, train_reference.py)."""
import math


def merge(parts, ranks):
    """Joins the adjacent pair of lowest rank (ranks: {(left, right): rank}) everywhere it occurs,
    again and again, until no adjacent pair has a rank."""
    parts = list(parts)
    while len(parts) > 1:
        rank, at = min((ranks.get((parts[k], parts[k + 1]), math.inf), k) for k in range(len(parts) - 1))
        if rank == math.inf:
            break
        left, right = parts[at], parts[at + 1]
        merged, k = [], 0
        while k < len(parts):
            if k + 1 < len(parts) and parts[k] == left and parts[k + 1] == right:
                merged.append(left + right)
                k += 2
            else:
                merged.append(parts[k])
                k += 1
        parts = merged
    return parts
