package ccmix.spark;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.spark.ml.classification.LogisticRegressionModel;
import org.apache.spark.ml.feature.HashingTF;
import org.apache.spark.ml.feature.HashingTF$;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.unsafe.Platform;
import org.apache.spark.unsafe.hash.Murmur3_x86_32;

/**
 * The quality classifier's document score (spark_jobs/quality_filter.py) in one function of the
 * text: the probability of the positive class that a fitted Pipeline(Tokenizer, HashingTF,
 * LogisticRegression) gives. The model's own {@code predictRaw} and {@code raw2probabilityInPlace}
 * compute it from the same sparse vector of term counts that HashingTF makes (sorted indices, a
 * count per index, 1.0 if binary), so the score is the same double; a test holds it to that.
 *
 * <p>Through {@code PipelineModel.transform}, each document's tokens become an array column and its
 * term counts a vector column, every value converted into Spark's row format and out again between
 * the stages: that took longer than a plain Python loop doing the whole score (issue 7). Here the
 * tokens are never Strings and the counts live in plain arrays for the length of one call.
 */
public final class QualityScore implements UDF1<String, Double> {
  private static final long serialVersionUID = 1L;
  private static final int SEED = 42; // FeatureHasher's, as HashingTF hashes with Spark 3's hash

  private final LogisticRegressionModel classifier;
  private final int numFeatures;
  private final boolean binary;

  private QualityScore(HashingTF hashing, LogisticRegressionModel classifier) {
    this.classifier = classifier;
    this.numFeatures = hashing.getNumFeatures();
    this.binary = hashing.getBinary();
  }

  /**
   * Registers the score as SQL function {@code name} in {@code session}, for a model whose
   * Tokenizer reads the text and feeds {@code hashing}, which feeds {@code classifier}.
   */
  public static void register(
      SparkSession session, HashingTF hashing, LogisticRegressionModel classifier, String name) {
    if (classifier.numClasses() != 2) {
      throw new IllegalArgumentException("the classifier must be binary");
    }
    if (hashing.hashFuncVersion() != HashingTF$.MODULE$.SPARK_3_MURMUR3_HASH()) {
      throw new IllegalArgumentException("the model's HashingTF was saved by Spark 2: train it again");
    }
    session.udf().register(name, new QualityScore(hashing, classifier), DataTypes.DoubleType);
  }

  @Override
  public Double call(String text) {
    if (text == null) {
      return null;
    }
    int[] indices = termIndices(text);
    int n = indices.length;
    Arrays.sort(indices);
    double[] counts = new double[n];
    int distinct = 0;
    for (int i = 0; i < n; i++) {
      if (distinct > 0 && indices[distinct - 1] == indices[i]) {
        counts[distinct - 1] += binary ? 0.0 : 1.0;
      } else {
        indices[distinct] = indices[i];
        counts[distinct] = 1.0;
        distinct++;
      }
    }
    Vector features =
        Vectors.sparse(numFeatures, Arrays.copyOf(indices, distinct), Arrays.copyOf(counts, distinct));
    return classifier.raw2probabilityInPlace(classifier.predictRaw(features)).apply(1);
  }

  /**
   * Each token's feature index, as the Tokenizer and HashingTF give it, with nothing allocated per
   * token: the lower-cased text is encoded to UTF-8 once and each token hashed where it lies.
   * The Tokenizer lower-cases with {@code String.toLowerCase()} and splits with
   * {@code String.split("\\s")}: Java's \s is the six ASCII bytes below, which never occur inside
   * a multi-byte UTF-8 sequence; trailing empty tokens are dropped, and a text with no whitespace
   * is one token, even when empty. HashingTF's index of a token is
   * Murmur3_x86_32.hashUnsafeBytes2 of its UTF-8 bytes, seed 42 (FeatureHasher.murmur3Hash),
   * modulo numFeatures made non-negative.
   */
  private int[] termIndices(String text) {
    byte[] bytes = text.toLowerCase().getBytes(StandardCharsets.UTF_8);
    int[] indices = new int[bytes.length + 1];
    int tokens = 0;
    int upToLastNonEmpty = 0;
    int start = 0;
    for (int i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && !isJavaWhitespace(bytes[i])) {
        continue;
      }
      int hash =
          Murmur3_x86_32.hashUnsafeBytes2(bytes, Platform.BYTE_ARRAY_OFFSET + start, i - start, SEED);
      int index = hash % numFeatures;
      indices[tokens++] = index < 0 ? index + numFeatures : index;
      if (i > start) {
        upToLastNonEmpty = tokens;
      }
      start = i + 1;
    }
    return Arrays.copyOf(indices, tokens == 1 ? 1 : upToLastNonEmpty);
  }

  private static boolean isJavaWhitespace(byte b) {
    return b == ' ' || (b >= '\t' && b <= '\r');
  }
}
