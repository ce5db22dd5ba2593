/** `ccmix services`: real processes with PID files, logs and health checks, on configurable ports. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { servicesDown, servicesStatus } from '../infra/services';
import { startTestServices } from './helpers/services';

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
