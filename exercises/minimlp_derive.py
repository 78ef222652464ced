# SPDX-License-Identifier: MIT
# Copyright (c) 2026 the minimlp authors
"""minimlp — a multilayer-perceptron framework written by hand on torch tensors.

This one file is a small but complete deep-learning framework: layers,
activations, losses, optimizers and a training loop, with every gradient
derived and written by hand. It is meant to be read, by a student who must
write such a framework for a course (the classic "implement a framework from
scratch" homework, EPFL EE-559 mini-project 2) and by anyone who wants to see
backpropagation with nothing hidden. Copy this file alone into your project:
it needs only torch (and Python 3.11 or later).

It follows a student report that solved that homework (Betti & Mueller,
EE-559 mini-project 2 report, EPFL 2018), called "the report" below: its
network, its equations and its experiment, without its defects.

**Licence and credit.** MIT (the two lines above; the full text is in the
project's LICENSE file): you may copy, change and hand in this file. Keep
those two lines, and say in your report which parts you took, e.g. "the
layers are adapted from minimlp.py (MIT licence)"; check your course's rules
on using code you did not write.

**What it may import.** The homework's strictest rule: the only thing this
file imports of torch is `empty` (the one import line below). Every other
operation is a method of a tensor (`x.mm(w)`, `s.exp()`, ...). Nothing is
taken of torch's layers, optimizers or automatic differentiation: every
gradient is computed by hand, so it all works with
`torch.set_grad_enabled(False)` in force (train.py sets it). Besides torch:
`math`, `copy` and `numbers` from the standard library.

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
under the equation it computes. The input is checked by `module(x)`, the
call you make, before it reaches `forward`; the checks themselves are in the
last section of the file.

Example, with x of shape (N, 2) and y of shape (N, 1):

    model = Sequential(Dense(2, 25), ReLU(), Dense(25, 1), Sigmoid())
    optimizer = SGD(model.param(), lr=0.1)
    history = fit(model, MSELoss(), optimizer, x, y, epochs=10)
"""

# ---------------------------------------------------------------------------
# Exercise skeleton, derive level: generated from minimlp.py by
# exercises/make_skeletons.py. The body of each of the 22 exercises (every
# forward, backward and step, from Dense.forward to Adam.step) says only what
# the method must compute and the shapes, then raises
# `NotImplementedError("exercise N: ...")`. Derive each backward on paper
# (one entry first, then the whole batch), write it, and run
#     python exercises/check.py your_copy.py
# which says for every exercise PASS, TODO, WAIT (an earlier exercise first)
# or FAIL, and why. Then compare your derivation with docs/backprop.md.
# ---------------------------------------------------------------------------

import copy
import math
import numbers

from torch import empty

__all__ = [
    "Module", "Dense", "Linear", "ReLU", "Tanh", "Sigmoid", "Identity", "Softmax",
    "Dropout", "Sequential", "Loss", "MSELoss", "CrossEntropyLoss", "Optimizer",
    "SGD", "Adam", "History", "fit", "accuracy", "gradcheck",
]

