r"""minimlp — a multilayer-perceptron framework written by hand on torch tensors.

This one file is a complete, small deep-learning framework: layers, activations,
losses, optimizers and a training loop, with every gradient derived and written
by hand. It is meant to be *read*: by a student who must write such a framework
for a course (the classic "implement a framework from scratch" homework, EPFL
EE-559 mini-project 2), and by anyone who wants to see backpropagation with
nothing hidden. Copy this file alone into your project; it needs only torch.

The rule it keeps, the strictest form of the homework's: at run time the only
contact with torch is `from torch import empty`. Every other operation is a
method of a tensor (`x.mm(w)`, `x.exp()`, ...). Nothing comes from torch's
layers, optimizers or automatic differentiation, and the code runs with
`torch.set_grad_enabled(False)` in force.

Notation (the same as the docs). For layer $l = 1 \dots L$:
$s^{(l)} = x^{(l-1)} w^{(l)T} + b^{(l)}$ and $x^{(l)} = \sigma(s^{(l)})$,
with $x^{(0)}$ the input and $\ell$ the loss. A batch is a matrix whose rows
are samples: an input has shape `(N, in_features)`.

Example:

```python
model = Sequential(Dense(2, 25), ReLU(), Dense(25, 1), Sigmoid())
history = fit(model, MSELoss(), SGD(model.param(), lr=0.1), x, y, epochs=10)
```
"""

# ---------------------------------------------------------------------------
# Exercise skeleton, generated from minimlp.py by exercises/make_student.py.
# The body of each exercise (Dense.forward, Dense.backward, ..., Adam.step) is
# a `raise NotImplementedError("exercise N: ...")` under the equations it must
# compute. Copy this file, write the code under each equation, and run
#     python exercises/check.py your_copy.py
# which says for every exercise PASS, TODO or FAIL, and why.
# ---------------------------------------------------------------------------

# Snippet sections. The docs include the code between a `[start:NAME]` and an
# `[end:NAME]` marker comment (pymdownx.snippets' syntax), so the code they
# show is always the code that runs. The names, stable once chosen:
# module, dense_init, dense_forward, dense_backward, relu_forward,
# relu_backward, tanh_forward, tanh_backward, sigmoid_forward,
# sigmoid_backward, identity, softmax_forward, softmax_backward,
# dropout_forward, dropout_backward, sequential_forward, sequential_backward,
# mse_forward, mse_backward, cross_entropy_forward, cross_entropy_backward,
# sgd_step, adam_step, fit_epoch, accuracy, gradcheck.

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from torch import empty

if TYPE_CHECKING:  # names for type hints only; never imported at run time
    from torch import Generator, Tensor, device, dtype

__all__ = [
    "Module", "Dense", "ReLU", "Tanh", "Sigmoid", "Identity", "Softmax",
    "Dropout", "Sequential", "Loss", "MSELoss", "CrossEntropyLoss", "SGD", "Adam",
    "History", "fit", "accuracy", "gradcheck",
]

# The homework forbids importing `torch.Tensor`, but every tensor knows its
# own class: this is `torch.Tensor`, used for `isinstance` checks. Likewise
# `torch.float64` is the dtype of any tensor turned to double.
_TENSOR = type(empty(0))
_FLOAT64 = empty(0).double().dtype


# ---------------------------------------------------------------------------
# ## Module: the interface every layer follows
#
# A module maps an input to an output in `forward`, and in `backward` maps
# $\partial\ell/\partial(\text{output})$ to $\partial\ell/\partial(\text{input})$
# by the chain rule. A module with parameters also *adds* their gradients into
# tensors it owns (`+=`, as PyTorch accumulates), so the gradient lives next to
# the parameter it belongs to, and an optimizer that holds both sees every
# update.
# ---------------------------------------------------------------------------


