/** Where a Spark job runs decides its settings: loopback and few partitions only on one machine. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../config/schema';
import {
  CCMIX_JAR,
  S3_COMMIT_CONF,
  jobServerShortfall,
  launchSettings,
  localCores,
  memoryBytes,
  s3CommitConf,
} from '../core/spark/conf';

const sparkWith = (spark: Record<string, unknown>) => parseConfig({ spark }).spark;

void test('a local master binds to loopback and sizes shuffles to its cores', () => {
  assert.equal(localCores('local[3]'), 3);
  assert.equal(localCores('local[2,4]'), 2);
  assert.equal(localCores('local'), 1);
  const { conf, env } = launchSettings(sparkWith({ master: 'local[2]' }), []);
  assert.equal(conf['spark.driver.bindAddress'], '127.0.0.1');
  assert.equal(conf['spark.sql.shuffle.partitions'], '2');
  assert.equal(conf['spark.sql.adaptive.enabled'], 'false');
  assert.equal(env.SPARK_LOCAL_IP, '127.0.0.1');
  // Executors in the driver's JVM find ccmix's class on its class path; nothing is copied.
  assert.equal(conf['spark.driver.extraClassPath'], CCMIX_JAR);
  // The serial collector on two cores or fewer; the JVM's own choice above, and on a cluster.
  assert.equal(conf['spark.driver.extraJavaOptions'], '-XX:+UseSerialGC');
  const bigger = launchSettings(sparkWith({ master: 'local[8]' }), []).conf;
  assert.equal(bigger['spark.driver.extraJavaOptions'], undefined);
  const own = { 'spark.driver.extraJavaOptions': '-XX:+UseG1GC' };
  const chosen = launchSettings(sparkWith({ master: 'local[1]', conf: own }), []).conf;
  assert.equal(chosen['spark.driver.extraJavaOptions'], '-XX:+UseG1GC', "the config's own wins");
});

void test('a cluster master keeps its own binding and partition count; the config overrides', () => {
  const { conf, env } = launchSettings(sparkWith({ master: 'spark://head:7077' }), []);
  assert.equal(conf['spark.driver.bindAddress'], undefined);
  assert.equal(conf['spark.driver.host'], undefined);
  assert.equal(conf['spark.sql.shuffle.partitions'], undefined);
  assert.equal(conf['spark.sql.adaptive.enabled'], undefined);
  assert.equal(env.SPARK_LOCAL_IP, undefined);
  assert.equal(conf['spark.driver.extraJavaOptions'], undefined);
  assert.deepEqual(launchSettings(sparkWith({ master: 'spark://head:7077' }), []).jars, [CCMIX_JAR]);
  const chosen = launchSettings(
    sparkWith({ master: 'local[2]', conf: { 'spark.sql.shuffle.partitions': '64' } }),
    [],
  );
  assert.equal(chosen.conf['spark.sql.shuffle.partitions'], '64');
});

void test("PySpark's DataFrame debugging is off on every master, unless the config turns it on", () => {
  // Regression: with it on, a warm tiny dedup run made 8,801 round trips to the JVM, not 4,890.
  const key = 'spark.python.sql.dataFrameDebugging.enabled';
  for (const master of ['local[2]', 'spark://head:7077']) {
    assert.equal(launchSettings(sparkWith({ master }), []).conf[key], 'false', master);
  }
  const own = launchSettings(sparkWith({ master: 'local[2]', conf: { [key]: 'true' } }), []);
  assert.equal(own.conf[key], 'true');
});

void test('a cluster job checkpoints into its own folder; a local one keeps local checkpoints', () => {
  // Regression: on a cluster, dedup's local checkpoints lived on executors, and losing one failed
  // the job.
  const folder = 's3a://bucket/spark/dedup/attempt-a1-x/_checkpoints';
  const cluster = launchSettings(sparkWith({ master: 'k8s://https://api:6443' }), [], folder);
  assert.equal(cluster.conf['spark.checkpoint.dir'], folder);
  const local = launchSettings(sparkWith({ master: 'local[2]' }), [], folder);
  assert.equal(local.conf['spark.checkpoint.dir'], undefined);
  const own = { 'spark.checkpoint.dir': 'hdfs:///checkpoints' };
  const chosen = launchSettings(sparkWith({ master: 'yarn', conf: own }), [], folder);
  assert.equal(chosen.conf['spark.checkpoint.dir'], 'hdfs:///checkpoints');
});

void test('storage on S3 commits through the magic committer; local storage keeps the default', () => {
  const onS3 = launchSettings(sparkWith({ master: 'spark://head:7077' }), ['bucket']);
  for (const [key, value] of Object.entries(S3_COMMIT_CONF)) assert.equal(onS3.conf[key], value, key);
  assert.ok(
    onS3.jars.some((jar) => /spark-hadoop-cloud/.test(jar)),
    'the commit protocol is shipped',
  );
  assert.equal(onS3.jars[0], CCMIX_JAR, "and ccmix's own class");
  const local = launchSettings(sparkWith({ master: 'spark://head:7077' }), []);
  assert.equal(local.conf['spark.sql.sources.commitProtocolClass'], undefined);
});

void test('the commit settings come only with the jar that holds their classes', () => {
  // Set without it, every Spark session fails to start (SessionStateBuilder cannot be built).
  assert.deepEqual(s3CommitConf(['/jars/hadoop-aws-3.5.0.jar', '/jars/bundle-2.35.4.jar']), {});
  assert.deepEqual(s3CommitConf(['/jars/hadoop-aws-3.5.0.jar', '/jars/spark-hadoop-cloud_2.13-4.1.1.jar']), {
    ...S3_COMMIT_CONF,
  });
});

void test('the job server takes a run only if it has the cores and memory the run asks for', () => {
  // Before: any local run went to the server, and a run's local[8] or 16g were silently ignored.
  assert.equal(memoryBytes('4g'), memoryBytes('4096m'));
  assert.equal(memoryBytes('2G'), 2 * 1024 ** 3);
  assert.equal(memoryBytes('512'), 512 * 1024 ** 2, 'a bare number is MiB, as Spark reads it');
  assert.throws(() => memoryBytes('lots'), /not a memory size/);
  const server = { master: 'local[2]', cores: 2, driver_memory: '4g' };
  assert.equal(
    jobServerShortfall({ master: 'local[2]', driverMemory: '1g', conf: {} }, server),
    null,
    'less is fine',
  );
  assert.equal(jobServerShortfall({ master: 'local[1]', driverMemory: '4096m', conf: {} }, server), null);
  assert.equal(
    jobServerShortfall({ master: 'local[3]', driverMemory: '1g', conf: {} }, server),
    'the job server has 2 cores and 4g; this run asks for 3 (local[3]) and 1g',
  );
  assert.match(
    jobServerShortfall({ master: 'local[2]', driverMemory: '5g', conf: {} }, server) ?? '',
    /asks for 2 .* and 5g$/,
  );
  // "Every core" on both sides fits, whatever each runtime counts: the JVM honours a container's
  // CPU quota (here one core), Node's count may not (availableParallelism, 2 here).
  const defaults = parseConfig({}).spark;
  const everyCore = { master: 'local[*]', cores: 1, driver_memory: '4g' };
  assert.equal(
    jobServerShortfall(defaults, everyCore),
    null,
    "the config's defaults fit `services up`'s server",
  );
  assert.equal(
    jobServerShortfall({ ...defaults, master: 'local[3]' }, everyCore),
    'the job server has 1 cores and 4g; this run asks for 3 (local[3]) and 4g',
  );
});
