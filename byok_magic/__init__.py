"""byok_magic: bring your own LLM key to Jupyter.

``%load_ext byok_magic`` registers ``%%byok`` and ``%byok``. Loading imports none of httpx,
keyring or ipywidgets; they load on first use.

Python API::

    import byok_magic as byok
    byok.ask("What is 2+2?", target="openai:gpt-4.1-mini")
    for event in byok.stream("Tell me a story", target="ollama:llama3.2"):
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import ByokError
    from .events import Event, ModelInfo

__version__ = "0.1.0"
__all__ = [
    "ask",
    "ask_many",
    "list_models",
    "load_ipython_extension",
    "set_model_lister",
    "set_token_provider",
    "stream",
    "unload_ipython_extension",
]

_magics: Any = None


def load_ipython_extension(ipython: Any) -> None:
    """Called by ``%load_ext byok_magic``."""
    global _magics
    from .magics import ByokMagics

    _magics = ByokMagics(ipython)
    ipython.register_magics(_magics)
    _warm_up_after_first_cell(ipython)


def _warm_up_after_first_cell(ipython: Any) -> None:
    """Once the cell that loaded us has finished, resolve the keyring and build the HTTP client
    in a background thread, so the first ``%%byok`` does not pay ~100 ms for them and
    ``%load_ext`` itself stays cheap."""

    def warm() -> None:
        try:
            from .profile import Profile
            from .router import router

            r = router()
            r.store.status()
            r.transport.client(Profile(name="warm-up", type="openai"))
        except Exception:  # a warm-up must never disturb the notebook
            pass

    def once(*_: Any) -> None:
        import contextlib
        import threading

        with contextlib.suppress(ValueError):
            ipython.events.unregister("post_run_cell", once)
        threading.Thread(target=warm, daemon=True, name="byok-warm-up").start()

    ipython.events.register("post_run_cell", once)


def unload_ipython_extension(ipython: Any) -> None:
    """Called by ``%unload_ext byok_magic``: the magics go away, nothing else is left behind."""
    global _magics
    mm = ipython.magics_manager
    for cb in list(ipython.events.callbacks.get("post_run_cell", [])):
        if getattr(cb, "__qualname__", "").startswith("_warm_up_after_first_cell"):
            ipython.events.unregister("post_run_cell", cb)
    for kind in ("line", "cell"):
        mm.magics[kind].pop("byok", None)
    if _magics is not None:
        mm.registry.pop(type(_magics).__name__, None)
    _magics = None


def stream(prompt: str, target: str | None = None, **params: Any) -> Iterator[Event]:
    """Stream the answer's events (TextDelta, ReasoningDelta, Usage, Finish)."""
    from .router import router

    r = router()
    profile, req = r.request(prompt, target, **params)
    return r.stream(profile, req)


def ask(prompt: str, target: str | None = None, **params: Any) -> str:
    """The whole answer text. ``params``: system, temperature, max_tokens, reasoning_effort."""
    from .router import router

    return router().ask(prompt, target, **params)


def ask_many(
    prompts: Iterable[str],
    target: str | None = None,
    *,
    concurrency: int = 4,
    progress: bool = True,
    **params: Any,
) -> list[str | ByokError]:
    """Answers in the order of ``prompts``, at most ``concurrency`` requests in flight.

    A failed item holds its :class:`~byok_magic.errors.ByokError` instead of a string, so
    one failure never loses the rest of the batch. A progress bar shows in notebooks and
    terminals (``progress=False`` turns it off).
    """
    from .batch import ask_many as _ask_many
    from .router import router

    return _ask_many(
        router(), prompts, target, concurrency=concurrency, progress=progress, **params
    )


def list_models(profile: str, refresh: bool = False) -> list[ModelInfo]:
    """The models a profile offers, with what is known of their capabilities."""
    from .router import router

    return router().list_models(profile, refresh=refresh)


def set_model_lister(profile: str, lister: Callable[[], list[Any]] | None) -> None:
    """Replace model discovery for a profile with your own callable (None restores it)."""
    from .router import router

    listers = router().model_listers
    if lister is None:
        listers.pop(profile, None)
    else:
        listers[profile] = lister


def set_token_provider(profile: str, provider: Callable[[], str] | None) -> None:
    """A callable that returns a fresh bearer token before each request (wins over stored keys)."""
    from .credentials import set_token_provider as _set

    _set(profile, provider)
