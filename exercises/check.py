"""Grade the minimlp exercises, and say what is wrong with the ones that fail.

    cp exercises/minimlp_derive.py my_minimlp.py     # or minimlp_guided.py
    python exercises/check.py my_minimlp.py          # grade your copy
    python exercises/check.py --hint my_minimlp.py   # derive level: show the equations

FILE is imported as a module and each exercise is run through its own method
(`layer.forward(x)`, `layer.backward(g)`, `loss.forward(prediction, target)`,
`opt.step()`) in float64, on several shapes (a 2×2 case, a batch of one,
non-square layers, large inputs, s = 0 exactly), against an oracle:
torch.autograd for the gradients, and for the optimizer steps PyTorch's update
rules (which test_exercises.py holds to torch.optim). The checker is a test
harness, not part of the framework, so it may use autograd; your file may not:
torch.nn, torch.optim, torch.autograd or .backward() of a tensor in it is a
FAIL that names the homework's rule.

Every backward is called twice after one forward (the two results must
agree), and again after a forward and backward on other numbers (nothing may
be kept from an earlier call); the caller's tensors are compared before and
after every call, so an in-place edit of something forward saved is caught
and named. An exception is reported on the method that raised it, with its
line.

One line per exercise, printed as soon as it is graded: PASS, TODO (still
raises NotImplementedError), WAIT (cannot be graded until an earlier exercise
passes: a backward needs its forward), or FAIL with a diagnosis read from the
numbers (never from your source, except the line an exception came from and
the homework's rule), what to look at, and an example of expected and got.
At the guided level "look at" gives the equation; at the derive level it names
the section of docs/backprop.md that derives it (--hint shows the equation).

The exercises are graded in a separate process, each within TIME_LIMIT seconds
(an endless loop FAILs and the others are still graded) and, where the system
allows it, within MEMORY_LIMIT bytes more than the process held after loading
your file. Exit status 0 only when every exercise passes.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

if importlib.util.find_spec("torch") is None:  # the first thing a fresh machine meets
    sys.exit(
        "exercises/check.py needs torch, and this Python has none: install it first, "
        "as the README's Get started says\n"
        "(python -m pip install torch==2.13.0 --index-url "
        "https://download.pytorch.org/whl/cpu), then run the checker again"
    )

if __package__ in (None, ""):  # run as a script: python exercises/check.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# This process only starts workers and prints: torch, the harness and the graders
# are imported where an exercise is graded (grade_one), in the worker.
from exercises.catalogue import BY_NAME, EXERCISES, PAGE  # noqa: E402
from exercises.outcomes import (  # noqa: E402
    RULE,
    Failed,
    HomeworkRule,
    Result,
    TimeLimit,
    Todo,
    Wait,
)

TIME_LIMIT = 5.0  # seconds per exercise (minimlp.py's slowest takes a few ms)
GRACE = 3.0  # then the process grading it is stopped from outside
IMPORT_LIMIT = 60.0  # seconds to start: import torch and your file
MEMORY_LIMIT = 2 * 2**30  # bytes per process, beyond what it holds after loading
USAGE = """\
usage: python exercises/check.py [--hint] [--level guided|derive] [--time-limit S] FILE

FILE is your copy of a skeleton. Make one first, at the level you choose:
    cp exercises/minimlp_derive.py my_minimlp.py    # derive the gradients yourself
    cp exercises/minimlp_guided.py my_minimlp.py    # the equations are given
then write the exercises in it and run
    python exercises/check.py my_minimlp.py"""


# ---------------------------------------------------------------------------
# Grading, in this process
# ---------------------------------------------------------------------------


def level_of(path) -> str:
    """'derive' or 'guided', from the skeleton's header; a file without one
    (minimlp.py itself) is graded as guided."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return "derive" if "Exercise skeleton, derive level" in text else "guided"


def look_lines(name: str, equation: str, level: str, hint: bool) -> list:
    """The 'look at' lines of a FAIL: the equation (guided level), or the section
    of the derivation page that derives it (derive level; with the equation if
    `hint`)."""
    section = f"{PAGE}, section “{BY_NAME[name].section}”"
    if level == "guided":
        return [f"look at: {equation}"] if equation else []
    if not hint:
        return [f"look at: {section} (--hint shows the equation)"]
    return [f"look at: {equation}", f"  derived in {section}"]


def grade_one(
    module,
    results: dict,
    name: str,
    level="guided",
    hint=False,
    rule_breaks=None,
    time_limit=TIME_LIMIT,
) -> Result:
    """Grade the exercise `name` of `module`; `results` holds the earlier ones."""
    from exercises.graders import grader

    exercise = BY_NAME[name]
    before = results.get(exercise.forward)
    look = look_lines(name, exercise.hint, level, hint)

    def result(status, headline="", details=(), ran_out=False):
        return Result(exercise.number, name, status, headline, list(details), ran_out)

    if before is not None and before.ran_out:
        return result(
            "WAIT",
            f"fix exercise {before.number} ({before.name}) first: it "
            "took too long, and backward is tested after it",
        )
    if rule_breaks and name in rule_breaks:
        line, what, code = rule_breaks[name]
        return result("FAIL", f"uses {what} (line {line}: {code}): {RULE}", look)
    try:
        grader(name)(module, name)
        return result("PASS")
    except Todo:
        return result("TODO")
    except (Wait, Failed) as stop:
        if before is not None and before.status == "FAIL":
            return result("WAIT", f"fix exercise {before.number} ({before.name}) first")
        if isinstance(stop, Wait):
            return result("WAIT", str(stop))
        details = look_lines(name, stop.look_at or exercise.hint, level, hint)
        return result("FAIL", stop.headline, details + stop.example)
    except (HomeworkRule, TimeLimit, Exception) as error:
        return _raised(error, name, result, look, time_limit)


