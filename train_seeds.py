"""train.py --seeds N: the table of accuracies over seeds, printed and saved
(seeds.json and seeds.csv).

Importing this module imports neither torch nor matplotlib.
"""

import csv
import json
import os
import statistics

from train_files import write_whole

STATS = ("mean", "std", "median", "min", "max")
COLUMNS = ("seed", "train_acc", "val_acc", "test_acc", "train_errors", "val_errors",
           "test_errors", "seconds")
ACCURACIES = ("train_acc", "val_acc", "test_acc")
NOT_SAVED = ("plot", "live", "out", "lr_given", "default_lr")  # not the run's settings


def diverged_row(seed):
    """The table row of a seed whose loss diverged: no accuracies."""
    return {**{column: None for column in COLUMNS}, "seed": seed, "diverged": True}


def summarize(rows):
    """Mean, sample std (0 for one seed), median, min and max of each accuracy,
    over the seeds that did not diverge (None when all did)."""
    summary = {}
    for column in ACCURACIES:
        values = [row[column] for row in rows if not row["diverged"]]
        summary[column] = {
            "mean": statistics.mean(values), "median": statistics.median(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)} if values else None
    return summary


def format_table(rows, summary):
    """The table printed at the end of --seeds: one line per seed, then the stats."""
    def cell(value):
        return f"{100 * value:10.2f}" if value is not None else f"{'diverged':>10}"
    lines = [f"{'seed':>10}" + "".join(f"{c[:-4] + ' %':>10}" for c in ACCURACIES)]
    for row in rows:
        lines.append(f"{row['seed']:>10}" + "".join(cell(row[c]) for c in ACCURACIES))
    if summary["test_acc"] is not None:
        lines.append(f"{'mean±std':>10}" + "".join(
            f"{100 * summary[c]['mean']:6.2f}±{100 * summary[c]['std']:.2f}"
            for c in ACCURACIES))
        for stat in ("median", "min", "max"):
            cells = "".join(cell(summary[c][stat]) for c in ACCURACIES)
            lines.append(f"{stat:>10}" + cells)
    return "\n".join(lines)


def save_table(args, rows):
    """Print the table and write seeds.json and seeds.csv to args.out."""
    summary = summarize(rows)
    print(format_table(rows, summary))
    config = {key: value for key, value in vars(args).items() if key not in NOT_SAVED}
    config["hidden"] = list(config["hidden"])
    os.makedirs(args.out, exist_ok=True)

    def save_json(path):
        with open(path, "w") as f:
            json.dump({"config": config, "runs": rows, "summary": summary}, f, indent=2)
            f.write("\n")

    def save_csv(path):
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS + ("diverged",))
            writer.writeheader()
            writer.writerows(rows)
            for stat in STATS:
                writer.writerow({"seed": stat, **{c: summary[c] and summary[c][stat]
                                                  for c in ACCURACIES}})

    json_path = write_whole(os.path.join(args.out, "seeds.json"), save_json)
    csv_path = write_whole(os.path.join(args.out, "seeds.csv"), save_csv)
    print(f"table saved to {json_path} and {csv_path}")