# --8<-- [start:module]
class Module:
    """Base class: `forward`, `backward`, and the bookkeeping of parameters.

    A subclass with parameters lists them in `parameter_names` as
    `(value attribute, gradient attribute)` pairs, e.g.
    `(("weight", "grad_weight"), ("bias", "grad_bias"))`; everything else
    (`param`, `zero_grad`, `state_dict`, `to`) follows from that list.
    """

    parameter_names: tuple = ()
    training = True  # a subclass that forgets super().__init__() still works

    def __init__(self) -> None:
        self.training = True

    def forward(self, *inputs: Tensor) -> Tensor:
        """Compute the output, and save what `backward` will need."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def backward(self, *grad_outputs: Tensor) -> Tensor:
        r"""Take $\partial\ell/\partial(\text{output})$, return $\partial\ell/\partial(\text{input})$,
        and add the parameter gradients into the module's gradient tensors."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward()")

    def __call__(self, *inputs: Tensor) -> Tensor:
        """`module(x)` is `module.forward(x)`."""
        return self.forward(*inputs)

    def named_param(self) -> list:
        """`(name, value, gradient)` for each parameter, the very tensors held."""
        return [(name, getattr(self, name), getattr(self, grad_name))
                for name, grad_name in self.parameter_names]

    def param(self) -> list:
        """`(value, gradient)` pairs; an in-place update is seen by the module."""
        return [(value, grad) for _, value, grad in self.named_param()]

    def zero_grad(self) -> None:
        """Set every gradient to zero, in place (gradients accumulate otherwise)."""
        for _, grad in self.param():
            grad.zero_()

    def train(self, mode: bool = True) -> Module:
        """Training mode (the default; Dropout drops). Returns the module."""
        self.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode (Dropout is the identity). Returns the module."""
        return self.train(False)
    # --8<-- [end:module]

    def state_dict(self) -> dict:
        """Copies of the parameter values by name, e.g. `{"weight": ..., "bias": ...}`."""
        return {name: value.clone() for name, value, _ in self.named_param()}

    def load_state_dict(self, state: dict) -> None:
        """Copy values into the parameters in place, after checking names and shapes."""
        own = {name: value for name, value, _ in self.named_param()}
        for name, value in state.items():
            if not isinstance(value, _TENSOR):
                raise TypeError(f"{type(self).__name__}.load_state_dict: {name!r} must be a "
                                f"tensor, got {type(value).__name__}")
        problems = [f"missing key {name!r}" for name in own if name not in state]
        problems += [f"unexpected key {name!r}" for name in state if name not in own]
        problems += [
            f"{name!r} has shape {tuple(state[name].shape)}, expected {tuple(value.shape)}"
            for name, value in own.items()
            if name in state and tuple(state[name].shape) != tuple(value.shape)
        ]
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        for name, value in own.items():
            value.copy_(state[name])  # in place: optimizers keep seeing the same tensors

    def to(self, dtype: Optional[dtype] = None, device: Optional[device] = None) -> Module:
        """Cast/move parameters and gradients. The tensors are replaced by new
        ones: build the optimizer *after* calling `to`."""
        if dtype is not None and not empty(0, dtype=dtype).is_floating_point():
            raise TypeError(f"{self!r}: to() needs a floating-point dtype, got {dtype}")
        for name, grad_name in self.parameter_names:
            setattr(self, name, getattr(self, name).to(dtype=dtype, device=device))
            setattr(self, grad_name, getattr(self, grad_name).to(dtype=dtype, device=device))
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# ---------------------------------------------------------------------------
# ## Dense: the affine layer
#
# For a batch the samples are rows, so the report's $s = w x + b$ (one sample,
# a column) becomes $s = x w^T + b$, with $x$ of shape `(N, in)`, $w$ of shape
# `(out, in)` and $b$ added to every row.
# ---------------------------------------------------------------------------


class Dense(Module):
    r"""Affine layer $s = x w^T + b$: `Dense(2, 25)` maps `(N, 2)` to `(N, 25)`.

    `init="he"` draws $w \sim \mathcal{N}(0, 2/\text{in})$ (suits ReLU, the
    report's choice); `init="xavier"` draws $w \sim \mathcal{N}(0, 2/(\text{in}+\text{out}))$.
    The bias starts at zero. Pass a `torch.Generator` for a reproducible init.
    """

    parameter_names = (("weight", "grad_weight"), ("bias", "grad_bias"))

    # --8<-- [start:dense_init]
    def __init__(self, in_features: int, out_features: int, init: str = "he",
                 generator: Optional[Generator] = None,
                 dtype: Optional[dtype] = None, device: Optional[device] = None) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Dense: {name} must be a positive integer, got {value!r}")
        if init == "he":
            std = math.sqrt(2.0 / in_features)
        elif init == "xavier":
            std = math.sqrt(2.0 / (in_features + out_features))
        else:
            raise ValueError(f"Dense: unknown init {init!r}; expected 'he' or 'xavier'")
        self.in_features, self.out_features = in_features, out_features
        self.weight = empty(out_features, in_features, dtype=dtype, device=device)
        self.weight.normal_(0.0, std, generator=generator)
        self.bias = empty(out_features, dtype=dtype, device=device).zero_()
        self.grad_weight = self.weight.new_zeros(self.weight.shape)
        self.grad_bias = self.bias.new_zeros(self.bias.shape)
        self.input = None  # x, saved by forward for the weight gradient
        self.weight_t = None  # w^T as a view of w, made once (see forward)
        self.ones = None   # a column of N ones, reused by backward (see there)
    # --8<-- [end:dense_init]

    # --8<-- [start:dense_forward]
    def forward(self, x: Tensor) -> Tensor:
        # $s = x w^T + b$, in one fused call (`addmm` = add + matrix multiply)
        # (N, in) @ (in, out) -> (N, out), plus b broadcast over the N rows
        raise NotImplementedError("exercise 1: Dense.forward")
    # --8<-- [end:dense_forward]

    # --8<-- [start:dense_backward]
    def backward(self, grad_output: Tensor, input_grad: bool = True) -> Optional[Tensor]:
        r"""Take $\partial\ell/\partial s$, accumulate the parameter gradients,
        return $\partial\ell/\partial x$ (None when `input_grad=False`: the
        first layer of a network needs no gradient for the data)."""
        # (N, out) -> (out, N), a view
        # $\partial\ell/\partial w \mathrel{+}= (\partial\ell/\partial s)^T x$: the report's
        # $\partial\ell/\partial s \; x^T$ summed over the samples of the batch
        # (out, N) @ (N, in) -> (out, in)
        # $\partial\ell/\partial b \mathrel{+}= \sum_n (\partial\ell/\partial s)_n$, the sum over
        # rows written as a product with a column of ones: $(\partial\ell/\partial s)^T \mathbf{1}$
        # (out, N) @ (N,) -> (out,)
        # $\partial\ell/\partial x = (\partial\ell/\partial s)\, w$, the report's $w^T \partial\ell/\partial s$
        # (N, out) @ (out, in) -> (N, in)
        raise NotImplementedError("exercise 2: Dense.backward")
    # --8<-- [end:dense_backward]

    def _transposed_weight(self) -> Tensor:
        """$w^T$, `(in, out)`. `w.t()` costs a tensor op at every call; a view made
        once costs none, and sees every in-place update of $w$ (optimizer steps,
        `load_state_dict`). It is remade when `weight` is a new tensor (`to()`)."""
        if self.weight_t is None or self.weight_t._base is not self.weight:
            self.weight_t = self.weight.t()
        return self.weight_t

    def _ones(self, like: Tensor) -> Tensor:
        """A vector of N ones, made once per batch size (not once per step)."""
        ones = self.ones
        if (ones is None or ones.shape[0] != like.shape[0] or ones.dtype != like.dtype
                or ones.device != like.device):
            self.ones = like.new_ones(like.shape[0])
        return self.ones

    def __repr__(self) -> str:
        return f"Dense(in_features={self.in_features}, out_features={self.out_features})"


# ---------------------------------------------------------------------------
# ## Activations
#
# An activation acts on each entry alone, $x = \sigma(s)$, so its Jacobian is
# diagonal and the chain rule is an entry-wise product:
# $$\frac{\partial\ell}{\partial s} = \frac{\partial\ell}{\partial x} \odot \sigma'(s)$$
# Where $\sigma'$ is cheaper and stabler to get from the output $x$ than from
# $s$ (Sigmoid, Tanh, ReLU), forward saves the output.
# ---------------------------------------------------------------------------


class ReLU(Module):
    r"""$\sigma(s) = \max(0, s)$."""

    def __init__(self) -> None:
        super().__init__()
        self.output = None

    # --8<-- [start:relu_forward]
    def forward(self, s: Tensor) -> Tensor:
        # $x = \max(0, s)$
        raise NotImplementedError("exercise 3: ReLU.forward")
    # --8<-- [end:relu_forward]

    # --8<-- [start:relu_backward]
    def backward(self, grad_output: Tensor) -> Tensor:
        # $\sigma'(s) = 1$ where $s > 0$, else $0$. As $x = \max(0, s) \ge 0$,
        # that is exactly $\mathrm{sign}(x)$ (one cheap op, no boolean mask)
        raise NotImplementedError("exercise 4: ReLU.backward")
    # --8<-- [end:relu_backward]


class Tanh(Module):
    r"""$\sigma(s) = \tanh(s)$."""

    def __init__(self) -> None:
        super().__init__()
        self.output = None

    # --8<-- [start:tanh_forward]
    def forward(self, s: Tensor) -> Tensor:
        # $x = \tanh(s)$
        raise NotImplementedError("exercise 5: Tanh.forward")
    # --8<-- [end:tanh_forward]

    # --8<-- [start:tanh_backward]
    def backward(self, grad_output: Tensor) -> Tensor:
        # $\tanh'(s) = 1 - \tanh^2(s) = 1 - x^2$
        raise NotImplementedError("exercise 6: Tanh.backward")
    # --8<-- [end:tanh_backward]


class Sigmoid(Module):
    r"""$\sigma(s) = 1 / (1 + e^{-s})$: finite for any $s$, 0 and 1 in the limits, never NaN."""

    def __init__(self) -> None:
        super().__init__()
        self.output = None

    # --8<-- [start:sigmoid_forward]
    def forward(self, s: Tensor) -> Tensor:
        # $\sigma(s) = 1/(1 + e^{-s})$. For $s \to -\infty$, $e^{-s}$ reaches inf and
        # $1/(1 + \infty) = 0$: floating point lands on the right limit, never NaN.
        # (The other textbook form, $e^{s}/(1 + e^{s})$, gives inf/inf = NaN for large $s$.)
        # `s.neg()` is a new tensor; the in-place `exp_`, `add_`, `reciprocal_` reuse
        # its memory (the caller's `s` is never touched)
        raise NotImplementedError("exercise 7: Sigmoid.forward")
    # --8<-- [end:sigmoid_forward]

    # --8<-- [start:sigmoid_backward]
    def backward(self, grad_output: Tensor) -> Tensor:
        # $\sigma'(s) = \sigma(s)\,(1 - \sigma(s)) = x (1 - x)$, computed as
        # $x - x \cdot x$ in one fused call (`addcmul`: $a + v\, b \odot c$)
        raise NotImplementedError("exercise 8: Sigmoid.backward")
    # --8<-- [end:sigmoid_backward]


# --8<-- [start:identity]
class Identity(Module):
    r"""$\sigma(s) = s$ (the report's "Linear" activation): $\sigma'(s) = 1$."""

    def __init__(self) -> None:
        super().__init__()
        self.ran_forward = None

    def forward(self, s: Tensor) -> Tensor:
        _check_tensor(self, "input", s)
        self.ran_forward = True
        return s

    def backward(self, grad_output: Tensor) -> Tensor:
        _check_saved(self, self.ran_forward)
        # $\partial\ell/\partial s = \partial\ell/\partial x \cdot 1$
        return grad_output
# --8<-- [end:identity]


class Softmax(Module):
    r"""$x_i = e^{s_i} / \sum_j e^{s_j}$ over each row (dim 1): turns scores into probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.output = None

    # --8<-- [start:softmax_forward]
    def forward(self, s: Tensor) -> Tensor:
        _check_tensor(self, "input", s)
        if s.dim() != 2:
            raise ValueError(f"{self!r} expects input of shape (N, C), got {tuple(s.shape)}")
        # Subtracting the row maximum $m$ changes nothing,
        # $e^{s_i - m} / \sum_j e^{s_j - m} = e^{s_i} / \sum_j e^{s_j}$,
        # but keeps every exponent $\le 0$, so $e^{(\cdot)}$ cannot overflow.
        exps = (s - s.amax(dim=1, keepdim=True)).exp_()
        self.output = exps.div_(exps.sum(dim=1, keepdim=True))
        return self.output
    # --8<-- [end:softmax_forward]

    # --8<-- [start:softmax_backward]
    def backward(self, grad_output: Tensor) -> Tensor:
        # Every output depends on every input: the Jacobian of one row is
        # $\partial x_i / \partial s_j = x_i (\delta_{ij} - x_j)$, i.e. $J = \mathrm{diag}(x) - x x^T$.
        # Its product with $g = \partial\ell/\partial x$ needs no $C \times C$ matrix:
        # $$\frac{\partial\ell}{\partial s} = J^T g = x \odot \big(g - (g \cdot x)\big)$$
        # (N, C) * (N, C) summed over C -> (N, 1), broadcast back over C
        raise NotImplementedError("exercise 9: Softmax.backward")
    # --8<-- [end:softmax_backward]


class Dropout(Module):
    """Inverted dropout: in training, zero each entry with probability `p` and
    scale the survivors by $1/(1-p)$; in eval mode, the identity."""

    def __init__(self, p: float = 0.5, generator: Optional[Generator] = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1), got {p!r}")
        self.p, self.generator = float(p), generator
        self.mask = None  # the scaled mask of the last training forward
        self.shape = None  # the input shape of the last forward (None: no forward yet)

    # --8<-- [start:dropout_forward]
    def forward(self, x: Tensor) -> Tensor:
        _check_tensor(self, "input", x)
        self.shape = x.shape
        if not self.training:
            self.mask = None  # eval mode: the identity, nothing to remember
            return x
        # Keep each entry with probability $1 - p$. Scaling the kept ones by
        # $1/(1-p)$ now ("inverted" dropout) keeps $\mathbb{E}[\text{output}] = x$,
        # so eval mode needs no rescaling at all.
        keep = x.new_empty(x.shape).bernoulli_(1.0 - self.p, generator=self.generator)
        self.mask = keep.div_(1.0 - self.p)
        return x * self.mask
    # --8<-- [end:dropout_forward]

    # --8<-- [start:dropout_backward]
    def backward(self, grad_output: Tensor) -> Tensor:
        _check_saved(self, self.shape)
        _check_shape(self, "grad_output", grad_output, self.shape)
        if self.mask is None:  # the last forward ran in eval mode: the identity
            return grad_output
        # output $= x \odot m$, so $\partial\ell/\partial x = \partial\ell/\partial(\text{output}) \odot m$
        return grad_output * self.mask
    # --8<-- [end:dropout_backward]

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


# ---------------------------------------------------------------------------
# ## Sequential: the network
#
# Forward runs the modules in order, $x^{(0)} \to s^{(1)} \to x^{(1)} \to \dots$;
# backward runs them in reverse, each turning $\partial\ell/\partial(\text{its output})$
# into $\partial\ell/\partial(\text{its input})$ — that is the whole of backpropagation.
# ---------------------------------------------------------------------------


class Sequential(Module):
    """A chain of modules: `Sequential(Dense(2, 25), ReLU(), Dense(25, 1), Sigmoid())`."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for index, module in enumerate(modules):
            if not (hasattr(module, "forward") and hasattr(module, "backward")):
                raise TypeError(f"Sequential: item {index} is not a Module, got {module!r}")
        self.modules = list(modules)

    # --8<-- [start:sequential_forward]
    def forward(self, x: Tensor) -> Tensor:
        for module in self.modules:
            x = module.forward(x)
        return x
    # --8<-- [end:sequential_forward]

    # --8<-- [start:sequential_backward]
    def backward(self, grad_output: Tensor, input_grad: bool = True) -> Optional[Tensor]:
        r"""Backpropagate $\partial\ell/\partial x^{(L)}$ through every module,
        last first. With `input_grad=False` it returns None and a first `Dense`
        skips $\partial\ell/\partial x^{(0)}$, which training never uses."""
        # an empty Sequential is the identity
        raise NotImplementedError("exercise 13: Sequential.backward")
    # --8<-- [end:sequential_backward]

    def named_param(self) -> list:
        """Parameters of every module, named like PyTorch: `"0.weight"`, `"0.bias"`, ..."""
        return [(f"{index}.{name}", value, grad)
                for index, module in enumerate(self.modules)
                for name, value, grad in module.named_param()]

    def train(self, mode: bool = True) -> Sequential:
        self.training = mode
        for module in self.modules:
            module.train(mode)
        return self

    def to(self, dtype: Optional[dtype] = None, device: Optional[device] = None) -> Sequential:
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
        lines = [f"  ({index}): {module!r}" for index, module in enumerate(self.modules)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"


# ---------------------------------------------------------------------------
# ## Losses
#
# A loss turns a prediction and a target into one number $\ell$, and its
# backward gives the start of backpropagation, $\partial\ell/\partial x^{(L)}$
# (the report's $\nabla\ell(x^{(L)})$), with the shape of the prediction.
# ---------------------------------------------------------------------------


class Loss:
    r"""Base class of the losses: `forward(prediction, target)` returns $\ell$ as a
    0-dim tensor and saves what `backward()` needs; `backward()` returns
    $\partial\ell/\partial(\text{prediction})$. `loss(prediction, target)` is `forward`."""

    def __call__(self, prediction: Tensor, target: Tensor) -> Tensor:
        return self.forward(prediction, target)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def backward(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement backward()")


class MSELoss(Loss):
    r"""Mean squared error $\ell = \frac{1}{M}\sum (x - y)^2$ over all $M$ entries
    (`reduction="mean"`, as PyTorch), or the plain sum (`"sum"`, as the report)."""

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"MSELoss: reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self.difference = None

    # --8<-- [start:mse_forward]
    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        """The loss (a 0-dim tensor) of `prediction` against a `target` of the same shape."""
        # $d = x - y$, saved for backward
        # $\ell = \sum d^2$, as the dot product of $d$ (flattened) with itself,
        # divided by the number of entries $M$ for the mean
        # (N, C) -> (N*C,), a view when possible
        raise NotImplementedError("exercise 10: MSELoss.forward")
    # --8<-- [end:mse_forward]

    # --8<-- [start:mse_backward]
    def backward(self) -> Tensor:
        r"""$\partial\ell/\partial x$ for the last forward, shaped like the prediction."""
        # $\partial\ell/\partial x = 2 d$ (sum), or $2 d / M$ (mean)
        raise NotImplementedError("exercise 11: MSELoss.backward")
    # --8<-- [end:mse_backward]

    def _match_target(self, prediction: Tensor, target: Tensor) -> Tensor:
        """The target as a tensor of the prediction's shape and dtype — a new
        view or copy, never the caller's tensor changed (no in-place `resize_`)."""
        if not isinstance(target, _TENSOR):
            raise TypeError(f"{self!r}: target must be a torch tensor, got {type(target).__name__}")
        n = prediction.shape[0] if prediction.dim() > 0 else None
        if prediction.dim() == 2 and prediction.shape[1] == 1 and tuple(target.shape) == (n,):
            target = target.reshape(n, 1)  # (N,) -> (N, 1): a view, not a mutation
        if target.shape != prediction.shape:
            raise ValueError(f"{self!r}: prediction has shape {tuple(prediction.shape)} but "
                             f"target has shape {tuple(target.shape)}; they must match")
        return target if target.dtype == prediction.dtype else target.to(prediction.dtype)

    def __repr__(self) -> str:
        return f"MSELoss(reduction={self.reduction!r})"


class CrossEntropyLoss(Loss):
    r"""Softmax and negative log-likelihood fused: $\ell = -\frac{1}{N}\sum_n
    \log \mathrm{softmax}(z_n)_{y_n}$ for logits $z$ `(N, C)` and class indices
    $y$ `(N,)`. Feed it raw scores: no Softmax module before it."""

    def __init__(self) -> None:
        self.probabilities = None
        self.target = None

    # --8<-- [start:cross_entropy_forward]
    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """The mean loss (a 0-dim tensor) of logits `(N, C)` against class indices `(N,)`."""
        _check_tensor(self, "logits", logits)
        target = self._check_target(logits, target)
        # log-sum-exp trick: with $m = \max_j z_j$,
        # $\log\sum_j e^{z_j} = m + \log\sum_j e^{z_j - m}$, and no $e^{(\cdot)}$ overflows
        shifted = logits - logits.amax(dim=1, keepdim=True)
        exps = shifted.exp()
        sums = exps.sum(dim=1, keepdim=True)
        # $\log \mathrm{softmax}(z)_i = (z_i - m) - \log\sum_j e^{z_j - m}$
        log_probabilities = shifted - sums.log()
        self.probabilities = exps.div_(sums)
        self.target = target
        # pick $\log \mathrm{softmax}(z_n)_{y_n}$, the entry of the true class, in each row $n$
        # (N, C) gathered at (N, 1) indices -> (N, 1)
        picked = log_probabilities.gather(1, target.view(-1, 1))
        return -picked.mean()
    # --8<-- [end:cross_entropy_forward]

    # --8<-- [start:cross_entropy_backward]
    def backward(self) -> Tensor:
        r"""$\partial\ell/\partial z$ for the last forward, shaped like the logits."""
        # Valid only for this fused pair (softmax then negative log-likelihood):
        # the softmax Jacobian and the $1/p$ of the log cancel, leaving
        # $$\frac{\partial\ell}{\partial z} = \frac{\mathrm{softmax}(z) - \mathrm{onehot}(y)}{N}$$
        raise NotImplementedError("exercise 12: CrossEntropyLoss.backward")
    # --8<-- [end:cross_entropy_backward]

    def _check_target(self, logits: Tensor, target: Tensor) -> Tensor:
        """Check logits `(N, C)` against class indices `(N,)` in `[0, C)`."""
        if logits.dim() != 2:
            raise ValueError(f"{self!r}: logits must have shape (N, C), got {tuple(logits.shape)}")
        if not isinstance(target, _TENSOR) or target.is_floating_point() or target.is_complex():
            kind = target.dtype if isinstance(target, _TENSOR) else type(target).__name__
            raise TypeError(f"{self!r}: target must be integer class indices (e.g. torch.long), "
                            f"got {kind}")
        n, classes = logits.shape
        if tuple(target.shape) != (n,):
            raise ValueError(f"{self!r}: logits have shape {tuple(logits.shape)}, so target "
                             f"must have shape ({n},), got {tuple(target.shape)}")
        low, high = (value.item() for value in target.aminmax())
        if low < 0 or high >= classes:
            bad = low if low < 0 else high
            raise ValueError(f"{self!r}: class index {bad} out of range: "
                             f"{classes} classes means indices 0..{classes - 1}")
        return target.long()

    def __repr__(self) -> str:
        return "CrossEntropyLoss()"


# ---------------------------------------------------------------------------
# ## Optimizers
#
# An optimizer holds the `(value, gradient)` pairs of `model.param()` and, at
# each `step()`, moves every value against its gradient, in place — the model
# sees the new weights at once, since they are the same tensors.
# ---------------------------------------------------------------------------


class Optimizer:
    """Shared part of SGD and Adam: the parameter list, `lr` and `zero_grad`."""

    def __init__(self, params, lr: float, weight_decay: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for index, pair in enumerate(self.params):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                    and all(isinstance(t, _TENSOR) for t in pair)):
                raise TypeError(f"{type(self).__name__}: parameter {index} must be a "
                                f"(value, gradient) pair of tensors from model.param(), got {pair!r}")
            if pair[0].shape != pair[1].shape:
                raise ValueError(f"{type(self).__name__}: parameter {index} has shape "
                                 f"{tuple(pair[0].shape)} but its gradient {tuple(pair[1].shape)}")
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
            raise ValueError(f"{type(self).__name__}: learning rate must be positive, got {lr!r}")
        if not weight_decay >= 0:
            raise ValueError(f"{type(self).__name__}: weight_decay must be >= 0, got {weight_decay!r}")
        self.lr, self.weight_decay = lr, weight_decay

    def zero_grad(self) -> None:
        """Set the gradient of every parameter this optimizer holds to zero, in place."""
        for _, grad in self.params:
            grad.zero_()


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional momentum (PyTorch's form):
    $v \leftarrow \mu v + g$, $w \leftarrow w - \eta v$."""

    def __init__(self, params, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        if not 0 <= momentum:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum!r}")
        self.momentum = momentum
        self.velocity = [None] * len(self.params)

    # --8<-- [start:sgd_step]
    def step(self) -> None:
        """Move every parameter once against its gradient, in place."""
        # L2 weight decay: $g \leftarrow g + \lambda w$
        # $v \leftarrow \mu v + g$, with $v = g$ at the first step
        # $w \leftarrow w - \eta\, g$, in place
        raise NotImplementedError("exercise 14: SGD.step")
    # --8<-- [end:sgd_step]


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015): a step $\eta\, \hat m / (\sqrt{\hat v} + \epsilon)$
    from running means of the gradient and of its square, bias-corrected."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        if not (len(betas) == 2 and all(0 <= beta < 1 for beta in betas)):
            raise ValueError(f"Adam: betas must be two numbers in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"Adam: eps must be positive, got {eps!r}")
        self.betas, self.eps, self.steps = betas, eps, 0
        self.mean = [value.new_zeros(value.shape) for value, _ in self.params]
        self.mean_square = [value.new_zeros(value.shape) for value, _ in self.params]

    # --8<-- [start:adam_step]
    def step(self) -> None:
        """One Adam update of every parameter, in place."""
        # L2 weight decay: $g \leftarrow g + \lambda w$
        # $m \leftarrow \beta_1 m + (1 - \beta_1)\, g$ (`lerp_` computes exactly this)
        # $v \leftarrow \beta_2 v + (1 - \beta_2)\, g \odot g$
        # $\hat m = m / (1 - \beta_1^t)$ and $\hat v = v / (1 - \beta_2^t)$ undo the
        # bias of starting at zero; then $w \leftarrow w - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)$
        raise NotImplementedError("exercise 15: Adam.step")
    # --8<-- [end:adam_step]


# ---------------------------------------------------------------------------
# ## Training
#
# `fit` runs the classic loop — shuffle, cut into mini-batches, and for each:
# zero the gradients, forward, loss, backward, step — and keeps a History of
# loss and accuracy per epoch (the report's "compute history").
# ---------------------------------------------------------------------------


class History:
    """Per-epoch `train_loss`, `train_acc`, `val_loss`, `val_acc` (accuracy in [0, 1])."""

    def __init__(self) -> None:
        self.train_loss, self.train_acc = [], []
        self.val_loss, self.val_acc = [], []

    def __len__(self) -> int:
        return len(self.train_loss)

    def __repr__(self) -> str:
        if not len(self):
            return "History(0 epochs)"
        text = f"History({len(self)} epochs, train_loss={self.train_loss[-1]:.4g}, " \
               f"train_acc={self.train_acc[-1]:.4f}"
        if self.val_loss:
            text += f", val_loss={self.val_loss[-1]:.4g}, val_acc={self.val_acc[-1]:.4f}"
        return text + ")"


# --8<-- [start:accuracy]
def accuracy(prediction: Tensor, target: Tensor) -> float:
    """Fraction of rows classified right. One output column: class 1 where the
    prediction is >= 0.5. Several columns: the argmax. Targets are class
    indices `(N,)`, a 0/1 column `(N, 1)`, or one-hot `(N, C)`."""
    n = prediction.shape[0]
    if prediction.dim() == 2 and prediction.shape[1] > 1:
        predicted = prediction.argmax(dim=1)
        one_hot = target.dim() == 2 and target.shape[1] == prediction.shape[1]
        true = target.argmax(dim=1) if one_hot else _class_indices(prediction, target)
    else:
        predicted = prediction.reshape(-1) >= 0.5
        true = target.reshape(-1) >= 0.5
    if true.shape != (n,):
        raise ValueError(f"accuracy: prediction has shape {tuple(prediction.shape)} but target "
                         f"has shape {tuple(target.shape)}; expected {n} labels")
    return (predicted == true).sum().item() / n
# --8<-- [end:accuracy]


def _class_indices(prediction: Tensor, target: Tensor) -> Tensor:
    """Class-index targets, `(N,)` or `(N, 1)`, as `(N,)`; any other shape is an error."""
    if target.dim() == 1 or (target.dim() == 2 and target.shape[1] == 1):
        return target.reshape(-1)
    raise ValueError(f"accuracy: prediction has shape {tuple(prediction.shape)}, so target must "
                     f"be class indices (N,) or one-hot {tuple(prediction.shape)}, "
                     f"got {tuple(target.shape)}")


def fit(model: Module, loss: Loss, optimizer: Optimizer, x: Tensor, y: Tensor, epochs: int,
        batch_size: int = 32, val: Optional[tuple] = None, shuffle: bool = True,
        history: bool = True, callback: Optional[Callable] = None,
        generator: Optional[Generator] = None) -> History:
    """Train `model` for `epochs` passes over `(x, y)` in mini-batches.

    `val=(x_val, y_val)` adds validation curves; `history=False` skips the
    per-epoch evaluation (faster) and returns an empty History;
    `callback(epoch, model, history)` runs after each epoch (`epoch` counts
    from 0) and stops training by returning False — e.g. to decay `optimizer.lr`.
    """
    _check_fit_arguments(x, y, epochs, batch_size, val)
    record = History()
    model.train()
    for epoch in range(epochs):
        last_loss = _train_epoch(model, loss, optimizer, x, y, batch_size, shuffle, generator)
        # Once a weight is inf or NaN it stays so, and so does every later loss:
        # checking the epoch's last loss catches a divergence anywhere in the epoch.
        if not math.isfinite(last_loss.item()):
            raise FloatingPointError(
                f"fit: the loss became {last_loss.item()} in epoch {epoch + 1} of {epochs}; "
                f"the weights diverged — try a smaller learning rate (lr={optimizer.lr})")
        if history:
            _record_epoch(record, model, loss, x, y, val)
        if callback is not None and callback(epoch, model, record) is False:
            break
    return record


# --8<-- [start:fit_epoch]
def _train_epoch(model, loss, optimizer, x, y, batch_size, shuffle, generator) -> Tensor:
    """One pass over the data; returns the loss of the last mini-batch."""
    if shuffle:
        # A random permutation from tensor methods alone: sort n uniform numbers
        # (float64, so ties are practically impossible) and keep the sorting order.
        order = x.new_empty(x.shape[0], dtype=_FLOAT64).uniform_(generator=generator).argsort()
        x, y = x[order], y[order]  # new tensors: the caller's x and y keep their order
    for start in range(0, x.shape[0], batch_size):
        x_batch, y_batch = x[start:start + batch_size], y[start:start + batch_size]
        optimizer.zero_grad()
        value = loss(model(x_batch), y_batch)
        _backward(model, loss.backward())
        optimizer.step()
    return value
# --8<-- [end:fit_epoch]


def _backward(model: Module, grad_output: Tensor) -> None:
    r"""Backpropagate; a Sequential is told that nobody needs $\partial\ell/\partial x^{(0)}$."""
    if isinstance(model, Sequential):
        model.backward(grad_output, input_grad=False)
    else:
        model.backward(grad_output)


def _record_epoch(record: History, model: Module, loss, x, y, val) -> None:
    """Evaluate loss and accuracy on the whole training (and validation) set."""
    model.eval()  # e.g. no dropout while measuring
    sets = [(x, y, record.train_loss, record.train_acc)]
    if val is not None:
        sets.append((val[0], val[1], record.val_loss, record.val_acc))
    for data, target, losses, accuracies in sets:
        prediction = model(data)
        losses.append(loss(prediction, target).item())
        accuracies.append(accuracy(prediction, target))
    model.train()


def _check_fit_arguments(x, y, epochs, batch_size, val) -> None:
    """Fail before training starts, with a message that says what is wrong."""
    _check_tensor("fit", "x", x)
    if not isinstance(y, _TENSOR):
        raise TypeError(f"fit: y must be a torch tensor, got {type(y).__name__}")
    if x.dim() != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"fit: x must be (N, features) and y must have N rows; "
                         f"got x {tuple(x.shape)} and y {tuple(y.shape)}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"fit: {name} must be a positive integer, got {value!r}")
    if val is not None and (not isinstance(val, (tuple, list)) or len(val) != 2):
        raise ValueError("fit: val must be a pair (x_val, y_val) or None")


# ---------------------------------------------------------------------------
# ## Gradient check
#
# A hand-written backward is only as good as its derivation. `gradcheck`
# compares it with central finite differences,
# $$\frac{\partial\ell}{\partial\theta_i} \approx
#   \frac{\ell(\theta + \epsilon e_i) - \ell(\theta - \epsilon e_i)}{2\epsilon},$$
# whose error is $O(\epsilon^2)$, in float64 so rounding stays far below it.
# ---------------------------------------------------------------------------


# --8<-- [start:gradcheck]
def gradcheck(module: Module, x: Tensor, eps: float = 1e-6) -> float:
    """Largest relative error between `module`'s backward and finite differences,
    over the input gradient and every parameter gradient. About 1e-9 or less
    means the backward is right; 1e-2 or more means it is wrong.

    It works on a float64 copy: `module` and `x` are left as they were. The
    module must be deterministic (call `.eval()` on Dropout).
    """
    _check_tensor("gradcheck", "x", x)
    module = copy.deepcopy(module).to(dtype=_FLOAT64)
    x = x.to(dtype=_FLOAT64, copy=True).contiguous()  # a private copy, entries in order
    # Reduce the output to one number with fixed weights $r$ (all different),
    # $\ell = \sum y \odot r$, so that $\partial\ell/\partial y = r$.
    output = module.forward(x)
    weights = output.new_ones(output.numel()).cumsum(0).sin().view(output.shape)
    module.zero_grad()
    analytic = [module.backward(weights)] + [grad.clone() for _, grad in module.param()]
    tensors = [x] + [value for value, _ in module.param()]

    def loss() -> float:
        return (module.forward(x) * weights).sum().item()

    return max(_relative_error(a, _numeric_gradient(loss, t, eps)) for a, t in zip(analytic, tensors))
# --8<-- [end:gradcheck]


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


def _relative_error(analytic: Tensor, numeric: Tensor) -> float:
    r"""$\lVert a - n \rVert / \max(\lVert a \rVert, \lVert n \rVert)$, and 0 when both are 0."""
    scale = max(analytic.norm().item(), numeric.norm().item())
    return (analytic - numeric).norm().item() / scale if scale > 0 else 0.0


# ---------------------------------------------------------------------------
# ## Checks shared by every module
#
# Bad input should fail at once, with a message that names the module, what
# it received and what it expected — not deep inside a matrix product.
# ---------------------------------------------------------------------------


def _check_tensor(owner: object, name: str, value: object) -> None:
    """Raise TypeError unless `value` is a floating-point tensor."""
    if not isinstance(value, _TENSOR):
        raise TypeError(f"{owner!r}: {name} must be a torch tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(
            f"{owner!r}: {name} must be a floating-point tensor (float32 or float64), "
            f"got {value.dtype}; convert it first, e.g. x.float()"
        )


def _check_saved(owner: object, saved: object) -> None:
    """Raise RuntimeError when backward runs before the forward it needs."""
    if saved is None:
        raise RuntimeError(f"{owner!r}: backward() called before forward(); run forward() first")


def _check_shape(owner: object, name: str, value: Tensor, expected: tuple) -> None:
    """Raise ValueError when `value` does not have the `expected` shape."""
    if value.shape != expected:  # torch.Size is a tuple: no conversion needed
        raise ValueError(
            f"{owner!r}: {name} has shape {tuple(value.shape)}, expected {tuple(expected)}"
        )
