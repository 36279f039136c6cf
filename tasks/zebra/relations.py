"""The ``relations`` token layout for Zebra: the clues as a constraint graph at fixed positions.

The ``table`` layout (:mod:`tasks.zebra.layout`) writes the clues as a list, Shah et al.'s form, so a model must
learn to look up, by content, which clue mentions which value before it can reason: our small MDMs never
learned that on a CPU (loss flat at the permutation-only level for 3000 iterations, see the README). This
layout states the same information where a learned position embedding finds it, as a Sudoku cell finds its
peers:

* an **item** is a value v of attribute a, index ``i = a*H + v``; the unknown is the house each item is in;
* one **unary** slot per item: the set of houses the clues allow it (``found-at``, ``not-at`` and every
  positional clue with a house side), as a bitmask token ``UNARY + mask`` over the H houses;
* one **answer** slot per item: ``HOUSE + h``, the house it is in (the MDM's masked positions);
* one **pair** slot per pair of items i < j: the set of differences d = house(j) − house(i) the clues allow,
  as a bitmask token ``REL + mask`` over d = −(H−1) … H−1 (every Zebra relation is a function of d; two
  clues on one pair intersect; a pair no clue names allows every d).

Items, houses and pairs outside the puzzle are ``PAD``, which tells the model the puzzle's size. Nothing is
lost: the puzzle's solutions are exactly the assignments that satisfy every unary and pair slot with each
attribute a permutation (tested against the clue list). The order of the clues is not represented (it carries
no information).

**MDM** sequence (``mdm_len`` = 2I + I(I−1)/2 with I = A·H): the I unary slots, the I answer slots, the pair
slots. **ARM** sequence: the unary and pair slots, SEP, then one ``ITEM i, HOUSE h`` move per item of the
puzzle in the training order (``fixed``: item order; ``solver``: the solver's fill order of the cells), END,
PAD; the prompt is everything up to SEP and the loss covers the moves and END.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from tasks.zebra.arrays import HOUSE_SIDE, KINDS, ZebraSet
from tasks.zebra.puzzle import RELATIONS

PAD, MASK, SEP, END, HOUSE = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class RelationsLayout:
    """Sizes of the relations layout: at most ``max_houses`` houses, ``max_attrs`` attributes; ``max_clues``
    only bounds the :class:`ZebraSet` padding (clues take no positions here)."""

    max_houses: int
    max_attrs: int
    max_clues: int

    kind = "relations"

    @property
    def shape(self) -> tuple[int, int, int]:
        """Return (C, A, H), the ZebraSet padding this layout reads."""
        return self.max_clues, self.max_attrs, self.max_houses

    @property
    def items(self) -> int:
        """Return I = A·H, the number of item slots."""
        return self.max_attrs * self.max_houses

    @property
    def diffs(self) -> int:
        """Return D = 2H − 1, the number of house differences a pair slot encodes."""
        return 2 * self.max_houses - 1

    @cached_property
    def pairs(self) -> np.ndarray:
        """Return [P, 2] item pairs (i < j) in slot order."""
        i, j = np.triu_indices(self.items, k=1)
        return np.stack([i, j], 1)

    @property
    def unary(self) -> int:
        """Return the id of unary token 0 (no house allowed)."""
        return HOUSE + self.max_houses

    @property
    def rel(self) -> int:
        """Return the id of pair token 0 (no difference allowed)."""
        return self.unary + (1 << self.max_houses)

    @property
    def item(self) -> int:
        """Return the id of ARM item token 0."""
        return self.rel + (1 << self.diffs)

    @property
    def vocab_size(self) -> int:
        """Return the number of token ids."""
        return self.item + self.items

    @property
    def answer_start(self) -> int:
        """Return the MDM position of item 0's answer slot."""
        return self.items

    @property
    def mdm_len(self) -> int:
        """Return the MDM sequence length."""
        return 2 * self.items + len(self.pairs)

    @property
    def prompt_len(self) -> int:
        """Return the ARM prompt length (unary and pair slots, SEP)."""
        return self.items + len(self.pairs) + 1

    @property
    def arm_len(self) -> int:
        """Return the ARM sequence length."""
        return self.prompt_len + 2 * self.items + 1

    def value_tokens(self) -> np.ndarray:
        """Return the [V] bool mask of what an answer slot may hold (the house tokens)."""
        ok = np.zeros(self.vocab_size, dtype=bool)
        ok[HOUSE:HOUSE + self.max_houses] = True
        return ok

    # --- constraints ---
    @cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (pair [K, D]: differences d = y − x each kind allows; unary [K, 2, H, H]: houses an item may
        be in when the other side is house k, item on the left (0) or on the right (1))."""
        H, d = self.max_houses, np.arange(-(self.max_houses - 1), self.max_houses)
        pair = np.array([[bool(RELATIONS[k](0, int(x))) for x in d] for k in KINDS])
        h = np.arange(H)
        unary = np.array([[[[bool(RELATIONS[k](x, kk)) for x in h] for kk in h],
                           [[bool(RELATIONS[k](kk, y)) for y in h] for kk in h]] for k in KINDS])
        return pair, unary

    def constraints(self, zs: ZebraSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (allowed houses [N, I, H], allowed differences [N, P, D], item inside the puzzle [N, I])."""
        zs = zs.padded(self.shape)
        N, H, I = len(zs), self.max_houses, self.items
        pair_tab, unary_tab = self._tables
        a_of, v_of = np.arange(I) // H, np.arange(I) % H
        inside = (a_of[None] < zs.attrs[:, None]) & (v_of[None] < zs.houses[:, None])
        allowed = inside[:, :, None] & (np.arange(H)[None, None] < zs.houses[:, None, None])
        cl = zs.clues
        valid = cl[..., 0] >= 0
        kind = np.where(valid, cl[..., 0], 0)
        l_house, r_house = cl[..., 1] == HOUSE_SIDE, cl[..., 3] == HOUSE_SIDE
        l_item = np.where(l_house, 0, np.maximum(cl[..., 1], 0) * H + cl[..., 2])
        r_item = np.where(r_house, 0, np.maximum(cl[..., 3], 0) * H + cl[..., 4])
        # unary clues: one side a house
        for item_side, house_side, item_idx, house_val, pos in ((l_house, r_house, l_item, cl[..., 4], 0),
                                                                (r_house, l_house, r_item, cl[..., 2], 1)):
            sel = valid & house_side & ~item_side
            if sel.any():
                n, c = np.nonzero(sel)
                masks = unary_tab[kind[n, c], pos, np.clip(house_val[n, c], 0, H - 1)]
                np.logical_and.at(allowed, (n, item_idx[n, c]), masks)
        # pair clues: both sides items; slot (min, max), differences flipped when stated the other way round
        diff = np.ones((N, len(self.pairs), self.diffs), dtype=bool)
        sel = valid & ~l_house & ~r_house
        if sel.any():
            n, c = np.nonzero(sel)
            i, j = l_item[n, c], r_item[n, c]
            masks = pair_tab[kind[n, c]]
            masks = np.where((i > j)[:, None], masks[:, ::-1], masks)
            lo, hi = np.minimum(i, j), np.maximum(i, j)
            slot = self._slot_index[lo, hi]
            np.logical_and.at(diff, (n, slot), masks)
        return allowed, diff, inside

    @cached_property
    def _slot_index(self) -> np.ndarray:
        idx = np.full((self.items, self.items), -1, dtype=np.int64)
        idx[self.pairs[:, 0], self.pairs[:, 1]] = np.arange(len(self.pairs))
        return idx

    def houses_of_items(self, zs: ZebraSet) -> np.ndarray:
        """Return [N, I] the house of each item of the solution (−1 outside the puzzle)."""
        zs = zs.padded(self.shape)
        N, A, H = len(zs), self.max_attrs, self.max_houses
        out = np.full((N, A, H), -1, dtype=np.int64)
        n, a, h = np.nonzero(zs.solution >= 0)
        out[n, a, zs.solution[n, a, h]] = h
        return out.reshape(N, -1)

    def _prompt_block(self, zs: ZebraSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (unary tokens [N, I], pair tokens [N, P], inside [N, I])."""
        allowed, diff, inside = self.constraints(zs)
        bits_h = 1 << np.arange(self.max_houses)
        bits_d = 1 << np.arange(self.diffs)
        unary = np.where(inside, self.unary + (allowed * bits_h).sum(-1), PAD)
        both = inside[:, self.pairs[:, 0]] & inside[:, self.pairs[:, 1]]
        pair = np.where(both, self.rel + (diff * bits_d).sum(-1), PAD)
        return unary.astype(np.int64), pair.astype(np.int64), inside

    # --- encoding ---
    def mdm_tokens(self, zs: ZebraSet) -> tuple[np.ndarray, np.ndarray]:
        """Return (tokens [N, mdm_len] with every answer filled, cells [N, mdm_len] bool: the puzzle's answer
        slots)."""
        unary, pair, inside = self._prompt_block(zs)
        houses = self.houses_of_items(zs)
        answers = np.where(inside, HOUSE + np.maximum(houses, 0), PAD)
        tokens = np.concatenate([unary, answers, pair], axis=1)
        cells = np.zeros_like(tokens, dtype=bool)
        cells[:, self.answer_start:self.answer_start + self.items] = inside
        return tokens, cells

    def table_from_mdm(self, tokens: np.ndarray, zs: ZebraSet) -> np.ndarray:
        """Return [N, A, H] values read from MDM outputs: value v in house h where item (a, v) says h (−1 where
        no item does; two items of one attribute in one house leave a value missing, which the checker fails)."""
        zs = zs.padded(self.shape)
        ans = np.asarray(tokens)[..., self.answer_start:self.answer_start + self.items].reshape(-1, self.items)
        return self._table(ans - HOUSE, zs)

    def _table(self, house: np.ndarray, zs: ZebraSet) -> np.ndarray:
        N, A, H = len(zs), self.max_attrs, self.max_houses
        table = np.full((N, A, H), -1, dtype=np.int64)
        a_of, v_of = np.arange(self.items) // H, np.arange(self.items) % H
        ok = (house >= 0) & (house < zs.houses[:, None]) & (a_of[None] < zs.attrs[:, None]) \
            & (v_of[None] < zs.houses[:, None])
        n, i = np.nonzero(ok)
        table[n, a_of[i], house[n, i]] = v_of[i]
        return np.where(zs.solution >= 0, table, -1)

    def answer_rank(self, zs: ZebraSet) -> np.ndarray:
        """Return [N, mdm_len] the solver's fill step of each answer slot's cell (−1 elsewhere or unknown)."""
        zs = zs.padded(self.shape)
        houses = self.houses_of_items(zs)
        a_of = np.arange(self.items) // self.max_houses
        rank = zs.rank[np.arange(len(zs))[:, None], a_of[None], np.maximum(houses, 0)]
        out = np.full((len(zs), self.mdm_len), -1, dtype=np.int64)
        out[:, self.answer_start:self.answer_start + self.items] = np.where(houses >= 0, rank, -1)
        return out

    def item_order(self, zs: ZebraSet, order: str) -> np.ndarray:
        """Return [N, I] item indices: the puzzle's items in ``order`` (``fixed`` or ``solver``), then the rest."""
        zs = zs.padded(self.shape)
        I = self.items
        flat = np.arange(I)[None].repeat(len(zs), 0)
        inside = self.houses_of_items(zs) >= 0
        if order == "fixed":
            key = flat.copy()
        elif order == "solver":
            r = self.answer_rank(zs)[:, self.answer_start:self.answer_start + I]
            key = np.where(r >= 0, r, I + flat)
        else:
            raise ValueError(f"unknown ARM order '{order}'; choose solver or fixed")
        key = np.where(inside, key, 4 * I + flat)
        return np.argsort(key, axis=1, kind="stable")

    def arm_tokens(self, zs: ZebraSet, order: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (tokens [N, arm_len], loss mask [N, arm_len] on the moves and END, prompt lengths [N])."""
        unary, pair, inside = self._prompt_block(zs)
        N, start = len(unary), self.prompt_len
        out = np.full((N, self.arm_len), PAD, dtype=np.int64)
        out[:, :start - 1] = np.concatenate([unary, pair], axis=1)
        out[:, start - 1] = SEP
        items = self.item_order(zs, order)
        houses = np.take_along_axis(self.houses_of_items(zs), items, 1)
        moves = np.stack([self.item + items, HOUSE + np.maximum(houses, 0)], 2).reshape(N, -1)
        k2 = 2 * inside.sum(1)
        j = np.arange(moves.shape[1] + 1)[None]
        ans = np.where(j < k2[:, None], np.pad(moves, ((0, 0), (0, 1))), PAD)
        ans[np.arange(N), k2] = END
        out[:, start:] = ans
        pos = np.arange(self.arm_len)[None]
        loss = (pos >= start) & (pos <= (start + k2)[:, None])
        return out, loss, np.full(N, start, dtype=np.int64)

    def moves_from_arm(self, tokens: np.ndarray, start: int, m: int, n: int) -> list[tuple[int, int, int] | None]:
        """Return the first m·n moves after the prompt as (attribute a, house h, value v), None for a move that
        is not ``ITEM i, HOUSE h`` with item i = a·H + v inside the puzzle and h < m."""
        k = m * n
        t = np.asarray(tokens)[start:start + 2 * k]
        t = np.pad(t, (0, 2 * k - len(t)), constant_values=PAD).reshape(-1, 2)
        out = []
        for ti, th in t:
            i, h = int(ti) - self.item, int(th) - HOUSE
            a, v = divmod(i, self.max_houses) if 0 <= i < self.items else (-1, -1)
            ok = 0 <= a < n and 0 <= v < m and 0 <= h < m
            out.append((a, h, v) if ok else None)
        return out

    def answer_position(self, a: int, h: int, v: int) -> int:
        """Return the MDM position of the answer for cell (attribute a, house h) holding value v: item (a, v)'s."""
        return self.answer_start + a * self.max_houses + v

    # --- reading tokens back ---
    def render(self, tokens: np.ndarray) -> str:
        """Return an MDM sequence as its non-trivial constraints and each item's house ('?' masked)."""
        t = np.asarray(tokens)
        H = self.max_houses
        ans = t[self.answer_start:self.answer_start + self.items]
        rows = ["".join("?" if x == MASK else (str(x - HOUSE) if HOUSE <= x < self.unary else "_")
                        for x in ans[a * H:(a + 1) * H]) for a in range(self.max_attrs)]
        return "; ".join(self.describe(t)) + " | " + "/".join(r for r in rows if r.strip("_"))

    def render_arm(self, tokens: np.ndarray) -> str:
        """Return an ARM sequence as its constraints, '|' for SEP and 'a<attr>=<value>@h<house>' moves."""
        t = np.asarray(tokens)
        head = "; ".join(self.describe(t[:self.prompt_len - 1]))
        moves, i = [], self.prompt_len
        while i < len(t):
            x = int(t[i])
            if self.item <= x < self.vocab_size and i + 1 < len(t):
                moves.append(f"{self.token_name(x)}@{self.token_name(t[i + 1])}")
                i += 2
            else:
                moves.append(self.token_name(x))
                i += 1
        return f"{head} | " + " ".join(m for m in moves if m != "_")

    def describe(self, tokens: np.ndarray) -> list[str]:
        """Return readable constraints from an MDM or ARM prompt: each unary slot that excludes a house, each
        pair slot that excludes a difference."""
        t = np.asarray(tokens)
        H, out = self.max_houses, []
        for i in range(self.items):
            u = int(t[i])
            if u != PAD and u - self.unary != (1 << H) - 1:
                hs = [h for h in range(H) if (u - self.unary) >> h & 1]
                out.append(f"a{i // H}={i % H}∈{{{','.join(map(str, hs))}}}")
        base = self.answer_start + self.items if len(t) >= self.mdm_len else self.items
        full = (1 << self.diffs) - 1
        for p, (i, j) in enumerate(self.pairs):
            r = int(t[base + p]) if base + p < len(t) else PAD
            if r != PAD and r - self.rel != full:
                ds = [d - (H - 1) for d in range(self.diffs) if (r - self.rel) >> d & 1]
                out.append(f"h(a{j // H}={j % H})−h(a{i // H}={i % H})∈{{{','.join(map(str, ds))}}}")
        return out

    def token_name(self, t: int) -> str:
        """Return a short name of token ``t``."""
        t = int(t)
        if t in (PAD, MASK, SEP, END):
            return ("_", "?", "|", "$")[t]
        if HOUSE <= t < self.unary:
            return f"h{t - HOUSE}"
        if self.unary <= t < self.rel:
            return f"U{t - self.unary:b}"
        if self.rel <= t < self.item:
            return f"R{t - self.rel:b}"
        if self.item <= t < self.vocab_size:
            i = t - self.item
            return f"a{i // self.max_houses}={i % self.max_houses}"
        return f"<{t}>"
