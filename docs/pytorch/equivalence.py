"""The disk network trained by minimlp and by torch.nn + torch.optim, from the
same weights on the same batches in float64: they end with the same weights.

Run it from the repository root: python docs/pytorch/equivalence.py"""
import math
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # where minimlp.py is
from minimlp import Adam, Dense, MSELoss, ReLU, Sequential, Sigmoid, accuracy

LR, WEIGHT_DECAY = 3e-4, 1e-4
STEPS, BATCH_SIZE = 4800, 50


def minimlp_model():
    model = Sequential(
        Dense(2, 25), ReLU(),
        Dense(25, 25), ReLU(),
        Dense(25, 25), ReLU(),
        Dense(25, 1), Sigmoid(),
    )
    return model.to(torch.float64)


def train_minimlp(model, batches):
    loss = MSELoss()
    optimizer = Adam(
        model.param(), lr=LR,
        weight_decay=WEIGHT_DECAY)
    for x, y in batches:
        optimizer.zero_grad()
        loss(model(x), y)
        # backward, by hand: loss, then layers
        model.backward(loss.backward())
        optimizer.step()


def torch_model():
    model = nn.Sequential(
        nn.Linear(2, 25), nn.ReLU(),
        nn.Linear(25, 25), nn.ReLU(),
        nn.Linear(25, 25), nn.ReLU(),
        nn.Linear(25, 1), nn.Sigmoid(),
    )
    return model.to(torch.float64)


def train_torch(model, batches):
    loss = nn.MSELoss()
    optimizer = torch.optim.Adam(
        model.parameters(), lr=LR,
        weight_decay=WEIGHT_DECAY)
    for x, y in batches:
        optimizer.zero_grad()
        # autograd records the forward, then
        # walks it back from the loss
        loss(model(x), y).backward()
        optimizer.step()


def main():
    torch.manual_seed(0)  # nn.Linear draws its start weights from the global generator
    generator = torch.Generator().manual_seed(0)
    # 1000 points of the disk problem, centred on the disk, in float64
    x = torch.rand(1000, 2, generator=generator, dtype=torch.float64) - 0.5
    y = (x.pow(2).sum(1, keepdim=True) < 1 / (2 * math.pi)).double()
    x = 2 * x
    # the same mini-batches for both: a new shuffle every epoch, STEPS steps in all
    batches = []
    while len(batches) < STEPS:
        order = torch.randperm(len(x), generator=generator)
        batches += [(x[i], y[i]) for i in order.split(BATCH_SIZE)]
    batches = batches[:STEPS]

    ours_model, theirs_model = minimlp_model(), torch_model()
    # the same start: torch's initial weights
    ours_model.load_state_dict(theirs_model.state_dict())
    train_minimlp(ours_model, batches)
    train_torch(theirs_model, batches)

    ours, theirs = ours_model.state_dict(), theirs_model.state_dict()
    assert ours.keys() == theirs.keys()  # the same names: 0.weight, 0.bias, ...
    difference = max((ours[k] - theirs[k]).abs().max().item() for k in ours)
    largest = max(value.abs().max().item() for value in theirs.values())
    print(f"steps: {STEPS} (Adam, lr {LR}, weight decay {WEIGHT_DECAY}, "
          f"batches of {BATCH_SIZE})")
    print(f"largest weight: {largest:.2f}")
    print(f"largest difference between the two: {difference:.1e}")

    # The accuracy on the training points, by minimlp's accuracy and by the PyTorch
    # expressions of the page's table: one output, then the argmax of (1 - x, x)
    ours_prediction = ours_model(x)
    with torch.no_grad():
        prediction = theirs_model(x)
    classes = (y >= 0.5).long().view(-1)  # class indices (N,)
    ours_one = accuracy(ours_prediction, y)
    torch_one = ((prediction >= 0.5) == (y >= 0.5)).float().mean().item()
    ours_two = accuracy(torch.cat([1 - ours_prediction, ours_prediction], 1), classes)
    two_columns = torch.cat([1 - prediction, prediction], 1)
    torch_two = (two_columns.argmax(1) == classes).float().mean().item()
    # (float32 means: equal up to rounding, 1 point in 1000 is 1e-3)
    assert math.isclose(ours_one, torch_one, abs_tol=1e-6), (ours_one, torch_one)
    assert math.isclose(ours_two, torch_two, abs_tol=1e-6), (ours_two, torch_two)
    print(f"accuracy, one output (minimlp, torch): {ours_one:.3f}, {torch_one:.3f}")
    print(f"accuracy, argmax of two (minimlp, torch): {ours_two:.3f}, {torch_two:.3f}")


if __name__ == "__main__":
    main()
