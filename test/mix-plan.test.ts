/** The mixture plan's arithmetic, on Table 2.2's own numbers and on small ones. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../config/schema';
import {
  MIX_SOURCES,
  MixPlanError,
  PAPER_TABLE_2_2,
  PAPER_TRAINING_TOKENS,
  apportion,
  mixJobParams,
  planMixture,
  type MixSource,
} from '../core/mix/plan';

const paperTokens = Object.fromEntries(MIX_SOURCES.map((s) => [s, { tokens: PAPER_TABLE_2_2[s].tokens }]));
const round2 = (x: number) => Math.round(x * 100) / 100;

void test('Table 2.2 tokens and 300B: 0.44 epochs of Common Crawl, and where the printed epochs disagree', () => {
  const { mixture } = parseConfig({});
  assert.equal(mixture.totalTokens, PAPER_TRAINING_TOKENS);
  const plan = planMixture(mixture, paperTokens);
  const by = Object.fromEntries(plan.sources.map((s) => [s.source, s])) as Record<
    MixSource,
    (typeof plan.sources)[number]
  >;

  // The weights sum to 1.01; the plan divides by that and says so.
  assert.ok(Math.abs(plan.normalisation.configuredSum - 1.01) < 1e-12);
  assert.ok(Math.abs(plan.normalisation.divisor - 1.01) < 1e-12);
  assert.ok(Math.abs(by.commonCrawl.weight - 0.6 / 1.01) < 1e-12);
  assert.equal(plan.totalRows, Math.floor(300e9 / 2048));
  assert.equal(
    plan.sources.reduce((a, s) => a + s.targetRows, 0),
    plan.totalRows,
  );

  // The paper's arithmetic (printed weight × 300B / tokens) gives its 0.44 for Common Crawl ...
  assert.equal(round2(by.commonCrawl.epochsAtConfiguredWeight ?? NaN), 0.44);
  assert.equal(round2(by.books2.epochsAtConfiguredWeight ?? NaN), 0.44); // printed 0.43
  // ... and after normalisation (what ccmix trains on) Common Crawl is 0.43 epochs.
  assert.equal(round2(by.commonCrawl.epochs), 0.43);

  // WebText2: 300B × 22% / 19B = 3.47, not the printed 2.9; normalised 3.44.
  assert.equal(round2(by.webtext2.epochsAtConfiguredWeight ?? NaN), 3.47);
  assert.equal(round2(by.webtext2.epochs), 3.44);
  assert.equal(by.webtext2.paper.epochs, 2.9);
  // Wikipedia: 3.0 (2.97 normalised) against the printed 3.4; Books1 2.0 (1.98) against 1.9.
  assert.equal(round2(by.wikipedia.epochsAtConfiguredWeight ?? NaN), 3);
  assert.equal(round2(by.wikipedia.epochs), 2.97);
  assert.equal(round2(by.books1.epochs), 1.98);

  // Which printed epochs are more than rounding away (5%) from the table's own tokens and weights.
  const disagree = plan.sources
    .filter((s) => Math.abs((s.epochsAtConfiguredWeight ?? 0) / s.paper.epochs - 1) > 0.05)
    .map((s) => s.source);
  assert.deepEqual(disagree, ['webtext2', 'books1', 'wikipedia']);
});

void test('targets are rows of nCtx, split by largest remainder; epochs follow from measured rows', () => {
  const { mixture } = parseConfig({ mixture: { totalTokens: 2048 * 1000 } });
  const plan = planMixture(mixture, {
    commonCrawl: { tokens: 2048 * 500 + 7, documents: 900 },
    webtext2: { rowsPerEpoch: 88 },
    books1: { tokens: 2048 * 40 },
    books2: { tokens: 2048 * 300 },
    wikipedia: { tokens: 2048 * 10 + 2047 },
  });
  const rows = plan.sources.map((s) => s.targetRows);
  assert.equal(plan.totalRows, 1000);
  assert.deepEqual(rows, [594, 218, 79, 79, 30]);
  const cc = plan.sources[0];
  assert.equal(cc?.rowsPerEpoch, 500);
  assert.equal(cc?.documents, 900);
  assert.equal(cc?.epochs, 594 / 500);
  assert.equal(plan.sources[1]?.epochs, 218 / 88);
  assert.equal(plan.sources[4]?.rowsPerEpoch, 10); // the partial tail of 2047 tokens does not count
  assert.equal(plan.sources[4]?.epochs, 3);
});

void test('a source with weight and no data is an error unless renormalising is asked for', () => {
  const measured = { commonCrawl: { tokens: 1e6 }, webtext2: { tokens: 1e5 }, books1: { tokens: 100 } };
  const { mixture } = parseConfig({ mixture: { totalTokens: 2048 * 100 } });
  assert.throws(
    () => planMixture(mixture, measured),
    (e: unknown) => e instanceof MixPlanError && /books1, books2, wikipedia/.test(e.message),
  );
  const renormalised = planMixture({ ...mixture, onMissingSource: 'renormalise' }, measured);
  assert.deepEqual(renormalised.normalisation.dropped, ['books1', 'books2', 'wikipedia']);
  assert.ok(Math.abs(renormalised.normalisation.divisor - 0.82) < 1e-12);
  assert.deepEqual(
    renormalised.sources.map((s) => s.targetRows),
    [73, 27, 0, 0, 0],
  );
  // A zero weight needs no data.
  const zero = { ...mixture, weights: { ...mixture.weights, books1: 0, books2: 0, wikipedia: 0 } };
  assert.equal(planMixture(zero, measured).normalisation.dropped.length, 0);
});

void test('a source that would be repeated more than maxEpochs times fails the plan, naming it', () => {
  // Regression: no bound, so a tiny source at 300B tokens planned millions of epochs, each one a
  // row of the job's epoch table, broadcast and collected by its driver.
  const measured = Object.fromEntries(MIX_SOURCES.map((s) => [s, { tokens: 2048 * 1000 }]));
  const { mixture } = parseConfig({ mixture: { totalTokens: 2048 * 1000 * 200 } });
  assert.throws(
    () => planMixture(mixture, measured),
    (e: unknown) =>
      e instanceof MixPlanError &&
      /maxEpochs \(100\) of commonCrawl 118\.8 epochs \(1000 rows each\): /.test(e.message),
  );
  const allowed = planMixture({ ...mixture, maxEpochs: 120 }, measured).sources[0]?.epochs ?? 0;
  assert.ok(allowed > 118 && allowed < 119, `${allowed} epochs`);
});

void test('apportion hands out the remainder to the largest fractions, never to a zero weight', () => {
  assert.deepEqual(apportion(10, [1, 1, 1]), [4, 3, 3]);
  assert.deepEqual(apportion(3, [0, 1, 1]), [0, 2, 1]);
  assert.deepEqual(apportion(7, [0.6, 0.22, 0.08, 0.08, 0.03]), [4, 1, 1, 1, 0]);
});

void test('mixJobParams carries the targets and the paper figures for the Spark job', () => {
  const { mixture } = parseConfig({
    mixture: {
      totalTokens: 2048 * 10,
      weights: { commonCrawl: 1, webtext2: 1, books1: 0, books2: 0, wikipedia: 0 },
    },
  });
  const params = mixJobParams(
    planMixture(mixture, { commonCrawl: { tokens: 5e4 }, webtext2: { tokens: 5e4 } }),
    3,
    4,
    4,
  );
  assert.deepEqual(Object.keys(params.sources as object), ['commonCrawl', 'webtext2']);
  // The rows verification will decode (10 rows, 4 sampled), so the job records their documents.
  assert.deepEqual(params.sample_positions, [1, 3, 6, 8]);
  assert.equal(params.n_ctx, 2048);
  assert.deepEqual((params.sources as Record<string, unknown>).webtext2, {
    weight: 0.5,
    target_rows: 5,
    rows_per_epoch: 24,
    paper_tokens: 19e9,
    paper_weight: 0.22,
    paper_epochs: 2.9,
  });
});
