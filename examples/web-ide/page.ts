/**
 * The example web IDE's script: a CodeMirror 6 editor with Python, and one job per run over
 * the service's WebSocket (the wire's ClientMessage and ServerMessage). Bundled at build
 * (examples/web-ide/bundle.mjs), so that the page needs nothing from a CDN.
 */
import { defaultKeymap } from '@codemirror/commands';
import { python } from '@codemirror/lang-python';
import { keymap } from '@codemirror/view';
import { basicSetup, EditorView } from 'codemirror';
import type { ClientMessage, ServerMessage, WireResult } from '../../wire/index.js';
import { ROUTES } from '../../wire/routes.js';

const EXAMPLES: Record<string, string> = {
  'Ask for a name': 'name = input("Your name? ")\nprint(f"Hello, {name}!")\n',
  'A figure': 'import matplotlib.pyplot as plt\n\nxs = range(-10, 11)\nplt.plot(xs, [x * x for x in xs], linewidth=3)\nplt.title("x squared")\nplt.show()\n',
  'A file to download': 'import csv\n\nwith open("squares.csv", "w", newline="") as f:\n    writer = csv.writer(f)\n    writer.writerow(["n", "square"])\n    for n in range(10):\n        writer.writerow([n, n * n])\nprint("wrote squares.csv")\n',
  'An exception': 'def divide(a, b):\n    return a / b\n\nprint(divide(1, 0))\n',
  'A loop to stop': 'import time\n\nfor i in range(1000):\n    print(i, flush=True)\n    time.sleep(0.5)\n',
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const output = $('output');
const status = $('status');
const input = $<HTMLInputElement>('input');
let socket: WebSocket | undefined;

const editor = new EditorView({
  doc: Object.values(EXAMPLES)[0],
  parent: $('editor'),
  extensions: [
    // Before basicSetup's keys, so that Mod-Enter runs rather than inserting a line.
    keymap.of([{ key: 'Mod-Enter', run: () => (run(), true) }]),
    basicSetup,
    keymap.of(defaultKeymap),
    python(),
  ],
});

const picker = $<HTMLSelectElement>('examples');
picker.append(new Option('Examples…', ''), ...Object.keys(EXAMPLES).map((name) => new Option(name, name)));
picker.addEventListener('change', () => {
  const code = EXAMPLES[picker.value];
  if (code !== undefined) editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: code } });
  picker.value = '';
  editor.focus();
});

function append(text: string, kind: 'stdout' | 'stderr' | 'stdin'): void {
  const span = document.createElement('span');
  span.className = kind;
  span.textContent = text;
  output.append(span);
}

function setRunning(running: boolean): void {
  $<HTMLButtonElement>('run').disabled = running;
  $<HTMLButtonElement>('stop').disabled = !running;
  input.disabled = !running;
  $<HTMLButtonElement>('eof').disabled = !running;
  if (running) input.focus();
}

function send(message: ClientMessage): void {
  socket?.send(JSON.stringify(message));
}

function showStatus(text: string, bad: boolean): void {
  status.textContent = text;
  status.classList.toggle('bad', bad);
}

/** The outcome under the output: status line, traceback, figures, returned files. */
function showResult(result: WireResult): void {
  const parts = [result.status, ...(result.exitCode === null ? [] : [`exit ${result.exitCode}`]), ...(result.signal === null ? [] : [result.signal]), `${Math.round(result.durationMs)} ms`];
  showStatus(parts.join(' · '), result.isError);
  if (result.error !== null) {
    const traceback = $('traceback');
    traceback.textContent = result.error.traceback || `${result.error.type}: ${result.error.message}`;
    traceback.hidden = false;
  }
  for (const png of result.figures) {
    const image = document.createElement('img');
    image.alt = 'a figure the program drew';
    image.src = `data:image/png;base64,${png}`;
    $('figures').append(image);
  }
  const files = $('files');
  for (const file of result.files) {
    const link = document.createElement('a');
    link.download = file.path.split('/').at(-1)!;
    link.href = `data:application/octet-stream;base64,${file.base64}`;
    link.textContent = `${file.path} (${file.size} bytes)`;
    const item = document.createElement('li');
    item.append(link);
    files.append(item);
  }
  files.hidden = result.files.length === 0;
}

function run(): void {
  if (socket !== undefined) return;
  output.textContent = '';
  $('traceback').hidden = true;
  $('figures').replaceChildren();
  $('files').replaceChildren();
  showStatus('running…', false);
  setRunning(true);
  const opened = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${ROUTES.ws}`);
  socket = opened;
  opened.onopen = () => send({ type: 'run', job: { code: editor.state.doc.toString(), timeoutMs: 60_000, returnFiles: ['**'] } });
  opened.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as ServerMessage;
    if (message.type === 'stdout' || message.type === 'stderr') append(message.data, message.type);
    else if (message.type === 'result') showResult(message.result);
    else showStatus(`${message.error.code}: ${message.error.message}`, true);
  };
  opened.onclose = () => {
    socket = undefined;
    setRunning(false);
  };
}

$('run').addEventListener('click', run);
// Closing the socket is the service's sign that the client went away: it aborts the job.
$('stop').addEventListener('click', () => {
  socket?.close();
  showStatus('stopped', true);
});
$('input-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const line = `${input.value}\n`;
  append(line, 'stdin');
  send({ type: 'stdin', data: line });
  input.value = '';
});
$('eof').addEventListener('click', () => send({ type: 'stdin_end' }));
