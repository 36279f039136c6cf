"""Final-answer extraction and equivalence for MATH-style answers.

Protocol choices (the paper, PAPER.md §3.6, says only that "Math" is decoded semi-autoregressively and
follows Nie et al. 2025; it names no grader, so these are ours):

* **Extraction** (:func:`extract_answer`). The content of the *last* ``\\boxed{...}`` / ``\\fbox{...}``
  (brace-matched, escaped ``\\{ \\}`` skipped), or of ``\\boxed 5`` (everything after the space up to the next
  ``$`` or newline), as in Hendrycks et al.'s ``last_boxed_only_string``. A last box that never closes
  (a truncated generation) gives None rather than an earlier box. Without any box, the fallback is the last
  "final answer is X" / "the answer is X" / "answer: X" (case-insensitive; this covers the Minerva
  "Final Answer: The final answer is X. I hope it is correct." template used by lm-eval's
  ``minerva_math``): X is the inside of a leading ``$...$``, else the text up to the end of the line or the
  first sentence-ending period.
* **Equivalence** (:func:`is_equiv`, reference passed as ``ref``). In order:
  1. Hendrycks-style normalisation (:func:`normalize_answer`, after ``_strip_string`` in
     github.com/hendrycks/math ``modeling/math_equivalence.py``, rewritten and extended) and exact string
     comparison.
  2. Exact rational comparison of plain numbers (``0.5``, ``1/2``, ``\\frac12``; decimals are exact, so
     ``0.333`` is *not* ``1/3``), and a structural comparison of sets ``\\{..\\}`` and bare comma lists
     (unordered, as MATH's "enter all solutions separated by commas") and of tuples / intervals (ordered,
     brackets must match, so ``(1,2)`` is not ``[1,2]``), element by element with steps 1–2.
  3. Hugging Face ``math-verify`` (``parse`` + ``verify``, reference as gold, our normalisation not
     applied to its input) for everything symbolic: radicals (``2\\sqrt3`` = ``\\sqrt{12}``), expressions,
     intervals, matrices, percentages; it rounds floats to 6 places. Every call runs under its
     ``signal.alarm`` time limit (``timeout`` seconds per parse and per comparison), so it never hangs.
     ``signal.alarm`` only works in the main thread: elsewhere, or when ``math-verify`` is not installed,
     only steps 1–2 run. Answers longer than ``MAX_VERIFY_CHARS`` skip step 3. Note that math-verify
     cancels any SIGALRM the caller had set (it calls ``signal.alarm(0)`` on exit).
     Before step 3, a set against a tuple/interval, or two tuples/intervals with different brackets, are
     declared unequal (math-verify alone equates ``\\{1,2\\}`` with ``(1,2)``).
  Word answers (two or more letters only, e.g. ``\\text{Monday}``, ``odd``) are compared as lower-cased
  strings and never sent to math-verify, which would parse ``Monday`` as a product of symbols.
* **Documented choices**: ``x=3`` equals ``3`` (a left-hand side of at most two characters is dropped, as
  Hendrycks does; math-verify treats such assignments the same way). ``10\\%`` equals ``10``, ``30^\\circ``
  equals ``30``, and a trailing ``\\text{ cm}``-style unit is dropped (Hendrycks). ``(A)`` equals ``A``.
  Thousands separators (``1,000``) are removed only when the whole answer is one grouped number.
"""
from __future__ import annotations

import re
import threading
from fractions import Fraction

MAX_VERIFY_CHARS = 1000

_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")


def extract_boxed(text: str | None) -> str | None:
    """Return the content of the last ``\\boxed{...}``/``\\fbox{...}`` (or ``\\boxed X``) in ``text``, else None."""
    if not text:
        return None
    matches = list(_BOX.finditer(text))
    if not matches:
        return None
    i = matches[-1].end()
    while i < len(text) and text[i] in " \t":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":  # "\boxed 5": up to the next $ or newline
        out = re.split(r"[$\n]", text[i:], maxsplit=1)[0].strip()
        return out or None
    depth, k = 0, i
    while k < len(text):
        c = text[k]
        if c == "\\":
            k += 2  # an escaped character, \{ and \} included, does not open or close
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:k].strip() or None
        k += 1
    return None  # unbalanced: a truncated generation


_ANSWER_IS = re.compile(r"(?:final\s+answer|the\s+answer|answer)\s*(?:is\s*:?|:)\s*", re.IGNORECASE)


