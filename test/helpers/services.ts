/** Real local services for integration tests, on free ports, in a temporary state folder. */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import {
  DEFAULT_SETTINGS,
  servicesDown,
  servicesUp,
  type ServiceName,
  type ServicesSettings,
} from '../../infra/services';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface TestServices {
  settings: ServicesSettings;
  stop(): Promise<void>;
}

export async function startTestServices(names: ServiceName[], mirrorRoot?: string): Promise<TestServices> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'ccmix-services-'));
  const settings: ServicesSettings = {
    ...DEFAULT_SETTINGS,
    stateDir,
    temporalPort: await freePort(),
    temporalUiPort: await freePort(),
    mirrorPort: await freePort(),
    s3Port: await freePort(),
    mirrorRoot: mirrorRoot ?? stateDir,
  };
  try {
    await servicesUp(settings, names);
  } catch (error) {
    await servicesDown(settings, names);
    throw error;
  }
  return {
    settings,
    async stop() {
      await servicesDown(settings, names);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `ccmix-${prefix}-`));
}

/** Keeps test output readable: the worker logs warnings and errors only. */
export function quietTemporalRuntime(): void {
  Runtime.install({ logger: new DefaultLogger('WARN') });
}
