"""Zebra (Einstein) logic puzzles after Shah et al. 2024: puzzle type, clue semantics, solver, generator, pickle I/O."""