def extract_answer(generation: str | None) -> str | None:
    """Return the final answer of a generation: the last boxed content, else the "answer is X" fallback, else None."""
    if not generation:
        return None
    boxed = extract_boxed(generation)
    if boxed is not None or _BOX.search(generation):
        return boxed
    hits = list(_ANSWER_IS.finditer(generation))
    if not hits:
        return None
    rest = generation[hits[-1].end():]
    rest = re.sub(r"\s*I hope it is correct\.?.*$", "", rest, flags=re.IGNORECASE | re.DOTALL)
    if rest.startswith("$"):
        inner = re.match(r"\$+(.*?)\$", rest, flags=re.DOTALL)
        if inner:
            return inner.group(1).strip() or None
    rest = rest.split("\n", 1)[0]
    rest = re.split(r"\.(?:\s|$)", rest, maxsplit=1)[0]
    rest = rest.strip().strip("$").strip()
    return rest or None


# ---------------------------------------------------------------------------------------------------------
# normalisation (Hendrycks-style)

def _fix_fracs(s: str) -> str:
    """\\frac12 -> \\frac{1}{2}, \\frac1{2} -> \\frac{1}{2}, \\frac{1}2 -> \\frac{1}{2}."""
    parts = s.split("\\frac")
    out = parts[0]
    for p in parts[1:]:
        out += "\\frac"
        if not p or p[0] == "{":
            if p.startswith("{"):
                # numerator braced; fix an unbraced single-character denominator
                depth, j = 0, 0
                for j, c in enumerate(p):
                    depth += (c == "{") - (c == "}")
                    if depth == 0:
                        break
                num, rest = p[:j + 1], p[j + 1:]
                if rest and rest[0] not in "{\\":
                    rest = "{" + rest[0] + "}" + rest[1:]
                out += num + rest
            else:
                out += p
            continue
        if len(p) < 2:
            out += p
            continue
        a, b, rest = p[0], p[1], p[2:]
        out += "{" + a + "}" + (b + rest if b == "{" else "{" + b + "}" + rest)
    return out


def _fix_sqrt(s: str) -> str:
    """\\sqrt2 -> \\sqrt{2}, \\sqrt2x -> \\sqrt{2}x (one character, as Hendrycks)."""
    return re.sub(r"\\sqrt\s*([^{\[\\\s])", r"\\sqrt{\1}", s)


def _fix_a_slash_b(s: str) -> str:
    m = re.fullmatch(r"(-?\d+)/(\d+)", s)
    return f"\\frac{{{m.group(1)}}}{{{m.group(2)}}}" if m else s


_TEXT_CMD = r"\\(?:text|textbf|textit|mbox|mathrm|mathbf|operatorname)"


def normalize_answer(ans: str | None) -> str:
    """Return a Hendrycks-style canonical string for an answer ('' for None): LaTeX noise, units and spaces removed."""
    if ans is None:
        return ""
    s = str(ans).strip()
    s = s.replace("\n", "").replace("\\!", "")
    s = re.sub(r"(?<!\\)\\[,;: ]", "", s)  # thin spaces (not the row break "\\\\ ")
    s = s.replace("\\displaystyle", "")
    s = re.sub(r"(?<!\\)\$", "", s)  # math-mode delimiters
    s = s.replace("\\$", "")
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"\\(?:left|right)(?![A-Za-z])", "", s)
    s = re.sub(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|\\degree", "", s)
    # a trailing unit: 5\text{ cm}, 5 \mbox{cm}^2 (Hendrycks drops "\text{ " and everything after it)
    s = re.sub(r"(?<=[\d}])\s*" + _TEXT_CMD + r"\{\s*[A-Za-z][A-Za-z .]*\}(\^\{?\d\}?)?\s*$", "", s)
    s = re.sub(_TEXT_CMD + r"\{([^{}]*)\}", r"\1", s)  # \text{Monday} -> Monday
    s = s.replace("\\%", "").replace("%", "")
    s = s.strip()
    s = re.sub(r"[.,;]+$", "", s).strip()  # a trailing sentence period
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if s.startswith("."):
        s = "0" + s
    halves = s.split("=")
    if len(halves) == 2 and len(halves[0].strip()) <= 2:  # "x = 3" -> "3"
        s = halves[1]
    s = _fix_sqrt(s)
    s = s.replace(" ", "")
    s = _fix_fracs(s)
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):  # 1,000 -> 1000
        s = s.replace(",", "")
    if s == "0.5":
        s = "\\frac{1}{2}"
    s = _fix_a_slash_b(s)
    m = re.fullmatch(r"\(([A-Za-z])\)", s)  # (A) -> A
    if m:
        s = m.group(1)
    return s


# ---------------------------------------------------------------------------------------------------------
# cheap exact comparisons (always run; the whole checker when math-verify is unavailable)

_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"


def _as_fraction(s: str) -> Fraction | None:
    try:
        if re.fullmatch(_NUM, s):
            return Fraction(s)
        m = re.fullmatch(rf"([+-]?)\\frac\{{({_NUM})\}}\{{({_NUM})\}}", s) or re.fullmatch(rf"()({_NUM})/({_NUM})", s)
        if m:
            v = Fraction(m.group(2)) / Fraction(m.group(3))
            return -v if m.group(1) == "-" else v
    except (ValueError, ZeroDivisionError):
        return None
    return None


