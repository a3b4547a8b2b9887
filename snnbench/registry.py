"""Name-keyed registries for methods, datasets and named architectures (timm-style).

``@register_method("stbp")`` registers a class; ``create_method("stbp")`` builds one;
``list_methods()`` lists the names. Unknown names raise :class:`UnknownNameError`, whose message
names the bad value and every valid one.

Other packages add methods and datasets as plug-ins, through the entry-point groups
``snnbench.methods`` and ``snnbench.datasets`` in their ``pyproject.toml``::

    [project.entry-points."snnbench.methods"]
    my-rule = "my_package.rule:MyRule"      # a Method subclass, registered as "my-rule"

(an entry point may also name a module whose import registers with the decorators). They are loaded
with the bundled ones, the first time a registry is read; one that fails to load is skipped with a
warning naming it, and one that takes a bundled name is refused.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger("snnbench.registry")
PLUGIN_GROUPS = {"method": "snnbench.methods", "dataset": "snnbench.datasets"}

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown method, dataset or architecture name (the CLI maps it to exit code 2)."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        self.kind, self.name, self.valid = kind, name, valid
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return self.args[0]


class Registry(Generic[T]):
    """A mapping from names to factories, filled by a decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = item
            return item

        return decorate

    def get(self, name: str) -> T:
        _load_builtins()
        if name not in self._items:
            raise UnknownNameError(self.kind, name, self.names())
        return self._items[name]

    def names(self) -> list[str]:
        _load_builtins()
        return sorted(self._items)


METHODS: Registry[Any] = Registry("method")
DATASETS: Registry[Any] = Registry("dataset")

register_method = METHODS.register
register_dataset = DATASETS.register


def create_method(name: str) -> Any:
    """Instantiate the learning rule registered under ``name``."""
    return METHODS.get(name)()


def create_dataset(name: str) -> Any:
    """Instantiate the dataset registered under ``name``."""
    return DATASETS.get(name)()


def build_model(method: Any, cfg: Any, input_shape: tuple[int, ...], num_classes: int, device: Any,
                cache_dir: Any = None, train_size: int = 0, training: bool = True) -> tuple[Any, list[str], dict]:
    """The one way a run, the bench and an evaluation build a rule's network for a device: ``method.build``
    from ``cfg.arch`` for the input shape and classes, moved to ``device``, every neuron's backend bound once
    (:func:`~snnbench.kernels.bind_backends`), then the rule's ``prepare`` hook (``training`` false: only the
    state a checkpoint needs). The config's ``flush_denormal`` is applied to this process here, in every
    intra-op thread (:func:`~snnbench.kernels.denormals.set_flush_denormal`), so that the network runs as the
    config says on every path, and on a CPU the compiled loops are built here
    (:func:`~snnbench.kernels.numba_jit.warm`), before a budget's clock starts. Returns ``(model, backends
    that will run, the hook's facts for the record)``."""
    import torch

    from snnbench.arch import parse_arch
    from snnbench.kernels import bind_backends, numba_jit
    from snnbench.kernels.denormals import set_flush_denormal

    set_flush_denormal(bool(cfg.flush_denormal))
    if torch.device(device).type == "cpu":
        numba_jit.warm()
    model = method.build(parse_arch(cfg.arch), tuple(input_shape), num_classes, cfg).to(device)
    backends = bind_backends(model, device)
    facts = method.prepare(model, cfg, cache_dir, train_size, training=training)
    return model, backends, facts


def list_methods() -> list[str]:
    return METHODS.names()


BUNDLED_METHODS = ("hm2-bp", "slayer", "st-rsbp", "stbp", "stbp-tdbn", "tet", "tsslbp")  # what methods/ registers


def method_names() -> list[str]:
    """The methods' names without importing any (the board's colours): the bundled ones and the plug-ins'
    entry points, sorted; :func:`list_methods` (which imports them) gives the same where every plug-in loads."""
    from importlib.metadata import entry_points

    return sorted(set(BUNDLED_METHODS) | {point.name for point in entry_points(group=PLUGIN_GROUPS["method"])})


def list_datasets() -> list[str]:
    return DATASETS.names()


_loaded = False


def _load_builtins() -> None:
    """Import the bundled methods and datasets once, so that their decorators run; then the plug-ins."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import snnbench.datasets
    import snnbench.methods  # noqa: F401

    for registry in (METHODS, DATASETS):
        load_plugins(registry)


def load_plugins(registry: Registry[Any]) -> list[str]:
    """Register the entry points of ``registry``'s group (see the module docs); returns the names added."""
    from importlib.metadata import entry_points

    added = []
    for point in entry_points(group=PLUGIN_GROUPS[registry.kind]):
        if point.name in registry._items:
            log.warning("plug-in %s %r (%s) is refused: the name is taken", registry.kind, point.name, point.value)
            continue
        try:
            item = point.load()
        except Exception as err:  # noqa: BLE001 - a broken plug-in must not break snnbench
            log.warning("plug-in %s %r (%s) failed to load: %s: %s", registry.kind, point.name, point.value,
                        type(err).__name__, err)
            continue
        if inspect.isclass(item):
            own = vars(item).get("name")
            if own and own != point.name:
                log.warning("plug-in %s %r (%s) is refused: its class is named %r", registry.kind, point.name,
                            point.value, own)
                continue
            item.name = point.name  # the entry point's name is the one runs and records use
            registry.register(point.name)(item)
        if point.name in registry._items:
            added.append(point.name)
        else:  # neither a class nor a module that registered the name on import
            log.warning("plug-in %s %r (%s) is refused: it loads a %s, not a class (and registers no %r)",
                        registry.kind, point.name, point.value, type(item).__name__, point.name)
    return added
