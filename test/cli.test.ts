/**
 * The `ccmix` command's own surface, without a server: per-command help, usage errors in one line,
 * and the run summary that `ccmix demo` (the README's first command) ends with. The commands that
 * talk to Temporal are driven against the real dev server in signals.workflow.test.ts and in the
 * fault suite's Schedule scenario.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { usageOf } from '../cli/main';
import { renderRunSummary } from '../cli/render';
import { parseConfig } from '../config/schema';
import { REPO_ROOT } from '../core/paths';
import type { BuildMixtureResult } from '../workflows';
import { ccmix } from './helpers/cli';

const COMMANDS = ['demo', 'services', 'mini-crawl', 'config', 'run', 'status', 'list', 'report'].concat([
  'pause',
  'resume',
  'limits',
  'schedule',
  'worker',
]);

void test('every command has --help: its own usage lines, not the whole list', async () => {
  for (const command of COMMANDS) {
    const named = usageOf(command)
      .split('\n')
      .filter((l) => l.startsWith('  ccmix '));
    assert.ok(named.length > 0, command);
    for (const line of named)
      assert.ok(line.startsWith(`  ccmix ${command}`), `${command} --help shows ${line}`);
  }
  // `runs` is `list` under another name.
  assert.match(usageOf('runs'), /^ {2}ccmix list /m);
  // As a user types it (one process; each costs about a second).
  const { code, stdout, stderr } = await ccmix(['status', '--help']);
  assert.deepEqual([code, stderr, stdout], [0, '', `${usageOf('status')}\n`]);
  assert.match(stdout, /ccmix status \[RUN\]/);
});

void test('usage errors are one line on stderr, exit code 2, before any connection', async () => {
  const cases: [string[], RegExp][] = [
    [['run', '--wiat'], /^ccmix: Unknown option '--wiat'/],
    [['frobnicate'], /^ccmix: unknown command frobnicate \(`ccmix --help` lists them\)$/],
    [
      ['status', 'some-run', '--watch', '--json'],
      /^ccmix: --watch draws live bars; --json prints one snapshot/,
    ],
    [['schedule', 'create'], /^ccmix: schedule create needs --config FILE$/],
  ];
  // An address nothing listens on: a command that tried to connect would fail differently.
  const nowhere = '127.0.0.1:9';
  for (const [args, message] of cases) {
    const { code, stdout, stderr } = await ccmix(args, nowhere);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.equal(stdout, '');
    assert.equal(stderr.trimEnd().split('\n').length, 1, stderr);
    assert.match(stderr.trimEnd(), message);
  }
});

/** A finished run as the workflow returns it: the report's fixture, with its per-crawl extractions. */
function finishedRun(): BuildMixtureResult {
  const facts = JSON.parse(
    readFileSync(path.join(REPO_ROOT, 'test/fixtures/report/run-facts.json'), 'utf8'),
  ) as BuildMixtureResult;
  const filter = facts.quality!.filter;
  const extraction = (rowsIn: number, rowsKept: number) => ({
    ...filter,
    rowsIn,
    rowsKept,
    ranOn: 'job server',
  });
  return {
    ...facts,
    quality: {
      ...facts.quality!,
      extract: { 'CC-MAIN-2016-07': extraction(40, 38), 'CC-MAIN-2018-47': extraction(42, 41) },
    },
    stages: [
      ...facts.stages.slice(0, -1),
      { ...facts.stages.at(-1)!, endedAt: '2026-11-28T09:24:19.129Z', seconds: 2 },
    ],
    report: { html: '/runs/reports/demo/report.html', json: '/runs/reports/demo/report.json' },
  };
}

void test("the demo's summary: each stage's own time, the counts, and where the report and Parquet are", () => {
  const config = parseConfig(
    JSON.parse(readFileSync(path.join(REPO_ROOT, 'config/examples/demo.json'), 'utf8')),
  );
  const run = finishedRun();
  const lines = renderRunSummary(run, config);
  // One line of per-stage times, in the order they ran, each its own duration.
  assert.equal(
    lines[0],
    'stages: discover 2.4 s, download 20.2 s, extract 208.4 s, classify 141.0 s, dedup 450.5 s, mix 40.9 s, report 2.0 s',
  );
  // The whole run's time on a stage's line was the bug the issue found on "discover".
  assert.match(
    lines[1] ?? '',
    /^discover: 41 crawls, 82 WET keys listed, 82 selected, 0 rejected, 41 crawls already committed$/,
  );
  // A run from before extraction jobs were grouped: a job per crawl, no extractCrawls.
  assert.ok(
    lines.includes('extract: 79/82 WET records became documents (2 crawls in 2 jobs, on job server)'),
    lines.join('\n'),
  );
  const grouped: BuildMixtureResult = {
    ...run,
    quality: {
      ...run.quality!,
      extract: {
        'CC-MAIN-2016-07-to-CC-MAIN-2018-47': {
          ...run.quality!.filter,
          rowsIn: 82,
          rowsKept: 79,
          ranOn: 'job server',
        },
      },
      extractCrawls: { 'CC-MAIN-2016-07-to-CC-MAIN-2018-47': ['CC-MAIN-2016-07', 'CC-MAIN-2018-47'] },
    },
  };
  assert.ok(
    renderRunSummary(grouped, config).includes(
      'extract: 79/82 WET records became documents (2 crawls in 1 job, on job server)',
    ),
  );
  assert.ok(
    lines.some((l) => /^quality filter \(Pareto, alpha 9\): kept 248\/3120 Common Crawl documents$/.test(l)),
  );
  assert.ok(lines.includes(`  Parquet: ${run.mixture!.data}`));
  assert.ok(lines.includes(`  manifest: ${run.mixture!.manifest}`));
  assert.equal(lines.at(-1), 'report: /runs/reports/demo/report.html (and report.json beside it)');
  // A stage committed by an earlier run says so.
  const again = renderRunSummary({ ...run, dedup: { ...run.dedup!, skipped: true } }, config);
  assert.match(
    again.find((l) => l.startsWith('dedup')) ?? '',
    /^dedup \(MinHashLSH, 10 hashes, 5 bands\): kept \d+\/\d+ documents \(committed earlier\);/,
  );
});
