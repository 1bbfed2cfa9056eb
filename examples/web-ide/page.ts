/**
 * The example web IDE's script: a notebook. Each cell is a CodeMirror 6 editor with Python;
 * every cell runs in one session (POST /v1/sessions, then its WebSocket: the wire's
 * SessionClientMessage and ServerMessage), so a cell sees what the cells before it made.
 * Stop interrupts the running cell; Restart opens a new session. Bundled at build
 * (examples/web-ide/bundle.mjs), so that the page needs nothing from a CDN.
 */
import { defaultKeymap } from '@codemirror/commands';
import { python } from '@codemirror/lang-python';
import { keymap } from '@codemirror/view';
import { basicSetup, EditorView } from 'codemirror';
import type { ServerMessage, SessionClientMessage, WireResult } from '../../wire/index.js';
import { ROUTES, sessionRoute } from '../../wire/routes.js';

const FIRST_CELLS = [
  'import math\nradius = 2\nprint("radius set")',
  'math.pi * radius ** 2',
];

const EXAMPLES: Record<string, string> = {
  'A figure': 'import matplotlib.pyplot as plt\n\nxs = range(-10, 11)\nplt.plot(xs, [x * x for x in xs], linewidth=3)\nplt.title("x squared")\nplt.show()\n',
  'A table': 'import pandas as pd\n\nframe = pd.DataFrame({"n": range(5), "square": [n * n for n in range(5)]})\nframe\n',
  'A file to download': 'import csv\n\nwith open("squares.csv", "w", newline="") as f:\n    writer = csv.writer(f)\n    writer.writerow(["n", "square"])\n    for n in range(10):\n        writer.writerow([n, n * n])\nprint("wrote squares.csv")\n',
  'A loop to stop': 'import time\n\nfor i in range(1000):\n    print(i, flush=True)\n    time.sleep(0.5)\n',
};

