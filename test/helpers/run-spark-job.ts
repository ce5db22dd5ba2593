/**
 * A stand-in worker process for the orphan test: runs one Spark job (JSON input in argv[2]) with
 * this process as its owner, so the test can SIGKILL it mid-job like a crashed worker.
 */
import { runSparkJob, type SparkJobInput } from '../../core/spark/submit';

const input = JSON.parse(process.argv[2] ?? '{}') as SparkJobInput;
runSparkJob(input).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(String(error));
    process.exit(1);
  },
);
