/**
 * How a Spark job is configured for where it runs: a local master binds the driver to loopback;
 * a cluster master leaves binding to the cluster. Every job has ccmix's own jar (the Java classes
 * of spark_jobs/blob_files.py and of the quality filter's score). Storage on S3 adds the S3A jars
 * that setup installed (never fetched at run time) and the endpoint, never credentials: S3A reads
 * those from the environment or the AWS credential chain, like every other ccmix component.
 */
import { availableParallelism } from 'node:os';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config/schema';
import { CCMIX_HOME, REPO_ROOT } from '../paths';

export const S3A_JARS_DIR = path.join(CCMIX_HOME, 'spark-jars');
/** Built by infra/setup.sh from infra/spark/java, where spark_jobs/spark_session.py finds it too. */
export const CCMIX_JAR = path.join(REPO_ROOT, '.ccmix', 'ccmix-spark.jar');

/** ccmix's jar, then `jars`: what a job's JVMs need on their class path. */
export function sparkClassPath(jars: string[]): string[] {
  if (!existsSync(CCMIX_JAR))
    throw new Error(`ccmix's Spark jar is missing (${CCMIX_JAR}): run \`npm run setup\``);
  return [CCMIX_JAR, ...jars];
}

export const isLocalMaster = (master: string): boolean => /^local(\[.*\])?$/.test(master);

