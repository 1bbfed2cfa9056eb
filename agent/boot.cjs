// The agent's entry point in the image. It runs the bundled agent (agent.cjs) through a
// vm.Script with V8's code cache (agent.cjs.cache), so a container starts with Fastify and the
// agent already compiled instead of parsing and compiling them again.
//
//   node boot.cjs                      start the agent
//   node boot.cjs --write-code-cache   at image build: warm up, then write the cache
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { join } = require('node:path');
const { Script } = require('node:vm');

const file = join(__dirname, 'agent.cjs');
const cacheFile = `${file}.cache`;
const writing = process.argv.includes('--write-code-cache');

let cachedData;
if (!writing) {
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // No cache: V8 compiles as usual.
  }
}
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
const agent = { exports: {} };
script.runInThisContext()(agent.exports, require, agent, file, __dirname);

if (writing) {
  agent.exports.warmUpForCodeCache().then(
    () => writeFileSync(cacheFile, script.createCachedData()),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  agent.exports.main();
}
