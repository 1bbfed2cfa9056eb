#!/usr/bin/env node
/**
 * The `warmbox` command, installed with the package: `npx warmbox build-image`.
 * Arguments are parsed with Node's own util.parseArgs: strict, so an unknown option is an error.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { buildImage } from '../image/build-image.js';
import { PACKAGE_ROOT } from '../pool/image.js';

const USAGE = `Usage: warmbox <command> [options]

Commands:
  build-image    build the agent image this version of warmbox uses (offline, from Debian)

Options:
  -h, --help     show help for warmbox or for a command
  -v, --version  print warmbox's version
`;

const BUILD_IMAGE_USAGE = `Usage: warmbox build-image [--packages LIST] [--base IMAGE] [--rebuild]

Builds the image that new Sandbox() uses by default, and first warmbox's base image (Debian
bookworm from debootstrap, with python3 and Node 20; needs root and debootstrap). Skips what
is already built, and prints the agent image's tag.

Options:
  --packages LIST  more Debian packages, comma-separated, e.g.
                   python3-numpy,python3-pandas,python3-matplotlib: an image of its own,
                   whose tag (printed) is what new Sandbox({ image }) takes
  --base IMAGE     build on IMAGE (python3 and Node 20) instead, e.g. node:20-bookworm
  --rebuild      build the agent image even if its tag exists
  -h, --help     show this help
`;

/** A mistake on the command line: printed with the usage, exit code 2. */
class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    case '-v':
    case '--version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case 'build-image':
      return buildImageCommand(rest);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

async function buildImageCommand(args: string[]): Promise<number> {
  const { values } = parse({
    args,
    options: {
      base: { type: 'string' },
      packages: { type: 'string' },
      rebuild: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(BUILD_IMAGE_USAGE);
    return 0;
  }
  const tag = await buildImage({
    base: values.base,
    packages: values.packages?.split(',').filter((name) => name !== ''),
    rebuild: values.rebuild,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${tag}\n`);
  return 0;
}

function parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function version(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    if (error instanceof UsageError) {
      process.stderr.write(`warmbox: ${error.message}\n\n${USAGE}`);
      process.exit(2);
    }
    process.stderr.write(`warmbox: ${error.message}\n`);
    process.exit(1);
  },
);
