"""Architectures in the papers' own notation, parsed into a neuron-free layer plan.

Grammar: tokens joined by ``-``. Each token is one of

=============  ====================================================  =========================
token          meaning                                               example
=============  ====================================================  =========================
``NCk``        conv, N output channels, k×k kernel; optional         ``15C5``, ``96C3p1``,
               padding ``pP`` (or ``(pP)``) and stride ``sS``        ``12C5(p1)``, ``64C3p1s2``
``Pk``         pooling k×k, the method picks its kind                ``P2``
``APk``/``MPk``  average / max pooling k×k                           ``AP2``
``N``          fully connected layer with N neurons                  ``300``
``Dp``         dropout with probability p                            ``D0.2``
``RN``         residual basic block with N channels (``sS`` stride)  ``R256s2``
``GAP``        global average pooling                                ``GAP``
``recN``       recurrent (reservoir) layer of N neurons, optionally  ``rec400``,
               laid out on a d1×d2×d3 lattice (d1·d2·d3 = N)          ``rec400(5x5x16)``
=============  ====================================================  =========================

The output layer is not written: :meth:`LayerPlan.shapes` and the method builders append a
fully connected layer sized from the dataset's number of classes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from snnbench.registry import UnknownNameError

NAMED_ARCHS: dict[str, str] = {
    # TSSL-BP paper, CIFAR-10 CNN1 and CNN2 (padding 1 as in the reference yaml).
    "cnn1": "96C3p1-256C3p1-P2-384C3p1-P2-384C3p1-256C3p1-1024-1024",
    "cnn2": "128C3p1-256C3p1-P2-512C3p1-P2-1024C3p1-512C3p1-1024-512",
    # STBP (Wu et al. 2019) CIFARNet, without its 100-neuron voting layer (a method option).
    "cifarnet": "128C3p1-256C3p1-AP2-512C3p1-AP2-1024C3p1-512C3p1-1024-512",
    # TET VGGSNN for 48x48 CIFAR10-DVS: average pooling on spikes, linear head.
    "vggsnn": "64C3p1-128C3p1-AP2-256C3p1-256C3p1-AP2-512C3p1-512C3p1-AP2-512C3p1-512C3p1-AP2",
    # TET / tdBN ResNet-19: stem 64, stages 128x3, 256x3 (stride 2), 512x2 (stride 2), head GAP-256.
    "resnet19": "64C3p1-R128-R128-R128-R256s2-R256-R256-R512s2-R512-GAP-256",
}

_TOKEN_FORMS = (
    "conv 'NCk' with optional 'pP'/'(pP)' and 'sS' (e.g. 15C5, 96C3p1), pool 'P2', 'AP2' or 'MP2', "
    "linear 'N' (e.g. 300), dropout 'D0.2', residual block 'RN' or 'RNsS', 'GAP', or recurrent 'recN' or "
    "'recN(d1xd2xd3)'"
)
_CONV = re.compile(r"^(\d+)C(\d+)(?:\(p(\d+)\)|p(\d+))?(?:s(\d+))?$")
_POOL = re.compile(r"^(A|M)?P(\d+)$")
_LINEAR = re.compile(r"^(\d+)$")
_DROPOUT = re.compile(r"^D(0?\.\d+|0)$")
_RES = re.compile(r"^R(\d+)(?:s(\d+))?$")
_REC = re.compile(r"^rec(\d+)(?:\((\d+)x(\d+)x(\d+)\))?$")


class ArchSyntaxError(ValueError):
    """A bad architecture string; the message gives the token, its position and what was expected."""


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a plan. ``kind`` is conv, pool, linear, dropout, resblock, gap or recurrent."""

    kind: str
    channels: int = 0  # conv/resblock output channels, linear features
    kernel: int = 0  # conv kernel or pool size
    stride: int = 1
    padding: int = 0
    pool: str = ""  # "", "avg" or "max" for pooling ("" = the method's default)
    p: float = 0.0  # dropout probability
    lattice: tuple[int, ...] = ()  # recurrent: the d1×d2×d3 layout of its neurons (empty: the method's)

    def __str__(self) -> str:
        if self.kind == "conv":
            return f"{self.channels}C{self.kernel}" + (f"p{self.padding}" if self.padding else "") + (
                f"s{self.stride}" if self.stride != 1 else "")
        if self.kind == "pool":
            return {"": "", "avg": "A", "max": "M"}[self.pool] + f"P{self.kernel}"
        if self.kind == "linear":
            return str(self.channels)
        if self.kind == "dropout":
            return f"D{self.p:g}"
        if self.kind == "resblock":
            return f"R{self.channels}" + (f"s{self.stride}" if self.stride != 1 else "")
        if self.kind == "recurrent":
            return f"rec{self.channels}" + (f"({'x'.join(map(str, self.lattice))})" if self.lattice else "")
        return "GAP"


