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
`torch.set_grad_enabled(False)`. Besides torch: `math` and the standard
library.

**Notation.** Layer l = 1 … L computes

    s⁽ˡ⁾ = x⁽ˡ⁻¹⁾ w⁽ˡ⁾ᵀ + b⁽ˡ⁾        x⁽ˡ⁾ = σ(s⁽ˡ⁾)

where x⁽⁰⁾ is the input, σ the activation and ℓ the loss. A batch is a matrix
whose rows are samples (an input has shape `(N, in_features)`), so the
report's s = w x + b for one sample as a column is written here for rows:
s = x wᵀ + b. ∂ℓ/∂x is the gradient of the loss with respect to x, a tensor
of the shape of x; ⊙ is the entry-wise product; ᵀ transposes.

**How to read a module.** `forward` computes the output and saves what
`backward` needs. `backward(grad_output)` takes ∂ℓ/∂(output), adds the
gradients of the module's parameters into tensors the module owns, and
returns ∂ℓ/∂(input). Input checks live in `module(x)` (`__call__`), so
`forward` and `backward` hold only the maths: each line that computes sits
under the equation it computes.

Example:

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
    "Module", "Dense", "ReLU", "Tanh", "Sigmoid", "Identity", "Softmax", "Dropout",
    "Sequential", "Loss", "MSELoss", "CrossEntropyLoss", "Optimizer", "SGD", "Adam",
    "History", "fit", "accuracy", "gradcheck",
]