/** Cores of a local master: `local[N]` (or `local[N,F]`) gives N; `local` one; `local[*]` every core. */
export function localCores(master: string): number {
  const n = /^local\[(\d+)/.exec(master)?.[1];
  if (n) return Math.max(1, Number(n));
  return master === 'local' ? 1 : availableParallelism();
}

/** Bytes of a JVM memory setting (`4g`, `512m`, `2G`); a bare number is MiB, as Spark reads it. */
export function memoryBytes(setting: string): number {
  const match = /^(\d+)([kmgt])?b?$/i.exec(setting.trim());
  if (!match) throw new Error(`not a memory size: ${setting}`);
  const power = { k: 1, m: 2, g: 3, t: 4 }[(match[2] ?? 'm').toLowerCase() as 'k' | 'm' | 'g' | 't'];
  return Number(match[1]) * 1024 ** power;
}

/**
 * Why the job server cannot take a run, or null when it can. Its JVM and settings were fixed when
 * it started: a run's own `spark.conf`, or more cores or memory than it has, would be ignored.
 */
export function jobServerShortfall(
  run: Pick<Config['spark'], 'master' | 'driverMemory' | 'conf'>,
  server: { master: string; cores: number; driver_memory: string },
): string | null {
  if (Object.keys(run.conf).length > 0) return 'spark.conf is set';
  // The same master asks for what the server has: Node and the JVM may count "every core"
  // differently (the JVM honours a container's CPU quota, Node's count does not).
  const cores = run.master === server.master ? server.cores : localCores(run.master);
  if (cores <= server.cores && memoryBytes(run.driverMemory) <= memoryBytes(server.driver_memory))
    return null;
  return (
    `the job server has ${server.cores} cores and ${server.driver_memory}; ` +
    `this run asks for ${cores} (${run.master}) and ${run.driverMemory}`
  );
}

export interface SparkLaunchSettings {
  conf: Record<string, string>;
  jars: string[];
  env: NodeJS.ProcessEnv;
}

/**
 * Spark writes to S3 through S3A's magic committer (spark-hadoop-cloud's commit protocol, among
 * the S3A jars): each file is uploaded once, to its final key, and appears at job commit. Spark's
 * default FileOutputCommitter renames every file twice (at task commit, then by the driver at job
 * commit), and on S3 a rename is a copy. For local paths the protocol uses FileOutputCommitter.
 */
export const S3_COMMIT_CONF: Readonly<Record<string, string>> = {
  'spark.hadoop.fs.s3a.committer.name': 'magic',
  'spark.sql.sources.commitProtocolClass': 'org.apache.spark.internal.io.cloud.PathOutputCommitProtocol',
  'spark.sql.parquet.output.committer.class':
    'org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter',
};

/** S3_COMMIT_CONF when `jars` hold its commit protocol (a Spark session without it fails to start). */
export const s3CommitConf = (jars: string[]): Record<string, string> =>
  jars.some((jar) => path.basename(jar).startsWith('spark-hadoop-cloud')) ? { ...S3_COMMIT_CONF } : {};

/** The S3A jars installed by infra/setup.sh (hadoop-aws matching pyspark's Hadoop). */
export function s3aJars(): string[] {
  if (!existsSync(S3A_JARS_DIR)) return [];
  return readdirSync(S3A_JARS_DIR)
    .filter((name) => name.endsWith('.jar'))
    .sort()
    .map((name) => path.join(S3A_JARS_DIR, name));
}

/**
 * S3A settings from the environment (the endpoint of an emulator, the region); no secrets. With
 * `buckets`, they apply to those buckets only (`fs.s3a.bucket.<name>.…`), so one long-lived JVM
 * can serve jobs whose buckets live behind different endpoints.
 */
export function s3aConf(
  env: NodeJS.ProcessEnv = process.env,
  buckets: string[] = [],
): Record<string, string> {
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const settings: Record<string, string> = {
    'endpoint.region': region,
    ...(endpoint
      ? {
          endpoint,
          'path.style.access': 'true',
          'connection.ssl.enabled': String(endpoint.startsWith('https:')),
        }
      : {}),
  };
  const scopes = buckets.length > 0 ? buckets.map((b) => `fs.s3a.bucket.${b}.`) : ['fs.s3a.'];
  return Object.fromEntries(
    scopes.flatMap((scope) => Object.entries(settings).map(([k, v]) => [`spark.hadoop.${scope}${k}`, v])),
  );
}

/** The buckets of `s3://` / `s3a://` URIs. */
export function bucketsOf(uris: string[]): string[] {
  return [...new Set(uris.flatMap((u) => /^s3a?:\/\/([^/]+)/.exec(u)?.[1] ?? []))].sort();
}

export function javaHome(): string | undefined {
  const recorded = path.join(REPO_ROOT, '.ccmix', 'java-home');
  return process.env.JAVA_HOME ?? (existsSync(recorded) ? readFileSync(recorded, 'utf8').trim() : undefined);
}

/**
 * `buckets`: the S3 buckets the job touches (none: no S3A). `checkpointDir`: the job's own folder
 * for checkpoints on a cluster (see below).
 */
export function launchSettings(
  spark: Pick<Config['spark'], 'master' | 'driverMemory' | 'conf'>,
  buckets: string[],
  checkpointDir?: string,
): SparkLaunchSettings {
  const local = isLocalMaster(spark.master);
  const cores = localCores(spark.master);
  const usesS3 = buckets.length > 0;
  const s3Jars = usesS3 ? s3aJars() : [];
  const commit = s3CommitConf(s3Jars);
  if (usesS3 && Object.keys(commit).length === 0) {
    throw new Error(`storage on S3 needs the S3A jars in ${S3A_JARS_DIR}: run \`npm run setup\``);
  }
  const jars = sparkClassPath(s3Jars);
  const java = javaHome();
  return {
    conf: {
      'spark.ui.showConsoleProgress': 'false',
      'spark.sql.session.timeZone': 'UTC',
      // Cached results keep their shuffle's partition count unless AQE may coalesce them too.
      'spark.sql.optimizer.canChangeCachedPlanOutputPartitioning': 'true',
      // PySpark's DataFrame debugging sends every Column and function call's Python call site to
      // the JVM: several more round trips per call (the session, the setting, the call site set
      // and cleared). Off, a warm tiny dedup run made 4,890 round trips instead of 8,801, with the
      // same output. What it costs: an analysis error names the action's line in the Python
      // traceback, not the line that built the expression.
      'spark.python.sql.dataFrameDebugging.enabled': 'false',
      ...(local
        ? {
            'spark.driver.host': '127.0.0.1',
            'spark.driver.bindAddress': '127.0.0.1',
            // Spark's 200 and adaptive re-planning suit a cluster. On one machine a stage is
            // mostly per-task and per-job overhead: one shuffle partition per core and no AQE
            // took the demo's dedup from 36-41 s to 28-31 s warm (issue 8, stop 15).
            'spark.sql.shuffle.partitions': String(cores),
            'spark.sql.adaptive.enabled': 'false',
            // The job server keeps its JVM from job to job, and with it the classes Spark generates
            // for each query, but Spark's cache of them holds 100, fewer than one mix job makes:
            // every mix run compiled 23-25 of them again; with 1,000, none (issue 9, stop 25).
            'spark.sql.codegen.cache.maxEntries': '1000',
            // On two cores or fewer, G1's collector threads compete with the task threads for the
            // same cores. Side by side on this project's 2-core machine, the serial collector
            // raised warm jobs' CPU-time ratios to their peers by 9% (mix) and 23% (extract), at
            // the same wall time (stop 31). Untried on more cores: the JVM's own choice stands.
            ...(cores <= 2 ? { 'spark.driver.extraJavaOptions': '-XX:+UseSerialGC' } : {}),
          }
        : {}),
      // Locally the executors live in the driver's JVM: put the jars on its class path instead
      // of `--jars`, which copies them (the AWS SDK bundle is ~650 MiB) for every job.
      ...(local ? { 'spark.driver.extraClassPath': jars.join(':') } : {}),
      ...(usesS3 ? { ...s3aConf(process.env, buckets), ...commit } : {}),
      // Dedup cuts its lineage with checkpoints. Without a folder they are local ones, kept by
      // the executors: on a cluster, losing one executor loses them and fails the job.
      ...(!local && checkpointDir ? { 'spark.checkpoint.dir': checkpointDir } : {}),
      ...spark.conf,
    },
    jars: local ? [] : jars,
    env: {
      ...(local ? { SPARK_LOCAL_IP: '127.0.0.1' } : {}),
      ...(java ? { JAVA_HOME: java } : {}),
    },
  };
}