# The rule allows importing only `empty`, but every tensor knows its class:
# Tensor is torch.Tensor, used below to tell a tensor from a list or an array.
Tensor = type(empty(0))


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

    A subclass writes `forward` and `backward`. A subclass with parameters
    lists them in `parameter_names` as pairs (value attribute, gradient
    attribute), for example
    `(("weight", "grad_weight"), ("bias", "grad_bias"))`; `param`,
    `zero_grad`, `state_dict` and `to` follow from that list.
    """

    parameter_names = ()
    training = True  # every module starts in training mode; train() and eval() set it

    def forward(self, x):
        """Compute the output, and save what `backward` will need."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def backward(self, grad_output):
        """Take ∂ℓ/∂(output), return ∂ℓ/∂(input), and add the gradients of the
        parameters into the module's gradient tensors."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward()")

    def __call__(self, x):
        """`module(x)`: check x, then return `forward(x)`."""
        _check_tensor(self, "x", x)
        self._check_input(x)
        return self.forward(x)

    def _check_input(self, x):
        """Raise a clear error for an input `forward` cannot take (Dense: its
        width and dtype). Most modules take any float tensor."""

    def named_param(self):
        """`(name, value, gradient)` for each parameter: the very tensors held."""
        return [(name, getattr(self, name), getattr(self, grad_name))
                for name, grad_name in self.parameter_names]

    def param(self):
        """`(value, gradient)` pairs; an in-place update is seen by the module."""
        return [(value, grad) for _, value, grad in self.named_param()]

    def zero_grad(self):
        """Set every gradient to zero, in place (otherwise gradients accumulate)."""
        for _, grad in self.param():
            grad.zero_()

    def train(self, mode=True):
        """Training mode (the default; Dropout drops). Returns the module."""
        self.training = mode
        return self

    def eval(self):
        """Evaluation mode (Dropout is the identity). Returns the module."""
        return self.train(False)

    def state_dict(self):
        """Copies of the parameter values by name: `{"weight": ..., "bias": ...}`."""
        return {name: value.clone() for name, value, _ in self.named_param()}

    def load_state_dict(self, state):
        """Copy the values of `state` (as `state_dict()` returns it) into the
        parameters, in place. If a name or shape does not match, or a value
        cannot be copied, it says so and the module is left unchanged."""
        own = {name: value for name, value, _ in self.named_param()}
        missing, unexpected = own.keys() - state.keys(), state.keys() - own.keys()
        if missing or unexpected:
            raise ValueError(f"load_state_dict: missing keys {sorted(missing)}, "
                             f"unexpected keys {sorted(unexpected)}")
        for name, value in own.items():  # every value is checked before any is copied
            given = state[name]
            if (not isinstance(given, Tensor) or given.is_complex()
                    or given.shape != value.shape):
                raise ValueError(f"load_state_dict: {name!r} is {_kind(given)}, "
                                 f"not {_kind(value)}")
        # Copy every value into a new tensor first (`detach()`: no gradient history
        # from a PyTorch layer's parameter): one that cannot be copied fails here,
        # before any parameter has changed
        new = {name: value.clone().copy_(state[name].detach())
               for name, value in own.items()}
        for name, value in own.items():
            value.copy_(new[name])  # in place: optimizers hold these tensors

    def to(self, dtype=None, device=None):
        """Cast or move every parameter and gradient (new tensors, so build the
        optimizer after `to()`, as PyTorch asks for `.cuda()`). Returns self."""
        for attributes in self.parameter_names:
            for attribute in attributes:
                tensor = getattr(self, attribute)
                setattr(self, attribute, tensor.to(dtype=dtype, device=device))
        return self

    def __repr__(self):
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
    for a reproducible initialisation. The homework handout calls this layer
    `Linear`, and so can you: `Linear` is `Dense`.

    >>> layer = Dense(2, 3)
    >>> layer(empty(4, 2).fill_(1.0)).shape
    torch.Size([4, 3])
    >>> layer.weight.shape, layer.bias.shape
    (torch.Size([3, 2]), torch.Size([3]))
    """

    parameter_names = (("weight", "grad_weight"), ("bias", "grad_bias"))

    def __init__(self, in_features, out_features, init="he", generator=None,
                 dtype=None, device=None):
        self.in_features = _check_number("in_features", in_features, 1, integer=True)
        self.out_features = _check_number("out_features", out_features, 1, integer=True)
        if init not in ("he", "xavier"):
            raise ValueError(f"Dense: init must be 'he' or 'xavier', got {init!r}")
        # He: std = √(2 / in);  Xavier: std = √(2 / (in + out))
        if init == "he":
            std = math.sqrt(2 / in_features)
        else:
            std = math.sqrt(2 / (in_features + out_features))
        # w ~ N(0, std²), shape (out, in);  b = 0, shape (out,)
        self.weight = empty(out_features, in_features, dtype=dtype,
                            device=device).normal_(0, std, generator=generator)
        self.bias = empty(out_features, dtype=dtype, device=device).zero_()
        # ∂ℓ/∂w and ∂ℓ/∂b: zero until backward adds into them
        self.grad_weight = self.weight.new_zeros(self.weight.shape)
        self.grad_bias = self.bias.new_zeros(self.bias.shape)

    def forward(self, x):
        # Return s = x wᵀ + b for x (N, in), with w = self.weight (out, in) and b =
        # self.bias (out,); s is (N, out). Save on self what your backward will need.
        raise NotImplementedError("exercise 1: Dense.forward")

    def backward(self, grad_output):
        # grad_output is ∂ℓ/∂s (N, out), for the s of the last forward. Add ∂ℓ/∂w
        # (out, in) into self.grad_weight and ∂ℓ/∂b (out,) into self.grad_bias, in place
        # (gradients add up until zero_grad), and return ∂ℓ/∂x (N, in). Derive one entry
        # of each, then write it for the whole batch.
        raise NotImplementedError("exercise 2: Dense.backward")

    def _check_input(self, x):
        if x.dim() != 2 or x.shape[1] != self.in_features:  # one sample: x.view(1, -1)
            raise ValueError(f"{self}: x {_kind(x)} is not (N, {self.in_features})")
        if x.dtype != self.weight.dtype:  # e.g. float64 data, float32 weights
            raise TypeError(f"{self}: x is {x.dtype}, the weights {self.weight.dtype}")

    def __repr__(self):
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
# (ReLU, Tanh, Sigmoid), forward saves the output. Every tensor here has the
# shape of the input s, e.g. (N, features).
# ----------------------------------------------------------------------------


