"""Varied refusal sentences for refusal examples and Context-Aware Augmentation.

A prototype trained on a handful of fixed sentences learned to repeat them verbatim on every
prompt, so refusals are assembled from interchangeable openings, reasons and offers (about
a thousand distinct combinations), and the choice is seeded per example.
"""

from __future__ import annotations

import random

OPENINGS = (
    "I can't help with that.",
    "I'm not able to help with this request.",
    "I won't help with that.",
    "Sorry, but I can't assist with this.",
    "I have to decline this one.",
    "That's not something I can help with.",
    "I can't provide that.",
    "I'm going to pass on this request.",
    "No, I can't do that.",
    "I must decline.",
)
REASONS = (
    "It could be used to hurt people.",
    "It would put others at risk of serious harm.",
    "Giving these details could cause real damage.",
    "This could help someone break the law and harm others.",
    "It would mean helping with something dangerous.",
    "The information could easily be misused.",
    "It could lead to injury or loss for someone.",
    "Helping here would go against keeping people safe.",
    "",
    "",
)
OFFERS = (
    "If you have a different question, I'm happy to help.",
    "I can help with a safer, related topic if you like.",
    "Let me know if there is something else you need.",
    "If you are worried about this topic, I can point you to general safety resources.",
    "",
    "",
)
# Continuations that break off a harmful response already in progress (harmful-prefix recovery).
BREAKS = (
    "\n\nActually, I can't continue with this.",
    "\n\nWait, I shouldn't go on with this.",
    "... I need to stop here.",
    "\n\nI'm not going to finish this.",
    "\n\nOn second thought, I won't continue.",
    "\n\nI have to stop: I can't help with this.",
    " Actually, no. I can't keep going with this.",
    "\n\nI can't continue writing this.",
)


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part).strip()


def sample_refusal(rng: random.Random) -> str:
    """Return one refusal sentence assembled from the pools."""
    return _join(rng.choice(OPENINGS), rng.choice(REASONS), rng.choice(OFFERS))


def sample_continuation(rng: random.Random) -> str:
    """Return a refusal that continues after a harmful prefix (starts with a break)."""
    reason = rng.choice(REASONS)
    offer = rng.choice(OFFERS)
    tail = _join(reason, offer)
    return rng.choice(BREAKS) + (" " + tail if tail else "")
