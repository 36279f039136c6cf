"""The report room: every table and figure of the paper, rendered from results JSONL alone.

Reads ``results/**.jsonl`` and nothing else (no torch, no models, no task code: the results files are the
API) and writes ``reports/*.md`` and ``reports/*.png`` with the paper's numbers beside ours.
``records`` loads the files into pandas, ``common`` holds the shared helpers (mean +- SE, paired verdicts,
formatting, the scale/sample-count/commit stamp, learning checks), ``reference`` the paper's numbers, and
each table or figure is one module (``lo_nae_sat`` Table 1, ``puzzles`` Tables 2/3/5, ``text`` Table 4,
``isoflop`` / ``pi_order`` / ``lo_imbalance`` Figure 2, ``genppl`` Figure 3). A new table is one module plus
one line in :data:`harness.report.build.RENDERERS`. Command line: ``python -m harness.report``.
"""
