"""Bridges to other tools: ``lm_eval_model`` is an lm-evaluation-harness ``LM`` that decodes with our
decoder and samplers, ``lm_eval_registry`` registers it by name on request (never at interpreter start),
``lm_eval_cli`` is ``tokenorder-lm-eval``, lm-eval's command line with the model registered."""
