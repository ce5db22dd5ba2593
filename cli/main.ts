/**
 * The `ccmix` command. Each subcommand is a thin layer over a module that tests call directly.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { ConfigError, configJsonSchema, parseConfig } from '../config/schema';
import { NAMESPACE, RUN_SEARCH_ATTRIBUTE } from '../config/temporal';
import { generateMiniCrawl } from '../core/minicrawl';
import { DEFAULT_CRAWLS } from '../config/crawls';
import {
  loadSettings,
  SERVICE_NAMES,
  servicesDown,
  servicesStatus,
  servicesUp,
  temporalAddress,
  type ServiceName,
  type ServicesSettings,
} from '../infra/services';
import {
  connectClient,
  ENDED_WITHOUT_RESULT,
  failureMessage,
  runStatus,
  startBuildMixture,
  waitForResult,
} from './client';
import { runDemo } from './demo';
import { renderMixture, renderProgress } from './render';
import { runReport } from './report';
import { DEFAULT_RESEND, pauseRun, resumeRun, RunControlError, setDownloadLimits } from './run-controls';
import {
  changeSchedule,
  createSchedule,
  describeSchedule,
  listSchedules,
  OVERLAP_POLICIES,
  renderSchedule,
  ScheduleInputError,
  type OverlapPolicy,
  type ScheduleCommand,
} from './schedule';
import { watchRun } from './watch';
import { runWorker } from './worker';

const USAGE = `ccmix: the GPT-3 training-data pipeline on Temporal and Spark

  ccmix demo [--json]                         services up, miniature crawl, buildMixture, summary
  ccmix services up|down|status [--only mirror,s3,spark,temporal,worker] [--json]
        [--temporal-port N] [--ui-port N] [--mirror-port N] [--s3-port N] [--spark-port N]
        [--mirror-root DIR] [--state-dir DIR]
  ccmix mini-crawl --out DIR [--size N] [--seed S] [--crawls A,B]
  ccmix config validate FILE | ccmix config schema [--out FILE]
  ccmix run --config FILE [--wait] [--json]   start buildMixture (id derives from the config)
  ccmix status [RUN] [--watch | --json]       progress of a run, by default the newest
                                              (--watch: live bars until it ends)
  ccmix list [--json]                         recent runs (also: ccmix runs)
  ccmix report RUN [--json]                   where a finished run's report.html (and report.json) is
  ccmix pause RUN [--json]                    pause a run between activities (confirms the state)
  ccmix resume RUN [--json]                   resume a paused run
  ccmix limits RUN [--concurrency N] [--rate R] [--json]  files in flight, requests/s from the next batch
  ccmix schedule create --config FILE (--cron "0 3 * * *" | --every 24h)... [--id ID]
        [--overlap SKIP|BUFFER_ONE|BUFFER_ALL|CANCEL_OTHER|TERMINATE_OTHER|ALLOW_ALL] [--paused]
  ccmix schedule list | describe ID | pause ID | unpause ID | trigger ID | delete ID  [--json]
  ccmix worker [--address HOST:PORT]          run a worker in the foreground

  --address HOST:PORT overrides the Temporal address (default: the one \`services up\` used)`;

const options = {
  json: { type: 'boolean' },
  wait: { type: 'boolean' },
  watch: { type: 'boolean' },
  only: { type: 'string' },
  out: { type: 'string' },
  size: { type: 'string' },
  seed: { type: 'string' },
  crawls: { type: 'string' },
  config: { type: 'string' },
  concurrency: { type: 'string' },
  rate: { type: 'string' },
  cron: { type: 'string', multiple: true },
  every: { type: 'string', multiple: true },
  id: { type: 'string' },
  overlap: { type: 'string' },
  paused: { type: 'boolean' },
  address: { type: 'string' },
  'temporal-port': { type: 'string' },
  'ui-port': { type: 'string' },
  'mirror-port': { type: 'string' },
  's3-port': { type: 'string' },
  'spark-port': { type: 'string' },
  'state-dir': { type: 'string' },
  'mirror-root': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

class UsageError extends Error {}

function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`--${name} must be a non-negative integer, got ${value}`);
  return n;
}

function settingsFrom(values: Values): ServicesSettings {
  const overrides: Partial<ServicesSettings> = {};
  const ports: [keyof ServicesSettings, string][] = [
    ['temporalPort', 'temporal-port'],
    ['temporalUiPort', 'ui-port'],
    ['mirrorPort', 'mirror-port'],
    ['s3Port', 's3-port'],
    ['sparkServerPort', 'spark-port'],
  ];
  for (const [key, flag] of ports) {
    const port = intOption(values[flag as keyof Values] as string | undefined, flag);
    if (port !== undefined) (overrides as Record<string, number>)[key] = port;
  }
  if (values['mirror-root']) overrides.mirrorRoot = values['mirror-root'];
  if (values['state-dir']) overrides.stateDir = values['state-dir'];
  return loadSettings(overrides);
}

function selectedServices(values: Values): ServiceName[] {
  if (!values.only) return [...SERVICE_NAMES];
  const names = values.only.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !(SERVICE_NAMES as readonly string[]).includes(n));
  if (unknown.length > 0) throw new UsageError(`unknown service(s): ${unknown.join(', ')}`);
  return names as ServiceName[];
}

function temporalAddressFrom(values: Values): string {
  return values.address ?? temporalAddress(loadSettings());
}

function print(values: Values, json: unknown, text: string): void {
  console.log(values.json ? JSON.stringify(json, null, 2) : text);
}

function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read ${file} as JSON: ${(error as Error).message}`);
  }
}

async function services(action: string | undefined, values: Values): Promise<number> {
  const settings = settingsFrom(values);
  const names = selectedServices(values);
  if (action === 'up') {
    const statuses = await servicesUp(settings, names);
    print(
      values,
      statuses,
      statuses.map((s) => `${s.name.padEnd(8)} up  pid ${s.pid}  ${s.address}`).join('\n'),
    );
    return 0;
  }
  if (action === 'down') {
    await servicesDown(settings, names);
    print(values, { stopped: names }, `stopped: ${names.join(', ')}`);
    return 0;
  }
  if (action === 'status') {
    const statuses = (await servicesStatus(settings)).filter((s) => names.includes(s.name));
    const state = (s: (typeof statuses)[number]): string =>
      s.healthy ? 'healthy' : s.starting ? 'starting' : s.running ? 'UNHEALTHY' : 'stopped';
    const lines = statuses.map(
      (s) =>
        `${s.name.padEnd(8)} ${state(s).padEnd(9)} pid ${String(s.pid ?? '-').padEnd(7)} ${s.address}  log ${s.log}`,
    );
    print(values, statuses, lines.join('\n'));
    return statuses.every((s) => s.healthy) ? 0 : 3;
  }
  throw new UsageError('services takes up, down or status');
}

/** The usage lines of one command (with their continuation lines), or all of them. */
export function usageOf(command: string | undefined): string {
  const entries: string[][] = [];
  for (const line of USAGE.split('\n')) {
    if (line.startsWith('  ccmix ')) entries.push([line]);
    else if (line.startsWith('        ')) entries.at(-1)?.push(line);
  }
  const name = command === 'runs' ? 'list' : command;
  const mine = entries.filter((e) => e[0]?.startsWith(`  ccmix ${name} `) || e[0] === `  ccmix ${name}`);
  const footer = USAGE.slice(USAGE.lastIndexOf('\n\n') + 2);
  return mine.length > 0 ? [...mine.flat(), '', footer].join('\n') : USAGE;
}

