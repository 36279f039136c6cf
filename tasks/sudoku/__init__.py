"""Sudoku (paper Tables 2 and 5): puzzle data, the strategy solver, the generator, file formats, the checker
and the task adapters. ``puzzles`` holds the shared puzzle type; every other module builds on it."""
