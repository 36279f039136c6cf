"""Zebra arrays, token layout, symmetries, checker, data splits, the task adapter and a smoke run end to end."""
import json
import pickle

import numpy as np
import pytest

from tasks.zebra.arrays import ZebraSet, clues_hold, random_symmetries
from tasks.zebra.check import check_solution, check_tables
from tasks.zebra.layout import END, PAD, SEP, Layout
from tasks.zebra.puzzle import Clue, ZebraPuzzle, generate_many, holds, load_pickle, solve

SIZES = [(3, 3), (3, 4), (4, 3), (4, 4), (5, 3)]


@pytest.fixture(scope="module")
def puzzles():
    return generate_many(40, 7, SIZES)


@pytest.fixture(scope="module")
def zs(puzzles):
    return ZebraSet.from_puzzles(puzzles)


LAYOUT = Layout(max_houses=5, max_attrs=4, max_clues=20)


def test_zebraset_round_trip(puzzles, zs, tmp_path):
    for i, p in enumerate(puzzles):
        q = zs.puzzle(i)
        assert (q.m, q.n, q.clues, q.order) == (p.m, p.n, p.clues, p.order)
        assert np.array_equal(q.solution, p.solution)
    zs.save(tmp_path / "z.npz")
    back = ZebraSet.load(tmp_path / "z.npz")
    assert np.array_equal(back.clues, zs.clues) and back.source == zs.source


def test_mdm_layout(zs):
    x, cells = LAYOUT.mdm_tokens(zs)
    assert x.shape == (len(zs), LAYOUT.mdm_len) == (len(zs), 5 * 20 + 1 + 4 * 5)
    assert (cells.sum(1) == zs.houses * zs.attrs).all()
    assert (x[:, LAYOUT.table_start - 1] == SEP).all()
    assert (x[:, LAYOUT.table_start:][~cells[:, LAYOUT.table_start:]] == PAD).all()
    assert (x[cells] >= LAYOUT.val).all()
    # cell (a, h) sits at table_start + a*H + h for every puzzle size
    i = int(np.flatnonzero((zs.houses == 4) & (zs.attrs == 3))[0])
    assert x[i, LAYOUT.table_start + 2 * 5 + 3] == LAYOUT.val + zs.solution[i, 2, 3]
    assert np.array_equal(LAYOUT.table_from_mdm(x, zs), zs.padded(LAYOUT.shape).solution)
    # clue slots: five tokens per clue, unused slots PAD
    k = int(zs.n_clues[0])
    assert (x[0, 5 * k:LAYOUT.table_start - 1] == PAD).all() and (x[0, :5 * k] != PAD).all()


@pytest.mark.parametrize("order", ["solver", "fixed"])
def test_arm_layout(puzzles, zs, order):
    x, loss, start = LAYOUT.arm_tokens(zs, order)
    assert x.shape[1] == LAYOUT.arm_len
    for i, p in enumerate(puzzles):
        assert start[i] == 5 * len(p.clues) + 1 and x[i, start[i] - 1] == SEP
        moves = LAYOUT.moves_from_arm(x[i], start[i], p.m, p.n)
        want = p.order if order == "solver" else [(a, h) for a in range(p.n) for h in range(p.m)]
        assert [(a, h) for a, h, _ in moves] == want
        assert all(p.solution[a, h] == v for a, h, v in moves)
        end = start[i] + 3 * p.m * p.n
        assert x[i, end] == END and (x[i, end + 1:] == PAD).all()
        assert loss[i].sum() == 3 * p.m * p.n + 1 and loss[i, start[i]] and loss[i, end] and not loss[i, end + 1:].any()
        # the clue block equals the MDM's
        assert np.array_equal(x[i, :5 * len(p.clues)], LAYOUT.clue_block(zs)[i, :5 * len(p.clues)])


def test_layout_too_small_is_a_clear_error(zs):
    with pytest.raises(ValueError, match="max_clues"):
        Layout(max_houses=5, max_attrs=4, max_clues=3).mdm_tokens(zs)
    with pytest.raises(ValueError, match="max_houses"):
        Layout(max_houses=3, max_attrs=4, max_clues=20).mdm_tokens(zs)


