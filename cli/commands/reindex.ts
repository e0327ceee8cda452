import { clientFrom, COMMON_HELP, int, parse, writeJson } from '../options.js';
import { EXIT, type Command } from './command.js';

const HELP = `Usage: media-ingest reindex [--from <shard>] [--shards <n>]

Rebuilds the server's catalog (Redis) from the JSON records kept in object storage
next to every original: libraries, resources, the per-library indexes, the checksum
index and the id sequences. Use it after Redis lost its data. Safe to run on a
healthy catalog and to run twice: what Redis holds already is left as it is.
Resources still marked "processing" get their processing job queued again.

Storage is read shard by shard (4096 shards), a range per request; if the run is
interrupted, continue with --from <the last shard printed>.

Options:
      --from <shard>   first shard, 0-4095 (default 0; libraries are restored by the run that starts at 0)
      --shards <n>     shards per request (default 256, at most 512)

${COMMON_HELP}

Examples:
  media-ingest reindex
  media-ingest reindex --from 2048 --json
`;

interface Page {
  fromShard: number;
  nextShard: number | null;
  shardCount: number;
  resources: { restored: number; unchanged: number; unreadable: number; requeued: number };
  libraries: { restored: number; unchanged: number; conflicts: string[]; placeholders: number[] };
}

export const reindexCommand: Command = {
  name: 'reindex',
  summary: 'rebuild the catalog (Redis) from the records in object storage',
  help: HELP,
  async run(args, io) {
    const { values } = parse(args, { from: { type: 'string' }, shards: { type: 'string' } });
    if (values.help) {
      io.stdout.write(HELP);
      return EXIT.ok;
    }
    const shards = int(values.shards, 'shards', 256, 1, 512);
    let from: number | null = int(values.from, 'from', 0, 0, 4095);
    const client = clientFrom(values, io);
    const total = {
      restored: 0,
      unchanged: 0,
      unreadable: 0,
      requeued: 0,
      librariesRestored: 0,
      placeholders: [] as number[],
      conflicts: [] as string[],
    };
    try {
      while (from !== null) {
        // Each call is idempotent, so retrying one after a lost answer is safe.
        const { data }: { data: Page } = await client.call<Page>('POST', '/v1/admin/reindex', { json: { fromShard: from, shards } });
        total.restored += data.resources.restored;
        total.unchanged += data.resources.unchanged;
        total.unreadable += data.resources.unreadable;
        total.requeued += data.resources.requeued;
        total.librariesRestored += data.libraries.restored;
        total.placeholders.push(...data.libraries.placeholders);
        total.conflicts.push(...data.libraries.conflicts);
        const reached = data.nextShard ?? data.shardCount;
        if (values.json) writeJson(io, { event: 'page', ...data });
        else if (io.tty)
          io.stderr.write(`\r\x1b[2Kshard ${reached}/${data.shardCount}: ${total.restored} restored, ${total.unchanged} already there`);
        from = data.nextShard;
      }
    } finally {
      client.close();
    }
    if (values.json) writeJson(io, { event: 'summary', ...total });
    else {
      if (io.tty) io.stderr.write('\n');
      io.stdout.write(
        `Reindex done: ${total.restored} resources restored, ${total.unchanged} already in the catalog, ${total.unreadable} unreadable records; ` +
          `${total.librariesRestored} libraries restored; ${total.requeued} processing jobs queued again.\n`,
      );
      if (total.placeholders.length)
        io.stdout.write(`Libraries without a stored copy came back as "restored-<id>": ${total.placeholders.join(', ')}.\n`);
      for (const c of total.conflicts) io.stdout.write(`Not restored: ${c}\n`);
    }
    return total.unreadable > 0 || total.conflicts.length > 0 ? EXIT.failed : EXIT.ok;
  },
};
