/**
 * The one config schema. Every workflow takes one JSON object (the Temporal UI sends one payload);
 * this file is the single source of every default and of config/config.schema.json.
 */
import { z } from 'zod';
import { CRAWL_ID_PATTERN, DEFAULT_CRAWLS } from './crawls';

/** `mixture.maxEpochs` when the config does not set it. */
export const DEFAULT_MAX_EPOCHS = 100;

/** `mixture.verifyHeartbeatTimeoutSeconds` when the config does not set it. */
export const DEFAULT_VERIFY_HEARTBEAT_TIMEOUT_SECONDS = 300;

/** Table 2.2 of the paper. The weights sum to 1.01; the mixer normalises them and says so. */
export const TABLE_2_2_WEIGHTS = {
  commonCrawl: 0.6,
  webtext2: 0.22,
  books1: 0.08,
  books2: 0.08,
  wikipedia: 0.03,
} as const;

export const REFERENCE_CORPORA = ['webtext2', 'books1', 'books2', 'wikipedia'] as const;
export type ReferenceCorpusName = (typeof REFERENCE_CORPORA)[number];

const positiveInt = z.number().int().positive();

const fraction = z.number().gt(0).lte(1);

/**
 * The config travels in workflow histories, activity inputs, spark-submit's command line and the
 * mixture's manifest: a credential in it would be shown to everyone who can see those.
 */
const NO_CREDENTIALS =
  'credentials never go in the config (it is stored in workflow histories and the manifest): Spark and the AWS SDK read them from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)';
const CREDENTIAL_KEY = /secret|password|passwd|access\.key|session\.token|\btoken$/i;
const urlWithoutCredentials = (url: string): boolean => {
  const parsed = URL.parse(url);
  return !parsed || (parsed.username === '' && parsed.password === '');
};

const httpSource = z.strictObject({
  kind: z.literal('http'),
  baseUrl: z
    .url({ protocol: /^https?$/ })
    .refine(urlWithoutCredentials, NO_CREDENTIALS)
    .default('https://data.commoncrawl.org/')
    .describe('Prefix before crawl-data/…; the public Common Crawl HTTP endpoint by default.'),
});

const s3Source = z.strictObject({
  kind: z.literal('s3'),
  bucket: z.string().min(3).default('commoncrawl'),
  prefix: z.string().default(''),
  region: z.string().default('us-east-1'),
  endpoint: z
    .url()
    .refine(urlWithoutCredentials, NO_CREDENTIALS)
    .optional()
    .describe(
      'Only for S3-compatible servers (tests use an emulator on loopback). Credentials never go here.',
    ),
});

const wetSelection = z.union([
  z.strictObject({ count: positiveInt.describe('At most this many WET files per crawl.') }),
  z.strictObject({ fraction: fraction.describe('This fraction of each crawl’s WET files, rounded up.') }),
]);

const referenceCorpus = z.strictObject({
  path: z.string().min(1).describe('Local folder/file or s3:// URI.'),
  format: z.enum(['jsonl', 'parquet', 'text']).default('jsonl'),
});

const referenceDefaults = (name: ReferenceCorpusName) => ({
  path: `reference/${name}`,
  format: 'jsonl' as const,
});

