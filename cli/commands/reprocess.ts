import { setTimeout as sleep } from 'node:timers/promises';
import { ProblemError, UsageError } from '../errors.js';
import { duration } from '../format.js';
import { clientFrom, COMMON_HELP, parse, writeJson, type CliIo } from '../options.js';
import { EXIT, type Command } from './command.js';

const HELP = `Usage: media-ingest reprocess <resourceId>… [--reread] [--renditions] [--wait]
       media-ingest reprocess --library <idOrName> | --all [--include-current] [--reread] [--renditions] [--wait]
       media-ingest reprocess --cancel <batchId>

Processes stored originals again, with no new upload: re-applies the current field
mappings (from the stored tags, or re-reading the file with --reread) and optionally
renders the renditions again. One resource at a time, or in bulk for a library or
everything — a bulk run is a batch on the server that can be watched and cancelled.

Options:
      --library <id>      every resource of this library (a batch)
      --all               every resource of every library (a batch)
      --include-current   in bulk, also resources already processed with the current mappings
      --reread            read the metadata from the original again (exiftool) instead of the stored tags
      --renditions        render the renditions again too
  -w, --wait              wait until done: for a batch, a progress line until it completes
      --cancel <batchId>  cancel a running batch

${COMMON_HELP}

Examples:
  media-ingest reprocess 42 43 --reread --wait
  media-ingest reprocess --library photos --wait
  media-ingest reprocess --all --include-current --renditions
  media-ingest reprocess --cancel 3
`;

export const reprocessCommand: Command = {
  name: 'reprocess',
  summary: 'process stored files again after a mapping change (one, a library, or all)',
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parse(args, {
      library: { type: 'string' },
      all: { type: 'boolean', default: false },
      'include-current': { type: 'boolean', default: false },
      reread: { type: 'boolean', default: false },
      renditions: { type: 'boolean', default: false },
      wait: { type: 'boolean', short: 'w', default: false },
      cancel: { type: 'string' },
    });
    if (values.help) {
      io.stdout.write(HELP);
      return EXIT.ok;
    }
    const bulk = values.library !== undefined || values.all;
    const modes = [positionals.length > 0, bulk, values.cancel !== undefined].filter(Boolean).length;
    if (modes !== 1 || (values.library !== undefined && values.all)) {
      throw new UsageError('Name resource ids, or one of --library <idOrName> / --all, or --cancel <batchId> — exactly one of them.');
    }
    const client = clientFrom(values, io);
    try {
      if (values.cancel !== undefined) {
        const { data } = await client.call<Batch>('DELETE', `/v1/batches/${encodeURIComponent(values.cancel)}`, { retry: false });
        if (values.json) writeJson(io, data);
        else io.stdout.write(`batch ${data.id}: ${data.state}\n`);
        return EXIT.ok;
      }
      if (bulk) {
        const body = {
          ...(values.all ? { all: true } : { library: values.library }),
          staleOnly: !values['include-current'],
          reread: values.reread,
          renditions: values.renditions,
        };
        // Not retried: a lost answer would start a second batch.
        const { data } = await client.call<Batch>('POST', '/v1/reprocess', { json: body, retry: false });
        if (!values.wait) {
          if (values.json) writeJson(io, data);
          else
            io.stdout.write(
              `batch ${data.id} started (${data.total}${data.totalIsEstimate ? ' estimated' : ''} resources); follow it with: media-ingest status --batch ${data.id}\n`,
            );
          return EXIT.ok;
        }
        const final = await watchBatch(client, data.id, io, values.json);
        return final.failed > 0 || final.state === 'cancelled' ? EXIT.failed : EXIT.ok;
      }
      let failed = 0;
      for (const id of positionals) {
        if (!/^\d+$/.test(id)) throw new UsageError(`Expected resource ids (numbers) but received "${id}".`);
        const query = values.wait ? '?wait=60' : '';
        try {
          const res = await client.call<{ jobId?: string }>('POST', `/v1/resources/${id}/reprocess${query}`, {
            json: { reread: values.reread, renditions: values.renditions },
          });
          const state = res.status === 204 ? 'done' : 'queued';
          if (values.json) writeJson(io, { id: Number(id), status: state, ...(res.data?.jobId ? { jobId: res.data.jobId } : {}) });
          else io.stdout.write(`resource ${id}: ${state}${res.data?.jobId ? ` (job ${res.data.jobId})` : ''}\n`);
        } catch (err) {
          if (!(err instanceof ProblemError) || err.status === 401) throw err;
          failed++;
          if (values.json) writeJson(io, { id: Number(id), status: 'failed', reason: err.detail, httpStatus: err.status });
          else io.stderr.write(`resource ${id}: failed — ${err.detail}\n`);
        }
      }
      return failed ? EXIT.failed : EXIT.ok;
    } finally {
      client.close();
    }
  },
};

interface Batch {
  id: number;
  state: string;
  total: number;
  totalIsEstimate: boolean;
  done: number;
  failed: number;
  skipped: number;
  percent: number;
  eta: { seconds: number } | null;
}

/** Polls the batch once a second until it is no longer running; a line per change (or per poll with --json). */
async function watchBatch(client: ReturnType<typeof clientFrom>, id: number, io: CliIo, json: boolean): Promise<Batch> {
  let last = '';
  for (;;) {
    const { data } = await client.call<Batch>('GET', `/v1/batches/${id}`);
    const line = `batch ${id}: ${data.state} ${data.percent}% — ${data.done} done, ${data.failed} failed, ${data.skipped} skipped of ${data.total}${data.totalIsEstimate ? '~' : ''}${data.eta ? `, ETA ${duration(data.eta.seconds)}` : ''}`;
    if (json) writeJson(io, data);
    else if (line !== last) io.stdout.write(`${io.tty ? '\r\x1b[2K' : ''}${line}${io.tty ? '' : '\n'}`);
    last = line;
    if (data.state !== 'running' && data.state !== 'paused') {
      if (!json && io.tty) io.stdout.write('\n');
      return data;
    }
    await sleep(1000, undefined, { signal: io.signal });
  }
}
