/** Real local services for integration tests, on free ports, in a temporary state folder. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { connectClient } from '../../cli/client';
import { createWorker, type WorkerOptions } from '../../cli/worker';
import { freeLocalPort } from '../../core/net';
import {
  DEFAULT_SETTINGS,
  mirrorUrl,
  servicesDown,
  servicesUp,
  temporalAddress,
  type ServiceName,
  type ServicesSettings,
} from '../../infra/services';

export interface TestServices {
  settings: ServicesSettings;
  stop(): Promise<void>;
}

/**
 * Ports are picked free and then bound by another process, so a start can lose a race for one
 * (the dev server binds several random ports of its own): try again with new ports.
 */
export async function startTestServices(names: ServiceName[], mirrorRoot?: string): Promise<TestServices> {
  for (let attempt = 1; ; attempt++) {
    const stateDir = mkdtempSync(path.join(tmpdir(), 'ccmix-services-'));
    const settings: ServicesSettings = {
      ...DEFAULT_SETTINGS,
      stateDir,
      temporalPort: await freeLocalPort(),
      temporalUiPort: await freeLocalPort(),
      mirrorPort: await freeLocalPort(),
      s3Port: await freeLocalPort(),
      mirrorRoot: mirrorRoot ?? stateDir,
    };
    try {
      await servicesUp(settings, names);
      return {
        settings,
        async stop() {
          await servicesDown(settings, names);
          rmSync(stateDir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      await servicesDown(settings, names);
      rmSync(stateDir, { recursive: true, force: true });
      if (attempt >= 3 || !/EADDRINUSE|address already in use/i.test(String(error))) throw error;
    }
  }
}

/** Sets the mirror's fault injection (`{}` turns it off). */
export async function setMirrorFaults(settings: ServicesSettings, faults: object): Promise<void> {
  const response = await fetch(`${mirrorUrl(settings)}_mirror/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });
  if (response.status !== 200) throw new Error(`mirror faults: ${response.status} ${await response.text()}`);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `ccmix-${prefix}-`));
}

/**
 * Warnings and errors only, each on one line without its stack: tests fail runs and activities
 * on purpose, and their results say what went wrong.
 */
export function quietLogger(): DefaultLogger {
  return new DefaultLogger('WARN', (entry: LogEntry) => {
    const meta = entry.meta ?? {};
    const what = [meta.workflowType, meta.activityType, meta.workflowId].filter(Boolean).join(' ');
    const error = meta.error instanceof Error ? `: ${meta.error.message.split('\n')[0]}` : '';
    process.stderr.write(`[${entry.level}] ${entry.message}${what ? ` (${what})` : ''}${error}\n`);
  });
}

let quietRuntimeInstalled = false;

/** Keeps test output readable: the in-process worker logs through `quietLogger`. */
export function quietTemporalRuntime(): void {
  if (quietRuntimeInstalled) return;
  quietRuntimeInstalled = true;
  Runtime.install({ logger: quietLogger() });
}

/** Starts an in-process ccmix worker on the test's Temporal server; returns how to stop it. */
async function runTestWorker(
  settings: ServicesSettings,
  activities?: WorkerOptions['activities'],
): Promise<() => Promise<void>> {
  const { worker } = await createWorker({
    address: temporalAddress(settings),
    ...(activities ? { activities } : {}),
  });
  const running = worker.run();
  return async () => {
    worker.shutdown();
    await running;
  };
}

export interface TestStack {
  services: TestServices;
  client: Client;
  /** Shuts the worker down (its runs wait for another); a no-op if none is running. */
  stopWorker(): Promise<void>;
  /** Starts a worker again after `stopWorker`; a no-op if one is running. */
  startWorker(): Promise<void>;
  stop(): Promise<void>;
}

/** Real services on free ports, an in-process worker that logs warnings only, and a client. */
export async function startTestStack(
  names: ServiceName[],
  mirrorRoot?: string,
  activities?: WorkerOptions['activities'],
): Promise<TestStack> {
  quietTemporalRuntime();
  const services = await startTestServices(names, mirrorRoot);
  let client: Client | undefined;
  let stopRunning: (() => Promise<void>) | undefined;
  try {
    client = await connectClient(temporalAddress(services.settings));
    stopRunning = await runTestWorker(services.settings, activities);
  } catch (error) {
    await client?.connection.close();
    await services.stop();
    throw error;
  }
  const stopWorker = async (): Promise<void> => {
    await stopRunning?.();
    stopRunning = undefined;
  };
  return {
    services,
    client,
    stopWorker,
    async startWorker() {
      stopRunning ??= await runTestWorker(services.settings, activities);
    },
    async stop() {
      await stopWorker();
      await client.connection.close();
      await services.stop();
    },
  };
}
