"""The text corpora of the IsoFLOP sweep (Figure 2 left), behind one small interface:

* :class:`CharCorpus` -- a local UTF-8 text (Tiny Shakespeare by default) as characters: the vocabulary is
  the set of characters of the whole file, the first 90% of the file is the training split and the last
  10% the validation split. Used by the ``smoke`` and ``small`` presets.
* :class:`StreamCorpus` -- SlimPajama (or any text dataset) streamed through ``datasets`` and cut into
  token windows with a tokenizer (a LLaMA tokenizer by default). Used by the ``paper`` preset on a GPU.

Both give ``train_windows(step, batch, seq_len, seed)`` -> int64 [batch, seq_len], a pure function of its
arguments (so training resumes bitwise), ``val_windows(n, seq_len)`` -> a fixed [n, seq_len] set,
``vocab_size`` (corpus tokens only; the sweep appends its BOS and MASK ids after them) and ``identity()``
for the results header.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_FILE = Path("text") / "tinyshakespeare.txt.gz"
TOKENIZER_ENV = "TOKENORDER_ISOFLOP_TOKENIZER"
DATASET_ENV = "TOKENORDER_ISOFLOP_DATASET"
_TRAIN_STREAM = 0x5EED  # keeps the window draws apart from other uses of the same seed


# ----------------------------------------------------------------------------------------- local characters

def find_text(source: str | Path | None) -> Path:
    """Return the text file to train on: ``source`` itself when it is a file, else
    ``source/text/tinyshakespeare.txt.gz`` (``source`` defaulting to the shared data directory)."""
    if source is not None and Path(source).is_file():
        return Path(source)
    from tasks.datafiles import default_data_dir
    root = Path(source) if source is not None else default_data_dir()
    for cand in ([root / DEFAULT_FILE, root / DEFAULT_FILE.name] if root is not None else []):
        if cand.is_file():
            return cand
    where = root / DEFAULT_FILE if root is not None else DEFAULT_FILE
    raise FileNotFoundError(f"no text corpus at {where}: pass --data-dir DIR holding {DEFAULT_FILE} "
                            f"(or the path of any UTF-8 text file), or set $TOKENORDER_SHARED_DATA")


def read_text(path: Path) -> str:
    """Return the UTF-8 text of ``path`` (gzip-compressed when its name ends in .gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            return f.read()
    except (UnicodeDecodeError, OSError) as e:
        raise ValueError(f"{path} is not readable UTF-8 text ({type(e).__name__}); pass a UTF-8 text file") from None


@dataclass
class CharCorpus:
    """A character-level corpus with a fixed 90/10 train/validation split."""

    name: str
    chars: str                     # the vocabulary, sorted by code point; token id = index
    train: np.ndarray              # int64 token ids of the first 90% of the text
    val: np.ndarray                # int64 token ids of the last 10%
    sha256: str                    # of the text's UTF-8 bytes
    source: str = ""
    val_frac: float = 0.1
    _unigram: float | None = field(default=None, repr=False)

    @property
    def vocab_size(self) -> int:
        """Return the number of distinct characters."""
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Return the int64 ids of ``text`` (every character must be in the vocabulary)."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        vocab = np.frombuffer(self.chars.encode("utf-32-le"), dtype=np.uint32)
        ids = np.searchsorted(vocab, codes)
        if ids.size and (ids.max() >= vocab.size or not np.array_equal(vocab[np.minimum(ids, vocab.size - 1)], codes)):
            raise ValueError("text has characters outside the corpus vocabulary")
        return ids.astype(np.int64)

    def decode(self, ids) -> str:
        """Return the text of token ids."""
        vocab = np.frombuffer(self.chars.encode("utf-32-le"), dtype=np.uint32)
        return vocab[np.asarray(ids, dtype=np.int64)].astype("<u4").tobytes().decode("utf-32-le")

    def train_windows(self, step: int, batch: int, seq_len: int, seed: int) -> np.ndarray:
        """Return ``batch`` training windows [batch, seq_len] at uniformly random offsets of the training
        split; a pure function of (seed, step)."""
        if seq_len > self.train.size:
            raise ValueError(f"seq_len {seq_len} exceeds the training split ({self.train.size} tokens)")
        rng = np.random.default_rng([seed, _TRAIN_STREAM, step])
        starts = rng.integers(0, self.train.size - seq_len + 1, size=batch)
        return self.train[starts[:, None] + np.arange(seq_len)]

    def val_windows(self, n: int, seq_len: int) -> np.ndarray:
        """Return ``n`` validation windows [n, seq_len] at evenly spaced offsets spanning the validation split
        (no randomness; non-overlapping whenever the split holds n windows)."""
        if seq_len > self.val.size:
            raise ValueError(f"seq_len {seq_len} exceeds the validation split ({self.val.size} tokens)")
        starts = np.linspace(0, self.val.size - seq_len, n).round().astype(np.int64)
        return self.val[starts[:, None] + np.arange(seq_len)]

    def unigram_xent(self) -> float:
        """Return the validation cross-entropy (nats per character) of the training split's character
        frequencies (add-one smoothed): the loss of a model that ignores context, a floor to beat."""
        if self._unigram is None:
            counts = np.bincount(self.train, minlength=self.vocab_size) + 1.0
            logp = np.log(counts / counts.sum())
            self._unigram = float(-logp[self.val].mean())
        return self._unigram

    def identity(self) -> dict:
        """Return what determines the data: name, content hash, sizes, split."""
        return {"kind": "chars", "name": self.name, "sha256": self.sha256, "vocab_size": self.vocab_size,
                "train_tokens": int(self.train.size), "val_tokens": int(self.val.size), "val_frac": self.val_frac}


def load_char_corpus(source: str | Path | None = None, val_frac: float = 0.1) -> CharCorpus:
    """Return the :class:`CharCorpus` of :func:`find_text` (``source``): characters, 90/10 split."""
    if not 0.0 < val_frac < 1.0:
        raise ValueError(f"val_frac must be in (0, 1), got {val_frac}")
    path = find_text(source)
    text = read_text(path)
    if len(text) < 1000:
        raise ValueError(f"{path} holds only {len(text)} characters; the sweep needs a longer text")
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    vocab, ids = np.unique(codes, return_inverse=True)
    chars = vocab.astype("<u4").tobytes().decode("utf-32-le")
    cut = int(round(len(ids) * (1.0 - val_frac)))
    name = path.name.split(".")[0]
    return CharCorpus(name=name, chars=chars, train=ids[:cut].astype(np.int64), val=ids[cut:].astype(np.int64),
                      sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), source=str(path), val_frac=val_frac)


