"""One model lifecycle: locate -> load -> use, for every card in the registry.

``ModelLoader.get(name)`` returns the loaded model object of a card, built on first use, once
per loader (thread-safe: two requests that need the same model wait for one load). Each card
has a factory here; a factory gets the card, its file (located and, for prepared files,
checked against the card's sha256) and a session from the one session factory, chosen by the
card's runtime. Nothing is loaded at import or construction time; ``warm(names)`` loads a list
of cards and everything they depend on (the server does this before its first request).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .files import locate
from .registry import CARDS, ModelCard, needs

if TYPE_CHECKING:
    from ..settings import Settings
    from .runtime import LiteRtSession, OnnxSession

T = TypeVar("T")
Factory = Callable[["ModelLoader", ModelCard], object]


class ModelLoader:
    def __init__(self, model_dir: Path, *, threads: int, options: Mapping[str, Mapping[str, Any]] | None = None
                 ) -> None:
        """``options``: keyword arguments for a card's model object, by card name (e.g. the detector's
        ``max_side``), for what is a setting rather than part of the card."""
        self.model_dir = Path(model_dir)
        self.threads = max(1, threads)
        self.options: Mapping[str, Mapping[str, Any]] = dict(options or {})
        self._loaded: dict[str, object] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelLoader:
        return cls(Path(settings.model_dir), threads=settings.cpu_threads, options={
            "yunet": {"max_side": settings.detection_max_side,
                      "min_confidence": settings.detection_min_confidence},
        })

    # --- the lifecycle ------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        """The card's file; prepared files (made by us at install time) are checked by sha256."""
        card = CARDS[name]
        return locate(card, self.model_dir, verify=card.prepared_file is not None)

    @overload
    def get(self, name: str) -> object: ...
    @overload
    def get(self, name: str, kind: type[T]) -> T: ...

    def get(self, name: str, kind: type[Any] | None = None) -> Any:
        """The loaded model object of card ``name`` (of type ``kind`` when given), loaded on first use."""
        if name not in CARDS:
            raise KeyError(f"no model card {name!r}; the cards are {', '.join(CARDS)}")
        model = self._once(name, lambda: FACTORIES[name](self, CARDS[name]))
        if kind is not None and not isinstance(model, kind):
            raise TypeError(f"model {name} is a {type(model).__name__}, not a {kind.__name__}")
        return model

    def warm(self, names: Iterable[str]) -> tuple[str, ...]:
        """Load ``names`` and every card they depend on (dependencies first); returns them in that order."""
        order = needs(*names)
        for name in order:
            self.get(name)
        return order

    @property
    def loaded(self) -> tuple[str, ...]:
        """The cards loaded so far."""
        return tuple(name for name in CARDS if name in self._loaded)

    def session(self, card: ModelCard) -> OnnxSession | LiteRtSession:
        """The one session factory: the card's runtime, with the card's thread cap."""
        from .runtime import LiteRtSession, OnnxSession

        threads = min(self.threads, card.threads) if card.threads else self.threads
        if card.runtime == "onnxruntime":
            return OnnxSession(self.path(card.name), threads=threads)
        if card.runtime == "litert":
            return LiteRtSession(self.path(card.name), threads=threads)
        raise ValueError(f"model {card.name} runs on {card.runtime}, which has no session here")

    def _once(self, key: str, build: Callable[[], object]) -> object:
        try:
            return self._loaded[key]
        except KeyError:
            pass
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one load per key; other keys load in parallel
            if key not in self._loaded:
                self._loaded[key] = build()
        return self._loaded[key]


# --- a factory per card ---------------------------------------------------------------------
def _onnx(loader: ModelLoader, card: ModelCard) -> OnnxSession:
    from .runtime import OnnxSession

    session = loader.session(card)
    assert isinstance(session, OnnxSession)
    return session


def _yunet(loader: ModelLoader, card: ModelCard) -> object:
    from .detector import YuNetDetector

    return YuNetDetector(card, _onnx(loader, card), **loader.options.get(card.name, {}))


def _onet(loader: ModelLoader, card: ModelCard) -> object:
    from .runtime import LiteRtSession
    from .verifier import ONetVerifier

    session = loader.session(card)
    assert isinstance(session, LiteRtSession)
    return ONetVerifier(card, session)


def _shape_predictor(loader: ModelLoader, card: ModelCard) -> object:
    from .landmarks import ShapePredictor

    return ShapePredictor(loader.path(card.name))


def _face_mesh(loader: ModelLoader, card: ModelCard) -> object:
    from .mesh import FaceMesh

    return FaceMesh(card, _onnx(loader, card), **loader.options.get(card.name, {"passes": 2}))


def _iris(loader: ModelLoader, card: ModelCard) -> object:
    from .mesh import Iris

    return Iris(card, _onnx(loader, card))


def _dlib_resnet(loader: ModelLoader, card: ModelCard) -> object:
    from .embedders import DlibResNetEmbedder

    return DlibResNetEmbedder(card, loader.path(card.name))


def _dlib_resnet_onnx(loader: ModelLoader, card: ModelCard) -> object:
    from .embedders import DlibOnnxEmbedder

    return DlibOnnxEmbedder(card, _onnx(loader, card))


def _mobilefacenet(loader: ModelLoader, card: ModelCard) -> object:
    from .embedders import MobileFaceNetEmbedder

    return MobileFaceNetEmbedder(card, _onnx(loader, card), **loader.options.get(card.name, {"flip": True}))


def _centernet(loader: ModelLoader, card: ModelCard) -> object:
    from .centernet import CenterNet

    return CenterNet(card, _onnx(loader, card))


def _efficientnet(loader: ModelLoader, card: ModelCard) -> object:
    from .efficientnet import EfficientNet

    return EfficientNet(card, _onnx(loader, card))


def _ppocr(loader: ModelLoader, card: ModelCard) -> object:
    """The three PP-OCR cards run in one RapidOCR engine: each of their names gives that engine."""
    from .ppocr import PARTS, PPOcr

    return loader._once("rapidocr", lambda: PPOcr({kind: loader.path(name) for kind, name in PARTS.items()},
                                                  threads=loader.threads))


FACTORIES: dict[str, Factory] = {
    "yunet": _yunet,
    "mtcnn-onet": _onet,
    "dlib-shape5": _shape_predictor,
    "dlib-shape68": _shape_predictor,
    "mediapipe-face-mesh": _face_mesh,
    "mediapipe-iris": _iris,
    "dlib-resnet": _dlib_resnet,
    "dlib-resnet-onnx": _dlib_resnet_onnx,
    "mobilefacenet": _mobilefacenet,
    "faceplugin-mobilefacenet": _mobilefacenet,
    "ppocrv6-det": _ppocr,
    "ppocr-cls": _ppocr,
    "ppocrv6-rec": _ppocr,
    "centernet-coco": _centernet,
    "efficientnet-lite0": _efficientnet,
}