# The rule forbids importing torch.Tensor, but every tensor knows its own class
# and dtype: _TENSOR is torch.Tensor (for isinstance checks), _FLOAT64 is
# torch.float64 and _BOOL is torch.bool.
_TENSOR = type(empty(0))
_FLOAT64 = empty(0).double().dtype
_BOOL = empty(0).bool().dtype


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
        """`module(x)`: check the input, then `forward(x)`. Bad input fails here,
        with a message that names the module, so `forward` holds only the maths."""
        for x in inputs:
            _check_tensor(self, "input", x)
        self._check_input(*inputs)
        return self.forward(*inputs)

    def _check_input(self, *inputs: Tensor) -> None:
        """Raise a clear error for an input that `forward` cannot take. The base
        class asks only for floating-point tensors; Dense checks the width."""

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
        parameters, in place. Every entry is checked first: if a name, type or
        shape does not match, it says which, and nothing changes."""
        _check_state_dict(self, state)
        for name, value, _ in self.named_param():
            # in place: optimizers keep seeing the same tensors; `detach()` keeps a
            # source's gradient history (a PyTorch layer's parameter) out of the model
            value.copy_(state[name].detach())

    def to(self, dtype: Optional[dtype] = None,
           device: Optional[device] = None) -> Module:
        """Cast or move every parameter and gradient. The module keeps the very
        same tensor objects, as PyTorch does, so an optimizer built before
        `to()` still updates the model."""
        _check_dtype(self, dtype)
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
    for a reproducible initialisation.
    """

    parameter_names = (("weight", "grad_weight"), ("bias", "grad_bias"))

    def __init__(self, in_features: int, out_features: int, init: str = "he",
                 generator: Optional[Generator] = None,
                 dtype: Optional[dtype] = None,
                 device: Optional[device] = None) -> None:
        super().__init__()
        self.in_features = _check_size("Dense", "in_features", in_features)
        self.out_features = _check_size("Dense", "out_features", out_features)
        _check_choice("Dense", "init", init, ("he", "xavier"))
        _check_generator("Dense", generator)
        _check_dtype("Dense", dtype)
        # He: std = √(2 / in);  Xavier: std = √(2 / (in + out))
        fan = self.in_features + (self.out_features if init == "xavier" else 0)
        std = math.sqrt(2 / fan)
        # w ~ N(0, std²), shape (out, in);  b = 0, shape (out,)
        self.weight = empty(self.out_features, self.in_features, dtype=dtype,
                            device=device).normal_(0, std, generator=generator)
        self.bias = empty(self.out_features, dtype=dtype, device=device).zero_()
        # ∂ℓ/∂w and ∂ℓ/∂b: zero until backward adds into them
        self.grad_weight = self.weight.new_zeros(self.weight.shape)
        self.grad_bias = self.bias.new_zeros(self.bias.shape)
        self.input = None  # x, saved by forward: backward needs it for ∂ℓ/∂w

    def forward(self, x: Tensor) -> Tensor:
        # s = x wᵀ + b
        raise NotImplementedError("exercise 1: Dense.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        """Take ∂ℓ/∂s `(N, out)`, add into ∂ℓ/∂w and ∂ℓ/∂b, return ∂ℓ/∂x `(N, in)`."""
        # ∂ℓ/∂w += (∂ℓ/∂s)ᵀ x: the report's ∂ℓ/∂s xᵀ, summed over the batch
        # ∂ℓ/∂b += Σₙ (∂ℓ/∂s)ₙ: the report's ∂ℓ/∂s, summed over the rows
        # ∂ℓ/∂x = (∂ℓ/∂s) w: the report's wᵀ ∂ℓ/∂s, for rows
        raise NotImplementedError("exercise 2: Dense.backward")

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self!r} expects input of shape "
                             f"(N, {self.in_features}), got {tuple(x.shape)}")
        if x.dtype != self.weight.dtype:
            raise TypeError(f"{self!r} holds {self.weight.dtype} parameters but got a "
                            f"{x.dtype} input; cast one of them, e.g. "
                            f"x.to({self.weight.dtype})")

    def __repr__(self) -> str:
        return (f"Dense(in_features={self.in_features}, "
                f"out_features={self.out_features})")


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

    def __init__(self) -> None:
        super().__init__()
        self.output = None

    def forward(self, s: Tensor) -> Tensor:
        # x = max(0, s)
        raise NotImplementedError("exercise 3: ReLU.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        # σ'(s) = 1 where s > 0, else 0.
        raise NotImplementedError("exercise 4: ReLU.backward")


class Tanh(Module):
    """σ(s) = tanh(s), entry-wise."""

    def __init__(self) -> None:
        super().__init__()
        self.output = None

    def forward(self, s: Tensor) -> Tensor:
        # x = tanh(s)
        raise NotImplementedError("exercise 5: Tanh.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        # σ'(s) = 1 − tanh²(s) = 1 − x²
        # ∂ℓ/∂s = ∂ℓ/∂x ⊙ (1 − x²)
        raise NotImplementedError("exercise 6: Tanh.backward")


class Sigmoid(Module):
    """σ(s) = 1 / (1 + e⁻ˢ), entry-wise: finite for every s, never NaN."""

    def __init__(self) -> None:
        super().__init__()
        self.output = None

    def forward(self, s: Tensor) -> Tensor:
        # x = 1 / (1 + e⁻ˢ). Both are finite for every s: for s → −∞, e⁻ˢ overflows to
        # inf and 1 / (1 + inf) = 0, the right limit
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

    def __init__(self) -> None:
        super().__init__()
        self.output = None

    def forward(self, s: Tensor) -> Tensor:
        # xᵢ = e^sᵢ / Σⱼ e^sⱼ. Subtracting the row maximum m first changes nothing,
        # e^(sᵢ − m) / Σⱼ e^(sⱼ − m) = xᵢ, but keeps every exponent ≤ 0: no overflow
        raise NotImplementedError("exercise 11: Softmax.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        # Every output depends on every input. In one row, with g = ∂ℓ/∂x:
        #   ∂xᵢ/∂sⱼ = xᵢ (δᵢⱼ − xⱼ)
        #   ∂ℓ/∂sⱼ = Σᵢ gᵢ ∂xᵢ/∂sⱼ = xⱼ (gⱼ − Σᵢ gᵢ xᵢ)
        raise NotImplementedError("exercise 12: Softmax.backward")

    def _check_input(self, s: Tensor) -> None:
        if s.dim() != 2:
            raise ValueError(f"{self!r} expects input of shape (N, C), "
                             f"got {tuple(s.shape)}")


class Dropout(Module):
    """Inverted dropout: in training, zero each entry with probability `p` and
    scale the others by 1 / (1 − p); in eval mode, the identity."""

    def __init__(self, p: float = 0.5, generator: Optional[Generator] = None) -> None:
        super().__init__()
        self.p = _check_real("Dropout", "p", p, lambda p: 0 <= p < 1, "in [0, 1)")
        _check_generator("Dropout", generator)
        self.generator = generator
        self.mask = None  # m, saved by forward for backward

    def forward(self, x: Tensor) -> Tensor:
        # mᵢ = 1 / (1 − p) with probability 1 − p, else 0. Scaling now keeps
        # the mean of every entry, so eval mode needs no rescaling
        # eval mode: m = 1, every entry kept as it is
        # output = x ⊙ m
        raise NotImplementedError("exercise 13: Dropout.forward")

    def backward(self, grad_output: Tensor) -> Tensor:
        # ∂ℓ/∂x = ∂ℓ/∂(output) ⊙ m, with the mask of the last forward
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
    disagree, naming the positions.
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        _check_sequence(modules)
        self.modules = list(modules)
        self.output = None

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
        # Only x⁽⁰⁾ needs a check: Sequential(...) made sure that the widths agree
        # (and checking every layer's input at every step costs 15 % of training).
        # Activations and Dropout keep the shape: the first other module says what
        # x⁽⁰⁾ must be.
        for module in self.modules:
            module._check_input(x)
            if not isinstance(module, _SHAPE_KEEPING):
                break

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
        _check_dtype(self, dtype)
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
# A loss turns the network's output x = x⁽ᴸ⁾ (the prediction) and a target y
# into one number ℓ. Its backward starts backpropagation: it returns ∂ℓ/∂x,
# the report's ∇ℓ(x⁽ᴸ⁾), with the shape of the prediction.
# ----------------------------------------------------------------------------


class Loss:
    """Base class of the losses. `loss(prediction, target)` checks both, then
    `forward` returns ℓ as a 0-dim tensor and saves what `backward()` needs;
    `backward()` returns ∂ℓ/∂(prediction) for the last forward."""

    def __call__(self, prediction: Tensor, target: Tensor) -> Tensor:
        _check_tensor(self, "prediction", prediction)
        target = self._check_target(prediction, target)
        return self.forward(prediction, target)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def backward(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement backward()")

    def _check_target(self, prediction: Tensor, target: Tensor) -> Tensor:
        """Return the target in the form `forward` takes, or raise a clear error."""
        return target

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MSELoss(Loss):
    """Squared error ℓ = (1/M) Σ (x − y)² over all M entries (`reduction="mean"`,
    as PyTorch), or the plain sum ℓ = Σ (x − y)² (`reduction="sum"`, as the
    report). A target `(N,)` is taken for a prediction `(N, 1)`."""

    def __init__(self, reduction: str = "mean") -> None:
        _check_choice("MSELoss", "reduction", reduction, ("mean", "sum"))
        self.reduction = reduction
        self.difference = None

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        # d = x − y, saved for backward
        # ℓ = (1/M) Σ d²  (mean)   or   ℓ = Σ d²  (sum)
        raise NotImplementedError("exercise 17: MSELoss.forward")

    def backward(self) -> Tensor:
        # ∂ℓ/∂x = (2/M) d  (mean)   or   ∂ℓ/∂x = 2d  (sum)
        raise NotImplementedError("exercise 18: MSELoss.backward")

    def _check_target(self, prediction: Tensor, target: Tensor) -> Tensor:
        return _check_regression_target(self, prediction, target)

    def __repr__(self) -> str:
        return f"MSELoss(reduction={self.reduction!r})"


class CrossEntropyLoss(Loss):
    """Softmax and negative log-likelihood in one:
    ℓ = −(1/N) Σₙ log softmax(xₙ)[yₙ], for raw scores (logits) x `(N, C)` and
    class indices y `(N,)`. Feed it the last Dense layer's output: no Softmax."""

    def __init__(self) -> None:
        self.probabilities = None
        self.target = None

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        # log softmax(x)ᵢ = xᵢ − log Σⱼ e^xⱼ. Subtracting the row maximum m first,
        # log Σⱼ e^xⱼ = m + log Σⱼ e^(xⱼ − m), keeps every exponent ≤ 0 (log-sum-exp)
        # softmax(x), for backward
        # ℓ = −(1/N) Σₙ log softmax(xₙ)[yₙ], the true class's entry of each row
        raise NotImplementedError("exercise 19: CrossEntropyLoss.forward")

    def backward(self) -> Tensor:
        # Valid only for this fused pair, softmax then negative log-likelihood:
        # the softmax Jacobian and the 1/p of the log cancel, leaving
        # ∂ℓ/∂x = (softmax(x) − onehot(y)) / N
        raise NotImplementedError("exercise 20: CrossEntropyLoss.backward")

    def _check_target(self, prediction: Tensor, target: Tensor) -> Tensor:
        return _check_class_target(self, prediction, target)


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
        self.lr = _check_real(name, "lr", lr, lambda lr: lr > 0, "positive")
        self.weight_decay = _check_real(name, "weight_decay", weight_decay,
                                       lambda wd: wd >= 0, ">= 0")

    def step(self) -> None:
        """Update every parameter once, in place."""
        raise NotImplementedError(f"{type(self).__name__} must implement step()")

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to zero, in place."""
        for _, grad in self.params:
            grad.zero_()


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum in PyTorch's form:
    v ← μ v + g, then w ← w − η v (μ = 0, the default, is plain w ← w − η g).
    Weight decay λ adds λ w to the gradient (L2 regularisation)."""

    def __init__(self, params, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = _check_real("SGD", "momentum", momentum,
                                    lambda m: m >= 0, ">= 0")
        self.velocity = [0.0] * len(self.params)  # v = 0 before the first step

    def step(self) -> None:
        """Move every parameter once against its gradient, in place."""
        # g = ∂ℓ/∂w + λ w   (λ = 0: the gradient as it is)
        # v ← μ v + g   (μ = 0: v = g, plain SGD)
        # w ← w − η v, in place.
        raise NotImplementedError("exercise 21: SGD.step")


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): steps of η m̂ / (√v̂ + ε), from running means m
    of the gradient and v of its square, corrected for their start at zero.
    Weight decay λ adds λ w to the gradient first, as PyTorch's Adam does."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.betas = _check_betas("Adam", betas)
        self.eps = _check_real("Adam", "eps", eps, lambda eps: eps > 0, "positive")
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
    epochs, batch_size = _check_fit_arguments(model, loss, optimizer, x, y, epochs,
                                             batch_size, val, callback, generator)
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


def accuracy(prediction: Tensor, target: Tensor) -> float:
    """Fraction of rows classified right. One output column: the class is 1
    where the prediction is ≥ 0.5. Several columns: the argmax. The target is
    class indices `(N,)`, a column `(N, 1)` of them, or one-hot `(N, C)`.

    >>> accuracy(tensor([[0.9], [0.2]]), tensor([[1.0], [1.0]]))
    0.5
    """
    prediction, target = _check_accuracy_arguments(prediction, target)
    if prediction.shape[1] == 1:
        predicted, true = prediction[:, 0] >= 0.5, target >= 0.5
    else:
        predicted, true = prediction.argmax(dim=1), target
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


def gradcheck(module: Module, x: Tensor, eps: float = 1e-6) -> float:
    """Largest error between `module`'s backward and central finite differences,
    over the input gradient and every parameter gradient. A correct module
    scores at most 1e-6; a wrong one 1e-2 or more.

    The error of a gradient a against its finite-difference estimate n is
    ‖a − n‖ / max(‖a‖, ‖n‖, floor): relative for gradients of any usual size.
    The floor is 10⁶ times the rounding noise of n itself, so that gradients
    too small for finite differences to resolve (a saturated Sigmoid's, 1e-12)
    are compared in absolute terms, and noise alone scores at most 1e-6.

    It works on a float64 copy: `module` and `x` are left as they were. The
    module must be deterministic (call `.eval()` on Dropout).
    """
    eps = _check_gradcheck_arguments(module, x, eps)
    module = _float64_copy(module)
    x = x.to(dtype=_FLOAT64, copy=True).contiguous()  # a private copy, in order
    # Reduce the output to one number with fixed, all different weights r:
    # ℓ = Σ r ⊙ y, so that ∂ℓ/∂y = r
    output = module.forward(x)
    weights = output.new_ones(output.numel()).cumsum(0).sin().view(output.shape)
    module.zero_grad()
    analytic = [module.backward(weights)] + [grad.clone() for _, grad in module.param()]
    tensors = [x] + [value for value, _ in module.param()]

    def loss() -> float:
        return (module.forward(x) * weights).sum().item()

    # the rounding error of loss() is about 2⁻⁵² Σ|y|; divided by 2ε in n
    rounding = 2.0 ** -52 * (1 + output.abs().sum().item()) / (2 * eps)
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


def _float64_copy(module: Module) -> Module:
    """A float64 deep copy of `module`. Its torch.Generators (Dropout's) are
    shared, not copied: torch before 2.1 cannot deep-copy a Generator."""
    shared = {id(generator): generator for generator in _generators(module)}
    return copy.deepcopy(module, memo=shared).to(dtype=_FLOAT64)


def _generators(module: Module) -> Iterator:
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
# Bad input fails where the user hands it over (`module(x)`, `loss(x, y)`,
# the constructors, `fit`, `accuracy`, `gradcheck`, `load_state_dict`, `to`),
# with a message that names who complains, what it got and what it expected,
# not deep inside a matrix product. Nothing here changes a caller's tensor.
# ----------------------------------------------------------------------------


def _name_of(owner: object) -> str:
    """How a message names the module or function that complains."""
    text = owner if isinstance(owner, str) else repr(owner)
    return text if "\n" not in text else type(owner).__name__


def _check_tensor(owner: object, name: str, value: object) -> None:
    """Raise TypeError unless `value` is a floating-point tensor."""
    if not isinstance(value, _TENSOR):
        raise TypeError(f"{_name_of(owner)}: {name} must be a torch tensor, "
                        f"got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{_name_of(owner)}: {name} must be a floating-point tensor "
                        f"(float32 or float64), got {value.dtype}; convert it first, "
                        f"e.g. x.float()")


def _check_forward_ran(owner: object, saved: object) -> None:
    """Raise RuntimeError when backward runs before the forward it needs."""
    if saved is None:
        raise RuntimeError(f"{_name_of(owner)}: backward() called before forward(); "
                           f"run forward() first")


def _check_grad_output(owner: object, grad: object, output: Optional[Tensor]) -> None:
    """Check the gradient given to backward against the output of the last forward."""
    _check_forward_ran(owner, output)
    _check_tensor(owner, "grad_output", grad)
    if grad.dtype != output.dtype or grad.shape != output.shape:
        raise ValueError(f"{_name_of(owner)}: grad_output must have the shape and "
                         f"dtype of the last output, {tuple(output.shape)} "
                         f"{output.dtype}; got {tuple(grad.shape)} {grad.dtype}")


def _check_real(owner: str, name: str, value: object, valid: Callable,
               expected: str) -> float:
    """`value` as a float, if it is a finite real number for which `valid` holds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number, "
                        f"got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and valid(value)):
        raise ValueError(f"{owner}: {name} must be {expected}, got {value!r}")
    return float(value)


def _check_size(owner: str, name: str, value: object) -> int:
    """`value` as an int, if it is a positive integer (numpy integers too)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be a positive integer, "
                        f"got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _check_choice(owner: str, name: str, value: object, choices: tuple) -> None:
    if value not in choices:
        expected = " or ".join(repr(choice) for choice in choices)
        raise ValueError(f"{owner}: {name} must be {expected}, got {value!r}")


def _check_betas(owner: str, betas: object) -> tuple:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
    return tuple(_check_real(owner, f"betas[{i}]", beta,
                             lambda beta: 0 <= beta < 1, "in [0, 1)")
                 for i, beta in enumerate(betas))


def _check_generator(owner: str, generator: object) -> None:
    if generator is not None and type(generator).__name__ != "Generator":
        raise TypeError(f"{owner}: generator must be a torch.Generator or None, "
                        f"got {type(generator).__name__} {generator!r}")


def _check_dtype(owner: object, dtype: object) -> None:
    """Accept None or a floating-point torch dtype (float32, float64)."""
    if dtype is None:
        return
    try:
        floating = empty(0, dtype=dtype).is_floating_point()
    except TypeError:  # not a dtype at all, e.g. the string "float64"
        floating = False
    if not floating:
        raise TypeError(f"{_name_of(owner)}: dtype must be a floating-point torch "
                        f"dtype such as torch.float32 or torch.float64, got {dtype!r}")


# modules whose output has the shape of their input
_SHAPE_KEEPING = (ReLU, Tanh, Sigmoid, Identity, Softmax, Dropout)


def _check_sequence(modules: tuple) -> None:
    """Sequential's items: Modules, each used once, Dense widths that agree."""
    for index, module in enumerate(modules):
        if not isinstance(module, Module):
            is_loss = isinstance(module, Loss)
            hint = " (a loss is not a layer: give it to fit)" if is_loss else ""
            raise TypeError(f"Sequential: item {index} is not a Module, "
                            f"got {module!r}{hint}")
        first = next(i for i, other in enumerate(modules) if other is module)
        if first != index:
            raise ValueError(f"Sequential: items {first} and {index} are the same "
                             f"module {module!r}; a module remembers only its last "
                             f"forward, so create a new one for each position")
    width, where = None, None  # the output width of the last Dense so far
    for index, module in enumerate(modules):
        if isinstance(module, Dense):
            if width is not None and module.in_features != width:
                raise ValueError(f"Sequential: item {where} outputs {width} features "
                                 f"but item {index}, {module!r}, expects "
                                 f"{module.in_features}")
            width, where = module.out_features, index
        elif not isinstance(module, _SHAPE_KEEPING):
            width = None  # a module that may change the width: nothing to compare


def _check_regression_target(loss: Loss, prediction: Tensor, target: object) -> Tensor:
    """MSE's target as a tensor of the prediction's shape and dtype: a view or a
    copy, never the caller's tensor changed (no in-place `resize_`)."""
    if not isinstance(target, _TENSOR):
        raise TypeError(f"{loss!r}: target must be a torch tensor, "
                        f"got {type(target).__name__}")
    if target.is_complex() or target.dtype == _BOOL:
        raise TypeError(f"{loss!r}: target must hold real numbers, got {target.dtype}")
    if prediction.dim() == 2 and prediction.shape[1] == 1 and target.dim() == 1:
        target = target.view(-1, 1)  # (N,) -> (N, 1), a view
    if target.shape != prediction.shape:
        raise ValueError(f"{loss!r}: prediction has shape {tuple(prediction.shape)} "
                         f"but target has shape {tuple(target.shape)}; they must match")
    return target.to(prediction.dtype)  # a copy only when the dtypes differ


def _check_class_target(loss: Loss, prediction: Tensor, target: object) -> Tensor:
    """Cross-entropy's target: class indices `(N,)` in [0, C), as int64."""
    if prediction.dim() != 2 or len(prediction) == 0:
        raise ValueError(f"{loss!r}: prediction must be logits of shape (N, C) with "
                         f"N ≥ 1, got {tuple(prediction.shape)}")
    if (not isinstance(target, _TENSOR) or target.is_floating_point()
            or target.is_complex() or target.dtype == _BOOL):
        kind = target.dtype if isinstance(target, _TENSOR) else type(target).__name__
        raise TypeError(f"{loss!r}: target must be integer class indices "
                        f"(e.g. torch.long), got {kind}")
    n, classes = prediction.shape
    if target.shape != (n,):
        raise ValueError(f"{loss!r}: prediction has shape {tuple(prediction.shape)}, "
                         f"so target must have shape ({n},), got {tuple(target.shape)}")
    _check_class_range(loss, target, classes)
    return target.long()


def _check_class_range(owner: object, target: Tensor, classes: int) -> None:
    low, high = target.min().item(), target.max().item()
    if low < 0 or high >= classes:
        bad = low if low < 0 else high
        raise ValueError(f"{_name_of(owner)}: class index {bad} out of range: "
                         f"{classes} classes means indices 0..{classes - 1}")


def _check_params(owner: str, params: object) -> list:
    """An optimizer's parameters: a non-empty list of (value, gradient) pairs."""
    if isinstance(params, Module):
        raise TypeError(f"{owner}: pass model.param(), not the model itself")
    try:
        pairs = list(params)
    except TypeError:
        raise TypeError(f"{owner}: params must be model.param(), "
                        f"got {type(params).__name__}") from None
    if not pairs:
        raise ValueError(f"{owner}: got an empty parameter list")
    for index, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                and all(isinstance(t, _TENSOR) for t in pair)):
            raise TypeError(f"{owner}: parameter {index} must be a (value, gradient) "
                            f"pair of tensors from model.param(), got {pair!r}")
        if pair[0].shape != pair[1].shape:
            raise ValueError(f"{owner}: parameter {index} has shape "
                             f"{tuple(pair[0].shape)} but its gradient "
                             f"{tuple(pair[1].shape)}")
    return [tuple(pair) for pair in pairs]


