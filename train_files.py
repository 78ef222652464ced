"""Writing train.py's results so that no interruption leaves a truncated or
mixed-up file: each file is written under a temporary name in its folder and
renamed when complete; a set of figures is renamed only once all are written.

Importing this module imports neither torch nor matplotlib.
"""

import os
import threading


class Cancelled(Exception):
    """The writing was called off (Ctrl-C, or the live window closed)."""


def temporary_name(path):
    """results/default/history.png -> results/default/.history.writing.png (the
    same folder, so the rename is atomic; the same extension, which matplotlib
    and Pillow read to choose the format)."""
    folder, name = os.path.split(path)
    stem, extension = os.path.splitext(name)
    return os.path.join(folder, f".{stem}.writing{extension}")


def remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def write_whole(path, write):
    """write(temporary) then rename it to path: path is the old file or the new
    one, never half of one. Returns path."""
    temporary = temporary_name(path)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        remove(temporary)
        raise
    return path


def write_set(folder, jobs, check):
    """Write jobs (name, what, save) into folder, save(path, check) writing one
    file; check() raises Cancelled when the writing is called off, and is called
    between files and by save between its own steps. The files are renamed to
    their names only when all are written: a cancelled set changes nothing.
    Returns the paths written."""
    os.makedirs(folder, exist_ok=True)
    written = []  # (temporary, final)
    try:
        for name, what, save in jobs:
            check()
            path = os.path.join(folder, name)
            print(f"writing {path} ({what}) ...", flush=True)
            written.append((temporary_name(path), path))
            save(written[-1][0], check)
        check()
    except BaseException:
        for temporary, _ in written:
            remove(temporary)
        raise
    for temporary, path in written:
        os.replace(temporary, path)
    return [path for _, path in written]


def in_background(work, wait):
    """Run work() in a thread while the caller's thread calls wait() (which
    returns after a short while: handling the window's events, or noticing
    Ctrl-C). Returns what work() returned, or raises what it raised."""
    outcome = {}

    def run():
        try:
            outcome["value"] = work()
        except BaseException as error:  # handed to the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while thread.is_alive():
        wait()
        thread.join(0.02)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