function parse(
  argv: string[],
): ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true });
  } catch (error) {
    // node's own message, e.g. "Unknown option '--wiat'", as a usage error.
    throw new UsageError(error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error));
  }
}

/** The most recently started buildMixture run: what `ccmix status` shows without a RUN. */
async function newestRun(client: Client): Promise<string> {
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'buildMixture'` }))
    return wf.workflowId;
  throw new UsageError('no buildMixture run on this server yet (start one with `ccmix run`)');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  const [command, sub] = positionals;
  if (values.help || !command) {
    console.log(values.help ? usageOf(command) : USAGE);
    return values.help ? 0 : 2;
  }
  switch (command) {
    case 'services':
      return services(sub, values);
    case 'mini-crawl': {
      if (!values.out) throw new UsageError('mini-crawl needs --out DIR');
      const summary = await generateMiniCrawl({
        outDir: values.out,
        size: intOption(values.size, 'size') ?? 1,
        seed: intOption(values.seed, 'seed') ?? 1,
        crawls: values.crawls ? values.crawls.split(',') : DEFAULT_CRAWLS,
      });
      console.log(JSON.stringify(summary, null, 2));
      return 0;
    }
    case 'config': {
      if (sub === 'schema') {
        const text = JSON.stringify(configJsonSchema(), null, 2) + '\n';
        if (values.out) writeFileSync(values.out, text);
        else process.stdout.write(text);
        return 0;
      }
      if (sub === 'validate' && positionals[2]) {
        const config = parseConfig(readJsonFile(positionals[2]));
        print(values, config, `valid: ${config.name}, ${config.crawls.length} crawls`);
        return 0;
      }
      throw new UsageError('config takes `validate FILE` or `schema`');
    }
    case 'run': {
      if (!values.config) throw new UsageError('run needs --config FILE');
      const client = await connectClient(temporalAddressFrom(values));
      const { workflowId, attached } = await startBuildMixture(client, readJsonFile(values.config));
      const begun = attached ? `attached to ${workflowId}, already running` : `started ${workflowId}`;
      if (!values.wait) {
        print(values, { runId: workflowId, attached }, begun);
        return 0;
      }
      if (!values.json) console.log(begun);
      const result = await waitForResult(
        client,
        workflowId,
        values.json ? undefined : (p) => console.log(renderProgress(p)),
      );
      const manifest = result.mixture?.manifest ?? null;
      print(
        values,
        { runId: workflowId, manifest },
        result.mixture ? renderMixture(result.mixture) : JSON.stringify(result, null, 2),
      );
      return 0;
    }
    case 'status': {
      if (values.watch && values.json)
        throw new UsageError('--watch draws live bars; --json prints one snapshot: choose one');
      const client = await connectClient(temporalAddressFrom(values));
      const run = sub ?? (await newestRun(client));
      const status = values.watch ? await watchRun(client, run) : await runStatus(client, run);
      const failed = status.failure ? `\nfailed: ${status.failure}` : '';
      print(
        values,
        status,
        `${run}: ${status.status}${failed}\n${renderProgress(status.progress, status.downloads, status.sparkLive, status.verifyLive)}`,
      );
      return ENDED_WITHOUT_RESULT.has(status.status) ? 1 : 0;
    }
    case 'report': {
      if (!sub) throw new UsageError('report needs a workflow id (see `ccmix runs`)');
      const files = await runReport(await connectClient(temporalAddressFrom(values)), sub);
      print(values, { runId: sub, ...files }, files.html);
      return 0;
    }
    case 'runs':
    case 'list': {
      const client = await connectClient(temporalAddressFrom(values));
      const runs: { workflowId: string; runId: string; status: string; startTime: string; run: string }[] =
        [];
      for await (const wf of client.workflow.list({ query: `WorkflowType = 'buildMixture'` })) {
        runs.push({
          workflowId: wf.workflowId,
          runId: wf.runId,
          status: wf.status.name,
          startTime: wf.startTime.toISOString(),
          run: String(wf.typedSearchAttributes.get(RUN_SEARCH_ATTRIBUTE) ?? ''),
        });
        if (runs.length >= 50) break;
      }
      print(
        values,
        runs,
        runs.map((r) => `${r.startTime}  ${r.status.padEnd(10)} ${r.workflowId}`).join('\n') || 'no runs',
      );
      return 0;
    }
    case 'schedule':
      return schedule(sub, positionals[2], values);
    case 'pause':
    case 'resume':
    case 'limits':
      return control(command, sub, values);
    case 'worker':
      await runWorker({ address: temporalAddressFrom(values), namespace: NAMESPACE });
      return 0;
    case 'demo':
      return runDemo({ json: values.json ?? false });
    default:
      throw new UsageError(`unknown command ${command} (\`ccmix --help\` lists them)`);
  }
}