def _split_top(s: str) -> list[str]:
    """Split on commas outside (), [], {}."""
    out, depth, cur, i = [], 0, "", 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            depth += {"{": 1, "}": -1}.get(s[i + 1], 0)  # \{ \} nest like braces
            cur += s[i:i + 2]
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    out.append(cur)
    return out


def _one_group(s: str) -> bool:
    """True when the bracket opened at the start of ``s`` closes only at its very end."""
    depth, i = 0, 0
    while i < len(s):
        if s[i] == "\\" and s[i + 1:i + 2] in ("{", "}"):
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
        else:
            if s[i] in "([{":
                depth += 1
            elif s[i] in ")]}":
                depth -= 1
            i += 1
        if depth == 0 and i < len(s):
            return False
    return depth == 0


def _shape(s: str) -> tuple[str | None, str | None, list[str]]:
    """Return (kind, brackets, elements): kind "set" for \\{..\\} and bare comma lists, "seq" for (..)/[..]
    tuples and intervals with two or more elements, None for a single item."""
    if s.startswith("\\{") and s.endswith("\\}") and _one_group(s):
        return "set", None, _split_top(s[2:-2])
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _one_group(s) and len(_split_top(s[1:-1])) > 1:
        return "seq", s[0] + s[-1], _split_top(s[1:-1])
    parts = _split_top(s)
    return ("set", None, parts) if len(parts) > 1 else (None, None, [s])


def _simple_equiv(a: str, b: str) -> bool:
    if a == b:
        return bool(a)
    fa, fb = _as_fraction(a), _as_fraction(b)
    return fa is not None and fa == fb


def _structural_equiv(a: str, b: str, depth: int = 0) -> bool:
    """Exact comparison of normalised answers: strings, rationals, sets (unordered), tuples/intervals (ordered)."""
    if _simple_equiv(a, b):
        return True
    if depth > 3:
        return False

    ka, ba, xa = _shape(a)
    kb, bb, xb = _shape(b)
    if ka is None or ka != kb or ba != bb or len(xa) != len(xb):
        return False
    if ka == "seq":
        return all(_structural_equiv(x, y, depth + 1) for x, y in zip(xa, xb))
    left = list(xb)
    for x in xa:
        hit = next((j for j, y in enumerate(left) if _structural_equiv(x, y, depth + 1)), None)
        if hit is None:
            return False
        left.pop(hit)
    return True


def _is_word(s: str) -> bool:
    return re.fullmatch(r"[A-Za-z]{2,}(?:[ A-Za-z]*[A-Za-z])?", s.strip()) is not None


# ---------------------------------------------------------------------------------------------------------
# math-verify

def math_verify_available() -> bool:
    """Return True when the ``math-verify`` package can be imported."""
    try:
        import math_verify  # noqa: F401
    except ImportError:
        return False
    return True


def _strip_dollars(s: str) -> str:
    return re.sub(r"(?<!\\)\$", "", s).strip()


def _math_verify_equiv(pred: str, ref: str, timeout: int) -> bool | None:
    """Return math-verify's verdict, or None where it cannot run safely (not installed, not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None  # signal.alarm, math-verify's only time limit, needs the main thread
    if len(pred) > MAX_VERIFY_CHARS or len(ref) > MAX_VERIFY_CHARS:
        return None
    try:
        from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
        from math_verify.errors import TimeoutException
    except ImportError:
        return None
    t = max(1, int(timeout))
    try:
        gold = parse(f"${_strip_dollars(ref)}$", extraction_config=[LatexExtractionConfig()], parsing_timeout=t)
        target = parse(f"${_strip_dollars(pred)}$", extraction_config=[LatexExtractionConfig(), ExprExtractionConfig()],
                       parsing_timeout=t)
        if not gold or not target:
            return False
        return bool(verify(gold, target, timeout_seconds=t))
    except (Exception, TimeoutException):
        return False


def is_equiv(pred: str | None, ref: str | None, timeout: int = 3, use_math_verify: bool = True) -> bool:
    """Return True when the predicted answer ``pred`` is mathematically equivalent to the reference ``ref``."""
    if pred is None or ref is None:
        return False
    a, b = normalize_answer(pred), normalize_answer(ref)
    if not a or not b:
        return False
    if _structural_equiv(a, b):
        return True
    if _is_word(a) or _is_word(b):
        return a.lower() == b.lower()
    (ka, ba, _), (kb, bb, _) = _shape(a), _shape(b)
    if ka and kb and (ka, ba) != (kb, bb):
        return False  # a set is not a tuple, (1,2) is not [1,2]
    if use_math_verify:
        verdict = _math_verify_equiv(str(pred), str(ref), timeout)
        if verdict is not None:
            return verdict
    return False
