import { UsageError } from '../errors.js';
import { clientFrom, COMMON_HELP, parse, writeJson } from '../options.js';
import { EXIT, type Command } from './command.js';

const HELP = `Usage: media-ingest libraries [list]
       media-ingest libraries show <idOrName>
       media-ingest libraries create <name> [--dedupe reject|reuse|allow] [--preset <name>]… [--max-upload <bytes>]

Lists, shows (with its resource count) and creates libraries.

Options (create):
  --dedupe <policy>    what an upload of bytes the library already holds does:
                       reject (refused, the default), reuse (answers the existing resource), allow
  --preset <name>      a rendition preset to pre-render (repeatable)
  --max-upload <bytes> largest file this library accepts

${COMMON_HELP}

Examples:
  media-ingest libraries
  media-ingest libraries show photos --json
  media-ingest libraries create holidays --dedupe reuse
`;

interface LibraryView {
  id: number;
  name: string;
  dedupe: string;
  presets: unknown[];
  maxUploadBytes: number | null;
  resourceCount?: number;
}

export const librariesCommand: Command = {
  name: 'libraries',
  summary: 'list, show and create libraries',
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parse(args, {
      dedupe: { type: 'string' },
      preset: { type: 'string', multiple: true, default: [] },
      'max-upload': { type: 'string' },
    });
    if (values.help) {
      io.stdout.write(HELP);
      return EXIT.ok;
    }
    const [action = 'list', name, ...extra] = positionals;
    if (extra.length) throw new UsageError(`Unexpected argument "${extra[0]}".`);
    const client = clientFrom(values, io);
    try {
      if (action === 'list') {
        const { data } = await client.call<{ libraries: LibraryView[] }>('GET', '/v1/libraries');
        if (values.json) for (const l of data.libraries) writeJson(io, l);
        else {
          io.stdout.write(`${'id'.padStart(5)}  ${'name'.padEnd(24)} dedupe  presets\n`);
          for (const l of data.libraries)
            io.stdout.write(`${String(l.id).padStart(5)}  ${l.name.padEnd(24)} ${l.dedupe.padEnd(7)} ${presetNames(l.presets)}\n`);
        }
        return EXIT.ok;
      }
      if (action === 'show') {
        if (!name) throw new UsageError('Expected the library to show: media-ingest libraries show <idOrName>.');
        const { data } = await client.call<LibraryView>('GET', `/v1/libraries/${encodeURIComponent(name)}`);
        if (values.json) writeJson(io, data);
        else io.stdout.write(describe(data));
        return EXIT.ok;
      }
      if (action === 'create') {
        if (!name) throw new UsageError('Expected a name: media-ingest libraries create <name>.');
        const body: Record<string, unknown> = { name };
        if (values.dedupe !== undefined) body.dedupe = values.dedupe;
        if (values.preset.length) body.presets = values.preset;
        if (values['max-upload'] !== undefined) body.maxUploadBytes = Number(values['max-upload']);
        // Not retried: a create whose answer was lost would come back as "name taken".
        const { data } = await client.call<LibraryView>('POST', '/v1/libraries', { json: body, retry: false });
        if (values.json) writeJson(io, data);
        else io.stdout.write(`created library ${data.id} "${data.name}" (dedupe: ${data.dedupe})\n`);
        return EXIT.ok;
      }
      throw new UsageError(`Unknown action "${action}": expected list, show or create.`);
    } finally {
      client.close();
    }
  },
};

function presetNames(presets: unknown[]): string {
  return presets.map((p) => (typeof p === 'string' ? p : ((p as { name?: string }).name ?? '?'))).join(', ') || '(global set)';
}

function describe(l: LibraryView): string {
  return [
    `library ${l.id} "${l.name}"`,
    `  dedupe:     ${l.dedupe}`,
    `  presets:    ${presetNames(l.presets)}`,
    `  max upload: ${l.maxUploadBytes ?? '(global limit)'}`,
    ...(l.resourceCount !== undefined ? [`  resources:  ${l.resourceCount}`] : []),
    '',
  ].join('\n');
}
