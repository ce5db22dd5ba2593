/** The storage interface behaves the same on a local folder and on S3 (the emulator on loopback). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  LocalStorage,
  MULTIPART_PART_BYTES,
  multipartUpload,
  S3Storage,
  s3Client,
  type Storage,
} from '../core/storage';
import { commitStage, readCommitted } from '../core/stage';
import { s3Endpoint } from '../infra/services';
import { startTestServices, tempDir, type TestServices } from './helpers/services';

let services: TestServices;
let opened = 0;
const backends: { name: string; open: () => Storage }[] = [
  { name: 'local', open: () => new LocalStorage(tempDir('storage')) },
  {
    name: 's3',
    open: () =>
      new S3Storage(
        `s3://ccmix-test/runs/${++opened}`,
        s3Client({ endpoint: s3Endpoint(services.settings) }),
      ),
  },
];

before(async () => {
  process.env.AWS_ACCESS_KEY_ID ??= 'testing';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
  services = await startTestServices(['s3']);
  await s3Client({ endpoint: s3Endpoint(services.settings) }).send(
    new CreateBucketCommand({ Bucket: 'ccmix-test' }),
  );
});
after(async () => services?.stop());

test("S3A's directory markers are not listed as files, and a removed tree takes them along", async () => {
  const client = s3Client({ endpoint: s3Endpoint(services.settings) });
  const storage = new S3Storage('s3://ccmix-test/markers', client);
  await storage.write('attempt/data/part-0.parquet', 'rows');
  // What Spark's S3A committer writes for the folders of an output: empty keys ending in `/`.
  for (const key of ['markers/attempt/data/', 'markers/attempt/data/_excluded/']) {
    await client.send(new PutObjectCommand({ Bucket: 'ccmix-test', Key: key, Body: '' }));
  }
  assert.deepEqual(await storage.list('attempt/'), ['attempt/data/part-0.parquet']);
  await storage.removeTree('attempt');
  const left = await client.send(new ListObjectsV2Command({ Bucket: 'ccmix-test', Prefix: 'markers/' }));
  assert.deepEqual(left.Contents ?? [], []);
  client.destroy();
});

test('S3 publishing is a multipart upload, whole or not at all', async () => {
  const client = s3Client({ endpoint: s3Endpoint(services.settings) });
  const dir = tempDir('multipart');
  const file = path.join(dir, 'big.bin');
  const data = Buffer.alloc(2 * MULTIPART_PART_BYTES + 12345, 7);
  data.write('distinct start');
  writeFileSync(file, data);
  assert.equal(await multipartUpload(client, 'ccmix-test', 'multi/big.bin', file), 3);
  const storage = new S3Storage('s3://ccmix-test/multi', client);
  assert.deepEqual(await storage.read('big.bin'), data);
  writeFileSync(file, '');
  assert.equal(await multipartUpload(client, 'ccmix-test', 'multi/empty.bin', file), 1);
  assert.equal((await storage.read('empty.bin')).length, 0);
  client.destroy();
});

for (const backend of backends) {
  describe(`${backend.name} storage`, () => {
    test('write, read, exists, sorted list, remove', async () => {
      const storage = backend.open();
      await storage.write('b/2.txt', 'two');
      await storage.write('b/1.txt', new Uint8Array([1, 2, 3]));
      await storage.write('a.txt', 'a');
      assert.equal((await storage.read('b/2.txt')).toString(), 'two');
      assert.deepEqual([...(await storage.read('b/1.txt'))], [1, 2, 3]);
      assert.equal(await storage.exists('b/1.txt'), true);
      assert.equal(await storage.exists('b/3.txt'), false);
      assert.deepEqual(await storage.list('b/'), ['b/1.txt', 'b/2.txt']);
      assert.deepEqual(await storage.list(''), ['a.txt', 'b/1.txt', 'b/2.txt']);
      await storage.remove('b/1.txt');
      assert.deepEqual(await storage.list('b/'), ['b/2.txt']);
    });

    test('paths that could escape the root are refused', async () => {
      const storage = backend.open();
      for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', './a']) {
        await assert.rejects(storage.write(bad, 'x'), /unsafe storage path/, bad);
      }
    });

    test('a stage counts as done only once its marker is written', async () => {
      const storage = backend.open();
      assert.equal(await readCommitted(storage, 'stage/abc'), null);
      await storage.write('stage/abc/part-0', 'partial');
      assert.equal(
        await readCommitted(storage, 'stage/abc'),
        null,
        'files without _SUCCESS are not committed',
      );
      await commitStage(storage, 'stage/abc', { 'part-0': 'whole' }, { rows: 1 });
      assert.deepEqual(await readCommitted(storage, 'stage/abc'), { rows: 1 });
      assert.equal((await storage.read('stage/abc/part-0')).toString(), 'whole');
    });

    test('readIfPresent: the bytes when present, null when absent', async () => {
      const storage = backend.open();
      await storage.write('present/part-0', 'bytes');
      assert.equal((await storage.readIfPresent('present/part-0'))?.toString(), 'bytes');
      assert.equal(await storage.readIfPresent('present/part-1'), null);
    });

    test('readStream: the bytes in chunks, none of them the whole file', async () => {
      // Before, re-recording a published WET file on S3 read the whole object into memory.
      const storage = backend.open();
      const data = Buffer.alloc(5 * 1024 * 1024 + 7, 'abc');
      await storage.write('big/file', data);
      const chunks: Uint8Array[] = [];
      for await (const chunk of storage.readStream('big/file')) chunks.push(chunk);
      assert.deepEqual(Buffer.concat(chunks), data);
      assert.ok(chunks.length > 1, `${chunks.length} chunk(s)`);
      assert.ok(Math.max(...chunks.map((c) => c.length)) < data.length);
    });

    test('writeIfAbsent: of writers racing on one path exactly one wins, and its bytes stay', async () => {
      const storage = backend.open();
      const contenders = Array.from({ length: 8 }, (_, i) => `attempt ${i}`);
      const won = await Promise.all(contenders.map((c) => storage.writeIfAbsent('stage/race/_SUCCESS', c)));
      assert.equal(won.filter(Boolean).length, 1, `winners: ${JSON.stringify(won)}`);
      const winner = contenders[won.indexOf(true)];
      assert.equal((await storage.read('stage/race/_SUCCESS')).toString(), winner);
      assert.equal(await storage.writeIfAbsent('stage/race/_SUCCESS', 'late'), false);
      assert.equal((await storage.read('stage/race/_SUCCESS')).toString(), winner, 'a loser changes nothing');
      assert.deepEqual(await storage.list('stage/race/'), ['stage/race/_SUCCESS'], 'no temporary file left');
    });
  });
}
