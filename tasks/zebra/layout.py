"""The Zebra token layout, shared by the MDM and the ARM baselines (the paper leaves it open; PAPER.md 3.4).

Vocabulary (``Layout.vocab_size`` = 16 + A + H; 28 tokens for 6 x 6):

====================  ===========================================================
``PAD`` 0             padding: unused clue slots, table cells outside the puzzle
``MASK`` 1            the MDM's mask
``SEP`` 2             end of the clues, start of the solution
``END`` 3             end of an ARM solution
``KIND + k``          clue kind k (:data:`tasks.zebra.arrays.KINDS`, 11 kinds)
``HOUSE``             a clue side naming a house number ("house k")
``ATTR + a``          a clue side naming attribute a; an ARM triple's attribute
``VAL + v``           a value v, a house number k (clue sides, ARM triples) and every table cell
====================  ===========================================================

A **clue** is five tokens, ``kind, side, value, side, value``: ``immediate-left (HOUSE, VAL 2) (ATTR 0,
VAL 2)`` is "house 2 is immediately left of the house where attribute 0 has value 2".

**MDM** sequence (``mdm_len`` = 5C + 1 + A*H): the clues in 5C slots (unused slots PAD), SEP, then the
solution table as one token per cell at a fixed position per (attribute a, house h): ``5C + 1 + a*H + h``.
Cells of the puzzle are the masked positions (``VAL`` only may be written); cells outside it are PAD, which
tells the model the puzzle's size. Clue slots and positions never depend on the puzzle's size.

**ARM** sequence (``arm_len`` = 5C + 1 + 3*A*H + 1), Shah et al.'s form: the puzzle's clues unpadded, SEP,
then one triple ``ATTR a, VAL h, VAL v`` per cell in the training order, END, then PAD. ``fixed`` order is
attribute-major (a, then h); ``solver`` is the solver's fill order. The prompt is everything up to SEP;
the loss covers the triples and END.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.zebra.arrays import HOUSE_SIDE, KINDS, ZebraSet

PAD, MASK, SEP, END, KIND = 0, 1, 2, 3, 4
HOUSE = KIND + len(KINDS)
ATTR = HOUSE + 1


@dataclass(frozen=True)
class Layout:
    """Sizes of the token layout: at most ``max_houses`` houses, ``max_attrs`` attributes, ``max_clues``."""

    max_houses: int
    max_attrs: int
    max_clues: int

    kind = "table"

    @property
    def shape(self) -> tuple[int, int, int]:
        """Return (C, A, H), the ZebraSet padding this layout encodes."""
        return self.max_clues, self.max_attrs, self.max_houses

    @property
    def val(self) -> int:
        """Return the id of value token 0."""
        return ATTR + self.max_attrs

    @property
    def vocab_size(self) -> int:
        """Return the number of token ids."""
        return self.val + self.max_houses

    @property
    def table_start(self) -> int:
        """Return the MDM position of cell (0, 0)."""
        return 5 * self.max_clues + 1

    @property
    def mdm_len(self) -> int:
        """Return the MDM sequence length."""
        return self.table_start + self.max_attrs * self.max_houses

    @property
    def arm_len(self) -> int:
        """Return the ARM sequence length."""
        return 5 * self.max_clues + 1 + 3 * self.max_attrs * self.max_houses + 1

    def value_tokens(self) -> np.ndarray:
        """Return the [V] bool mask of the value tokens (what a table cell may hold)."""
        ok = np.zeros(self.vocab_size, dtype=bool)
        ok[self.val:] = True
        return ok

    # --- encoding ---
    def clue_block(self, zs: ZebraSet) -> np.ndarray:
        """Return [N, 5C] clue tokens, unused slots PAD."""
        cl = zs.padded(self.shape).clues
        valid = cl[..., 0] >= 0

        def side(t, v):
            return np.where(t == HOUSE_SIDE, HOUSE, ATTR + t), self.val + v
        lt, lv = side(cl[..., 1], cl[..., 2])
        rt, rv = side(cl[..., 3], cl[..., 4])
        block = np.stack([KIND + cl[..., 0], lt, lv, rt, rv], -1)
        return np.where(valid[..., None], block, PAD).reshape(len(zs), -1).astype(np.int64)

    def mdm_tokens(self, zs: ZebraSet) -> tuple[np.ndarray, np.ndarray]:
        """Return (tokens [N, mdm_len] with the solved table, cells [N, mdm_len] bool: the puzzle's cells)."""
        zs = zs.padded(self.shape)
        N = len(zs)
        out = np.full((N, self.mdm_len), PAD, dtype=np.int64)
        out[:, :self.table_start - 1] = self.clue_block(zs)
        out[:, self.table_start - 1] = SEP
        sol = zs.solution.reshape(N, -1)
        out[:, self.table_start:] = np.where(sol >= 0, self.val + sol, PAD)
        cells = np.zeros_like(out, dtype=bool)
        cells[:, self.table_start:] = sol >= 0
        return out, cells

    def table_from_mdm(self, tokens: np.ndarray, zs: ZebraSet) -> np.ndarray:
        """Return [N, A, H] values read from MDM outputs (-1 where a cell holds no value token or is outside)."""
        t = np.asarray(tokens)[..., self.table_start:].reshape(-1, self.max_attrs, self.max_houses)
        v = t - self.val
        v = np.where((v >= 0) & (v < self.max_houses), v, -1)
        return np.where(zs.padded(self.shape).solution >= 0, v, -1)

    def answer_rank(self, zs: ZebraSet) -> np.ndarray:
        """Return [N, mdm_len] the solver's fill step of each table cell (−1 elsewhere or unknown)."""
        zs = zs.padded(self.shape)
        out = np.full((len(zs), self.mdm_len), -1, dtype=np.int64)
        out[:, self.table_start:] = zs.rank.reshape(len(zs), -1)
        return out

    def answer_position(self, a: int, h: int, v: int) -> int:
        """Return the MDM position holding cell (attribute a, house h) (whose value is v)."""
        return self.table_start + a * self.max_houses + h

    def cell_order(self, zs: ZebraSet, order: str) -> np.ndarray:
        """Return [N, A*H] flat cell indices (a*H + h): the puzzle's cells in ``order``, then the rest."""
        zs = zs.padded(self.shape)
        N = len(zs)
        flat = np.arange(self.max_attrs * self.max_houses)[None]
        inside = zs.solution.reshape(N, -1) >= 0
        big = 4 * flat.shape[1]
        if order == "fixed":
            key = flat + np.zeros((N, 1), dtype=np.int64)
        elif order == "solver":
            r = zs.rank.reshape(N, -1)
            key = np.where(r >= 0, r, flat.shape[1] + flat)  # cells the solver never fixed: after, row-major
        else:
            raise ValueError(f"unknown ARM order '{order}'; choose solver or fixed")
        key = np.where(inside, key, big + flat)
        return np.argsort(key, axis=1, kind="stable")

    def arm_tokens(self, zs: ZebraSet, order: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (tokens [N, arm_len], loss mask [N, arm_len] on the triples and END, prompt lengths [N])."""
        zs = zs.padded(self.shape)
        N, H = len(zs), self.max_houses
        out = np.full((N, self.arm_len), PAD, dtype=np.int64)
        out[:, :5 * self.max_clues] = self.clue_block(zs)
        start = 5 * zs.n_clues + 1
        out[np.arange(N), start - 1] = SEP
        cells = self.cell_order(zs, order)
        vals = np.take_along_axis(zs.solution.reshape(N, -1), cells, 1)
        trip = np.stack([ATTR + cells // H, self.val + cells % H, self.val + np.maximum(vals, 0)], 2).reshape(N, -1)
        k3 = 3 * zs.houses * zs.attrs
        j = np.arange(trip.shape[1] + 1)[None]
        ans = np.where(j < k3[:, None], np.pad(trip, ((0, 0), (0, 1))), PAD)
        ans[np.arange(N), k3] = END
        np.put_along_axis(out, start[:, None] + j, ans, 1)
        pos = np.arange(self.arm_len)[None]
        loss = (pos >= start[:, None]) & (pos <= (start + k3)[:, None])
        return out, loss, start

    def moves_from_arm(self, tokens: np.ndarray, start: int, m: int, n: int) -> list[tuple[int, int, int] | None]:
        """Return the first m*n triples after the prompt as (a, h, v), None for a triple that is not
        ``ATTR a, VAL h, VAL v`` with a < n and h, v < m."""
        t = np.asarray(tokens)[start:start + 3 * m * n]
        t = np.pad(t, (0, 3 * m * n - len(t)), constant_values=PAD).reshape(-1, 3)
        out = []
        for ta, th, tv in t:
            a, h, v = ta - ATTR, th - self.val, tv - self.val
            ok = ATTR <= ta < self.val and 0 <= a < n and 0 <= h < m and 0 <= v < m
            out.append((int(a), int(h), int(v)) if ok else None)
        return out

    # --- reading tokens back ---
    def render(self, tokens: np.ndarray) -> str:
        """Return an MDM sequence as its clues and the table rows ('_' outside the puzzle, '?' masked)."""
        t = np.asarray(tokens)
        clues = self.render_clue_tokens(t[:self.table_start - 1])
        table = t[self.table_start:].reshape(self.max_attrs, self.max_houses)
        rows = ["".join(self.token_name(x) for x in row) for row in table]
        return "; ".join(clues) + " | " + "/".join(r for r in rows if r.strip("_"))

    def render_arm(self, tokens: np.ndarray) -> str:
        """Return an ARM sequence as readable clues, '|' for SEP and 'a<attr>,h<house>=<value>' moves."""
        t = [int(x) for x in np.asarray(tokens)]
        parts, i = [], 0
        while i < len(t):
            if KIND <= t[i] < HOUSE and i + 5 <= len(t):
                parts += self.render_clue_tokens(np.array(t[i:i + 5]))
                i += 5
            elif ATTR <= t[i] < self.val and i + 3 <= len(t):
                parts.append(f"{self.token_name(t[i])},h{self.token_name(t[i + 1])}={self.token_name(t[i + 2])}")
                i += 3
            else:
                parts.append(self.token_name(t[i]))
                i += 1
        return " ".join(parts)

    def render_clue_tokens(self, t: np.ndarray) -> list[str]:
        """Return readable clues from a clue block (PAD slots skipped)."""
        t = np.asarray(t).reshape(-1, 5)
        out = []
        for k, lt, lv, rt, rv in t:
            if k == PAD:
                continue
            out.append(f"{self.token_name(k)}({self._side(lt, lv)}, {self._side(rt, rv)})")
        return out

    def _side(self, t: int, v: int) -> str:
        return f"h{self.token_name(v)}" if t == HOUSE else f"{self.token_name(t)}={self.token_name(v)}"

    def token_name(self, t: int) -> str:
        """Return a short name of token ``t``."""
        t = int(t)
        if t in (PAD, MASK, SEP, END):
            return ("_", "?", "|", "$")[t]
        if KIND <= t < HOUSE:
            return KINDS[t - KIND]
        if t == HOUSE:
            return "H"
        if ATTR <= t < self.val:
            return f"a{t - ATTR}"
        if self.val <= t < self.vocab_size:
            return str(t - self.val)
        return f"<{t}>"
