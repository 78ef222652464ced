"""minimlp — a multilayer-perceptron framework written by hand on torch tensors.

This one file is a small but complete deep-learning framework: layers,
activations, losses, optimizers and a training loop, with every gradient
derived and written by hand. It is meant to be read, by a student who must
write such a framework for a course (the classic "implement a framework from
scratch" homework, EPFL EE-559 mini-project 2) and by anyone who wants to see
backpropagation with nothing hidden. Copy this file alone into your project:
it needs only torch.

It follows a student report that solved that homework (Betti & Mueller,
EE-559 mini-project 2 report, EPFL 2018), called "the report" below: its
network, its equations and its experiment, without its defects.

**What it may import.** The homework's strictest rule: at run time the only
contact with torch is `from torch import empty`. Every other operation is a
method of a tensor (`x.mm(w)`, `s.exp()`, ...). Nothing comes from torch's
layers, optimizers or automatic differentiation, and everything runs under
`torch.set_grad_enabled(False)`. Besides torch: `math`, `copy` and `numbers`
from the standard library.

**Notation.** Layer l = 1 … L computes

    s⁽ˡ⁾ = x⁽ˡ⁻¹⁾ w⁽ˡ⁾ᵀ + b⁽ˡ⁾        x⁽ˡ⁾ = σ(s⁽ˡ⁾)

where x⁽⁰⁾ is the input, σ the activation, y the target and ℓ the loss. A
batch is a matrix whose rows are samples (an input has shape
`(N, in_features)`), so the report's s = w x + b for one sample as a column
is written here for rows: s = x wᵀ + b. ∂ℓ/∂x is the gradient of the loss
with respect to x, a tensor of the shape of x; ⊙ is the entry-wise product;
ᵀ transposes.

**How to read a module.** `forward` computes the output and saves what
`backward` needs. `backward(grad_output)` takes ∂ℓ/∂(output), adds the
gradients of the module's parameters into tensors the module owns, and
returns ∂ℓ/∂(input). Both hold only the maths: each line that computes sits
under the equation it computes. Input checks are done by `module(x)`, the
call you make, and the last section of the file holds them.

Example, with x of shape (N, 2) and y of shape (N, 1):

    model = Sequential(Dense(2, 25), ReLU(), Dense(25, 1), Sigmoid())
    optimizer = SGD(model.param(), lr=0.1)
    history = fit(model, MSELoss(), optimizer, x, y, epochs=10)
"""

# ---------------------------------------------------------------------------
# Exercise skeleton, guided level: generated from minimlp.py by
# exercises/make_student.py. The body of each of the 22 exercises (every
# forward, backward and step, from Dense.forward to Adam.step) is a
# `raise NotImplementedError("exercise N: ...")` under the equations it must
# compute. Copy this file, write the code under each equation, and run
#     python exercises/check.py your_copy.py
# which says for every exercise PASS, TODO, WAIT (an earlier exercise first)
# or FAIL, and why. To derive the equations yourself, take minimlp_derive.py.
# ---------------------------------------------------------------------------

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from torch import empty

if TYPE_CHECKING:  # names for type hints only; never imported at run time
    from torch import Generator, Tensor, device, dtype

__all__ = [
    "Module", "Dense", "Linear", "ReLU", "Tanh", "Sigmoid", "Identity", "Softmax",
    "Dropout", "Sequential", "Loss", "MSELoss", "CrossEntropyLoss", "Optimizer",
    "SGD", "Adam", "History", "fit", "accuracy", "gradcheck",
]

# The rule forbids importing torch.Tensor, but every tensor knows its own class
# and dtype: _TENSOR is torch.Tensor (for isinstance checks) and _FLOAT64 is
# torch.float64.
_TENSOR = type(empty(0))
_FLOAT64 = empty(0).double().dtype


# ----------------------------------------------------------------------------
# Module: the interface every layer follows
#
# A module maps an input to an output in `forward`, and in `backward` maps
# ∂ℓ/∂(output) to ∂ℓ/∂(input) by the chain rule. A module with parameters
# also adds their gradients into tensors it owns (`+=`: gradients accumulate,
# as in PyTorch), so each gradient lives next to its parameter, and an
# optimizer that holds both sees every update.
# ----------------------------------------------------------------------------