def _check_state_dict(module: Module, state: object) -> None:
    """Names, types and shapes of a state dict; raise before anything is copied."""
    owner = f"{type(module).__name__}.load_state_dict"
    if not isinstance(state, Mapping):
        raise TypeError(f"{owner}: expected a dict of tensors, "
                        f"got {type(state).__name__}")
    for name, value in state.items():
        if not isinstance(value, _TENSOR) or value.is_complex():
            kind = value.dtype if isinstance(value, _TENSOR) else type(value).__name__
            raise TypeError(f"{owner}: {name!r} must be a real tensor, got {kind}")
    own = {name: value for name, value, _ in module.named_param()}
    problems = [f"missing key {name!r}" for name in own if name not in state]
    problems += [f"unexpected key {name!r}" for name in state if name not in own]
    problems += [f"{name!r} has shape {tuple(state[name].shape)}, "
                 f"expected {tuple(value.shape)}"
                 for name, value in own.items()
                 if name in state and state[name].shape != value.shape]
    if problems:
        raise ValueError(f"{owner}: " + "; ".join(problems))


def _check_fit_arguments(model, loss, optimizer, x, y, epochs, batch_size, val,
                        callback, generator) -> tuple:
    """Fail before training starts, with a message that says what is wrong."""
    if isinstance(loss, type):
        raise TypeError(f"fit: loss must be an instance, e.g. {loss.__name__}(), "
                        f"not the class {loss.__name__}")
    for name, value, kind in (("model", model, Module), ("loss", loss, Loss),
                              ("optimizer", optimizer, Optimizer)):
        if not isinstance(value, kind):
            raise TypeError(f"fit: {name} must be a {kind.__name__}, "
                            f"got {type(value).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"fit: callback must be callable, "
                        f"got {type(callback).__name__}")
    _check_generator("fit", generator)
    _check_data("fit", "x", x, "y", y)
    if val is not None:
        if not isinstance(val, (tuple, list)) or len(val) != 2:
            raise TypeError("fit: val must be a pair (x_val, y_val) or None")
        _check_data("fit", "val[0]", val[0], "val[1]", val[1])
    epochs = _check_size("fit", "epochs", epochs)
    return epochs, _check_size("fit", "batch_size", batch_size)


