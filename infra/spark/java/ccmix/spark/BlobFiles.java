package ccmix.spark;

import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.util.Iterator;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFileSystem;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.StreamCapabilities;
import org.apache.spark.api.java.function.ForeachPartitionFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * Writes files whose bytes Python tasks made (spark_jobs/blob_files.py): Python workers cannot
 * reach Hadoop's FileSystem, so each partition's rows (name, chunk) are appended here, in the
 * order they come, to {@code folder/name}, through the FileSystem of the folder's scheme (local
 * disks, s3a://). A file's chunks must be consecutive rows of one partition.
 *
 * <p>A retried task creates its files again, overwriting what a failed attempt left; the bytes
 * are the same, so a speculative copy is harmless too. Nothing is renamed: on S3 a file is one
 * upload to its final key.
 */
public final class BlobFiles {
  private BlobFiles() {}

  /** Writes each file of {@code chunks} (name: string, chunk: binary) under {@code folder}. */
  public static void write(Dataset<Row> chunks, String folder) {
    // A copy: the job server sets buckets' settings on the context's shared configuration.
    Configuration shared = chunks.sparkSession().sparkContext().hadoopConfiguration();
    SerializableConf conf = new SerializableConf(new Configuration(shared));
    chunks.foreachPartition(
        (ForeachPartitionFunction<Row>) rows -> writePartition(rows, folder, conf.value));
  }

  private static void writePartition(Iterator<Row> rows, String folder, Configuration conf)
      throws IOException {
    Path base = new Path(folder);
    String open = null;
    FSDataOutputStream out = null;
    try {
      while (rows.hasNext()) {
        Row row = rows.next();
        String name = row.getString(0);
        if (!name.equals(open)) {
          if (out != null) out.close();
          out = null;
          if (name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..")) {
            throw new IOException("not a file name: " + name);
          }
          Path file = new Path(base, name);
          FileSystem fs = file.getFileSystem(conf);
          // Locally the raw file system: no `.crc` sidecar beside each file, as Spark's writers.
          if (fs instanceof ChecksumFileSystem) fs = ((ChecksumFileSystem) fs).getRawFileSystem();
          out = fs.create(file, true);
          open = name;
        }
        out.write((byte[]) row.get(1));
      }
      if (out != null) out.close();
      out = null;
    } finally {
      // A failed task publishes nothing it had begun: on S3 closing would complete the upload.
      if (out != null) {
        if (out.hasCapability(StreamCapabilities.ABORTABLE_STREAM)) out.abort();
        else out.close();
      }
    }
  }

  /** Hadoop's Configuration is Writable, not Serializable: this carries it to the executors. */
  private static final class SerializableConf implements Serializable {
    private static final long serialVersionUID = 1L;
    transient Configuration value;

    SerializableConf(Configuration value) {
      this.value = value;
    }

    private void writeObject(ObjectOutputStream out) throws IOException {
      out.defaultWriteObject();
      value.write(out);
    }

    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
      in.defaultReadObject();
      value = new Configuration(false);
      value.readFields(in);
    }
  }
}
