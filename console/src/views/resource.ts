import { html } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { ApiError } from '../api.js';
import { errorText, getJson, request, type Job, type Rendition, type Resource } from '../api.js';
import { bytes, when } from '../format.js';
import { localPath, useImage } from '../images.js';

/** One resource: its renditions, mapped fields, the original's metadata, its jobs; delete and revert. */
export function ResourceView({ id }: { id: number }) {
  const [resource, setResource] = useState<Resource | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [reread, setReread] = useState(false);
  const [renditions, setRenditions] = useState(false);
  const [filter, setFilter] = useState('');

  const load = useCallback(async () => {
    try {
      setResource(await getJson<Resource>(`/v1/resources/${id}`));
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [id]);
  useEffect(() => void load(), [load]);
  useEffect(() => {
    if (resource?.status !== 'processing') return;
    const t = setTimeout(() => void load(), 2000);
    return () => clearTimeout(t);
  }, [resource, load]);

  const revert = async () => {
    setBusy('revert');
    setNote(null);
    try {
      const res = await request(`/v1/resources/${id}/reprocess?wait=30`, { method: 'POST', json: { reread, renditions } });
      setNote(res.status === 204 ? 'Revert done.' : 'Revert queued; still running after 30 s.');
      await load();
    } catch (err) {
      setNote(`Revert failed: ${(err as ApiError).message}`);
    } finally {
      setBusy(null);
    }
  };
  const remove = async () => {
    if (!confirm(`Delete resource #${id}, its file and renditions?`)) return;
    setBusy('delete');
    try {
      await request(`/v1/resources/${id}`, { method: 'DELETE' });
      location.hash = '#/';
    } catch (err) {
      setNote(`Delete failed: ${(err as ApiError).message}`);
      setBusy(null);
    }
  };

  if (error)
    return html`<p class="error">${error}</p>
      <p><a href="#/">‹ Library</a></p>`;
  if (!resource) return html`<p class="muted">Loading…</p>`;
  const r = resource;
  const metadata = Object.entries(r.metadata ?? {}).filter(
    ([k, v]) => !filter || `${k} ${String(v)}`.toLowerCase().includes(filter.toLowerCase()),
  );
  return html`
    <p><a href="#/">‹ Library</a></p>
    <div class="resource" data-testid="resource-page">
      <header class="resource-head">
        <h1>#${r.id} ${r.fileName}</h1>
        <span class="status ${r.status}" data-testid="resource-status">${r.status}</span>
        <span class="spacer"></span>
        <label
          ><input type="checkbox" checked=${reread} onChange=${(e: Event) => setReread((e.target as HTMLInputElement).checked)} /> re-read
          metadata</label
        >
        <label
          ><input type="checkbox" checked=${renditions} onChange=${(e: Event) => setRenditions((e.target as HTMLInputElement).checked)} />
          render again</label
        >
        <button data-testid="revert" disabled=${!!busy} onClick=${revert}>${busy === 'revert' ? 'Reverting…' : 'Revert'}</button>
        <button data-testid="delete" class="danger" disabled=${!!busy} onClick=${remove}>Delete</button>
      </header>
      ${note ? html`<p class="note" data-testid="resource-note">${note}</p>` : null}
      ${r.status === 'failed' ? html`<p class="error">${errorText(r.error)}</p>` : null}
      <dl class="facts">
        <dt>type</dt>
        <dd>${r.mimeType} (${r.type})</dd>
        <dt>size</dt>
        <dd>${bytes(r.size)}${r.width ? ` · ${r.width}×${r.height}` : ''}</dd>
        <dt>created</dt>
        <dd>${when(r.created)}</dd>
        <dt>file version</dt>
        <dd>${r.fileVersion}</dd>
        <dt>mappings version</dt>
        <dd data-testid="mappings-version">${r.mappingsVersion ?? '—'}</dd>
        <dt>original</dt>
        <dd><${OriginalLink} resource=${r} /></dd>
      </dl>
      ${
        r.warnings?.length
          ? html`<ul class="warnings">
              ${r.warnings.map((w) => html`<li>${w}</li>`)}
            </ul>`
          : null
      }
      <h2>Renditions</h2>
      <ul class="renditions">
        ${(r.renditions ?? []).map((x) => html`<${RenditionTile} rendition=${x} />`)}
        ${r.renditions?.length ? null : html`<li class="muted">none</li>`}
      </ul>
      <h2>Mapped fields</h2>
      <table class="kv" data-testid="fields">
        ${Object.entries(r.fields ?? {}).map(
          ([k, v]) =>
            html`<tr data-field=${k}>
              <th>${k}</th>
              <td>${Array.isArray(v) ? v.join(', ') : String(v)}</td>
            </tr>`,
        )}
      </table>
      ${Object.keys(r.fields ?? {}).length ? null : html`<p class="muted">No mapped fields.</p>`}
      <${JobHistory} resource=${r} />
      <h2>
        Original's metadata
        <input
          class="filter"
          placeholder="filter tags"
          value=${filter}
          onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)}
        />
      </h2>
      <table class="kv metadata">
        ${metadata.map(
          ([k, v]) =>
            html`<tr>
              <th>${k}</th>
              <td>${typeof v === 'object' ? JSON.stringify(v) : String(v)}</td>
            </tr>`,
        )}
      </table>
    </div>
  `;
}

function RenditionTile({ rendition: x }: { rendition: Rendition }) {
  const src = useImage(localPath(x.url));
  return html`<li>
    <div class="thumb">${src ? html`<img src=${src} alt=${x.name} />` : null}</div>
    <span>${x.name} · ${x.width}×${x.height} ${x.format} · ${bytes(x.size)}</span>
  </li>`;
}

/** The original is served at /image/0x0/{id}.{ext}; fetched with the key, saved from a blob. */
function OriginalLink({ resource: r }: { resource: Resource }) {
  const download = async (e: Event) => {
    e.preventDefault();
    const res = await request(`/image/0x0/${r.id}.${r.extension}`);
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = r.fileName;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  return r.extension ? html`<a href="#" onClick=${download}>download ${r.fileName}</a>` : html`—`;
}

/**
 * Job ids name their resource and file version (ingest-{id}-{version}), so the ingest job
 * of every file version is known, and the resource names its latest job (a revert's).
 * Earlier reverts are not indexed by resource, so they are not listed.
 */
function JobHistory({ resource: r }: { resource: Resource }) {
  const [jobs, setJobs] = useState<(Job | { id: string; missing: string })[]>([]);
  useEffect(() => {
    const ids = Array.from({ length: r.fileVersion }, (_, i) => `ingest-${r.id}-${i + 1}`);
    if (r.jobId && !ids.includes(r.jobId)) ids.push(r.jobId);
    let live = true;
    void Promise.all(
      ids.map((j) => getJson<Job>(`/v1/jobs/${encodeURIComponent(j)}`).catch((err: Error) => ({ id: j, missing: err.message }))),
    ).then((list) => live && setJobs(list));
    return () => {
      live = false;
    };
  }, [r.id, r.fileVersion, r.jobId, r.status]);
  return html`
    <h2>Jobs</h2>
    <table class="jobs" data-testid="jobs">
      <tr>
        <th>job</th>
        <th>kind</th>
        <th>state</th>
        <th>attempts</th>
        <th>created</th>
        <th>finished</th>
      </tr>
      ${jobs.map((j) =>
        'missing' in j
          ? html`<tr>
              <td>${j.id}</td>
              <td colspan="5" class="muted">${j.missing}</td>
            </tr>`
          : html`<tr>
              <td>${j.id}</td>
              <td>${j.type}</td>
              <td class="status ${j.state}">${j.state}${j.state === 'failed' ? html` — ${errorText(j.error)}` : null}</td>
              <td>${j.attemptsMade ?? '—'}</td>
              <td>${when(j.createdAt)}</td>
              <td>${when(j.finishedAt)}</td>
            </tr>`,
      )}
    </table>
  `;
}