def _check_data(owner: str, x_name: str, x: object, y_name: str, y: object) -> None:
    """A data set: x `(N, features)` and y with N rows, N ≥ 1, finite values."""
    _check_tensor(owner, x_name, x)
    if not isinstance(y, _TENSOR):
        raise TypeError(f"{owner}: {y_name} must be a torch tensor, "
                        f"got {type(y).__name__}")
    if x.dim() != 2 or y.dim() == 0 or len(y) != len(x):
        raise ValueError(f"{owner}: {x_name} must be (N, features) and {y_name} must "
                         f"have N rows; got {x_name} {tuple(x.shape)} and "
                         f"{y_name} {tuple(y.shape)}")
    if len(x) == 0:
        raise ValueError(f"{owner}: {x_name} is empty (0 samples); nothing to train on")
    for name, data in ((x_name, x), (y_name, y)):
        if data.is_floating_point() and not data.isfinite().all():
            raise ValueError(f"{owner}: {name} holds NaN or inf values; clean the data "
                             f"first")


def _check_accuracy_arguments(prediction: object, target: object) -> tuple:
    """accuracy's inputs, as a prediction `(N, C)` and labels `(N,)` to compare."""
    for name, value in (("prediction", prediction), ("target", target)):
        if not isinstance(value, _TENSOR):
            raise TypeError(f"accuracy: {name} must be a torch tensor, "
                            f"got {type(value).__name__}")
    if prediction.dim() == 1:
        prediction = prediction.view(-1, 1)  # (N,) -> (N, 1): one output column
    if prediction.dim() != 2 or len(prediction) == 0:
        raise ValueError(f"accuracy: prediction must have shape (N, C) or (N,) with "
                         f"N ≥ 1, got {tuple(prediction.shape)}")
    n, columns = prediction.shape
    if target.shape == (n, columns) and columns > 1:
        return prediction, target.argmax(dim=1)  # one-hot -> class indices
    if target.shape not in ((n,), (n, 1)):
        one_hot = f" or one-hot ({n}, {columns})" if columns > 1 else ""
        raise ValueError(f"accuracy: prediction has shape {(n, columns)}, so target "
                         f"must have shape ({n},) or ({n}, 1){one_hot}; "
                         f"got {tuple(target.shape)}")
    target = target.reshape(-1)
    if columns > 1:
        _check_class_range("accuracy", target, columns)
    return prediction, target


def _check_gradcheck_arguments(module: object, x: object, eps: object) -> float:
    if not isinstance(module, Module):
        raise TypeError(f"gradcheck: module must be a Module, "
                        f"got {type(module).__name__}")
    _check_tensor("gradcheck", "x", x)
    if x.numel() == 0:
        raise ValueError(f"gradcheck: x is empty, shape {tuple(x.shape)}; "
                         f"give it at least one sample")
    return _check_real("gradcheck", "eps", eps, lambda eps: eps > 0, "positive")
