/**
 * Step 5 (section 2.2, Table 2.2): the training mixture. Count the GPT-2 tokens of every deduped
 * dataset, plan rows and epochs from the configured weights, tokenize + pack + interleave into
 * Parquet, then (its own stage) verify that output with DuckDB and write its manifest.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import { DEFAULT_VERIFY_HEARTBEAT_TIMEOUT_SECONDS, type Config } from '../config/schema';
import type { MixtureSummary } from '../core/mix/finish';
import { MIX_SOURCES, mixCountParams, mixJobParams, type Measured, type MixPlan } from '../core/mix/plan';
import { MIX_OPTIONS, verifyOptions } from './activity-options';
import { untilResumed } from './controls';
import { dedupedDocuments } from './dedup-stage';
import type { BuildMixtureProgress } from './progress';
import { sparkStageRunner, type StageOutcome } from './spark-stage';

const { planMixture, verifyMixture, writeManifest } = proxyActivities<typeof activities>(MIX_OPTIONS);

export interface MixStageResult {
  count: StageOutcome;
  plan: MixPlan;
  mix: StageOutcome;
  summary: MixtureSummary;
}

interface CountedSource {
  documents: number;
  tokens: number;
}

export async function mixStage(
  config: Config,
  dedup: StageOutcome,
  upstream: Record<string, string>,
  progress: BuildMixtureProgress,
  enter: (stage: 'mix' | 'verify' | 'report') => void,
): Promise<MixStageResult> {
  const run = sparkStageRunner(config, progress);
  const m = config.mixture;
  const documents = Object.fromEntries(MIX_SOURCES.map((s) => [s, dedupedDocuments(dedup, s)]));
  const inputsFor = (sources: readonly string[]) =>
    sources.map((dataset) => ({
      flag: '--input-dataset',
      dataset,
      paths: [documents[dataset] as string],
      base: 'storage' as const,
    }));

  enter('mix');
  const count = await run({
    job: 'mix',
    stage: 'mix-count',
    inputs: inputsFor(MIX_SOURCES),
    params: mixCountParams(m.nCtx),
  });
  const counted = (count.extra.sources ?? {}) as Record<string, CountedSource>;
  const measured: Record<string, Measured> = Object.fromEntries(
    Object.entries(counted).map(([s, c]) => [s, { tokens: c.tokens, documents: c.documents }]),
  );
  await untilResumed(progress);
  const plan = await planMixture.executeWithOptions(
    { ...MIX_OPTIONS, summary: 'plan the Table 2.2 mixture' },
    [{ mixture: m, measured }],
  );
  const planned = plan.sources.filter((s) => s.targetRows > 0).map((s) => s.source);
  const mix = await run({
    job: 'mix',
    stage: 'mix',
    inputs: inputsFor(planned),
    params: mixJobParams(plan, config.seed, m.rowsPerFile, m.verifySampleRows),
  });

  // Runs recorded before verify was a stage of its own booked it under report.
  enter(patched('verify-stage') ? 'verify' : 'report');
  await untilResumed(progress);
  const verification = await verifyMixture.executeWithOptions(
    {
      ...verifyOptions(m.verifyHeartbeatTimeoutSeconds ?? DEFAULT_VERIFY_HEARTBEAT_TIMEOUT_SECONDS),
      summary: 'verify the mixture with DuckDB',
    },
    [
      {
        storageRoot: config.storageRoot,
        output: mix.output,
        plan,
        documents: Object.fromEntries(planned.map((s) => [s, documents[s] as string])),
        sampleRows: m.verifySampleRows,
      },
    ],
  );
  await untilResumed(progress);
  const summary = await writeManifest.executeWithOptions({ ...MIX_OPTIONS, summary: 'write manifest.json' }, [
    {
      storageRoot: config.storageRoot,
      output: mix.output,
      config,
      stageFingerprints: { ...upstream, 'mix-count': count.fingerprint, mix: mix.fingerprint },
      plan,
      verification,
    },
  ]);
  return { count, plan, mix, summary };
}