def test_symmetries_keep_meaning_uniqueness_and_order(zs):
    rng = np.random.default_rng(3)
    changed = 0
    for _ in range(5):
        az = random_symmetries(zs, rng)
        assert clues_hold(az.clues, az.solution).all()
        for i in range(len(az)):
            p = az.puzzle(i)
            r = solve(p.m, p.n, p.clues)
            assert r.solutions_found == 1 and not r.stuck and np.array_equal(r.solution, p.solution)
            assert sorted(p.order) == sorted((a, h) for a in range(p.n) for h in range(p.m))
            # the carried order is a fill order: the solver's cells per step are a set, so compare as sets of
            # the cells it determined in each prefix of the original order mapped through the symmetry
            assert len(set(p.order)) == p.m * p.n
        changed += int((az.solution != zs.solution).any((1, 2)).sum())
    assert changed > 4 * len(zs)  # a symmetry almost always changes the table


def test_vectorised_clue_truth_matches_scalar(zs):
    rng = np.random.default_rng(0)
    C, A, H = zs.shape
    for _ in range(20):
        tables = np.stack([np.stack([rng.permutation(H) for _ in range(A)]) for _ in range(len(zs))])
        tables = np.where(zs.solution >= 0, tables % np.maximum(zs.houses, 1)[:, None, None], -1)
        got = clues_hold(zs.clues, tables)
        for i in range(len(zs)):
            p = zs.puzzle(i)
            t = tables[i, :p.n, :p.m]
            for j, c in enumerate(p.clues):
                if all(sorted(row) == list(range(p.m)) for row in t):
                    assert got[i, j] == holds(c, t), (c, t)
            assert got[i, len(p.clues):].all()


def test_checker_verdicts(zs):
    r = check_tables(zs, zs.solution)
    assert r["correct"].all() and r["clues_ok"].all() and r["valid"].all() and r["agree"].all()
    assert (r["cell_acc"] == 1).all()
    bad = zs.solution.copy()
    bad[:, 0, [0, 1]] = bad[:, 0, [1, 0]]        # swap two houses of attribute 0: still a permutation
    r = check_tables(zs, bad)
    assert not r["correct"].any() and r["valid"].all() and not r["clues_ok"].any() and r["agree"].all()
    dup = zs.solution.copy()
    dup[:, 0, 1] = dup[:, 0, 0]                   # a value twice
    r = check_tables(zs, dup)
    assert not r["valid"].any() and not r["clues_ok"].any()
    none = np.where(zs.solution >= 0, -1, -1)
    r = check_tables(zs, none)
    assert (r["cell_acc"] == 0).all() and not r["correct"].any()


def test_checker_reports_disagreement_on_a_non_unique_puzzle():
    # 3 houses, 1 attribute, one clue: value 0 in house 2 -> [1,0,2]... two solutions: [1,0,2] and [0,1,2]
    A = lambda a, v: ("attr", a, v)  # noqa: E731
    p = ZebraPuzzle(3, 1, [Clue("found-at", A(0, 2), ("house", 2))], np.array([[1, 0, 2]]), [], "hand")
    other = np.array([[0, 1, 2]])
    r = check_solution(p, other)
    assert r.clues_ok and not r.correct and not r.agree
    assert check_solution(p, p.solution).agree


def test_loader_reads_other_shapes_of_shah_data(tmp_path):
    # Shah's tokenised training form: clue tokens, ANSWER, attr col value triples (attributes from 0)
    table = [[0, 1, 2], [2, 0, 1]]
    seq = ("found_at LHS c 1 2 RHS n 0 0 CLUE_END next_to LHS c 1 0 RHS n 0 0 CLUE_END "
           "ANSWER 0 0 2 0 1 0 0 2 1").split()
    d = {"clues": ["found-at LHS c 1 2 RHS n 0 0", "beside LHS c 1 0 RHS n 0 0"], "solution": table,
         "order": [(0, 0), (0, 1), (0, 2)]}
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps([[seq, table], d, [d["clues"], table, [(1, 0, 2), (1, 1, 0), (1, 2, 1)]]]))
    a, b, c = load_pickle(path)
    for p in (a, b, c):
        assert p.solution.tolist() == [[2, 0, 1]] and p.order == [(0, 0), (0, 1), (0, 2)]
        assert [cl.kind for cl in p.clues] == ["found-at", "beside"]
    path.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a readable Zebra pickle"):
        load_pickle(path)
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_pickle(tmp_path / "missing.pkl")
    bad = [d["clues"], table, [(1, 0, 1)]]  # value disagrees with the table
    path.write_bytes(pickle.dumps([bad]))
    with pytest.raises(ValueError, match="disagrees"):
        load_pickle(path)