async function schedule(action: string | undefined, id: string | undefined, values: Values): Promise<number> {
  const commands = ['describe', 'pause', 'unpause', 'trigger', 'delete'];
  if (!action || !['create', 'list', ...commands].includes(action)) {
    throw new UsageError(`schedule takes create, list, ${commands.join(', ')}`);
  }
  if (action === 'create') {
    if (!values.config) throw new UsageError('schedule create needs --config FILE');
    const overlap = values.overlap ?? 'SKIP';
    if (!(OVERLAP_POLICIES as readonly string[]).includes(overlap)) {
      throw new UsageError(`--overlap must be one of ${OVERLAP_POLICIES.join(', ')}`);
    }
    const config = readJsonFile(values.config);
    const client = await connectClient(temporalAddressFrom(values));
    const scheduleId = await createSchedule(client, {
      config,
      cron: values.cron ?? [],
      every: values.every ?? [],
      overlap: overlap as OverlapPolicy,
      paused: values.paused ?? false,
      ...(values.id ? { scheduleId: values.id } : {}),
    });
    print(values, { scheduleId }, `created schedule ${scheduleId}`);
    return 0;
  }
  if (action === 'list') {
    const all = await listSchedules(await connectClient(temporalAddressFrom(values)));
    print(values, all, all.map(renderSchedule).join('\n') || 'no schedules');
    return 0;
  }
  if (!id) throw new UsageError(`schedule ${action} needs a schedule id (see \`ccmix schedule list\`)`);
  const client = await connectClient(temporalAddressFrom(values));
  if (action === 'describe') {
    const described = await describeSchedule(client, id);
    print(values, described, renderSchedule(described));
    return 0;
  }
  await changeSchedule(client, id, action as ScheduleCommand);
  print(values, { scheduleId: id, done: action }, `${action}: ${id}`);
  return 0;
}