# ---------------------------------------------------------------------------------- streamed token windows

def _need_datasets():
    try:
        import datasets
    except ImportError:
        raise ValueError("the paper preset streams SlimPajama through the `datasets` package: "
                         "pip install datasets") from None
    return datasets


class StreamCorpus:
    """Token windows cut from a streamed text dataset (SlimPajama at paper scale).

    Documents are tokenised (no special tokens), joined with the tokenizer's EOS id and cut into consecutive
    ``seq_len`` windows. Training reads the shuffled training stream in order, one batch per step;
    ``train_windows(step, ...)`` asked for a step other than the next one restarts the stream and skips
    ``step * batch`` windows, so it stays a pure function of (seed, step) and a resumed run sees the same
    data (skipping costs time, not correctness)."""

    def __init__(self, dataset: str, tokenizer: str, train_split: str = "train", val_split: str = "validation",
                 text_field: str = "text", shuffle_buffer: int = 10_000, config: str | None = None):
        self.dataset = os.environ.get(DATASET_ENV) or dataset
        self.tokenizer_path = os.environ.get(TOKENIZER_ENV) or tokenizer
        self.train_split, self.val_split, self.config = train_split, val_split, config
        self.text_field, self.shuffle_buffer = text_field, shuffle_buffer
        self.datasets = _need_datasets()
        try:
            from transformers import AutoTokenizer
            self.tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_path)
        except Exception as e:  # noqa: BLE001 -- any load failure gets the same one-line fix
            raise ValueError(f"cannot load the tokenizer {self.tokenizer_path!r} ({type(e).__name__}); "
                             f"set ${TOKENIZER_ENV} to a local LLaMA tokenizer directory") from None
        eos = self.tokenizer.eos_token_id
        self.eos = int(eos if eos is not None else 0)
        self._stream, self._next = None, None

    @property
    def name(self) -> str:
        """Return a short name of the dataset (its last path component)."""
        return self.dataset.rstrip("/").split("/")[-1]

    @property
    def vocab_size(self) -> int:
        """Return the tokenizer's vocabulary size."""
        return len(self.tokenizer)

    def _open(self, split: str, shuffle_seed: int | None):
        try:
            ds = self.datasets.load_dataset(self.dataset, self.config, split=split, streaming=True)
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"cannot stream {self.dataset!r} split {split!r} ({type(e).__name__}: "
                             f"{' '.join(str(e).split())[:120]}); set ${DATASET_ENV} to a reachable copy") from None
        if shuffle_seed is not None:
            ds = ds.shuffle(seed=shuffle_seed, buffer_size=self.shuffle_buffer)
        return ds

    def _windows(self, split: str, seq_len: int, shuffle_seed: int | None, docs_per_call: int = 64):
        """Yield int64 windows [seq_len] of the split's token stream, in order."""
        buf = np.zeros(0, dtype=np.int64)
        texts = []

        def flush(texts):
            enc = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
            return np.concatenate([np.asarray(ids + [self.eos], dtype=np.int64) for ids in enc])

        for doc in self._open(split, shuffle_seed):
            texts.append(doc[self.text_field])
            if len(texts) < docs_per_call:
                continue
            buf = np.concatenate([buf, flush(texts)])
            texts = []
            n = buf.size // seq_len
            yield from buf[:n * seq_len].reshape(n, seq_len)
            buf = buf[n * seq_len:]
        if texts:
            buf = np.concatenate([buf, flush(texts)])
            n = buf.size // seq_len
            yield from buf[:n * seq_len].reshape(n, seq_len)

    def train_windows(self, step: int, batch: int, seq_len: int, seed: int) -> np.ndarray:
        """Return the training windows of ``step`` [batch, seq_len] (the step-th batch of the shuffled stream)."""
        key = (batch, seq_len, seed)
        if self._stream is None or self._next != (key, step):
            self._stream = self._windows(self.train_split, seq_len, shuffle_seed=seed)
            for _ in range(step * batch):
                next(self._stream)
        out = np.stack([next(self._stream) for _ in range(batch)])
        self._next = (key, step + 1)
        return out

    def val_windows(self, n: int, seq_len: int) -> np.ndarray:
        """Return the first ``n`` windows [n, seq_len] of the (unshuffled) validation split."""
        it = self._windows(self.val_split, seq_len, shuffle_seed=None)
        rows = [w for _, w in zip(range(n), it)]
        if len(rows) < n:
            raise ValueError(f"the {self.val_split!r} split holds only {len(rows)} windows of {seq_len} tokens")
        return np.stack(rows)

    def unigram_xent(self) -> float | None:
        """Return None: no unigram reference is computed for a streamed corpus."""
        return None

    def identity(self) -> dict:
        """Return what determines the data: dataset, splits, tokenizer."""
        return {"kind": "stream", "name": self.name, "dataset": self.dataset, "config": self.config,
                "train_split": self.train_split, "val_split": self.val_split, "tokenizer": self.tokenizer_path,
                "vocab_size": self.vocab_size, "shuffle_buffer": self.shuffle_buffer}


def load_corpus(preset: dict, data_dir: str | Path | None):
    """Return the corpus a sweep preset names: ``preset["corpus"]`` is "chars" (a local text, from
    ``data_dir``) or "stream" (``preset["dataset"]`` with ``preset["tokenizer"]``)."""
    kind = preset.get("corpus", "chars")
    if kind == "chars":
        return load_char_corpus(data_dir)
    if kind == "stream":
        return StreamCorpus(preset["dataset"], preset["tokenizer"], config=preset.get("dataset_config"),
                            train_split=preset.get("train_split", "train"),
                            val_split=preset.get("val_split", "validation"))
    raise ValueError(f"unknown corpus kind {kind!r}; use 'chars' or 'stream'")