def test_data_splits_cache_by_prefix_and_read_shah_files(tmp_path, monkeypatch):
    from tasks.zebra import data
    from tasks.zebra.puzzle import dump_pickle
    monkeypatch.setenv("TOKENORDER_CACHE", str(tmp_path / "cache"))
    small, src = data.load_split("test", 6, SIZES)
    big, _ = data.load_split("test", 10, SIZES)
    assert src.startswith("generated") and small.keys() == big.keys()[:6]
    assert data.drop_overlap(big, small).keys() == big.keys()[6:]
    d = tmp_path / "shah"
    (d / "zebra").mkdir(parents=True)
    puzzles = [big.puzzle(i) for i in range(10)]
    dump_pickle(puzzles, d / "zebra" / "zebra-test-data.pkl", base=1)
    got, src = data.load_split("test", 4, [(3, 3), (3, 4)], str(d))
    assert src == "shah:zebra-test-data.pkl"
    assert all((int(m), int(n)) in [(3, 3), (3, 4)] for m, n in zip(got.houses, got.attrs)) and len(got) == 4
    with pytest.raises(ValueError, match="lower the preset"):
        data.load_split("test", 50, SIZES, str(d))


@pytest.fixture
def task(tmp_path, monkeypatch):
    from tasks.zebra.task import Zebra
    monkeypatch.setenv("TOKENORDER_CACHE", str(tmp_path / "cache"))
    return Zebra("3-4", "smoke")


def test_task_examples_and_scores(task):
    exs = task.examples(4)
    L = task.layout
    for e in exs:
        masked = e.prompt == task.mask_id
        m, n = (int(x) for x in e.meta["record"]["size"].split("x"))
        assert masked.sum() == m * n and (masked[:L.table_start]).sum() == 0
        s = task.score(e, e.target)
        assert s.correct and s.metrics["clues_ok"] and s.metrics["checker_agree"]
        wrong = e.target.copy()
        cells = np.flatnonzero(masked)
        wrong[cells[[0, 1]]] = wrong[cells[[1, 0]]]
        assert not task.score(e, wrong).correct or wrong[cells[0]] == wrong[cells[1]]
        assert not task.score(e, e.prompt).correct  # masks are not values
    allowed = task.allowed()
    assert allowed[L.val:].all() and not allowed[:L.val].any()


def test_task_arm_score_and_illegal_moves(task):
    e = task.examples(1)[0]
    zs = task.eval_set.subset([0])
    full, _, start = task.layout.arm_tokens(zs, "solver")
    prompt, k = task.arm_prompt(e)
    assert k == start[0] and np.array_equal(prompt[:k], full[0, :k])
    s = task.arm_score(e, full[0])
    assert s.correct and s.metrics["illegal_moves"] == 0
    order = np.array(s.order)
    cells = e.prompt == task.mask_id
    assert sorted(order[cells].tolist()) == list(range(int(cells.sum()))) and (order[~cells] == -1).all()
    bad = full[0].copy()
    bad[k:k + 3] = bad[k + 3:k + 6]   # the second move twice: first one illegal-free, the repeat illegal
    bad[k + 6] = 0                     # not an attribute token
    s = task.arm_score(e, bad)
    assert not s.correct and s.metrics["illegal_moves"] == 2
    assert "|" in task.arm_render(full[0]) and "=" in task.arm_render(full[0])


def test_smoke_run_end_to_end(tmp_path, monkeypatch):
    """Generate, train the MDM and both ARMs, evaluate, render Table 3 (smoke scale)."""
    from harness.report import build as report
    from harness.run import cli as run
    monkeypatch.setenv("TOKENORDER_CACHE", str(tmp_path / "cache"))
    base = ["--scale", "smoke", "--results-dir", str(tmp_path / "res"), "--ckpt-dir", str(tmp_path / "ck"),
            "--no-progress", "--threads", "1"]
    assert run.main(["--task", "zebra", "--sampler", "vanilla,top_prob,margin,arm_solver,arm_fixed"] + base) == 0
    files = sorted((tmp_path / "res").rglob("*.jsonl"))
    assert len(files) == 10                               # two levels of one base variant, one model
    lines = files[-1].read_text().splitlines()
    header, rec = json.loads(lines[0]), json.loads(lines[1])
    assert header["task_info"]["layout"]["kind"] == "relations" and header["task_info"]["n_train"] == 64
    assert len({p.parent.name for p in (tmp_path / "ck").rglob("ckpt.pt")}) == 3   # mdm + two ARMs
    assert {"solver_rank", "solver_third", "size"} <= set(rec["meta"])
    assert report.main(["--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep")]) == 0
    t3 = (tmp_path / "rep" / "table3.md").read_text()
    for want in ("ARM (w/o ordering)", "80.31", "91.17", "76.90", "98.50", "98.30", "By puzzle size", "Decoding order"):
        assert want in t3


