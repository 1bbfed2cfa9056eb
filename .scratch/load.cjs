const { Script } = require('node:vm'); const fs = require('node:fs'); const Module = require('node:module');
const t0 = performance.now();
const file = __dirname + '/fastify.cjs';
const source = fs.readFileSync(file, 'utf8');
let cachedData; if (process.argv[2] === 'use') { try { cachedData = fs.readFileSync(file + '.cache'); } catch {} }
const script = new Script(Module.wrap(source), { filename: file, cachedData });
const m = { exports: {} };
script.runInThisContext()(m.exports, require, m, file, __dirname);
const app = m.exports({ logger: false }); app.get('/', async () => 'x');
app.ready().then(() => {
  const t1 = performance.now();
  console.log(process.argv[2] ?? 'none', 'rejected' , script.cachedDataRejected, (t1 - t0).toFixed(1), 'process', t1.toFixed(1));
  if (process.argv[2] === 'make') fs.writeFileSync(file + '.cache', script.createCachedData());
});
