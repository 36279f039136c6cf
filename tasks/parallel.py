"""Ordered parallel map with a progress bar, shared by the puzzle generators."""
from __future__ import annotations


def imap_ordered(fn, jobs, total: int, workers: int, progress: bool, desc: str, unit: str = "puzzle"):
    """Yield fn(job) for each job, in order, over ``workers`` processes (a tqdm bar when ``progress``)."""
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, desc=desc, unit=unit)
    if workers > 1 and total > 1:
        import multiprocessing as mp
        with mp.Pool(workers) as pool:
            for r in pool.imap(fn, jobs, chunksize=max(1, min(64, total // (8 * workers)))):
                yield r
                if bar is not None:
                    bar.update()
    else:
        for j in jobs:
            yield fn(j)
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