def _raised(error, name, result, look, time_limit) -> Result:
    """The result of an exercise whose grading ended in `error`: the student's code
    broke the homework's rule, ran out of time, or raised. When the code of another
    exercise did (a forward's check runs its backward), this one waits for it."""
    from exercises.harness import error_kind, error_text, line_text, where_raised

    where = where_raised(error)
    elsewhere = where is not None and where[0] != name
    other = f"exercise {BY_NAME[where[0]].number} ({where[0]})" if elsewhere else ""
    if isinstance(error, HomeworkRule):
        if elsewhere:
            return result("WAIT", f"needs {other} to keep the homework's rule first")
        return result("FAIL", f"uses {error}{line_text(error)}: {RULE}", look)
    if isinstance(error, TimeLimit):
        if elsewhere:
            return result(
                "WAIT",
                f"graded once {other} ends: checking this one runs "
                f"it, and it took longer than {time_limit:g} s",
            )
        return too_long(BY_NAME[name], time_limit, line_text(error), look)
    if elsewhere:
        return result(
            "WAIT", f"needs {other} to run first (it raised {error_kind(error)})"
        )
    return result(
        "FAIL",
        f"raised {error_text(error)}{line_text(error)}",
        look
        + [
            "on the checker's first case:",
            "  expected a result, no exception",
            f"  got      {error_kind(error)} raised",
        ],
    )


def too_long(exercise, time_limit, line="", look=()) -> Result:
    """The FAIL of an exercise that ran past its time limit (`line`: where it was)."""
    headline = f"took longer than {time_limit:g} s — an endless loop?{line}"
    return Result(exercise.number, exercise.name, "FAIL", headline, list(look), True)


def grade(module, level="guided", hint=False, time_limit=TIME_LIMIT) -> list:
    """A Result for every exercise of `module`, in order, in this process (the
    tests' way; `run` is the command line's). The time limit holds where an
    alarm can interrupt Python code: on Linux and macOS, in the main thread."""
    from exercises import harness

    harness.learn_owners(module)
    rule_breaks, _ = harness.rule_breaks(module.__file__)
    results = {}
    with harness.homework_rule(), alarm_clock() as alarm:
        for exercise in EXERCISES:
            results[exercise.name] = graded_in_time(
                alarm, module, results, exercise, level, hint, rule_breaks, time_limit
            )
    return list(results.values())


@contextlib.contextmanager
def alarm_clock():
    """Yield whether an alarm (SIGALRM) can stop an exercise that runs too long,
    its handler set for as long as this lasts."""
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield False
        return
    previous = signal.signal(signal.SIGALRM, _raise_time_limit)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def graded_in_time(
    alarm, module, results, exercise, level, hint, rule_breaks, time_limit
) -> Result:
    """grade_one, stopped by the alarm after `time_limit` seconds if `alarm`."""
    if alarm:
        signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        return grade_one(
            module, results, exercise.name, level, hint, rule_breaks, time_limit
        )
    except TimeLimit:  # the alarm rang outside grade_one's own handling
        return too_long(exercise, time_limit)
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)


def summary(results: list) -> str:
    passed = sum(result.status == "PASS" for result in results)
    line = f"{passed}/{len(EXERCISES)} exercises pass"
    following = next((r for r in results if r.status != "PASS"), None)
    if following is not None:
        line += f"; next: exercise {following.number} ({following.name})"
    return line


def report(results: list) -> str:
    lines = [line for result in results for line in result.lines()]
    return "\n".join(lines + [summary(results)])


# ---------------------------------------------------------------------------
# The worker: a process that grades the exercises from one on, and reports each
# ---------------------------------------------------------------------------


def _raise_time_limit(signum, frame):
    raise TimeLimit()


def limit_memory(extra: int) -> None:
    """Let this process map at most `extra` bytes more than it does now (Linux;
    elsewhere nothing happens)."""
    try:
        import resource

        with open("/proc/self/statm") as statm:
            used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = (
            used + extra if hard == resource.RLIM_INFINITY else min(used + extra, hard)
        )
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError):
        pass