class Module:
    """Base class of every layer: `forward`, `backward`, and the parameters.

    A subclass with parameters lists them in `parameter_names` as pairs
    (value attribute, gradient attribute), for example
    `(("weight", "grad_weight"), ("bias", "grad_bias"))`; `param`,
    `zero_grad`, `state_dict` and `to` follow from that list.
    """

    parameter_names: tuple = ()
    training = True  # a subclass that forgets super().__init__() still works

    def __init__(self) -> None:
        self.training = True

    def forward(self, *inputs: Tensor) -> Tensor:
        """Compute the output, and save what `backward` will need."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def backward(self, grad_output: Tensor) -> Tensor:
        """Take ∂ℓ/∂(output), return ∂ℓ/∂(input), and add the gradients of the
        parameters into the module's gradient tensors."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward()")

    def __call__(self, *inputs: Tensor) -> Tensor:
        """`module(x)`: `forward(x)`, and if that fails, what is wrong with x."""
        try:
            return self.forward(*inputs)
        except Exception:  # the input is checked only now: no cost when it is good
            for x in inputs:
                _check_tensor(type(self).__name__, "x", x)
            self._check_input(*inputs)
            raise  # nothing wrong with x: the error is forward's own

    def _check_input(self, *inputs: Tensor) -> None:
        """Raise a clear error for an input `forward` cannot take (Dense: the
        width and dtype; Sequential: which item fails)."""

    def __getattr__(self, name: str):
        # Python calls this only for an attribute that was never set. What forward
        # saves for backward (self.input, self.output, ...) is not set until forward
        # runs, so this is where a backward called too early ends up.
        raise _MissingAttribute(f"{type(self).__name__}: no attribute {name!r}; if "
                                f"forward() saves it, call forward() before backward()")

    def named_param(self) -> list:
        """`(name, value, gradient)` for each parameter: the very tensors held."""
        return [(name, getattr(self, name), getattr(self, grad_name))
                for name, grad_name in self.parameter_names]

    def param(self) -> list:
        """`(value, gradient)` pairs; an in-place update is seen by the module."""
        return [(value, grad) for _, value, grad in self.named_param()]

    def zero_grad(self) -> None:
        """Set every gradient to zero, in place (otherwise gradients accumulate)."""
        for _, grad in self.param():
            grad.zero_()

    def train(self, mode: bool = True) -> Module:
        """Training mode (the default; Dropout drops). Returns the module."""
        self.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode (Dropout is the identity). Returns the module."""
        return self.train(False)

    def state_dict(self) -> dict:
        """Copies of the parameter values by name: `{"weight": ..., "bias": ...}`."""
        return {name: value.clone() for name, value, _ in self.named_param()}

    def load_state_dict(self, state: Mapping) -> None:
        """Copy the values of `state` (as `state_dict()` returns it) into the
        parameters, in place. If a name or shape does not match, or a value
        cannot be converted, it says so and the module is left unchanged."""
        own = {name: value for name, value, _ in self.named_param()}
        _check_state_dict(own, state)
        # Convert every value first (`detach()`: no gradient history from a PyTorch
        # layer's parameter), so that one that cannot be converted fails before
        # anything is copied
        values = {name: state[name].detach().to(dtype=value.dtype, device=value.device)
                  for name, value in own.items()}
        for name, value in own.items():
            value.copy_(values[name])  # in place: optimizers hold these tensors

    def to(self, dtype: Optional[dtype] = None,
           device: Optional[device] = None) -> Module:
        """Cast or move every parameter and gradient. The module keeps the very
        same tensor objects, as PyTorch does, so an optimizer built before
        `to()` still updates the model."""
        for attributes in self.parameter_names:
            for attribute in attributes:
                tensor = getattr(self, attribute)
                moved = tensor.to(dtype=dtype, device=device)
                try:
                    tensor.data = moved  # the same object, new contents
                except RuntimeError:  # a kind .data cannot take (e.g. "meta"):
                    setattr(self, attribute, moved)  # a new tensor, as PyTorch does
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _MissingAttribute(AttributeError, RuntimeError):
    """An attribute that is not set: an AttributeError, so that `hasattr` and
    `copy` work as usual, and a RuntimeError, as a backward before its forward
    is a call made in the wrong order."""


# ----------------------------------------------------------------------------
# Dense: the affine layer
#
# For one sample as a column the report writes s = w x + b. With a batch the
# samples are rows, so the layer computes s = x wᵀ + b, with x of shape
# (N, in), w of shape (out, in), and b added to every row.
# ----------------------------------------------------------------------------


class Dense(Module):
    """Affine layer s = x wᵀ + b: `Dense(2, 25)` maps `(N, 2)` to `(N, 25)`.

    `init="he"` draws the weights from a normal distribution with standard
    deviation √(2 / in) (suits ReLU; the report's choice), `init="xavier"`
    with √(2 / (in + out)). The bias starts at zero. Pass a `torch.Generator`
    for a reproducible initialisation. The homework handout calls this layer
    `Linear`, and so can you: `Linear` is `Dense`.

    >>> from torch import ones
    >>> layer = Dense(2, 3)
    >>> layer(ones(4, 2)).shape
    torch.Size([4, 3])
    >>> layer.weight.shape, layer.bias.shape
    (torch.Size([3, 2]), torch.Size([3]))
    """

    parameter_names = (("weight", "grad_weight"), ("bias", "grad_bias"))

    def __init__(self, in_features: int, out_features: int, init: str = "he",
                 generator: Optional[Generator] = None,
                 dtype: Optional[dtype] = None,
                 device: Optional[device] = None) -> None:
        super().__init__()
        self.in_features = _check_number("Dense", "in_features", in_features)
        self.out_features = _check_number("Dense", "out_features", out_features)
        # He: std = √(2 / in);  Xavier: std = √(2 / (in + out))
        fan = {"he": in_features, "xavier": in_features + out_features}[init]
        std = math.sqrt(2 / fan)
        # w ~ N(0, std²), shape (out, in);  b = 0, shape (out,)
        self.weight = empty(out_features, in_features, dtype=dtype,
                            device=device).normal_(0, std, generator=generator)
        self.bias = empty(out_features, dtype=dtype, device=device).zero_()
        # ∂ℓ/∂w and ∂ℓ/∂b: zero until backward adds into them
        self.grad_weight = self.weight.new_zeros(self.weight.shape)
        self.grad_bias = self.bias.new_zeros(self.bias.shape)

    def forward(self, x: Tensor) -> Tensor:
        # saved: backward needs x for ∂ℓ/∂w
        # s = x wᵀ + b
        raise NotImplementedError("exercise 1: Dense.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        """Take ∂ℓ/∂s `(N, out)`, add into ∂ℓ/∂w and ∂ℓ/∂b, return ∂ℓ/∂x `(N, in)`."""
        # ∂ℓ/∂w += (∂ℓ/∂s)ᵀ x: the report's ∂ℓ/∂s xᵀ, summed over the batch
        # ∂ℓ/∂b += Σₙ (∂ℓ/∂s)ₙ: the report's ∂ℓ/∂s, summed over the rows
        # ∂ℓ/∂x = (∂ℓ/∂s) w: the report's wᵀ ∂ℓ/∂s, for rows
        raise NotImplementedError("exercise 2: Dense.backward")

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.in_features:  # one sample: x.view(1, -1)
            raise ValueError(f"Dense: x {list(x.shape)} is not (N, {self.in_features})")
        if x.dtype != self.weight.dtype:  # e.g. float64 data, float32 weights
            raise TypeError(f"Dense: x is {x.dtype}, the weights {self.weight.dtype}")

    def __repr__(self) -> str:
        return (f"Dense(in_features={self.in_features}, "
                f"out_features={self.out_features})")


Linear = Dense  # the homework handout's name for the same layer

# ----------------------------------------------------------------------------
# Activations
#
# An activation acts on each entry alone, x = σ(s), so the chain rule is an
# entry-wise product:
#
#     ∂ℓ/∂s = ∂ℓ/∂x ⊙ σ'(s)
#
# Where σ' is cheaper and stabler to get from the output x than from s
# (ReLU, Tanh, Sigmoid), forward saves the output.
# ----------------------------------------------------------------------------


class ReLU(Module):
    """σ(s) = max(0, s), entry-wise."""

    def forward(self, s: Tensor) -> Tensor:
        # x = max(0, s)
        raise NotImplementedError("exercise 3: ReLU.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        # σ'(s) = 1 where s > 0, else 0; and s > 0 exactly where x > 0
        # ∂ℓ/∂s = ∂ℓ/∂x ⊙ σ'(s)
        raise NotImplementedError("exercise 4: ReLU.backward")


class Tanh(Module):
    """σ(s) = tanh(s), entry-wise."""

    def forward(self, s: Tensor) -> Tensor:
        # x = tanh(s)
        raise NotImplementedError("exercise 5: Tanh.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        # σ'(s) = 1 − tanh²(s) = 1 − x²
        # ∂ℓ/∂s = ∂ℓ/∂x ⊙ (1 − x²)
        raise NotImplementedError("exercise 6: Tanh.backward")


class Sigmoid(Module):
    """σ(s) = 1 / (1 + e⁻ˢ), entry-wise; finite for every finite s."""

    def forward(self, s: Tensor) -> Tensor:
        # x = 1 / (1 + e⁻ˢ). For s → −∞, e⁻ˢ overflows to inf and 1 / (1 + inf) = 0,
        # the right limit: no special case needed
        raise NotImplementedError("exercise 7: Sigmoid.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        # σ'(s) = σ(s) (1 − σ(s)) = x (1 − x)
        # ∂ℓ/∂s = ∂ℓ/∂x ⊙ x (1 − x)
        raise NotImplementedError("exercise 8: Sigmoid.backward")


class Identity(Module):
    """σ(s) = s (the report's "Linear" activation), so σ'(s) = 1."""

    def forward(self, s: Tensor) -> Tensor:
        # x = s
        raise NotImplementedError("exercise 9: Identity.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        # ∂ℓ/∂s = ∂ℓ/∂x ⊙ 1
        raise NotImplementedError("exercise 10: Identity.backward")


class Softmax(Module):
    """xᵢ = e^sᵢ / Σⱼ e^sⱼ over each row (dim 1): scores become probabilities."""

    def forward(self, s: Tensor) -> Tensor:
        # xᵢ = e^sᵢ / Σⱼ e^sⱼ. Subtracting the row's largest score first changes
        # nothing (it cancels between top and bottom) but keeps every exponent ≤ 0,
        # so e^sᵢ cannot overflow
        raise NotImplementedError("exercise 11: Softmax.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        # Every output depends on every input. In one row, with g = ∂ℓ/∂x:
        #   ∂xᵢ/∂sⱼ = xᵢ (δᵢⱼ − xⱼ)
        #   ∂ℓ/∂sⱼ = Σᵢ gᵢ ∂xᵢ/∂sⱼ = xⱼ (gⱼ − Σᵢ gᵢ xᵢ)
        raise NotImplementedError("exercise 12: Softmax.backward")


class Dropout(Module):
    """Inverted dropout: in training, zero each entry with probability `p` and
    scale the others by 1 / (1 − p); in eval mode, the identity."""

    def __init__(self, p: float = 0.5, generator: Optional[Generator] = None) -> None:
        super().__init__()
        self.p = _check_number("Dropout", "p", p)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        # keep each entry with probability 1 − p, and scale what is kept by
        # 1 / (1 − p): the mean of every entry stays the same, so eval mode
        # needs no rescaling
        # eval mode: every entry kept as it is
        # output = x ⊙ mask, with the mask saved for backward
        raise NotImplementedError("exercise 13: Dropout.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        # ∂ℓ/∂x = ∂ℓ/∂(output) ⊙ mask, with the mask of the last forward
        raise NotImplementedError("exercise 14: Dropout.backward")

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


# ----------------------------------------------------------------------------
# Sequential: the network
#
# Forward runs the modules in order, x⁽⁰⁾ → s⁽¹⁾ → x⁽¹⁾ → … → x⁽ᴸ⁾. Backward
# runs them in reverse: each module turns ∂ℓ/∂(its output) into ∂ℓ/∂(its
# input), which is ∂ℓ/∂(output) of the module before it. That loop is all of
# backpropagation.
# ----------------------------------------------------------------------------


class Sequential(Module):
    """A chain of modules: `Sequential(Dense(2, 25), ReLU(), Dense(25, 1), Sigmoid())`.

    It rejects an item that is not a Module, the same module twice (a module
    remembers only its last forward) and consecutive Dense layers whose widths
    disagree, naming the positions. When an item fails in `model(x)`, yours or
    minimlp's, the error says which item and what input it got.
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        _check_sequence(modules)
        self.modules = list(modules)

    def forward(self, x: Tensor) -> Tensor:
        # the output of each module is the input of the next
        # x⁽ᴸ⁾, saved to check the gradient backward receives
        raise NotImplementedError("exercise 15: Sequential.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        """Take ∂ℓ/∂x⁽ᴸ⁾ (the loss's backward), return ∂ℓ/∂x⁽⁰⁾; every module on
        the way adds its parameter gradients."""
        # ∂ℓ/∂(module's output) -> ∂ℓ/∂(module's input)
        raise NotImplementedError("exercise 16: Sequential.backward")

    def _check_input(self, x: Tensor) -> None:
        """After a failed forward: run the items one by one, each with its own
        checks, and name the one that fails (any Module, yours too)."""
        for i, module in enumerate(self.modules):
            try:
                x = module(x)
            except Exception as error:
                raise type(error)(f"Sequential: item {i}, {module!r}, given x "
                                  f"{_kind(x)}: {error}") from error

    def named_param(self) -> list:
        """The parameters of every module, named as PyTorch names them: `"0.weight"`."""
        return [(f"{index}.{name}", value, grad)
                for index, module in enumerate(self.modules)
                for name, value, grad in module.named_param()]

    def train(self, mode: bool = True) -> Sequential:
        self.training = mode
        for module in self.modules:
            module.train(mode)
        return self

    def to(self, dtype: Optional[dtype] = None,
           device: Optional[device] = None) -> Sequential:
        for module in self.modules:
            module.to(dtype=dtype, device=device)
        return self

    def __len__(self) -> int:
        return len(self.modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self.modules[index])
        return self.modules[index]

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules)

    def __repr__(self) -> str:
        lines = [f"  ({index}): {module!r}"
                 for index, module in enumerate(self.modules)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"

# ----------------------------------------------------------------------------
# Losses
#
# A loss turns the network's output x = x⁽ᴸ⁾ (the prediction) and the target
# y into one number ℓ. Its backward starts backpropagation: it returns ∂ℓ/∂x,
# the report's ∇ℓ(x⁽ᴸ⁾), with the shape of the prediction.
# ----------------------------------------------------------------------------


class Loss:
    """Base class of the losses. `loss(prediction, target)` checks the target
    against the prediction, then `forward` returns ℓ as a 0-dim tensor and
    saves what `backward()` needs; `backward()` returns ∂ℓ/∂(prediction) for
    the last forward."""

    def __call__(self, prediction: Tensor, target: Tensor) -> Tensor:
        target = self._check_target(prediction, target)
        return self.forward(prediction, target)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def backward(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement backward()")

    def _check_target(self, prediction: Tensor, target: Tensor) -> Tensor:
        """The target as `forward` takes it, or a clear error; the caller's tensor
        is never changed. A loss of your own takes its target as it is."""
        return target

    __getattr__ = Module.__getattr__  # a backward before its forward, as for modules

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MSELoss(Loss):
    """Squared error ℓ = (1/M) Σ (x − y)² over all M entries (`reduction="mean"`,
    as PyTorch), or the plain sum ℓ = Σ (x − y)² (`reduction="sum"`, as the
    report). A target `(N,)` is taken for a prediction `(N, 1)`.

    >>> from torch import tensor
    >>> MSELoss()(tensor([[1.0], [3.0]]), tensor([0.0, 1.0]))
    tensor(2.5000)
    """

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"MSELoss: reduction {reduction!r} is not 'mean' or 'sum'")
        self.reduction = reduction

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        # d = x − y, saved for backward
        # ℓ = (1/M) Σ d²  (mean)   or   ℓ = Σ d²  (sum)
        raise NotImplementedError("exercise 17: MSELoss.forward")

    def backward(self) -> Tensor:
        # ∂ℓ/∂x = (2/M) d  (mean)   or   ∂ℓ/∂x = 2 d  (sum)
        raise NotImplementedError("exercise 18: MSELoss.backward")

    def _check_target(self, x: Tensor, y: Tensor) -> Tensor:
        # y, the target, of the prediction x's shape and dtype: a view or a copy,
        # never the caller's tensor changed (no in-place resize_)
        _check_tensor(self, "target", y, floating=False)
        target = y
        if x.dim() == 2 and x.shape[1] == 1 and y.dim() == 1:
            target = y.view(-1, 1)  # (N,) -> (N, 1), a view
        if target.shape != x.shape or y.is_complex():  # a target that would broadcast
            raise ValueError(f"{self}: target {_kind(y)} ≠ prediction {_kind(x)}")
        return target.to(x.dtype)  # a copy only when the dtypes differ

    def __repr__(self) -> str:
        return f"MSELoss(reduction={self.reduction!r})"


class CrossEntropyLoss(Loss):
    """Softmax and negative log-likelihood in one:
    ℓ = −(1/N) Σₙ log softmax(sₙ)[yₙ], for the raw scores (logits) s `(N, C)`
    of the last Dense layer and class indices y `(N,)`. Feed it logits: no
    Softmax or Sigmoid before it (this loss applies the softmax itself).

    >>> from torch import tensor
    >>> loss = CrossEntropyLoss()
    >>> round(loss(tensor([[2.0, 0.0], [0.0, 0.0]]), tensor([0, 1])).item(), 4)
    0.41
    """

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        # log softmax(s)ᵢ = sᵢ − log Σⱼ e^sⱼ. Subtracting the row's largest score
        # first, log Σⱼ e^sⱼ = max + log Σⱼ e^(sⱼ − max), keeps every exponent ≤ 0
        # (the log-sum-exp trick: no overflow for large logits)
        # softmax(s), for backward
        # ℓ = −(1/N) Σₙ log softmax(sₙ)[yₙ], the true class's entry of each row
        raise NotImplementedError("exercise 19: CrossEntropyLoss.forward")

    def backward(self) -> Tensor:
        # Valid only for this fused pair, softmax then negative log-likelihood:
        # the softmax Jacobian and the 1/p of the log cancel, leaving
        # ∂ℓ/∂s = (softmax(s) − onehot(y)) / N
        # onehot(y): (N, C) zeros with a 1 at column yₙ of each row n
        raise NotImplementedError("exercise 20: CrossEntropyLoss.backward")

    def _check_target(self, logits: Tensor, target: Tensor) -> Tensor:
        # class indices (N,) in [0, C), as int64
        _check_batch(self, "logits", logits, "target", target)
        if target.is_floating_point():
            raise TypeError(f"{self}: target is {target.dtype}, not class indices")
        _check_classes(self, target, logits.shape[1])
        return target.long()


# ----------------------------------------------------------------------------
# Optimizers
#
# An optimizer holds the (value, gradient) pairs of `model.param()` and, at
# each `step()`, moves every value against its gradient, in place: the model
# sees the new values at once, since they are the same tensors. Below, w
# stands for any parameter (a weight or a bias), g for its gradient ∂ℓ/∂w and
# η for the learning rate `lr`.
# ----------------------------------------------------------------------------


class Optimizer:
    """Base class of SGD and Adam: the `(value, gradient)` pairs of
    `model.param()`, the learning rate `lr` (a plain attribute, which may change
    between steps, e.g. for a schedule), the weight decay, and `zero_grad`."""

    def __init__(self, params, lr: float, weight_decay: float) -> None:
        name = type(self).__name__
        self.params = _check_params(name, params)
        self.lr = _check_number(name, "lr", lr)
        self.weight_decay = _check_number(name, "weight_decay", weight_decay)

    def step(self) -> None:
        """Update every parameter once, in place."""
        raise NotImplementedError(f"{type(self).__name__} must implement step()")

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to zero, in place."""
        for _, grad in self.params:
            grad.zero_()


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum in PyTorch's form:
    v ← μ v + g, then w ← w − η v, from v = 0 (μ = 0, the default, is plain
    w ← w − η g). `lr` and `momentum` may change between steps. Weight decay
    λ adds λ w to the gradient (L2 regularisation)."""

    def __init__(self, params, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = _check_number("SGD", "momentum", momentum)
        self.velocity = [0.0] * len(self.params)  # v = 0 before the first step

    def step(self) -> None:
        """Move every parameter once against its gradient, in place."""
        # g = ∂ℓ/∂w + λ w   (λ = 0: the gradient as it is)
        # v ← μ v + g. With μ = 0 that is v = g, kept as a copy: the next
        # backward overwrites the gradient, and a momentum raised later needs v
        # w ← w − η v, in place
        raise NotImplementedError("exercise 21: SGD.step")


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): steps of η m̂ / (√v̂ + ε), from running means m
    of the gradient and v of its square, corrected for their start at zero.
    Weight decay λ adds λ w to the gradient first, as PyTorch's Adam does."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.betas = _check_number("Adam", "betas", betas)
        self.eps = _check_number("Adam", "eps", eps)
        self.t = 0  # steps taken
        self.m = [0.0] * len(self.params)  # m = 0 before the first step
        self.v = [0.0] * len(self.params)  # v = 0 before the first step

    def step(self) -> None:
        """One Adam update of every parameter, in place."""
        # g = ∂ℓ/∂w + λ w   (λ = 0: the gradient as it is)
        # m ← β₁ m + (1 − β₁) g
        # v ← β₂ v + (1 − β₂) g ⊙ g
        # m̂ = m / (1 − β₁ᵗ) and v̂ = v / (1 − β₂ᵗ) undo the pull towards 0
        # w ← w − η m̂ / (√v̂ + ε), in place
        raise NotImplementedError("exercise 22: Adam.step")


# ----------------------------------------------------------------------------
# Training
#
# `fit` runs the classic loop: shuffle, cut into mini-batches, and for each
# batch zero the gradients, forward, loss, backward, step. It keeps a History
# of loss and accuracy per epoch (the report's "compute history").
# ----------------------------------------------------------------------------


class History:
    """Per-epoch lists `train_loss`, `train_acc`, `val_loss`, `val_acc`
    (accuracies in [0, 1]); `len(history)` is the number of epochs recorded."""

    def __init__(self) -> None:
        self.train_loss, self.train_acc = [], []
        self.val_loss, self.val_acc = [], []

    def __len__(self) -> int:
        return len(self.train_loss)

    def __repr__(self) -> str:
        if not len(self):
            return "History(0 epochs)"
        text = (f"History({len(self)} epochs, train_loss={self.train_loss[-1]:.4g}, "
                f"train_acc={self.train_acc[-1]:.4f}")
        if self.val_loss:
            text += (f", val_loss={self.val_loss[-1]:.4g}, "
                     f"val_acc={self.val_acc[-1]:.4f}")
        return text + ")"


def fit(model: Module, loss: Loss, optimizer: Optimizer, x: Tensor, y: Tensor,
        epochs: int, batch_size: int = 32, val: Optional[tuple] = None,
        shuffle: bool = True, history: bool = True, callback: Optional[Callable] = None,
        generator: Optional[Generator] = None) -> History:
    """Train `model` for `epochs` passes over `(x, y)` in mini-batches.

    `val=(x_val, y_val)` adds validation curves; `history=False` skips the
    evaluation after each epoch (faster) and returns an empty History;
    `callback(epoch, model, history)` runs after each epoch (`epoch` counts
    from 0) and stops training by returning False; it may change `optimizer.lr`
    for a schedule. A loss that becomes NaN or inf stops training with a
    FloatingPointError.
    """
    data = [("x", x, "y", y)]  # each data set, with the names the messages use
    if val is not None:
        data.append(("val[0]", val[0], "val[1]", val[1]))
    _check_fit(loss, callback, data)
    epochs = _check_number("fit", "epochs", epochs)
    batch_size = _check_number("fit", "batch_size", batch_size)
    record = History()
    model.train()
    for epoch in range(epochs):
        last_loss = _train_epoch(model, loss, optimizer, x, y, batch_size, shuffle,
                                 generator)
        # Once a weight is inf or NaN it stays so, and so does every later loss:
        # checking the epoch's last loss catches a divergence anywhere in it.
        if not math.isfinite(last_loss):
            raise FloatingPointError(
                f"fit: the loss became {last_loss} in epoch {epoch + 1} of {epochs}; "
                f"the weights diverged: try a smaller learning rate "
                f"(lr={optimizer.lr})")
        if history:
            _record_epoch(record, model, loss, x, y, val)
        if callback is not None and callback(epoch, model, record) is False:
            break
    return record


def _train_epoch(model, loss, optimizer, x, y, batch_size, shuffle, generator) -> float:
    """One pass over the data in mini-batches; returns the last batch's loss."""
    if shuffle:
        # A random permutation from tensor methods alone: the order that sorts n
        # uniform numbers (float64, so that ties are practically impossible)
        uniform = x.new_empty(len(x), dtype=_FLOAT64).uniform_(generator=generator)
        order = uniform.argsort()
        x, y = x[order], y[order]  # new tensors: the caller's x and y keep their order
    for start in range(0, len(x), batch_size):
        x_batch, y_batch = x[start:start + batch_size], y[start:start + batch_size]
        optimizer.zero_grad()
        batch_loss = loss(model(x_batch), y_batch)  # forward
        model.backward(loss.backward())  # backward
        optimizer.step()  # update
    return batch_loss.item()


def _record_epoch(record: History, model: Module, loss: Loss, x, y, val) -> None:
    """Loss and accuracy on the whole training (and validation) set."""
    model.eval()  # e.g. no dropout while measuring
    sets = [(x, y, record.train_loss, record.train_acc)]
    if val is not None:
        sets.append((val[0], val[1], record.val_loss, record.val_acc))
    for data, target, losses, accuracies in sets:
        prediction = model(data)
        losses.append(loss(prediction, target).item())
        accuracies.append(accuracy(prediction, target))
    model.train()


def accuracy(prediction: Tensor, target: Tensor, threshold: float = 0.5) -> float:
    """Fraction of rows classified right.

    One output column: the class is 1 where the prediction is ≥ `threshold`,
    and the target is read the same way: 0.5 suits a Sigmoid output with 0/1
    targets, 0 a Tanh output with ±1 targets. Several columns: the class is
    the argmax, and the target is class indices `(N,)` or `(N, 1)`, or one-hot
    `(N, C)`.

    >>> from torch import tensor
    >>> accuracy(tensor([[0.9], [0.2]]), tensor([[1.0], [1.0]]))
    0.5
    >>> accuracy(tensor([[0.3], [-0.8]]), tensor([[0.9], [-0.9]]), threshold=0)
    1.0
    """
    _check_accuracy(prediction, target)
    if prediction.dim() == 1 or prediction.shape[1] == 1:
        predicted, true = prediction.view(-1) >= threshold, target.view(-1) >= threshold
    elif target.shape == prediction.shape:  # one-hot targets
        predicted, true = prediction.argmax(dim=1), target.argmax(dim=1)
    else:  # class indices
        _check_classes("accuracy", target.view(-1), prediction.shape[1])
        predicted, true = prediction.argmax(dim=1), target.view(-1)
    return (predicted == true).sum().item() / len(prediction)


# ----------------------------------------------------------------------------
# Gradient check
#
# A hand-written backward is only as good as its derivation. `gradcheck`
# compares it with central finite differences,
#
#     ∂ℓ/∂θᵢ ≈ (ℓ(θ + ε eᵢ) − ℓ(θ − ε eᵢ)) / 2ε,
#
# whose error is of order ε², in float64 so that rounding stays far below it.
# ----------------------------------------------------------------------------


def gradcheck(module: Module, x: Tensor, target: Optional[Tensor] = None,
              eps: float = 1e-6) -> float:
    """Largest error between a hand-written backward and central finite
    differences: of a module, over the input gradient and every parameter
    gradient (`gradcheck(module, x)`); of a loss, over ∂ℓ/∂(prediction)
    (`gradcheck(loss, prediction, target)`). A correct module or loss scores at
    most 1e-6; a wrong one 1e-2 or more.

    The error of a gradient a against its finite-difference estimate n is
    ‖a − n‖ / max(‖a‖, ‖n‖, floor): relative for gradients of any usual size.
    The floor is 10⁶ times the rounding noise of n itself, so that gradients
    too small for finite differences to resolve (a saturated Sigmoid's, 1e-12)
    are compared in absolute terms, and noise alone scores at most 1e-6.

    It works on float64 copies: `module`, `x` and `target` are left as they
    were. The module must be deterministic (call `.eval()` on Dropout).

    >>> from torch import rand
    >>> gradcheck(Sequential(Dense(3, 4), Tanh()), rand(5, 3)) < 1e-6
    True
    >>> gradcheck(MSELoss(), rand(5, 1), rand(5, 1)) < 1e-6
    True
    """
    _check_batch("gradcheck", "x", x)
    eps = _check_number("gradcheck", "eps", eps)
    module = _float64_copy(module)
    x = x.to(dtype=_FLOAT64, copy=True).contiguous()  # a private copy, in order
    if isinstance(module, Loss):
        # a loss is one number already: ℓ = loss(x, y), and its backward is ∂ℓ/∂x
        def loss() -> float:
            return module(x, target).item()

        size = abs(loss()) + x.abs().max().item()  # ℓ and the largest logit
        analytic, tensors = [module.backward()], [x]
    else:
        loss, analytic, tensors, size = _weighted_sum(module, x)
    return _largest_error(loss, analytic, tensors, size, eps)


def _weighted_sum(module: Module, x: Tensor) -> tuple:
    """A module's output reduced to one number with fixed, all different weights
    r, ℓ = Σ r ⊙ output, so that ∂ℓ/∂(output) = r. Returns ℓ as a function, the
    gradients backward gives for x and every parameter, those tensors, and the
    size of the output."""
    output = module.forward(x)
    weights = output.new_ones(output.numel()).cumsum(0).sin().view(output.shape)

    def loss() -> float:
        return (module.forward(x) * weights).sum().item()

    module.zero_grad()
    analytic = [module.backward(weights)] + [grad.clone() for _, grad in module.param()]
    tensors = [x] + [value for value, _ in module.param()]
    return loss, analytic, tensors, output.abs().sum().item()


def _largest_error(loss: Callable[[], float], analytic: list, tensors: list,
                   size: float, eps: float) -> float:
    """max over the tensors of ‖a − n‖ / max(‖a‖, ‖n‖, floor), n by differences."""
    # the rounding error of loss() is about 2⁻⁵² (1 + size); divided by 2ε in n
    rounding = 2.0 ** -52 * (1 + size) / (2 * eps)
    errors = []
    for a, tensor in zip(analytic, tensors):
        n = _numeric_gradient(loss, tensor, eps)
        floor = 1e6 * rounding * math.sqrt(n.numel())
        scale = max(a.norm().item(), n.norm().item(), floor)
        errors.append((a - n).norm().item() / scale)
    return max(errors)


def _numeric_gradient(loss: Callable[[], float], tensor: Tensor, eps: float) -> Tensor:
    """Central differences of `loss()` with respect to each entry of `tensor`."""
    flat, gradient = tensor.view(-1), tensor.new_zeros(tensor.numel())
    for i in range(flat.numel()):
        original = flat[i].item()
        flat[i] = original + eps
        plus = loss()
        flat[i] = original - eps
        minus = loss()
        flat[i] = original  # put the entry back
        gradient[i] = (plus - minus) / (2 * eps)
    return gradient.view(tensor.shape)


def _float64_copy(module):
    """A float64 deep copy of a module or loss. Its torch.Generators (Dropout's)
    are shared, not copied: torch before 2.1 cannot deep-copy a Generator."""
    shared = {id(generator): generator for generator in _generators(module)}
    copied = copy.deepcopy(module, memo=shared)
    return copied.to(dtype=_FLOAT64) if isinstance(copied, Module) else copied


def _generators(module) -> Iterator:
    """Every torch.Generator held by `module` or by the modules it holds."""
    for value in vars(module).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Module):
                yield from _generators(item)
            elif type(item).__name__ == "Generator":
                yield item

# ----------------------------------------------------------------------------
# Input checks
#
# The mistakes students make most get a clear error where the data is handed
# over (`module(x)`, `loss(prediction, target)`, `Sequential(...)`, the
# optimizers, `fit`, `accuracy`, `gradcheck`, `load_state_dict`), naming the
# argument, what it got and what was expected. `module(x)` looks at x only
# once forward has failed, so a good input costs nothing; what would pass
# forward and be silently wrong (a target that broadcasts, rows that do not
# match, NaN data) is checked first. Rarer mistakes meet torch's own error.
# No check changes a caller's tensor.
# ----------------------------------------------------------------------------


def _kind(value: object) -> str:
    """How a message shows what it got: a tensor by dtype and shape."""
    if isinstance(value, _TENSOR):
        return f"{value.dtype} {tuple(value.shape)}"
    return type(value).__name__


def _check_tensor(owner: object, name: str, value: object, floating=True) -> None:
    """A torch tensor (not a list or a numpy array), of floats unless `floating`
    is False; convert data with `torch.as_tensor(data).float()`."""
    if not isinstance(value, _TENSOR) or (floating and not value.is_floating_point()):
        kind = "a float tensor" if floating else "a tensor"
        raise TypeError(f"{owner}: {name} must be {kind}, got {_kind(value)}")


def _check_batch(owner, x_name: str, x: object, y_name: str = "", y=None) -> None:
    """x: a float tensor of N ≥ 1 rows; y, if named: a tensor (any dtype) of N rows."""
    _check_tensor(owner, x_name, x)
    if y_name:
        _check_tensor(owner, y_name, y, floating=False)
    if x.dim() == 0 or len(x) == 0 or y_name and y.shape[:1] != x.shape[:1]:
        raise ValueError(f"{owner}: {x_name} {_kind(x)} must have N ≥ 1 rows"
                         + (f", {y_name} as many, not {_kind(y)}" if y_name else ""))


# What each number a user passes may be, in one table (as scikit-learn keeps its
# parameter constraints): its type, how it is stored, its test, and how a
# message says it
_SIZE = (numbers.Integral, int, lambda n: n >= 1, "an integer ≥ 1")
_POSITIVE = (numbers.Real, float, lambda x: x > 0, "a number > 0")
_NON_NEGATIVE = (numbers.Real, float, lambda x: x >= 0, "a number ≥ 0")
_FRACTION = (numbers.Real, float, lambda x: 0 <= x < 1, "a number in [0, 1)")
_BETAS = ((tuple, list), lambda pair: tuple(map(float, pair)),
          lambda pair: len(pair) == 2 and all(0 <= beta < 1 for beta in pair),
          "a pair (β₁, β₂) of numbers in [0, 1)")
_NUMBERS = {"in_features": _SIZE, "out_features": _SIZE, "epochs": _SIZE,
            "batch_size": _SIZE, "lr": _POSITIVE, "eps": _POSITIVE,
            "weight_decay": _NON_NEGATIVE, "momentum": _NON_NEGATIVE,
            "p": _FRACTION, "betas": _BETAS}


def _check_number(owner: str, name: str, value: object):
    """`value`, stored as `_NUMBERS[name]` says, if it is what that table asks
    for (numpy numbers are fine, a bool is not)."""
    kind, store, valid, expected = _NUMBERS[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{owner}: {name} must be {expected}, got {value!r}")
    if not valid(value):  # NaN fails every comparison: refused too
        raise ValueError(f"{owner}: {name} must be {expected}, got {value!r}")
    return store(value)


# the modules of this file whose output has the shape of their input
_SHAPE_KEEPING = (ReLU, Tanh, Sigmoid, Identity, Softmax, Dropout)


def _check_sequence(modules: tuple) -> None:
    """Sequential's items: Modules, each used once, Dense widths that agree."""
    for i, item in enumerate(modules):
        if not isinstance(item, Module):  # e.g. a loss, which goes to fit
            raise TypeError(f"Sequential: item {i} is not a Module: {item!r}")
        if item in modules[:i]:  # in two places, it would save only one forward
            raise ValueError(f"Sequential: item {i} reuses item {modules.index(item)}")
    dense = [i for i, module in enumerate(modules) if isinstance(module, Dense)]
    for i, j in zip(dense, dense[1:]):
        between = [isinstance(module, _SHAPE_KEEPING) for module in modules[i + 1:j]]
        if all(between) and modules[i].out_features != modules[j].in_features:
            raise ValueError(f"Sequential: item {i} outputs {modules[i].out_features} "
                             f"features, item {j} expects {modules[j].in_features}")


def _check_grad_output(grad: Tensor, output: Tensor) -> None:
    if grad.shape != output.shape or grad.dtype != output.dtype:
        raise ValueError(f"backward: grad_output is {_kind(grad)}, not {_kind(output)}")


def _check_classes(owner: object, target: Tensor, classes: int) -> None:
    bad = target[(target < 0) | (target >= classes)]
    if len(bad):
        raise ValueError(f"{owner}: class {bad[0].item()} is not in 0..{classes - 1}")


def _check_params(owner: str, params: object) -> list:
    """model.param(): a non-empty list of (value, gradient) pairs of tensors."""
    pairs = [] if isinstance(params, Module) else list(params)
    if not pairs or not all(isinstance(p, tuple) and len(p) == 2
                            and isinstance(p[0], _TENSOR) for p in pairs):
        raise TypeError(f"{owner}: pass model.param(), not {_kind(params)}")
    return pairs


def _check_state_dict(own: dict, state: Mapping) -> None:
    """Names, types and shapes, all checked before anything is copied."""
    problems = [f"missing key {name!r}" for name in own if name not in state]
    problems += [f"unexpected key {name!r}" for name in state if name not in own]
    for name, value in own.items():
        given = state.get(name, value)
        if (not isinstance(given, _TENSOR) or given.is_complex()
                or given.shape != value.shape):
            problems.append(f"{name!r} is {_kind(given)}, not {_kind(value)}")
    if problems:
        raise ValueError(f"load_state_dict: {'; '.join(problems)}")


def _check_fit(loss: Loss, callback: object, data: list) -> None:
    """fit's loss and callback, and each data set (x name, x, y name, y)."""
    if not isinstance(loss, Loss) or not (callback is None or callable(callback)):
        raise TypeError(f"fit: loss must be e.g. MSELoss(), callback a function or "
                        f"None; got {loss!r} and {callback!r}")
    for x_name, x, y_name, y in data:
        _check_batch("fit", x_name, x, y_name, y)
        for name, values in ((x_name, x), (y_name, y)):
            if values.is_floating_point() and not values.isfinite().all():
                raise ValueError(f"fit: {name} holds NaN or inf values")


def _check_accuracy(prediction: object, target: object) -> None:
    """(N, C) or (N,) predictions, N ≥ 1; targets (N,), (N, 1) or one-hot (N, C)."""
    _check_batch("accuracy", "prediction", prediction, "target", target)
    if prediction.dim() > 2 or target.shape[1:] not in ((), (1,), prediction.shape[1:]):
        raise ValueError(f"accuracy: prediction {tuple(prediction.shape)} and target "
                         f"{tuple(target.shape)} do not fit")
