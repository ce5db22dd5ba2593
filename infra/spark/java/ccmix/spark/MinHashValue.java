package ccmix.spark;

import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.types.DataTypes;

/**
 * The value of one of MinHashLSH's hashes, as a long (spark_jobs/dedup.py's signatures): the model
 * gives each document an array of one-element vectors, one per hash function, and a SQL lambda
 * over that array calls this function on each.
 *
 * <p>PySpark's {@code vector_to_array} is a Column, usable only inside a Python lambda, whose
 * variable PySpark names afresh in every query; the name goes into the code Spark generates, so
 * every run of the job compiled that code again. A SQL function fits in a SQL lambda, whose
 * variable keeps the name written. Reading the vectors through their JSON form instead took six
 * times as long.
 */
public final class MinHashValue implements UDF1<Vector, Long> {
  private static final long serialVersionUID = 1L;

  /** Registers the function as SQL function {@code name} in {@code session}. */
  public static void register(SparkSession session, String name) {
    session.udf().register(name, new MinHashValue(), DataTypes.LongType);
  }

  @Override
  public Long call(Vector hash) {
    if (hash == null || hash.size() != 1) {
      throw new IllegalArgumentException("a MinHashLSH hash is a vector of one value, got " + hash);
    }
    // MinHashLSH's values are below its prime, 2038074743: exact as doubles and as longs.
    return (long) hash.apply(0);
  }
}
