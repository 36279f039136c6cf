"""tokenorder harness: samplers, decoder, models, training, runner, results store and reports."""
__version__ = "0.1.0"
