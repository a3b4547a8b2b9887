"""A training (or evaluation) step replayed as one CUDA graph: the launch floor of small networks.

A step of a small network (MNIST, T = 5) is hundreds of short kernels; on a GPU their launches, not their
work, set its time. :class:`CapturedStep` records the whole step once (forward, loss, backward, clip,
optimiser, after-step hook) and replays it, following the whole-network recipe of ``torch.cuda.graphs``:

1. the first ``warmup`` batches of the graphed shape run eagerly (on a side stream on CUDA), so lazy state
   exists before capture: optimiser moments, Triton compilations, cuDNN plans;
2. capture: gradients are set to None, then ``fn(static inputs)`` is recorded once; its outputs are kept;
3. every later batch of that shape is copied into the static inputs and the graph replayed. Its outputs
   are the same tensors each time, overwritten by the next replay: use them before the next call.

A batch of another shape (the last, partial batch of an epoch) runs eagerly. Python numbers the step
reads (the learning rate, which the optimiser bakes into the graph as a constant) are ``key()``: when it
changes, the graph is captured again. A step that cannot be captured (one that reads a device value on the
host) fails its capture; the step then runs eagerly for good, and says why once. Replays run the same
kernels on the same values as the eager step, so a graphed run's results are the eager run's; the tests
check that on the GPU, and the orchestration everywhere with :class:`EmulatedGraph`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch

GRAPH_MODES = ("auto", "on", "off")
WARMUP_STEPS = 3  # eager steps of the graphed shape before capture (torch.cuda.graphs' examples use 3)

Outputs = tuple[torch.Tensor, ...]


class Graph(Protocol):
    """What :class:`CapturedStep` needs of a graph: record ``fn()`` once under ``key`` (the Python numbers
    it bakes in), replay it; ``key`` at replay is the current one (it equals the capture's)."""

    def capture(self, fn: Callable[[], Outputs], key: Any) -> Outputs: ...
    def replay(self, key: Any) -> None: ...


GraphFactory = Callable[[torch.device, Any], Graph]  # (device, stream) -> a graph


class CudaGraph:
    """``torch.cuda.CUDAGraph``: :meth:`capture` records without running anything, on ``stream`` (the
    stream the warm-up ran on, so per-stream library state such as cuBLAS workspaces already exists)."""

    def __init__(self, device: torch.device, stream: Any = None) -> None:
        self.device, self.stream = device, stream
        self.graph = torch.cuda.CUDAGraph()

    def capture(self, fn: Callable[[], Outputs], key: Any) -> Outputs:
        # thread_local: the loader's prefetch thread may pin memory (a CUDA call) while this thread captures
        with torch.cuda.graph(self.graph, stream=self.stream, capture_error_mode="thread_local"):
            return fn()

    def replay(self, key: Any) -> None:
        self.graph.replay()


@contextlib.contextmanager
def side_stream(device: torch.device, side: Any = None) -> Iterator[None]:
    """Run the body on the CUDA stream ``side``, ordered after the current one (and the current one after
    it); nothing on other devices. Warm-up before a capture runs there, as ``torch.cuda.graphs`` asks."""
    if device.type != "cuda" or side is None:
        yield
        return
    current = torch.cuda.current_stream(device)
    side.wait_stream(current)
    with torch.cuda.stream(side):
        yield
    current.wait_stream(side)


class EmulatedGraph:
    """What a CUDA graph does, on any device, to test the orchestration around it: :meth:`capture` runs
    ``fn`` once (it stands for the replay that follows a real capture, so that replay is skipped),
    :meth:`replay` runs ``fn`` again and writes into the outputs captured first (a real replay's memory),
    and refuses to run under another ``key`` than the capture's (a real graph would replay the old
    constants)."""

    def __init__(self, device: torch.device, stream: Any = None) -> None:
        self.fn: Callable[[], Outputs] | None = None
        self.outputs: Outputs = ()
        self.key: Any = None
        self.fresh = False
        self.replays = 0

    def capture(self, fn: Callable[[], Outputs], key: Any) -> Outputs:
        self.fn, self.key, self.fresh = fn, key, True
        self.outputs = tuple(t.detach().clone() for t in fn())
        return self.outputs

    def replay(self, key: Any) -> None:
        if key != self.key:
            raise AssertionError(f"replayed a graph captured under {self.key!r} with {key!r}")
        if self.fresh:
            self.fresh = False
            return
        assert self.fn is not None
        for static, value in zip(self.outputs, self.fn(), strict=True):
            static.copy_(value)
        self.replays += 1


class CapturedStep:
    """``fn(*tensors) -> tensors`` replayed from one graph per run (see the module docstring).

    ``batch_size`` picks the graphed shape: the first batch whose first tensor has that many samples on
    its axis 1 (``[T, B, ...]``; 0: the first batch); ``key()`` names the Python numbers baked into the
    graph (a change recaptures); ``before_capture()`` runs before each capture (the optimiser's
    ``zero_grad(set_to_none=True)``, so backward allocates the gradients in the graph's memory);
    ``graph(device, stream)`` makes the graph (:class:`CudaGraph` on a GPU)."""

    def __init__(self, fn: Callable[..., Outputs], device: torch.device, *, name: str = "step",
                 batch_size: int = 0, key: Callable[[], Any] = lambda: None,
                 before_capture: Callable[[], None] = lambda: None,
                 graph: GraphFactory = CudaGraph, warmup: int = WARMUP_STEPS) -> None:
        self.fn, self.device, self.name, self.batch_size = fn, device, name, batch_size
        self.key, self.before_capture, self.make_graph, self.warmup = key, before_capture, graph, warmup
        self.shapes: tuple | None = None  # the graphed batch's shapes and dtypes
        self.graph: Graph | None = None
        self.graph_key: Any = None
        self.static: tuple[torch.Tensor, ...] = ()
        self.outputs: Outputs = ()
        self.warmed = 0
        self.captures = 0
        self.failure = ""  # why the step runs eagerly for good ("" while it may be graphed)
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None  # warm-up and capture

    @property
    def status(self) -> str:
        """``on`` (graphed), or ``off: <why>`` (a failed capture, or too few batches to capture)."""
        if self.failure:
            return f"off: {self.failure}"
        if self.graph is None:
            return f"off: too few full batches to capture (the first {self.warmup} run eagerly)"
        return "on"

    def __call__(self, *tensors: torch.Tensor) -> Outputs:
        shapes = tuple((t.shape, t.dtype) for t in tensors)
        if self.shapes is None and (not self.batch_size or tensors[0].shape[1] == self.batch_size):
            self.shapes = shapes
        if self.failure or shapes != self.shapes:  # a partial batch, or a step that cannot be captured
            return self.fn(*tensors)
        if self.warmed < self.warmup:
            self.warmed += 1
            return self._eager(tensors)
        key = self.key()
        if self.graph is None or key != self.graph_key:
            if not self._capture(tensors, key):
                return self.fn(*tensors)
        else:
            for static, value in zip(self.static, tensors, strict=True):
                static.copy_(value, non_blocking=True)
        assert self.graph is not None
        self.graph.replay(key)
        return self.outputs

    def _eager(self, tensors: tuple[torch.Tensor, ...]) -> Outputs:
        with side_stream(self.device, self.stream):
            outputs = tuple(t.detach() for t in self.fn(*tensors))
        if self.device.type == "cuda":  # made on the side stream, used on the current one
            for t in outputs:
                t.record_stream(torch.cuda.current_stream(self.device))
        return outputs

    def _capture(self, tensors: tuple[torch.Tensor, ...], key: Any) -> bool:
        self.graph, self.outputs = None, ()  # the old graph's memory goes back before the new capture
        self.static = tuple(t.detach().clone() for t in tensors)
        graph = self.make_graph(self.device, self.stream)
        self.before_capture()
        try:
            self.outputs = tuple(t.detach() for t in graph.capture(lambda: self.fn(*self.static), key))
        except RuntimeError as err:  # torch.AcceleratorError (a CUDA capture error) is a RuntimeError
            self.failure = f"the {self.name} could not be captured ({type(err).__name__}: {str(err)[:160]})"
            self.static, self.outputs = (), ()
            warnings.warn(f"{self.failure}; it runs eagerly from here on", RuntimeWarning, stacklevel=3)
            return False
        self.graph, self.graph_key = graph, key
        self.captures += 1
        return True


def training_graph(fn: Callable[..., Outputs], device: torch.device, optimizer: torch.optim.Optimizer, *,
                   batch_size: int = 0, graph: GraphFactory = CudaGraph) -> CapturedStep:
    """A training step ``fn(inputs, labels)`` that steps ``optimizer``, as a :class:`CapturedStep`: gradients
    set to None before each capture (so backward allocates them in the graph's memory), captured again
    whenever a group's learning rate changes (a constant inside the graph)."""
    return CapturedStep(fn, device, name="training step", batch_size=batch_size, graph=graph,
                        before_capture=lambda: optimizer.zero_grad(set_to_none=True),
                        key=lambda: tuple(group["lr"] for group in optimizer.param_groups))


@dataclass(frozen=True)
class GraphPlan:
    """Whether a run's (or a bench's) steps are replayed from CUDA graphs: ``graphed``; ``reason`` for the
    record ("on" or "off: why"); ``error``, when the asked mode cannot be honoured (``on`` where no graph can
    run), the refusal to give before any work ("" otherwise: ``auto`` never errs, it just stays eager)."""

    graphed: bool
    reason: str
    error: str = ""


def graph_plan(mode: str, device: torch.device, method: Any = None, distributed: bool = False) -> GraphPlan:
    """The one decision on CUDA graphs, for ``snnbench run`` and ``snnbench bench``: ``auto`` graphs every
    CUDA run whose method can be captured, outside torchrun; ``on`` insists (an error where it cannot);
    ``off`` never graphs. ``method`` None: no method's capturability is asked (the bench asks each step)."""
    if mode not in GRAPH_MODES:
        return GraphPlan(False, "", f"--cuda-graph {mode!r} is not valid; valid values: {', '.join(GRAPH_MODES)}")
    if mode == "off":
        return GraphPlan(False, "off: --cuda-graph off")
    if device.type != "cuda":
        why, refusal = "not a CUDA device", f"needs a CUDA device, this run is on {device}"
    elif distributed:
        why, refusal = "distributed (torchrun)", "is not available under torchrun (distributed) yet"
    elif method is not None and not getattr(method, "graph_capture", True):
        note = method.graph_capture_note
        why, refusal = note, f"method {method.name}'s step cannot be captured ({note})"
    else:
        return GraphPlan(True, "on")
    error = f"--cuda-graph on {refusal}; use --cuda-graph auto or off" if mode == "on" else ""
    return GraphPlan(False, f"off: {why}", error)