class ReLU(Module):
    """σ(s) = max(0, s), entry-wise."""

    def forward(self, s):
        # Return x = max(0, s), entry by entry; s and x are (N, C). Save on self what
        # your backward will need.
        raise NotImplementedError("exercise 3: ReLU.forward")

    def backward(self, grad_output):
        # grad_output is ∂ℓ/∂x (N, C), for the x = max(0, s) of the last forward. Return
        # ∂ℓ/∂s (N, C).
        raise NotImplementedError("exercise 4: ReLU.backward")


class Tanh(Module):
    """σ(s) = tanh(s), entry-wise."""

    def forward(self, s):
        # Return x = tanh(s), entry by entry; s and x are (N, C). Save on self what your
        # backward will need.
        raise NotImplementedError("exercise 5: Tanh.forward")

    def backward(self, grad_output):
        # grad_output is ∂ℓ/∂x (N, C), for the x = tanh(s) of the last forward. Return
        # ∂ℓ/∂s (N, C), using what forward already computed.
        raise NotImplementedError("exercise 6: Tanh.backward")


class Sigmoid(Module):
    """σ(s) = 1 / (1 + e⁻ˢ), entry-wise; finite for every finite s."""

    def forward(self, s):
        # Return x = σ(s) = 1 / (1 + e⁻ˢ), entry by entry; s and x are (N, C). It must
        # be finite, never NaN, for every s (try s = ±1000). Save on self what your
        # backward will need.
        raise NotImplementedError("exercise 7: Sigmoid.forward")

    def backward(self, grad_output):
        # grad_output is ∂ℓ/∂x (N, C), for the x = σ(s) of the last forward. Return
        # ∂ℓ/∂s (N, C), using what forward already computed.
        raise NotImplementedError("exercise 8: Sigmoid.backward")


class Identity(Module):
    """σ(s) = s (the report's "Linear" activation), so σ'(s) = 1."""

    def forward(self, s):
        # Return x = s.
        raise NotImplementedError("exercise 9: Identity.forward")

    def backward(self, grad_output):
        # grad_output is ∂ℓ/∂x; return ∂ℓ/∂s.
        raise NotImplementedError("exercise 10: Identity.backward")


class Softmax(Module):
    """xᵢ = e^sᵢ / Σⱼ e^sⱼ over each row (dim 1): scores become probabilities."""

    def forward(self, s):
        # Return x (N, C) with xᵢ = e^sᵢ / Σⱼ e^sⱼ over each row of s (N, C). It must
        # stay finite for large scores (try s = 1000). Save on self what your backward
        # will need.
        raise NotImplementedError("exercise 11: Softmax.forward")

    def backward(self, grad_output):
        # grad_output is ∂ℓ/∂x (N, C), for the x = softmax(s) of the last forward.
        # Return ∂ℓ/∂s (N, C). Every xᵢ of a row depends on every sⱼ of that row.
        raise NotImplementedError("exercise 12: Softmax.backward")