interface Cell {
  readonly root: HTMLElement;
  readonly editor: EditorView;
  readonly output: HTMLElement;
  readonly result: HTMLElement;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const notebook = $('cells');
const status = $('status');
const cells: Cell[] = [];
/** The cells sent and not answered yet, in order: the session answers them in that order. */
const waiting: Cell[] = [];
let session: Promise<{ readonly id: string; readonly socket: WebSocket }> | undefined;

function showStatus(text: string, bad = false): void {
  status.textContent = text;
  status.classList.toggle('bad', bad);
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text = ''): HTMLElementTagNameMap[K] {
  const made = document.createElement(tag);
  made.className = className;
  made.textContent = text;
  return made;
}

function addCell(code = '', after?: Cell): Cell {
  const root = element('section', 'cell');
  const gutter = element('div', 'gutter', '[ ]');
  const runButton = element('button', 'run-cell', '▶');
  runButton.title = 'Run this cell (Shift+Enter)';
  const body = element('div', 'body');
  const editorParent = element('div', 'editor');
  const output = element('pre', 'output');
  const result = element('div', 'result');
  body.append(editorParent, output, result);
  root.append(element('div', 'side'), body);
  root.firstElementChild!.append(gutter, runButton);
  const cell: Cell = {
    root,
    output,
    result,
    editor: new EditorView({
      doc: code,
      parent: editorParent,
      extensions: [
        // Before basicSetup's keys, so that these run rather than insert a line.
        keymap.of([
          { key: 'Shift-Enter', run: () => (runAndAdvance(cell), true) },
          { key: 'Mod-Enter', run: () => (run(cell), true) },
        ]),
        basicSetup,
        keymap.of(defaultKeymap),
        python(),
      ],
    }),
  };
  runButton.addEventListener('click', () => run(cell));
  const index = after === undefined ? cells.length : cells.indexOf(after) + 1;
  cells.splice(index, 0, cell);
  notebook.insertBefore(root, cells[index + 1]?.root ?? null);
  return cell;
}

function runAndAdvance(cell: Cell): void {
  run(cell);
  const next = cells[cells.indexOf(cell) + 1] ?? addCell('', cell);
  next.editor.focus();
}

/** The page's session: opened on the first run, and again after a restart. */
function openSession(): Promise<{ readonly id: string; readonly socket: WebSocket }> {
  session ??= (async () => {
    showStatus('opening a session…');
    const answer = await fetch(ROUTES.sessions, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const body = (await answer.json()) as { id?: string; message?: string };
    if (body.id === undefined) throw new Error(body.message ?? `the service answered ${answer.status}`);
    const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${sessionRoute(ROUTES.sessionWs, body.id)}`);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error('the session\'s WebSocket did not open'));
    });
    socket.onmessage = (event) => receive(JSON.parse(String(event.data)) as ServerMessage);
    socket.onclose = () => {
      // Cells still waiting will get no answer from this session.
      for (const cell of waiting.splice(0)) finish(cell, 'not run: the session closed', true);
    };
    showStatus('session open');
    return { id: body.id, socket };
  })();
  session.catch((error: Error) => {
    session = undefined;
    showStatus(error.message, true);
  });
  return session;
}

function run(cell: Cell): void {
  cell.output.replaceChildren();
  cell.result.replaceChildren();
  cell.root.classList.add('queued');
  cell.root.querySelector('.gutter')!.textContent = '[*]';
  waiting.push(cell);
  const message: SessionClientMessage = { type: 'run', cell: { code: cell.editor.state.doc.toString(), timeoutMs: 60_000, returnFiles: ['**/*.csv', '**/*.txt', '**/*.json', '**/*.png'] } };
  openSession().then(
    ({ socket }) => socket.send(JSON.stringify(message)),
    () => finish(cell, 'not run: no session', true),
  );
}

let counter = 0;

function finish(cell: Cell, text: string, bad: boolean): void {
  cell.root.classList.remove('queued');
  cell.root.querySelector('.gutter')!.textContent = bad ? '[!]' : `[${++counter}]`;
  const line = element('div', `status${bad ? ' bad' : ''}`, text);
  cell.result.prepend(line);
}

function receive(message: ServerMessage): void {
  const cell = waiting[0];
  if (cell === undefined) return;
  if (message.type === 'stdout' || message.type === 'stderr') {
    cell.output.append(element('span', message.type, message.data));
    return;
  }
  waiting.shift();
  if (message.type === 'error') return finish(cell, `${message.error.code}: ${message.error.message}`, true);
  showResult(cell, message.result);
}

/** A cell's outcome under its output: its status, traceback, value, figures, files. */
function showResult(cell: Cell, result: WireResult): void {
  const parts = [result.status, `${Math.round(result.durationMs)} ms`, ...(result.sessionEnded ? ['the session ended: restart'] : [])];
  finish(cell, parts.join(' · '), result.isError);
  if (result.error !== null) cell.result.append(element('pre', 'traceback', result.error.traceback || `${result.error.type}: ${result.error.message}`));
  const value = result.value;
  if (value !== null && value !== undefined) {
    const shown = element('div', 'value');
    if (value.png !== undefined) shown.append(image(value.png, 'the value: a figure'));
    else if (value.html !== undefined) shown.append(sandboxedHtml(value.html));
    else shown.append(element('pre', 'repr', value.repr));
    cell.result.append(shown);
  }
  for (const png of result.figures) cell.result.append(image(png, 'a figure the cell drew'));
  if (result.files.length > 0) {
    const files = element('ul', 'files');
    for (const file of result.files) {
      const link = element('a', '', `${file.path} (${file.size} bytes)`);
      link.download = file.path.split('/').at(-1)!;
      link.href = `data:application/octet-stream;base64,${file.base64}`;
      const item = element('li', '');
      item.append(link);
      files.append(item);
    }
    cell.result.append(files);
  }
}

/**
 * HTML a cell's value offers (a DataFrame's table) in a sandboxed frame: it is the untrusted
 * program's, and could carry a script or an `onerror`. The frame has no scripts and an origin
 * of its own, so whatever it holds cannot reach this page, its session or its token.
 */
function sandboxedHtml(html: string): HTMLIFrameElement {
  const frame = element('iframe', 'html');
  frame.setAttribute('sandbox', '');
  frame.title = 'the value, as HTML';
  // Its content cannot be measured from here (another origin): sized by its rows, then resizable.
  const rows = html.match(/<tr/g)?.length ?? 4;
  frame.style.height = `${Math.min(400, 16 + 24 * rows)}px`;
  frame.srcdoc = `<!doctype html><style>body{font:13px system-ui,sans-serif;margin:0}table{border-collapse:collapse}th,td{border:1px solid #d8dbe0;padding:.15rem .5rem;text-align:right}</style>${html}`;
  return frame;
}

function image(png: string, alt: string): HTMLImageElement {
  const made = element('img', 'figure');
  made.alt = alt;
  made.src = `data:image/png;base64,${png}`;
  return made;
}

async function restart(): Promise<void> {
  const closing = session;
  session = undefined;
  counter = 0;
  for (const cell of cells) cell.root.querySelector('.gutter')!.textContent = '[ ]';
  if (closing !== undefined) {
    const { id, socket } = await closing.catch(() => ({ id: undefined, socket: undefined }));
    socket?.close();
    if (id !== undefined) await fetch(sessionRoute(ROUTES.session, id), { method: 'DELETE' }).catch(() => {});
  }
  showStatus('restarted: a new session opens on the next run');
}

$('run-all').addEventListener('click', () => cells.forEach(run));
$('add').addEventListener('click', () => addCell('', cells.at(-1)).editor.focus());
$('stop').addEventListener('click', () => void session?.then(({ socket }) => socket.send(JSON.stringify({ type: 'interrupt' } satisfies SessionClientMessage))));
$('restart').addEventListener('click', () => void restart());
const picker = $<HTMLSelectElement>('examples');
picker.append(new Option('Add an example…', ''), ...Object.keys(EXAMPLES).map((name) => new Option(name, name)));
picker.addEventListener('change', () => {
  const code = EXAMPLES[picker.value];
  if (code !== undefined) addCell(code, cells.at(-1)).editor.focus();
  picker.value = '';
});
for (const code of FIRST_CELLS) addCell(code);