export const configSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes, at most 63')
    .default('gpt3-mixture')
    .describe('Run name; with the config fingerprint it forms the workflow id.'),
  seed: z.number().int().nonnegative().default(20200528).describe('Every random choice derives from it.'),
  crawls: z
    .array(z.string().regex(CRAWL_ID_PATTERN, 'a crawl id like CC-MAIN-2019-35'))
    .min(1)
    .refine((list) => new Set(list).size === list.length, 'crawl ids must be unique')
    .default([...DEFAULT_CRAWLS])
    .describe('Default: 41 of the 45 crawls of 2016–2019, a documented guess (config/crawls.ts).'),
  source: z.discriminatedUnion('kind', [httpSource, s3Source]).prefault({ kind: 'http' }),
  wetFilesPerCrawl: wetSelection
    .default({ fraction: 0.128 })
    .describe(
      'The paper’s 45TB is about 1/8 of the ~320 TiB of WET in 41 crawls; choose files by seed, not order.',
    ),
  storageRoot: z
    .string()
    .min(1)
    .default('.ccmix/runs')
    .describe('Local folder or s3://bucket/prefix. S3 credentials come from the AWS chain, never from here.'),
  referenceCorpora: z
    .strictObject({
      webtext2: referenceCorpus.default(referenceDefaults('webtext2')),
      books1: referenceCorpus.default(referenceDefaults('books1')),
      books2: referenceCorpus.default(referenceDefaults('books2')),
      wikipedia: referenceCorpus.default(referenceDefaults('wikipedia')),
    })
    .prefault({}),
  download: z
    .strictObject({
      maxConcurrentCrawls: positiveInt.default(4).describe('Crawls downloading at once (child workflows).'),
      maxConcurrentDownloads: positiveInt
        .default(16)
        .describe('Files in flight across the run; split evenly over the crawls downloading at once.'),
      filesPerActivity: positiveInt.default(16).describe('WET files per download activity (a batch).'),
      maxRequestsPerSecond: z.number().positive().default(10).describe('One ceiling for the whole run.'),
      heartbeatTimeoutSeconds: positiveInt.default(60),
      maxTransientAttemptsPerFile: positiveInt
        .default(8)
        .describe(
          '503/SlowDown/429/resets tolerated per file per activity attempt before Temporal retries it.',
        ),
      maxCorruptAttemptsPerFile: positiveInt
        .default(3)
        .describe('Failed verifications before a file is quarantined.'),
      maxAttemptsPerFile: positiveInt
        .default(40)
        .describe(
          'Failed requests of one file (5xx, timeouts, resets), over all activity attempts, before it is quarantined as e.g. http_503_after_40_attempts.',
        ),
      requestTimeoutSeconds: positiveInt
        .default(120)
        .describe('A response that sends nothing for this long (headers or the next chunk) is a timeout.'),
      retryBaseDelayMs: positiveInt.default(1000),
      retryMaxDelayMs: positiveInt.default(60_000),
      batchesPerWorkflowRun: positiveInt
        .default(100)
        .describe('A crawl workflow continues as new after this many batches, bounding its history.'),
    })
    .prefault({}),
  extract: z
    .strictObject({
      maxDocumentChars: positiveInt.default(100_000).describe('Longer records are cut and counted.'),
      maxBytesPerJob: positiveInt
        .default(2 ** 30)
        .describe(
          'Neighbouring crawls share one extraction job (one Spark stage, one commit) while their downloaded bytes stay within this; a larger crawl is a job alone. A failed job redoes its own crawls only; each job pays Spark’s fixed cost once.',
        ),
    })
    .prefault({}),
  classifier: z
    .strictObject({
      numFeatures: positiveInt.default(2 ** 18).describe('HashingTF’s default; the paper gives none.'),
      regParam: z.number().nonnegative().default(0.01),
      maxIter: positiveInt.default(100),
      negativesPerPositive: z.number().positive().default(1).describe('Class balance of the training set.'),
      maxTrainingDocsPerClass: positiveInt.default(200_000),
      holdoutFraction: z.number().gt(0).lt(1).default(0.2),
    })
    .prefault({}),
  pareto: z
    .strictObject({ alpha: z.number().positive().default(9).describe('Keep iff pareto(α) > 1 − score.') })
    .prefault({}),
  dedup: z
    .strictObject({
      numHashes: positiveInt.default(10).describe('The paper’s setting.'),
      bands: positiveInt
        .default(5)
        .describe('Groups of numHashes/bands min-hashes; a pair is a candidate if any band matches.'),
      jaccardThreshold: fraction
        .default(0.8)
        .describe('Candidates are verified by exact Jaccard against this.'),
      strategy: z
        .enum(['banded', 'mllib'])
        .default('banded')
        .describe(
          'banded: near-linear candidates; mllib: approxSimilarityJoin literally (quadratic, small data only).',
        ),
      survivor: z
        .enum(['minId', 'maxScore'])
        .default('minId')
        .describe(
          'Which document of a near-duplicate cluster is kept: the smallest doc_id or the highest quality score.',
        ),
    })
    .refine((d) => d.numHashes % d.bands === 0, { message: 'bands must divide numHashes', path: ['bands'] })
    .prefault({}),
  mixture: z
    .strictObject({
      weights: z
        .strictObject({
          commonCrawl: z.number().nonnegative(),
          webtext2: z.number().nonnegative(),
          books1: z.number().nonnegative(),
          books2: z.number().nonnegative(),
          wikipedia: z.number().nonnegative(),
        })
        .refine((w) => Object.values(w).some((v) => v > 0), 'at least one weight must be positive')
        .prefault({ ...TABLE_2_2_WEIGHTS }),
      totalTokens: positiveInt
        .default(300_000_000_000)
        .describe(
          'Training tokens (the paper’s 300B). A source with fewer tokens than its share is repeated: more epochs.',
        ),
      nCtx: positiveInt.default(2048),
      endOfTextToken: z
        .literal(50256)
        .default(50256)
        .describe('GPT-2’s end-of-text id, the separator after every document: the tokenizer has no other.'),
      onMissingSource: z
        .enum(['error', 'renormalise'])
        .default('error')
        .describe(
          'A source with weight > 0 and no data: fail the plan, or drop it and renormalise the other weights.',
        ),
      rowsPerFile: positiveInt
        .default(50_000)
        .describe('Rows per output Parquet file (a 2048-token row is 8 KiB of int32 before compression).'),
      verifySampleRows: positiveInt
        .default(16)
        .describe(
          'Rows decoded by the verification and matched against the source documents. The mix job ' +
            'names the documents of these rows (provenance.json), so a change re-runs the mix stage.',
        ),
      // No default here, so configs without it keep their fingerprint: DEFAULT_MAX_EPOCHS applies.
      maxEpochs: z
        .number()
        .positive()
        .optional()
        .describe(
          `The most epochs of one source the plan accepts (default ${DEFAULT_MAX_EPOCHS}; the paper's most is 3.4, Wikipedia's). More means the source is far too small for totalTokens, and every epoch is work for the mix job's driver.`,
        ),
      // No default here either: configs without it keep their workflow id.
      verifyHeartbeatTimeoutSeconds: positiveInt
        .optional()
        .describe(
          `A verification whose worker sends no heartbeat for this long (the worker died) is retried on another worker, which resumes its scan (default ${DEFAULT_VERIFY_HEARTBEAT_TIMEOUT_SECONDS}: it heartbeats after every data file, about 130 MB at paper scale, each read from S3).`,
        ),
    })
    .prefault({}),
  stopAfter: z
    .enum(['download', 'classify', 'dedup', 'mix'])
    .default('mix')
    .describe('The last stage to run (mix: the whole pipeline, verified and with its manifest).'),
  // No default, so configs without it keep their fingerprint (and so their workflow id).
  report: z
    .strictObject({
      groundTruth: z
        .string()
        .min(1)
        .optional()
        .describe(
          'The miniature crawl’s ground-truth folder (`ccmix mini-crawl --out DIR` writes DIR/ground-truth); the report then scores the classifier against its labels.',
        ),
    })
    .optional(),
  spark: z
    .strictObject({
      master: z.string().min(1).default('local[*]'),
      driverMemory: z
        .string()
        .regex(/^\d+[kmgt]$/i, 'like 4g')
        .default('4g'),
      conf: z
        .record(z.string(), z.string())
        .superRefine((conf, ctx) => {
          for (const key of Object.keys(conf).filter((k) => CREDENTIAL_KEY.test(k)))
            ctx.addIssue({ code: 'custom', message: NO_CREDENTIALS, path: [key] });
        })
        .default({}),
      jobServer: z
        .enum(['auto', 'never'])
        .default('auto')
        .describe(
          'auto: a local master runs jobs on the job server that `ccmix services up` starts (one JVM for every stage) when it runs the same code, has at least the run’s cores and driverMemory, and spark.conf is empty (the server cannot take a run’s own settings); otherwise, and with never, spark-submit.',
        ),
      maxConcurrentJobs: positiveInt
        .default(2)
        .describe(
          'Spark jobs in flight at once (extraction jobs run side by side, see extract.maxBytesPerJob).',
        ),
      heartbeatTimeoutSeconds: positiveInt
        .default(60)
        .describe(
          'A Spark job whose worker sends no heartbeat for this long (the worker died) is retried on another worker.',
        ),
    })
    .prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export interface ConfigIssue {
  path: string;
  message: string;
}

/** Raised for any invalid config; names every bad field, not just the first. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(`Invalid ccmix config: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

type Issue = z.core.$ZodIssue;

/**
 * A union whose every branch failed reports only "Invalid input" at the union. When exactly one
 * branch accepts the keys given (the others fail with an unknown key), that branch's own issues
 * name the bad field: `wetFilesPerCrawl.count`, not `wetFilesPerCrawl`.
 */
function namedIssues(issue: Issue, prefix: readonly PropertyKey[] = []): ConfigIssue[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union') {
    const fitting = issue.errors.filter(
      (branch) => !branch.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0),
    );
    const only = fitting.length === 1 ? fitting[0] : undefined;
    if (only && only.length > 0) return only.flatMap((i) => namedIssues(i, path));
  }
  return [{ path: path.length > 0 ? path.map(String).join('.') : '(root)', message: issue.message }];
}

export function parseConfig(input: unknown): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) throw new ConfigError(result.error.issues.flatMap((issue) => namedIssues(issue)));
  return result.data;
}

export function configJsonSchema(): object {
  return z.toJSONSchema(configSchema, { io: 'input' });
}
