import { html } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { getJson, request } from '../api.js';
import { when } from '../format.js';

interface Lanes {
  lanes: { lane: string; queues: { queue: string; paused: boolean; counts: Record<string, number> }[] }[];
  failures: {
    queue: string;
    jobId: string | null;
    name: string;
    reason: string;
    failedAt: string | null;
    attempts: number;
    resourceId: number | null;
  }[];
}

const STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed'];

/** Depth per lane and the latest failures, every few seconds; pause/resume and the dashboard for admins. */
export function QueuesView({ admin }: { admin: boolean }) {
  const [data, setData] = useState<Lanes | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setData(await getJson<Lanes>('/v1/queues'));
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, []);
  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), 3000);
    return () => clearInterval(t);
  }, [load]);
  const lane = async (name: string, action: 'pause' | 'resume') => {
    await request(`/admin/lanes/${name}/${action}`, { method: 'POST' }).catch((err: Error) => setError(err.message));
    await load();
  };

  return html`
    <h1>
      Queues
      ${admin ? html`<a class="small" href="/admin/queues" target="_blank" rel="noopener" data-testid="dashboard-link">open the dashboard ↗</a>` : null}
    </h1>
    ${admin ? html`<p class="muted">The dashboard asks for the admin key as the password (any user name).</p>` : null}
    ${error ? html`<p class="error">${error}</p>` : null}
    ${
      data
        ? html`<table class="lanes" data-testid="lanes">
              <tr>
                <th>lane</th>
                <th>queue</th>
                ${STATES.map((s) => html`<th>${s}</th>`)}
                <th></th>
              </tr>
              ${data.lanes.flatMap((l) =>
                l.queues.map(
                  (q, i) =>
                    html`<tr class=${q.paused ? 'paused' : ''}>
                      <td>${i === 0 ? l.lane : ''}</td>
                      <td>${q.queue}${q.paused ? ' (paused)' : ''}</td>
                      ${STATES.map((s) => html`<td class="num">${q.counts[s] ?? 0}</td>`)}
                      <td>
                        ${
                          admin && i === 0
                            ? html`<button class="link" onClick=${() => lane(l.lane, q.paused ? 'resume' : 'pause')}>
                                ${q.paused ? 'resume lane' : 'pause lane'}
                              </button>`
                            : null
                        }
                      </td>
                    </tr>`,
                ),
              )}
            </table>
            <h2>Recent failures</h2>
            ${
              data.failures.length
                ? html`<table class="failures">
                    <tr>
                      <th>when</th>
                      <th>queue</th>
                      <th>job</th>
                      <th>resource</th>
                      <th>attempts</th>
                      <th>reason</th>
                    </tr>
                    ${data.failures.map(
                      (f) =>
                        html`<tr>
                          <td>${when(f.failedAt)}</td>
                          <td>${f.queue}</td>
                          <td>${f.jobId}</td>
                          <td>${f.resourceId ? html`<a href="#/resources/${f.resourceId}">#${f.resourceId}</a>` : '—'}</td>
                          <td class="num">${f.attempts}</td>
                          <td>${f.reason}</td>
                        </tr>`,
                    )}
                  </table>`
                : html`<p class="muted">No failed jobs kept (failures are kept for 7 days).</p>`
            }`
        : html`<p class="muted">Loading…</p>`
    }
  `;
}