@dataclass(frozen=True)
class LayerPlan:
    """A parsed architecture: an ordered tuple of :class:`LayerSpec`, independent of any neuron."""

    layers: tuple[LayerSpec, ...]
    source: str = ""
    name: str = ""

    def __str__(self) -> str:
        return "-".join(str(layer) for layer in self.layers)

    def shapes(self, input_shape: tuple[int, ...], num_classes: int) -> list[tuple[int, ...]]:
        """Output shape of every layer (``(C, H, W)`` or ``(F,)``), the output layer last.

        Raises ``ValueError`` naming the layer when a feature map shrinks below one pixel.
        """
        shape: tuple[int, ...] = tuple(input_shape)
        out: list[tuple[int, ...]] = []
        for index, layer in enumerate(self.layers):
            shape = _next_shape(layer, shape, index, str(self))
            out.append(shape)
        out.append((num_classes,))
        return out

    def walk(self, input_shape: tuple[int, ...], outputs: int) -> PlanWalk:
        """The one walk every network builder takes (the rules' and the bench's peers'): each layer with its
        shapes, where a flatten goes, and the stem (see :class:`LayerStep`). Raises as :meth:`shapes`."""
        shapes = self.shapes(tuple(input_shape), outputs)
        resnet = any(layer.kind == "resblock" for layer in self.layers)
        first_conv = next((i for i, layer in enumerate(self.layers) if layer.kind == "conv"), None)
        steps, shape = [], tuple(input_shape)
        for index, (spec, out_shape) in enumerate(zip(self.layers, shapes[:-1], strict=True)):
            steps.append(LayerStep(spec, shape, out_shape, flatten_before=spec.kind == "linear" and len(shape) == 3,
                                   stem=resnet and index == first_conv))
            shape = out_shape
        return PlanWalk(tuple(steps), shape, shapes[-1][0])


@dataclass(frozen=True)
class LayerStep:
    """One layer of a plan as a builder meets it: its spec, the shapes in and out, whether a flatten comes
    first (a fully connected layer on a feature map), and whether it is the stem (the first convolution of
    a plan with residual blocks: TET's ResNet stem)."""

    spec: LayerSpec
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    flatten_before: bool = False
    stem: bool = False


@dataclass(frozen=True)
class PlanWalk:
    """A plan walked for an input: its :class:`LayerStep` s, then the output layer's input (``head_shape``;
    flattened first when ``flatten_head``, a feature map) and its size ``outputs``."""

    steps: tuple[LayerStep, ...]
    head_shape: tuple[int, ...]
    outputs: int

    @property
    def flatten_head(self) -> bool:
        return len(self.head_shape) == 3

    @property
    def head_features(self) -> int:
        return math.prod(self.head_shape)


