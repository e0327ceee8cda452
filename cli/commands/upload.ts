import { AuthError, InterruptedError } from '../errors.js';
import { clientFrom, COMMON_HELP, int, parse } from '../options.js';
import { UploadReport } from '../upload-report.js';
import { Uploader } from '../uploader.js';
import { EXIT, type Command } from './command.js';

const HELP = `Usage: media-ingest upload <paths…> --library <idOrName> [options]

Uploads files and folders (walked recursively). Each file is hashed locally first;
the server is asked in batches which of them it already has, and only the rest are
sent. Run the same command again after an interruption: finished files are skipped.

Options:
  -l, --library <idOrName>  library to upload into (default: "default")
  -c, --concurrency <n>     uploads in flight at once (default 8)
  -i, --include <glob>      only files matching (repeatable), e.g. '*.jpg' or 'raw/**/*.cr2'
  -x, --exclude <glob>      skip files and folders matching (repeatable), e.g. '**/thumbs'
      --hidden              also upload dot-files and walk dot-folders
  -w, --wait                wait until the server has processed each file; report failures
      --wait-timeout <s>    give up waiting on one file after this many seconds (default 600)
      --title <text>        title for every file
      --tag <tag>           tag for every file (repeatable)
      --visibility <v>      private | public
      --no-exif             do not read embedded metadata
      --batch <n>           checksums per pre-flight request (default 1000, at most 10000)
  -v, --verbose             a line for every file, not only failures

${COMMON_HELP}

Output: a live progress line on a terminal; failures as they happen; a summary.
With --json, one line per file: {"event":"file","path",…,"status":"uploaded"|"skipped"|"failed",
"id","jobId","sha256","reason"} and a last {"event":"summary",…} line.

Exit code: 0 all uploaded or skipped, 1 some failed, 2 bad usage, 3 wrong key or
unknown library (nothing was sent), 130 interrupted.

Examples:
  media-ingest upload ./photos --library holidays
  media-ingest upload ./scans -l archive -i '*.pdf' -i '*.tif' -x '**/drafts' -c 16 --wait
  MEDIA_INGEST_URL=http://media:3000 MEDIA_INGEST_KEY=mi_… media-ingest upload a.jpg b.jpg
  media-ingest upload ./export --json | jq -r 'select(.status=="failed") | .path'
`;

export const uploadCommand: Command = {
  name: 'upload',
  summary: 'upload files and folders (resumable, skips what the server has)',
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parse(args, {
      library: { type: 'string', short: 'l', default: 'default' },
      concurrency: { type: 'string', short: 'c' },
      include: { type: 'string', short: 'i', multiple: true, default: [] },
      exclude: { type: 'string', short: 'x', multiple: true, default: [] },
      hidden: { type: 'boolean', default: false },
      wait: { type: 'boolean', short: 'w', default: false },
      'wait-timeout': { type: 'string' },
      title: { type: 'string' },
      tag: { type: 'string', multiple: true, default: [] },
      visibility: { type: 'string' },
      'no-exif': { type: 'boolean', default: false },
      batch: { type: 'string' },
      verbose: { type: 'boolean', short: 'v', default: false },
    });
    if (values.help) {
      io.stdout.write(HELP);
      return EXIT.ok;
    }
    if (positionals.length === 0) {
      io.stderr.write('Expected at least one file or folder to upload.\n\n' + HELP);
      return EXIT.usage;
    }
    const concurrency = int(values.concurrency, 'concurrency', 8, 1, 256);
    const fields: [string, string][] = [];
    if (values.title !== undefined) fields.push(['title', values.title]);
    for (const t of values.tag) fields.push(['tags', t]);
    if (values.visibility !== undefined) fields.push(['visibility', values.visibility]);
    if (values['no-exif']) fields.push(['no_exif', '1']);

    const report = new UploadReport({ json: values.json, progress: io.tty, verbose: values.verbose, stdout: io.stdout, stderr: io.stderr });
    const client = clientFrom(values, io, concurrency + 4, (r) =>
      report.notice(`retrying ${r.what} in ${(r.delayMs / 1000).toFixed(1)} s: ${r.error.message}`),
    );
    const uploader = new Uploader(
      client,
      {
        library: values.library,
        concurrency,
        wait: values.wait,
        waitTimeoutSeconds: int(values['wait-timeout'], 'wait-timeout', 600, 1, 7 * 24 * 3600),
        fields,
        batchSize: int(values.batch, 'batch', 1000, 1, 10_000),
        include: values.include,
        exclude: values.exclude,
        hidden: values.hidden,
      },
      report,
      io.signal,
    );
    try {
      await uploader.run(positionals);
    } catch (err) {
      if (err instanceof InterruptedError) {
        report.finish({ interrupted: true });
        return EXIT.interrupted;
      }
      if (err instanceof AuthError) {
        report.finish({ fatal: err.detail });
        io.stderr.write(
          `\nmedia-ingest: the server refused the API key: ${err.detail}\nCheck --key or MEDIA_INGEST_KEY. Stopped; nothing more was sent.\n`,
        );
        return EXIT.fatal;
      }
      report.abandon();
      throw err;
    } finally {
      client.close();
    }
    report.finish();
    return report.counts.failed > 0 ? EXIT.failed : EXIT.ok;
  },
};
