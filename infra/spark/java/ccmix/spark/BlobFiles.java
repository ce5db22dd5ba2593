package ccmix.spark;

import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.util.Iterator;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFileSystem;
import org.apache.hadoop.fs.CommonPathCapabilities;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.StreamCapabilities;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.ForeachPartitionFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * Writes files whose bytes Python tasks made (spark_jobs/blob_files.py): Python workers cannot
 * reach Hadoop's FileSystem, so each partition's rows (name, chunk) are appended here, in the
 * order they come, to {@code folder/name}, through the FileSystem of the folder's scheme (local
 * disks, s3a://). A file's chunks must be consecutive rows of one partition.
 *
 * <p>A retried task creates its files again, replacing what another attempt left; the bytes are
 * the same, so a speculative copy is harmless too. On S3 a file is one upload to its final key,
 * nothing renamed; elsewhere each attempt writes a hidden file of its own and renames it when
 * complete (see OpenFile).
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
    OpenFile open = null;
    try {
      while (rows.hasNext()) {
        Row row = rows.next();
        String name = row.getString(0);
        if (open == null || !name.equals(open.name)) {
          if (open != null) open.finish();
          open = null;
          if (name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..")) {
            throw new IOException("not a file name: " + name);
          }
          open = new OpenFile(base, name, conf);
        }
        open.out.write((byte[]) row.get(1));
      }
      if (open != null) open.finish();
    } catch (IOException | RuntimeException | Error failure) {
      // The task's own failure is what it reports; one from cleaning up is attached to it.
      if (open != null) {
        try {
          open.discard();
        } catch (IOException | RuntimeException cleanup) {
          failure.addSuppressed(cleanup);
        }
      }
      throw failure;
    }
  }

  /**
   * A file being written. Where the stream can be aborted (S3A), it is written at its final name:
   * the object appears only when the stream closes. Elsewhere (local disks, HDFS) it is written
   * under a hidden name of its own attempt and renamed when complete: a task that fails, or a
   * speculative copy killed mid-file, never leaves a partial file, nor cuts short the file another
   * attempt completed.
   */
  private static final class OpenFile {
    final String name;
    final FSDataOutputStream out;
    private final FileSystem fs;
    private final Path file;
    private final Path written;

    OpenFile(Path base, String name, Configuration conf) throws IOException {
      this.name = name;
      file = new Path(base, name);
      FileSystem chosen = file.getFileSystem(conf);
      // Locally the raw file system: no `.crc` sidecar beside each file, as Spark's writers.
      if (chosen instanceof ChecksumFileSystem) chosen = ((ChecksumFileSystem) chosen).getRawFileSystem();
      fs = chosen;
      boolean abortable = fs.hasPathCapability(file, CommonPathCapabilities.ABORTABLE_STREAM);
      TaskContext task = TaskContext.get();
      long attempt = task == null ? 0 : task.taskAttemptId();
      written = abortable ? file : new Path(base, "." + name + "." + attempt + ".tmp");
      out = fs.create(written, true);
    }

    void finish() throws IOException {
      out.close();
      if (written.equals(file)) return;
      // Another attempt may have completed the file already: same bytes, replaced.
      if (!fs.rename(written, file)) {
        fs.delete(file, false);
        if (!fs.rename(written, file)) throw new IOException("cannot rename " + written + " to " + file);
      }
    }

    void discard() throws IOException {
      // On S3 closing would complete the upload: a failed task publishes nothing it had begun.
      if (out.hasCapability(StreamCapabilities.ABORTABLE_STREAM)) {
        out.abort();
        return;
      }
      out.close();
      if (!written.equals(file)) fs.delete(written, false);
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
