"""Pixels -> network input, as a card says: colour order, then (x - mean) / std."""

from __future__ import annotations

import numpy as np

from .registry import ModelCard


def in_colour(rgb: np.ndarray, card: ModelCard) -> np.ndarray:
    """An RGB image (or batch: channels last) in the card's channel order."""
    if card.colour == "RGB":
        return rgb
    if card.colour == "BGR":
        return rgb[..., ::-1]
    raise ValueError(f"model card {card.name} has an unknown colour order {card.colour!r}")


def normalise(x: np.ndarray, card: ModelCard) -> np.ndarray:
    """(x - mean) / std in float32 (a per-channel mean is in the card's colour order, channels last)."""
    out: np.ndarray = (x.astype(np.float32, copy=False) - np.asarray(card.mean, np.float32)) / np.float32(card.std)
    return out


def input_size(card: ModelCard) -> tuple[int, int]:
    """(width, height) the network takes."""
    if card.input_size is None:
        raise ValueError(f"model card {card.name} states no input size")
    return card.input_size
