// A first job: `npm run example`.
import { Sandbox } from '../pool/index.js';

const sandbox = new Sandbox(2);
await sandbox.initialize();
const r = await sandbox.run({
  code: 'result = {"total": sum(data["xs"])}\nprint("hi")',
  data: { xs: [1, 2, 3] },
  timeoutMs: 2000,
});
console.log(r);
await sandbox.close();