class Dropout(Module):
    """Inverted dropout: in training, zero each entry with probability `p` and
    scale the others by 1 / (1 − p); in eval mode, the identity."""

    def __init__(self, p=0.5, generator=None):
        self.p = _check_number("Dropout: p", p, 0, below=1)
        self.generator = generator

    def forward(self, x):
        # In training (self.training): zero each entry of x (N, C) with probability p =
        # self.p, drawing anew at every call (with self.generator), and scale the
        # entries kept so that each keeps its mean. In eval mode: return x as it is.
        # Save on self what your backward will need.
        raise NotImplementedError("exercise 13: Dropout.forward")

    def backward(self, grad_output):
        # grad_output is ∂ℓ/∂(output) (N, C), for the last forward. Return ∂ℓ/∂x (N, C).
        raise NotImplementedError("exercise 14: Dropout.backward")

    def __repr__(self):
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

    It rejects an item that is not a Module, a module used twice, here or in a
    nested Sequential (a module remembers only its last forward), and two Dense
    layers in a row (whatever lies between) whose widths disagree, naming the
    positions. `model(x)` checks x once, at the entry, as the first item would
    (a first Dense: its width and dtype), then runs every item's forward; when
    one fails, yours or minimlp's, a note under the error says which item it
    was and what input it got.
    """

    def __init__(self, *modules):
        _check_sequence(modules)
        self.modules = list(modules)

    def __call__(self, x):
        """`model(x)`: check x as the first item would, then run the same loop as
        `forward`; when an item fails, a note under the error says which."""
        _check_tensor(self, "x", x)
        self._check_input(x)
        for i, module in enumerate(self.modules):
            try:
                x = module.forward(x)
            except Exception as error:  # the same error, with a note saying where
                error.add_note(f"in Sequential: item {i}, {module!r}, given {_kind(x)}")
                raise
        self.output = x  # x⁽ᴸ⁾, saved to check the gradient backward receives
        return x

    def _check_input(self, x):
        """x as the first item checks it (a Dense: width and dtype)."""
        if self.modules:  # an empty Sequential takes any float tensor
            self.modules[0]._check_input(x)

    def forward(self, x):
        # Return the output of the modules in self.modules applied in turn to x, the
        # first one first. Save on self what your backward will need.
        raise NotImplementedError("exercise 15: Sequential.forward")

    def backward(self, grad_output):
        # grad_output is ∂ℓ/∂x⁽ᴸ⁾, the gradient of the network's output
        # (what the loss's backward returns). Every module must add its parameter
        # gradients; return ∂ℓ/∂x⁽⁰⁾, of the shape of the input.
        raise NotImplementedError("exercise 16: Sequential.backward")

    def named_param(self):
        """The parameters of every module, named as PyTorch names them: `"0.weight"`."""
        return [(f"{index}.{name}", value, grad)
                for index, module in enumerate(self.modules)
                for name, value, grad in module.named_param()]

    def train(self, mode=True):
        for module in self.modules:
            module.train(mode)
        return super().train(mode)

    def to(self, dtype=None, device=None):
        for module in self.modules:
            module.to(dtype=dtype, device=device)
        return self

    def __len__(self):
        return len(self.modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self.modules[index])
        return self.modules[index]

    def __iter__(self):
        return iter(self.modules)

    def __repr__(self):
        return f"Sequential({', '.join(repr(module) for module in self.modules)})"


# ----------------------------------------------------------------------------
# Losses
#
# A loss turns the network's output x = x⁽ᴸ⁾ (the prediction) and the target
# y into one number ℓ. Its backward starts backpropagation: it returns ∂ℓ/∂x,
# the report's ∇ℓ(x⁽ᴸ⁾), with the shape of the prediction.
# ----------------------------------------------------------------------------


class Loss:
    """Base class of the losses. `loss(prediction, target)` checks the target
    against the prediction, then calls the subclass's `forward(prediction,
    target)`, which returns ℓ as a 0-dim tensor and saves what `backward()`
    needs; `backward()` returns ∂ℓ/∂(prediction) for the last forward."""

    def __call__(self, prediction, target):
        _check_tensor(self, "prediction", prediction)
        _check_tensor(self, "target", target, floating=False)
        target = self._check_target(prediction, target)
        return self.forward(prediction, target)

    def _check_target(self, prediction, target):
        """The target as `forward` takes it, or a clear error; the caller's tensor
        is never changed. A loss of your own takes its target as it is."""
        return target

    def __repr__(self):
        return f"{type(self).__name__}()"


class MSELoss(Loss):
    """Squared error ℓ = (1/M) Σ (x − y)² over all M entries (`reduction="mean"`,
    as PyTorch), or the plain sum ℓ = Σ (x − y)² (`reduction="sum"`, as the
    report). A target `(N,)` is taken for a prediction `(N, 1)`.

    >>> prediction = empty(2, 1).new_tensor([[1.0], [3.0]])
    >>> MSELoss()(prediction, prediction.new_tensor([0.0, 1.0]))
    tensor(2.5000)
    """

    def __init__(self, reduction="mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"MSELoss: reduction {reduction!r} is not 'mean' or 'sum'")
        self.reduction = reduction

    def forward(self, prediction, target):
        # Return ℓ, a 0-dim tensor: the mean (self.reduction == 'mean') or the sum
        # ('sum') of (x − y)² over all the entries of the prediction x (N, C) and the
        # target y of the same shape. Save on self what your backward will need.
        raise NotImplementedError("exercise 17: MSELoss.forward")

    def backward(self):
        # Return ∂ℓ/∂x (N, C), for the prediction x of the last forward.
        # (A loss's backward takes no argument: it starts backpropagation.)
        raise NotImplementedError("exercise 18: MSELoss.backward")

    def _check_target(self, x, y):
        # A target (N,) for a prediction (N, 1) is viewed as (N, 1): a view, never
        # the caller's tensor resized. Any other shape would broadcast, silently
        if x.dim() == 2 and x.shape[1] == 1 and y.shape == (len(x),):
            y = y.view(-1, 1)
        if y.shape != x.shape or y.is_complex():
            raise ValueError(f"{self}: target {_kind(y)} ≠ prediction {_kind(x)}")
        return y.to(x.dtype)  # a copy only when the dtypes differ

    def __repr__(self):
        return f"MSELoss(reduction={self.reduction!r})"


class CrossEntropyLoss(Loss):
    """Softmax and negative log-likelihood in one:
    ℓ = −(1/N) Σₙ log softmax(sₙ)[yₙ], for the raw scores (logits) s `(N, C)`
    of the last Dense layer and class indices y `(N,)`. Feed it logits: no
    Softmax or Sigmoid before it (this loss applies the softmax itself).

    >>> logits = empty(2, 2).new_tensor([[2.0, 0.0], [0.0, 0.0]])
    >>> round(CrossEntropyLoss()(logits, logits.new_tensor([0, 1]).long()).item(), 4)
    0.41
    """

    def forward(self, logits, target):
        # logits are the scores s (N, C), target the class indices y (N,). Return ℓ =
        # −(1/N) Σₙ log softmax(sₙ)[yₙ], a 0-dim tensor. It must stay finite for large
        # logits (try s = 1000). Save on self what your backward will need.
        raise NotImplementedError("exercise 19: CrossEntropyLoss.forward")

    def backward(self):
        # Return ∂ℓ/∂s (N, C), for the logits s of the last forward: derive it through
        # softmax and log together.
        raise NotImplementedError("exercise 20: CrossEntropyLoss.backward")

    def _check_target(self, logits, target):
        if logits.dim() != 2 or target.shape != logits.shape[:1]:  # e.g. one-hot (N, C)
            raise ValueError(f"{self}: logits {_kind(logits)} need class indices (N,) "
                             f"as targets, not {_kind(target)}")
        if target.is_floating_point():  # e.g. tensor([0.0, 2.0]): use .long()
            raise TypeError(f"{self}: target is {target.dtype}, not class indices")
        _check_classes(self, target, logits.shape[1])
        return target.long()  # int64 indices (a copy only when they are not)


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
    between steps, e.g. for a schedule), the weight decay, and `zero_grad`. A
    subclass writes `step()`, which updates every parameter once, in place."""

    def __init__(self, params, lr, weight_decay):
        name = type(self).__name__
        if isinstance(params, Module) or callable(params):  # model, or model.param
            raise TypeError(f"{name}: pass model.param(), with (), not {_kind(params)}")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{name}: model.param() is empty: no parameters to train")
        if not all(isinstance(pair, tuple) and isinstance(pair[0], Tensor)
                   for pair in self.params):  # e.g. torch's habit: the values alone
            raise TypeError(f"{name}: pass model.param(), (value, gradient) pairs")
        self.lr = _check_number(f"{name}: lr", lr, 0, strict=True)
        self.weight_decay = _check_number(f"{name}: weight_decay", weight_decay, 0)

    def zero_grad(self):
        """Set the gradient of every parameter to zero, in place."""
        for _, grad in self.params:
            grad.zero_()


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum in PyTorch's form:
    v ← μ v + g, then w ← w − η v, from v = 0 (μ = 0, the default, is plain
    w ← w − η g). `lr` and `momentum` may change between steps. Weight decay
    λ adds λ w to the gradient (L2 regularisation)."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = _check_number("SGD: momentum", momentum, 0)
        self.velocity = [0.0] * len(self.params)  # v = 0 before the first step

    def step(self):
        # Update every pair (w, ∂ℓ/∂w) of self.params once, in place, as the class
        # docstring says: weight decay λ = self.weight_decay, momentum μ = self.momentum
        # with a velocity per parameter in self.velocity (0 before the first step),
        # learning rate η = self.lr read at every step. Never change a gradient.
        raise NotImplementedError("exercise 21: SGD.step")


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): steps of η m̂ / (√v̂ + ε), from running means m
    of the gradient and v of its square, corrected for their start at zero.
    Weight decay λ adds λ w to the gradient first, as PyTorch's Adam does."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.betas = [_check_number("Adam: betas", beta, 0, below=1) for beta in betas]
        self.eps = _check_number("Adam: eps", eps, 0, strict=True)
        self.t = 0  # steps taken
        self.m = [0.0] * len(self.params)  # m = 0 before the first step
        self.v = [0.0] * len(self.params)  # v = 0 before the first step

    def step(self):
        # Update every pair (w, ∂ℓ/∂w) of self.params once, in place, with Adam
        # (Kingma & Ba 2015, Algorithm 1): running means self.m of the gradient and
        # self.v of its square, both corrected for their start at 0; the step count
        # self.t; β₁, β₂ = self.betas, ε = self.eps, η = self.lr; weight decay λ =
        # self.weight_decay added to the gradient first. Never change a gradient.
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

    def __init__(self):
        self.train_loss, self.train_acc = [], []
        self.val_loss, self.val_acc = [], []

    def __len__(self):
        return len(self.train_loss)

    def __repr__(self):
        last = [f", {name}={values[-1]:.4g}" for name, values in vars(self).items()
                if values]
        return f"History({len(self)} epochs{''.join(last)})"


def fit(model, loss, optimizer, x, y, epochs, batch_size=32, val=None, shuffle=True,
        history=True, callback=None, generator=None):
    """Train `model` for `epochs` passes over `(x, y)` in mini-batches.

    `val=(x_val, y_val)` adds validation curves; `history=False` skips the
    evaluation after each epoch (faster) and returns an empty History;
    `callback(epoch, model, history)` runs after each epoch (`epoch` counts
    from 0) and stops training by returning False; it may change `optimizer.lr`
    for a schedule. If the loss of any batch becomes NaN or inf, training
    stops with a FloatingPointError.
    """
    if not isinstance(loss, Loss) or not (callback is None or callable(callback)):
        raise TypeError(f"fit: loss must be e.g. MSELoss() (not the class), callback a "
                        f"function or None; got {loss!r}, {callback!r}")
    _check_tensor("fit", "x", x)
    _check_tensor("fit", "y", y, floating=False)
    if len(y) != len(x):
        raise ValueError(f"fit: x {_kind(x)} and y {_kind(y)}: rows differ")
    for name, values in (("x", x), ("y", y)):
        if not values.isfinite().all():
            raise ValueError(f"fit: {name} holds NaN or inf values")
    epochs = _check_number("fit: epochs", epochs, 1, integer=True)
    batch_size = _check_number("fit: batch_size", batch_size, 1, integer=True)
    record = History()
    model.train()
    for epoch in range(epochs):
        total = _train_epoch(model, loss, optimizer, x, y, batch_size, shuffle,
                             generator)
        # a NaN or inf in any batch makes the sum NaN or inf
        if not math.isfinite(total):
            raise FloatingPointError(f"fit: the loss is {total} in epoch {epoch + 1}: "
                                     f"try a smaller learning rate than {optimizer.lr}")
        if history:
            _record_epoch(record, model, loss, x, y, val)
        if callback is not None and callback(epoch, model, record) is False:
            break
    return record


def _train_epoch(model, loss, optimizer, x, y, batch_size, shuffle, generator):
    """One pass over the data in mini-batches; returns the sum of the batch losses."""
    if shuffle:
        # A random permutation from tensor methods alone: the order that sorts n
        # uniform numbers (float64, so that ties are practically impossible)
        uniform = x.new_empty(len(x)).double().uniform_(generator=generator)
        order = uniform.argsort()
        x, y = x[order], y[order]  # new tensors: the caller's x and y keep their order
    total = 0.0
    for start in range(0, len(x), batch_size):
        x_batch, y_batch = x[start:start + batch_size], y[start:start + batch_size]
        optimizer.zero_grad()
        batch_loss = loss(model(x_batch), y_batch)  # forward
        model.backward(loss.backward())  # backward
        optimizer.step()  # update
        total += batch_loss.item()
    return total


def _record_epoch(record, model, loss, x, y, val):
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


def accuracy(prediction, target, threshold=0.5):
    """Fraction of rows classified right.

    One output column: the class is 1 where the prediction is ≥ `threshold`,
    and the target is read the same way: 0.5 suits a Sigmoid output with 0/1
    targets, 0 a Tanh output with ±1 targets. Several columns: the class is
    the argmax, and the target is class indices `(N,)` or `(N, 1)`, or one-hot
    `(N, C)`.

    >>> prediction = empty(2, 1).new_tensor([[0.9], [0.2]])
    >>> accuracy(prediction, prediction.new_tensor([[1.0], [1.0]]))
    0.5
    >>> accuracy(prediction - 0.5, prediction.new_tensor([[0.9], [-0.9]]), threshold=0)
    1.0
    """
    _check_tensor("accuracy", "prediction", prediction)
    _check_tensor("accuracy", "target", target, floating=False)
    if (prediction.dim() > 2 or len(target) != len(prediction)
            or target.shape[1:] not in ((), (1,), prediction.shape[1:])):
        raise ValueError(f"accuracy: prediction {_kind(prediction)} and target "
                         f"{_kind(target)} do not fit")
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


def gradcheck(module, x, target=None, eps=1e-6):
    """Largest error between a hand-written backward and central finite
    differences: of a module, over the input gradient and every parameter
    gradient (`gradcheck(module, x)`); of a loss, over ∂ℓ/∂(prediction)
    (`gradcheck(loss, prediction, target)`).

    The error of a gradient a against its finite-difference estimate n is
    ‖a − n‖ / max(‖a‖, ‖n‖, floor): a backward off by a relative r scores
    about r (1 % off: about 1e-2), and a correct one at most 1e-6, provided no
    input lies within `eps` of a kink (ReLU at 0: there the differences
    straddle the kink and a correct ReLU can score near 1). The floor is 10⁶
    times the rounding noise of n itself, so that gradients too small for
    finite differences to resolve (a saturated Sigmoid's, 1e-12) are compared
    in absolute terms.

    It works on float64 copies: `module`, `x` and `target` are left as they
    were. The module must be deterministic (call `.eval()` on Dropout); before
    torch 2.1 it cannot copy a module holding a torch.Generator.

    >>> x = empty(5, 3).uniform_()
    >>> gradcheck(Sequential(Dense(3, 4), Tanh()), x) < 1e-6
    True
    >>> gradcheck(MSELoss(), x, x.flip(0)) < 1e-6
    True
    """
    if not isinstance(module, (Module, Loss)):
        raise TypeError(f"gradcheck: module must be a Module or a Loss, got {module!r}")
    _check_tensor("gradcheck", "x", x)
    _check_number("gradcheck: eps", eps, 0, strict=True)
    x = x.double().contiguous().clone()  # a private float64 copy, in row order
    module = copy.deepcopy(module)
    if isinstance(module, Loss):
        loss, analytic, tensors, size = _loss_itself(module, x, target)
    else:
        loss, analytic, tensors, size = _weighted_sum(module.to(dtype=x.dtype), x)
    return _largest_error(loss, analytic, tensors, size, eps)


def _loss_itself(module, x, target):
    """A loss is one number already, ℓ = loss(x, y), and its backward is ∂ℓ/∂x.
    Returns what _weighted_sum returns."""
    def loss():
        return module(x, target).item()

    size = abs(loss()) + x.abs().max().item()  # ℓ and the largest logit
    return loss, [module.backward()], [x], size


def _weighted_sum(module, x):
    """A module's output reduced to one number with fixed, all different weights
    r, ℓ = Σ r ⊙ output, so that ∂ℓ/∂(output) = r. Returns ℓ as a function, the
    gradients backward gives for x and every parameter, those tensors, and the
    size of the output."""
    output = module.forward(x)
    weights = output.new_ones(output.numel()).cumsum(0).sin().view(output.shape)

    def loss():
        return (module.forward(x) * weights).sum().item()

    module.zero_grad()
    analytic = [module.backward(weights)] + [grad.clone() for _, grad in module.param()]
    tensors = [x] + [value for value, _ in module.param()]
    return loss, analytic, tensors, output.abs().sum().item()


def _largest_error(loss, analytic, tensors, size, eps):
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


def _numeric_gradient(loss, tensor, eps):
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


# ----------------------------------------------------------------------------
# Input checks
#
# The mistakes students make most get a clear error where the data is handed
# over (`module(x)`, `loss(prediction, target)`, `Sequential(...)`, the
# optimizers, `fit`, `accuracy`, `gradcheck`, `load_state_dict`), naming the
# argument, what it got and what was expected. Rarer mistakes meet Python's
# or torch's own error. No check changes a caller's tensor.
# ----------------------------------------------------------------------------


def _kind(value):
    """How a message shows what it got: a tensor by dtype and shape."""
    if isinstance(value, Tensor):
        return f"{value.dtype} {tuple(value.shape)}"
    return type(value).__name__


def _check_tensor(owner, name, value, floating=True):
    """A tensor of floats (any tensor if not `floating`), with N ≥ 1 rows; a
    list or numpy array is converted with `torch.as_tensor(data).float()`."""
    if not isinstance(value, Tensor) or floating and not value.is_floating_point():
        kind = "a float tensor" if floating else "a tensor"
        raise TypeError(f"{owner}: {name} must be {kind}, got {_kind(value)}")
    if value.dim() == 0 or len(value) == 0:
        raise ValueError(f"{owner}: {name} {_kind(value)} must have N ≥ 1 rows")


def _check_number(name, value, low, below=math.inf, strict=False, integer=False):
    """`value` as an int (if `integer`) or a float, if it is such a number (numpy's
    too, not a bool) in [low, below), or in (low, below) if `strict`."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {'an integer' if integer else 'a number'}, "
                        f"got {value!r}")
    if not (low < value if strict else low <= value) or not value < below:
        raise ValueError(f"{name} must be in {'(' if strict else '['}{low}, {below}), "
                         f"got {value!r}")
    return int(value) if integer else float(value)


def _check_sequence(modules):
    """Sequential's items: Modules, each used once, Dense widths that agree."""
    seen = {}  # id of every module so far, in nested Sequentials too -> its item
    for i, item in enumerate(modules):
        if not isinstance(item, Module):  # e.g. a loss, which goes to fit
            raise TypeError(f"Sequential: item {i} is not a Module: {item!r}")
        inside = [item]
        while inside:  # the item, and every module inside it
            module = inside.pop()
            if id(module) in seen:  # it would remember only its last forward
                raise ValueError(f"Sequential: item {i} reuses item {seen[id(module)]}")
            seen[id(module)] = i
            inside += module.modules if isinstance(module, Sequential) else []
    dense = [(i, item) for i, item in enumerate(modules) if isinstance(item, Dense)]
    for (i, a), (j, b) in zip(dense, dense[1:]):  # whatever lies between them
        if a.out_features != b.in_features:
            raise ValueError(f"Sequential: item {i} outputs {a.out_features} features, "
                             f"item {j} expects {b.in_features}")


def _check_classes(owner, target, classes):
    bad = target[(target < 0) | (target >= classes)]
    if len(bad):
        raise ValueError(f"{owner}: class {bad[0].item()} is not in 0..{classes - 1}")