@pytest.fixture
def rel_task(tmp_path, monkeypatch):
    from tasks.zebra.task import Zebra
    monkeypatch.setenv("TOKENORDER_CACHE", str(tmp_path / "cache"))
    return Zebra("3-4-rel", "smoke")


def test_relations_layout_has_exactly_the_puzzles_solutions(zs):
    """Brute force over every table: the unary and pair slots admit exactly the unique solution."""
    import itertools
    from tasks.zebra.relations import RelationsLayout
    L = RelationsLayout(max_houses=5, max_attrs=4, max_clues=20)
    az = random_symmetries(zs, np.random.default_rng(5))
    small = [i for i in range(len(az)) if az.houses[i] * az.attrs[i] <= 12][:12]
    az = az.subset(small)
    allowed, diff, inside = L.constraints(az)
    for n in range(len(az)):
        m, na = int(az.houses[n]), int(az.attrs[n])
        sols = []
        for perms in itertools.product(itertools.permutations(range(m)), repeat=na):
            pos = {a * 5 + v: perms[a][v] for a in range(na) for v in range(m)}
            ok = all(allowed[n, i, pos[i]] for i in pos) and all(
                diff[n, p, pos[j] - pos[i] + 4] for p, (i, j) in enumerate(L.pairs) if i in pos and j in pos)
            if ok:
                sols.append(pos)
        truth = L.houses_of_items(az.subset([n]))[0]
        assert len(sols) == 1 and all(sols[0][i] == truth[i] for i in sols[0])
    x, cells = L.mdm_tokens(az)
    assert np.array_equal(L.table_from_mdm(x, az), az.padded(L.shape).solution)
    assert (cells.sum(1) == az.houses * az.attrs).all()


def test_relations_task_examples_scores_and_arm(rel_task):
    task = rel_task
    for e in task.examples(4):
        masked = e.prompt == task.mask_id
        m, n = (int(x) for x in e.meta["record"]["size"].split("x"))
        assert masked.sum() == m * n
        assert task.score(e, e.target).correct and not task.score(e, e.prompt).correct
        ranks = np.array(e.meta["record"]["solver_rank"])
        assert sorted(ranks[masked].tolist()) == list(range(m * n)) and (ranks[~masked] == -1).all()
    e = task.examples(1)[0]
    zs = task.eval_set.subset([0])
    full, _, start = task.layout.arm_tokens(zs, "solver")
    prompt, k = task.arm_prompt(e)
    assert k == start[0] and np.array_equal(prompt[:k], full[0, :k])
    s = task.arm_score(e, full[0])
    assert s.correct and s.metrics["illegal_moves"] == 0
    order = np.array(s.order)
    cells = e.prompt == task.mask_id
    assert sorted(order[cells].tolist()) == list(range(int(cells.sum()))) and (order[~cells] == -1).all()
    bad = full[0].copy()
    bad[k + 2:k + 4] = bad[k:k + 2]    # the first move twice
    s = task.arm_score(e, bad)
    assert not s.correct and s.metrics["illegal_moves"] >= 1
    assert "|" in task.arm_render(full[0]) and "@h" in task.arm_render(full[0]) and "|" in task.render(e.prompt)


def test_levels_state_cells_as_found_at_clues(tmp_path, monkeypatch):
    from tasks.zebra.arrays import KIND_ID
    from tasks.zebra.task import Zebra, parse_variant
    monkeypatch.setenv("TOKENORDER_CACHE", str(tmp_path / "cache"))
    plain, lvl = Zebra("3-4-rel", "smoke"), Zebra("3-4-rel+2", "smoke")
    assert plain.model_key() == lvl.model_key() == "zebra/3-4-rel"
    a, b = plain.eval_set, lvl.eval_set
    assert (b.n_clues == a.n_clues + 2).all() and np.array_equal(a.solution, b.solution)
    new = b.clues[np.arange(len(b))[:, None], a.n_clues[:, None] + np.arange(2)[None]]
    assert (new[..., 0] == KIND_ID["found-at"]).all() and clues_hold(b.clues, b.solution).all()
    assert lvl.checks(4, 0)[1].learned_at == pytest.approx(0.5 * (1 + np.mean(1 / b.houses[:4])), abs=1e-3)
    for bad in ("3-rel+0", "nope", "3-rel+x"):
        with pytest.raises(ValueError):
            parse_variant(bad)

