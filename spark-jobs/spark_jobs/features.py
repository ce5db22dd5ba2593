"""The paper's document features, defined once: the classifier and fuzzy dedup both use them.

Brown et al. 2020, appendix A: the quality classifier uses "Spark's standard tokenizer and
HashingTF", and dedup uses MinHashLSH "using the same features as were used for classification".
Spark's `Tokenizer` lowercases and splits on single whitespace characters (runs of spaces give
empty tokens); `HashingTF` hashes tokens with MurmurHash3 into `num_features` buckets (2^18 by
default). Both are JVM transformers: no Python on the row path.
"""

from __future__ import annotations

from pyspark.ml.feature import HashingTF, Tokenizer
from pyspark.sql import Column

DEFAULT_NUM_FEATURES = 1 << 18
TEXT, TOKENS, FEATURES = "text", "tokens", "features"


def feature_stages(num_features: int = DEFAULT_NUM_FEATURES) -> list:
    """[Tokenizer, HashingTF]: `text` -> `tokens` -> `features` (term counts, sparse)."""
    return [
        Tokenizer(inputCol=TEXT, outputCol=TOKENS),
        HashingTF(inputCol=TOKENS, outputCol=FEATURES, numFeatures=num_features),
    ]


def is_empty(text: Column) -> Column:
    """Null or whitespace only (Java's \\s: space, tab, newlines; `F.trim` strips spaces only).

    Such a document has no features: the classifier cannot score it and MinHashLSH throws on it.
    """
    return text.isNull() | ~text.rlike(r"\S")
