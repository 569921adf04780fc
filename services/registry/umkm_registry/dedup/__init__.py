"""Registry dedup: duplicate candidates found by rule, reviewed and decided by a Dinas or the
ministry (merge or keep both), never merged automatically. See docs/dedup.md.

`detect_candidates(session, umkm_ids)` is the entry point for writers (registration, updates,
the bulk import).
"""

from .detection import detect_candidates
from .rules import CANDIDATE_THRESHOLD

__all__ = ["CANDIDATE_THRESHOLD", "detect_candidates"]