def _next_shape(layer: LayerSpec, shape: tuple[int, ...], index: int, arch: str) -> tuple[int, ...]:
    if layer.kind in ("dropout",):
        return shape
    if layer.kind in ("linear", "recurrent"):
        return (layer.channels,)
    if len(shape) != 3:
        raise ValueError(f"arch {arch!r}: layer {index + 1} ({layer}) needs a feature map, got shape {shape}")
    c, h, w = shape
    if layer.kind == "conv":
        h = (h + 2 * layer.padding - layer.kernel) // layer.stride + 1
        w = (w + 2 * layer.padding - layer.kernel) // layer.stride + 1
        c = layer.channels
    elif layer.kind == "pool":  # odd sizes are zero-padded up (as SLAYER does: 11 -> 12)
        h, w = math.ceil(h / layer.kernel), math.ceil(w / layer.kernel)
    elif layer.kind == "resblock":
        h, w, c = math.ceil(h / layer.stride), math.ceil(w / layer.stride), layer.channels
    elif layer.kind == "gap":
        h = w = 1
    if h < 1 or w < 1:
        raise ValueError(f"arch {arch!r}: layer {index + 1} ({layer}) shrinks the feature map to {h}x{w}")
    return (c, h, w)


def parse_arch(spec: str) -> LayerPlan:
    """Parse a named network (``cnn1``) or a notation string (``15C5-P2-40C5-P2-300``)."""
    name = ""
    if spec in NAMED_ARCHS:
        name, spec = spec, NAMED_ARCHS[spec]
    elif re.fullmatch(r"[a-z][a-z0-9_]*", spec) and not _REC.match(spec):
        raise UnknownNameError("architecture", spec, sorted(NAMED_ARCHS))
    layers: list[LayerSpec] = []
    position = 0
    for number, token in enumerate(spec.split("-"), start=1):
        layer = _parse_token(token, number, position, spec)
        zero = [name for name in ("channels", "kernel", "stride") if getattr(layer, name) == 0
                and (name != "channels" or layer.kind in ("conv", "linear", "resblock", "recurrent"))
                and (name != "kernel" or layer.kind in ("conv", "pool"))]
        if zero or not 0 <= layer.p < 1:
            what = f"a {zero[0]} of 0" if zero else f"a dropout probability of {layer.p} (need 0 <= p < 1)"
            raise ArchSyntaxError(f"bad architecture {spec!r}: token {number} ({token!r}) has {what}")
        layers.append(layer)
        position += len(token) + 1
    return LayerPlan(tuple(layers), source=spec, name=name)


def _parse_token(token: str, number: int, position: int, spec: str) -> LayerSpec:
    if m := _CONV.match(token):
        padding = m.group(3) or m.group(4) or "0"
        return LayerSpec("conv", channels=int(m.group(1)), kernel=int(m.group(2)),
                         padding=int(padding), stride=int(m.group(5) or 1))
    if m := _POOL.match(token):
        return LayerSpec("pool", kernel=int(m.group(2)), stride=int(m.group(2)),
                         pool={None: "", "A": "avg", "M": "max"}[m.group(1)])
    if m := _LINEAR.match(token):
        return LayerSpec("linear", channels=int(m.group(1)))
    if m := _DROPOUT.match(token):
        return LayerSpec("dropout", p=float(m.group(1)))
    if m := _RES.match(token):
        return LayerSpec("resblock", channels=int(m.group(1)), stride=int(m.group(2) or 1))
    if token == "GAP":
        return LayerSpec("gap")
    if m := _REC.match(token):
        lattice = tuple(int(d) for d in m.groups()[1:]) if m.group(2) else ()
        if lattice and math.prod(lattice) != int(m.group(1)):
            raise ArchSyntaxError(f"bad architecture {spec!r}: token {number} ({token!r}) lays "
                                  f"{int(m.group(1))} neurons on a {'x'.join(map(str, lattice))} lattice "
                                  f"of {math.prod(lattice)} points")
        return LayerSpec("recurrent", channels=int(m.group(1)), lattice=lattice)
    pointer = " " * (position + 1) + "^"
    what = "an empty token" if not token else f"{token!r}"
    raise ArchSyntaxError(
        f"bad architecture {spec!r}: token {number} at character {position + 1} is {what}; "
        f"expected {_TOKEN_FORMS}\n  {spec!r}\n {pointer}")