/** pause, resume and limits: the run answers with the state it now holds. */
async function control(
  command: 'pause' | 'resume' | 'limits',
  run: string | undefined,
  values: Values,
): Promise<number> {
  if (!run) throw new UsageError(`${command} needs a workflow id (see \`ccmix list\`)`);
  // Only the form is checked here; the run's validator judges the values.
  const number = (flag: 'concurrency' | 'rate'): number | undefined => {
    const n = values[flag] === undefined ? undefined : Number(values[flag]);
    if (n !== undefined && !Number.isFinite(n))
      throw new UsageError(`--${flag} must be a number, got ${values[flag]}`);
    return n;
  };
  const [maxConcurrentDownloads, maxRequestsPerSecond] = [number('concurrency'), number('rate')];
  if (command === 'limits' && maxConcurrentDownloads === undefined && maxRequestsPerSecond === undefined)
    throw new UsageError('limits needs --concurrency N, --rate R or both');
  const client = await connectClient(temporalAddressFrom(values));
  const resend = { ...DEFAULT_RESEND, onResend: (message: string) => console.error(`ccmix: ${message}`) };
  const state =
    command === 'pause'
      ? await pauseRun(client, run, resend)
      : command === 'resume'
        ? await resumeRun(client, run, resend)
        : await setDownloadLimits(client, run, { maxConcurrentDownloads, maxRequestsPerSecond }, resend);
  const { paused, limits, filesInFlight } = state;
  const asked = limits.maxConcurrentDownloads;
  // A worker older than the field answers without it.
  const files =
    filesInFlight === undefined || filesInFlight === asked
      ? `${asked} files in flight`
      : `${asked} files in flight asked, up to ${filesInFlight} in effect (split over the crawls downloading at once, at least one each)`;
  print(
    values,
    state,
    `${run}: ${paused ? 'paused' : 'running'}; downloads: ${files}, ${limits.maxRequestsPerSecond} requests/s`,
  );
  return 0;
}

export function run(argv: string[]): void {
  main(argv).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof RunControlError) {
        console.error(`ccmix: ${error.message}`);
        process.exit(1);
      }
      if (
        error instanceof UsageError ||
        error instanceof ConfigError ||
        error instanceof ScheduleInputError
      ) {
        console.error(`ccmix: ${error.message}`);
        process.exit(2);
      }
      // One readable line; CCMIX_DEBUG=1 shows the stack.
      const detail = process.env.CCMIX_DEBUG && error instanceof Error ? error.stack : undefined;
      console.error(`ccmix: ${detail ?? failureMessage(error)}`);
      process.exit(1);
    },
  );
}
