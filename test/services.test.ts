/** `ccmix services`: real processes with PID files, logs and health checks, on configurable ports. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { sparkJobsCodeVersion } from '../core/spark/code';
import type { JobServerHealth } from '../core/spark/launch';
import {
  DEFAULT_SETTINGS,
  servicesDown,
  servicesStatus,
  startService,
  type ServicesSettings,
} from '../infra/services';
import { ccmix } from './helpers/cli';
import { startTestServices, tempDir } from './helpers/services';
import { canReadSockets, isLoopback, listeners, listenersOf } from './helpers/sockets';

/** Every port the service's processes listen on is loopback, per the kernel, not the settings. */
function assertLoopbackOnly(settings: ServicesSettings, name: string, ports: number[]): void {
  if (!canReadSockets()) return; // not Linux: the test says so once, below
  const pid = Number(readFileSync(path.join(settings.stateDir, `${name}.pid`), 'utf8').trim());
  const open = listenersOf(pid);
  const listening = new Set(open.map((l) => l.port));
  for (const port of ports) assert.ok(listening.has(port), `${name} (pid ${pid}) listens on ${port}`);
  assert.deepEqual(
    open.filter((l) => !isLoopback(l.address)),
    [],
    `${name} listens beyond loopback`,
  );
}

test('temporal and s3 come up healthy, report status, and go down', async () => {
  const services = await startTestServices(['temporal', 's3']);
  const { settings } = services;
  try {
    const up = await servicesStatus(settings);
    const byName = new Map(up.map((s) => [s.name, s]));
    for (const name of ['temporal', 's3'] as const) {
      const status = byName.get(name);
      assert.ok(status?.running && status.healthy, `${name} healthy: ${JSON.stringify(status)}`);
      assert.ok(existsSync(path.join(settings.stateDir, `${name}.pid`)));
      assert.ok(existsSync(status.log));
    }
    assert.match(byName.get('temporal')?.address ?? '', new RegExp(`:${settings.temporalPort} `));
    assert.equal(byName.get('mirror')?.running, false);
    // Bound to loopback with the default host: the dev server (frontend, UI and its internal
    // ports) and the S3 emulator.
    assert.equal(settings.host, DEFAULT_SETTINGS.host);
    assertLoopbackOnly(settings, 'temporal', [settings.temporalPort, settings.temporalUiPort]);
    assertLoopbackOnly(settings, 's3', [settings.s3Port]);
    // The Web UI answers on its own port.
    const ui = await fetch(`http://${settings.host}:${settings.temporalUiPort}/`);
    assert.equal(ui.status, 200);
    await ui.arrayBuffer();

    const pid = byName.get('temporal')?.pid ?? 0;
    await servicesDown(settings, ['temporal', 's3']);
    const down = await servicesStatus(settings);
    assert.ok(down.every((s) => !s.running && !s.healthy));
    assert.throws(() => process.kill(pid, 0), 'the process is gone');
  } finally {
    await services.stop();
  }
});

test('the mirror and the shared Spark job server bind to loopback', async (t) => {
  if (!canReadSockets()) {
    t.skip('no /proc/net/tcp: the socket checks need Linux');
    return;
  }
  assert.equal(DEFAULT_SETTINGS.host, '127.0.0.1');
  const services = await startTestServices(['mirror']);
  try {
    assertLoopbackOnly(services.settings, 'mirror', [services.settings.mirrorPort]);
  } finally {
    await services.stop();
  }
  // The test command's job server (infra/test.sh starts it with the default host), when present.
  const server = process.env.CCMIX_SPARK_SERVER;
  if (server) {
    const port = Number(new URL(server).port);
    const http = listeners().find((l) => l.port === port);
    assert.ok(http, `the job server listens on ${port}`);
    assert.ok(isLoopback(http.address), `the job server's port ${port} is on loopback`);
  }
});

test('a job server whose Spark is starting shows as starting, and services up waits for it', async () => {
  // The job server takes its port before it starts Spark and answers 503 until Spark is up
  // (spark_jobs/server.py, tested in pytest); a stand-in on loopback answers as it does, and a
  // sleeping process of its own group stands in for its PID.
  let health: JobServerHealth | null = null;
  let requests = 0;
  const server = createServer((_request, response) => {
    requests += 1;
    response.writeHead(health ? 200 : 503, { 'content-type': 'application/json' });
    response.end(JSON.stringify(health ?? { error: 'Spark is starting' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sleeper = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  const stateDir = tempDir('status');
  const settings = { ...DEFAULT_SETTINGS, stateDir, sparkServerPort: (server.address() as AddressInfo).port };
  writeFileSync(
    path.join(stateDir, 'state.json'),
    JSON.stringify({ sparkServerPort: settings.sparkServerPort }),
  );
  writeFileSync(path.join(stateDir, 'spark.pid'), `${sleeper.pid}\n`);
  const spark = async () => {
    const status = (await servicesStatus(settings)).find((s) => s.name === 'spark');
    return { running: status?.running, healthy: status?.healthy, starting: status?.starting };
  };
  try {
    assert.deepEqual(await spark(), { running: true, healthy: false, starting: true });
    const cli = await ccmix(['services', 'status', '--only', 'spark', '--state-dir', stateDir]);
    assert.match(cli.stdout, /^spark +starting /, cli.stdout);
    assert.equal(cli.code, 3, 'not healthy yet');
    // `services up` now waits for that start instead of stopping it and starting a JVM again.
    const asked = requests;
    const up = startService('spark', settings, 30_000);
    // Healthy only once it has seen the start (a 503), so the wait is what the test sees.
    while (requests === asked) await new Promise((resolve) => setTimeout(resolve, 20));
    health = {
      code_version: sparkJobsCodeVersion(),
      pid: 0,
      master: 'local[2]',
      cores: 2,
      driver_memory: '4g',
      jobs_running: 0,
    };
    const status = await up;
    assert.equal(status.healthy, true);
    assert.equal(status.pid, sleeper.pid, 'the same process: nothing was stopped or started');
    assert.deepEqual(await spark(), { running: true, healthy: true, starting: undefined });
  } finally {
    await servicesDown(settings, ['spark']); // whatever its PID file names: the sleeper, or a JVM
    sleeper.kill();
    server.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
