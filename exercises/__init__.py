"""The exercise track: skeletons of minimlp.py to fill in, and their checker.

`catalogue` lists the exercises; `make_skeletons` writes the skeletons;
`check` grades a file (`harness`, `compare` and `graders` do the grading).
"""
