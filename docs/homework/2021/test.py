"""EE-559 mini-project 2 (2021 form): the disk task with minimlp.

Run it with minimlp.py in the same folder: python test.py
"""
import math

import torch
from torch import empty

from minimlp import MSELoss, ReLU, SGD, Dense, Sequential, Sigmoid, accuracy, fit

torch.set_grad_enabled(False)  # autograd globally off, as the handout requires
torch.manual_seed(0)  # the seed of every draw below: data, weights, batch order
# One thread: the matrices are tiny (at most 500 x 25), and more threads only wait on
# each other (on a 2-core machine shared with other jobs, five runs of each in turn:
# 12-176 s with torch's default of two threads, 4-24 s with one)
torch.set_num_threads(1)

RADIUS = 1 / math.sqrt(2 * math.pi)  # a disk of area 1/2 centred at (0.5, 0.5)


def generate_disk(n):
    """n points uniform in [0, 1]^2; target 1 inside the disk, 0 outside."""
    x = empty(n, 2).uniform_()
    inside = (x - 0.5).pow(2).sum(1) < RADIUS**2
    return x, inside.float().reshape(n, 1)


x_train, y_train = generate_disk(1000)
x_test, y_test = generate_disk(1000)


def centred(x):
    """What the network sees: the square moved to [-1, 1]^2, centred on the disk."""
    return (x - 0.5) * 2


# The report's network: 2 inputs, three hidden layers of 25 units, one output.
model = Sequential(
    Dense(2, 25), ReLU(),
    Dense(25, 25), ReLU(),
    Dense(25, 25), ReLU(),
    Dense(25, 1), Sigmoid(),
)
EPOCHS, LR = 1000, 0.2
optimizer = SGD(model.param(), lr=LR, momentum=0.9)


def on_epoch_end(epoch, model, history):
    """Log the loss every 100 epochs; decay the learning rate to 0 along a cosine."""
    if (epoch + 1) % 100 == 0:
        print(f"epoch {epoch + 1:3d}  train loss {history.train_loss[-1]:.4f}")
    optimizer.lr = LR * (1 + math.cos(math.pi * (epoch + 1) / EPOCHS)) / 2


fit(model, MSELoss(), optimizer, centred(x_train), y_train, epochs=EPOCHS,
    batch_size=500, callback=on_epoch_end)

model.eval()
for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
    errors = 1 - accuracy(model(centred(x)), y)
    print(f"{name} error: {100 * errors:.1f} % ({round(errors * len(x))} of {len(x)})")
