#!/usr/bin/env node
// Entry point of the `ccmix` command: runs the compiled CLI (npm run setup builds it).
const path = require('node:path');
const fs = require('node:fs');
const main = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (!fs.existsSync(main)) {
  console.error('ccmix: not built yet; run `npm run setup` (bash infra/setup.sh) first');
  process.exit(2);
}
// Downloads gunzip each file in flight in libuv's threadpool (4 threads by default, shared with
// file I/O): at the default 16 files in flight, 4 threads held decoding to 4 files at a time.
process.env.UV_THREADPOOL_SIZE ??= '16';
require(main).run(process.argv.slice(2));