def worker(
    path, start: int, level: str, hint: bool, time_limit: float, earlier: dict
) -> int:
    """Grade exercises `start`, `start` + 1, ... of the file at `path`, writing one
    JSON line per result on the original standard output. Whatever the student's
    code prints goes to standard error."""
    import torch

    from exercises import harness
    from exercises.harness import error_kind

    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    torch.set_num_threads(1)
    results = {name: Result(**fields) for name, fields in earlier.items()}
    with harness.homework_rule(), alarm_clock() as alarm:
        try:
            module = harness.load(path)
        except BaseException as error:
            message = {"error": f"{error_kind(error)}: {error}"}
            protocol.write(json.dumps(message) + "\n")
            return 2
        harness.learn_owners(module)
        rule_breaks, outside = harness.rule_breaks(path)
        limit_memory(MEMORY_LIMIT)
        protocol.write(json.dumps({"ready": True, "outside": outside}) + "\n")
        for exercise in EXERCISES[start - 1 :]:
            result = graded_in_time(
                alarm, module, results, exercise, level, hint, rule_breaks, time_limit
            )
            results[exercise.name] = result
            protocol.write(json.dumps({"result": asdict(result)}) + "\n")
    return 0


# ---------------------------------------------------------------------------
# The runner: workers started, timed and replaced; each result printed at once
# ---------------------------------------------------------------------------


def _start_worker(path, start, level, hint, time_limit, results):
    earlier = {
        name: {
            "number": result.number,
            "name": name,
            "status": result.status,
            "ran_out": result.ran_out,
        }
        for name, result in results.items()
    }
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        str(start),
        "--earlier",
        json.dumps(earlier),
        "--level",
        level,
        "--time-limit",
        str(time_limit),
        str(path),
    ] + (["--hint"] if hint else [])
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, encoding="utf-8"
    )
    messages = queue.Queue()

    def read():
        for line in process.stdout:
            try:
                messages.put(json.loads(line))
            except json.JSONDecodeError:
                pass
        messages.put(None)  # the worker ended

    threading.Thread(target=read, daemon=True).start()
    return process, messages


def _stop(process) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


def run(path, level: str, hint: bool, time_limit: float, out=sys.stdout):
    """Grade the file at `path` in worker processes, printing each result as soon as
    it comes. Returns the results, and the (line, what) of each use of what the
    homework forbids outside the exercises; None when the file cannot be imported."""
    results, outside = {}, []
    pending = list(EXERCISES)
    while pending:
        process, messages = _start_worker(
            path, pending[0].number, level, hint, time_limit, results
        )
        try:
            started = _wait(messages, IMPORT_LIMIT)
            if started is None or "error" in started:
                why = (started or {}).get("error") or (
                    f"importing it took longer than {IMPORT_LIMIT:g} s — an endless"
                    " loop at the top of the file?"
                )
                print(f"cannot import {path}: {why}", file=out, flush=True)
                return None
            outside = started["outside"]
            for exercise in list(pending):
                message = _wait(messages, time_limit + GRACE)
                if message is None or "result" not in message:
                    result = _lost(exercise, process, time_limit)
                else:
                    result = Result(**message["result"])
                results[exercise.name] = result
                pending.remove(exercise)
                print("\n".join(result.lines()), file=out, flush=True)
                if message is None or "result" not in message:
                    break  # start a new worker for the rest
        finally:
            _stop(process)
    return list(results.values()), outside


def _wait(messages, seconds):
    try:
        return messages.get(timeout=seconds)
    except queue.Empty:
        return None


def _lost(exercise, process, time_limit) -> Result:
    """The FAIL of an exercise whose worker gave no result: it ran out of time
    (and was stopped), or it ended."""
    ended = process.poll()
    _stop(process)
    if ended is None:
        return too_long(exercise, time_limit)
    return Result(
        exercise.number,
        exercise.name,
        "FAIL",
        f"the process grading it ended (exit status {ended}) before a result: "
        "does your code call exit() or crash Python?",
        ran_out=True,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        usage=USAGE.splitlines()[0][len("usage: ") :],
        description="Grade the minimlp exercises in FILE.",
    )
    parser.add_argument("file", nargs="?", help="your copy of a skeleton")
    parser.add_argument(
        "--hint",
        action="store_true",
        help="at the derive level, show the equation to look at",
    )
    parser.add_argument(
        "--level",
        choices=("guided", "derive"),
        help="the level (default: read from the file's header)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=TIME_LIMIT,
        help=f"seconds per exercise (default {TIME_LIMIT:g})",
    )
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--earlier", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.file is None:
        print(USAGE)
        return 2
    if not Path(args.file).is_file():
        print(f"no file {args.file}\n\n{USAGE}")
        return 2
    level = args.level or level_of(args.file)
    if args.worker:
        return worker(
            args.file,
            args.worker,
            level,
            args.hint,
            args.time_limit,
            json.loads(args.earlier),
        )
    print(
        f"{args.file}, {level} level: {len(EXERCISES)} exercises, each given "
        f"{args.time_limit:g} s",
        flush=True,
    )
    try:
        graded = run(args.file, level, args.hint, args.time_limit)
    except KeyboardInterrupt:
        print("stopped (Ctrl-C)")
        return 130
    if graded is None:
        return 2
    results, outside = graded
    print(summary(results))
    for line, what in outside:
        print(f"line {line} of {args.file} imports or uses {what}: {RULE}")
    return 0 if all(r.status == "PASS" for r in results) and not outside else 1


if __name__ == "__main__":
    sys.exit(main())
