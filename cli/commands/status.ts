import { ProblemError, UsageError } from '../errors.js';
import { clientFrom, COMMON_HELP, int, parse, writeJson } from '../options.js';
import { EXIT, type Command } from './command.js';

const HELP = `Usage: media-ingest status [<jobId | resourceId>…] [--wait [--timeout <s>]]
       media-ingest status --batch <batchId>

Without arguments: whether the server and its dependencies answer (GET /readyz).
With job ids (ingest-7-1) or resource ids (7): their state; --wait waits until each
job finished. With --batch: a bulk reprocess batch's progress.

Options:
  -w, --wait           wait for each job to finish (exit 1 if any failed)
      --timeout <s>    with --wait: give up after this many seconds per job (default 600)
      --batch <id>     show a reprocess batch

${COMMON_HELP}

Examples:
  media-ingest status
  media-ingest status ingest-7-1 ingest-8-1 --wait
  media-ingest status 7 --json
  media-ingest status --batch 3
`;

export const statusCommand: Command = {
  name: 'status',
  summary: 'server readiness, job, resource and batch state',
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parse(args, {
      wait: { type: 'boolean', short: 'w', default: false },
      timeout: { type: 'string' },
      batch: { type: 'string' },
    });
    if (values.help) {
      io.stdout.write(HELP);
      return EXIT.ok;
    }
    const client = clientFrom(values, io);
    const out = (v: unknown, text: string) => (values.json ? writeJson(io, v) : io.stdout.write(text));
    try {
      if (values.batch !== undefined) {
        const { data } = await client.call<Record<string, unknown>>('GET', `/v1/batches/${encodeURIComponent(values.batch)}`);
        out(
          data,
          `batch ${data.id}: ${data.state}, ${data.done} done, ${data.failed} failed, ${data.skipped} skipped of ${data.total}${data.totalIsEstimate ? ' (estimate)' : ''}\n`,
        );
        return EXIT.ok;
      }
      if (positionals.length === 0) {
        const { data } = await client.call<Record<string, unknown>>('GET', '/readyz', { retry: false }).catch((err: unknown) => {
          if (err instanceof ProblemError) return { data: { status: 'not ready', ...err.problem } };
          throw err;
        });
        // Also proves the key: /readyz needs none.
        await client.call('GET', '/v1/libraries', { retry: false });
        out({ url: client.baseUrl.href, ...data }, `${client.baseUrl.href}: ${JSON.stringify(data)}\n`);
        return data.status === 'not ready' ? EXIT.failed : EXIT.ok;
      }
      const timeout = int(values.timeout, 'timeout', 600, 1, 7 * 24 * 3600);
      let failed = 0;
      for (const ref of positionals) {
        if (/^\d+$/.test(ref)) {
          const { data } = await client.call<Record<string, unknown>>('GET', `/v1/resources/${ref}`);
          out(
            data,
            `resource ${data.id}: ${data.status}${data.error ? ` (${data.error})` : ''} — ${data.fileName}, ${data.mimeType}, job ${data.jobId}\n`,
          );
          if (data.status === 'failed') failed++;
          continue;
        }
        if (!/^[A-Za-z0-9_-]+$/.test(ref))
          throw new UsageError(`Expected a job id (ingest-7-1) or a resource id (7) but received "${ref}".`);
        const state = values.wait
          ? await waitJob(client, ref, timeout)
          : (await client.call<Record<string, unknown>>('GET', `/v1/jobs/${ref}`)).data;
        out(state, `job ${ref}: ${state.state}${state.error ? ` (${state.error})` : ''}\n`);
        if (state.state === 'failed') failed++;
      }
      return failed ? EXIT.failed : EXIT.ok;
    } finally {
      client.close();
    }
  },
};

/** Long-polls a job's /wait until it finished or `timeout` ran out; the job's state as GET would show it. */
async function waitJob(client: ReturnType<typeof clientFrom>, id: string, timeout: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeout * 1000;
  for (;;) {
    const left = Math.ceil((deadline - Date.now()) / 1000);
    try {
      const res = await client.call<Record<string, unknown>>('GET', `/v1/jobs/${id}/wait?timeout=${Math.max(1, Math.min(30, left))}`);
      if (res.status !== 202 || left <= 1) return (await client.call<Record<string, unknown>>('GET', `/v1/jobs/${id}`)).data;
    } catch (err) {
      // The job failed: /wait answers the failure's status; GET shows the whole state.
      if (err instanceof ProblemError && err.status !== 404)
        return (await client.call<Record<string, unknown>>('GET', `/v1/jobs/${id}`)).data;
      throw err;
    }
  }
}
