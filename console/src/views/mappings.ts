import { html } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { ApiError } from '../api.js';
import { getJson, request, type Batch, type Library, type Mappings } from '../api.js';
import { duration, when } from '../format.js';

const TYPES = ['text', 'list', 'date', 'number', 'integer', 'latitude', 'longitude'];

interface Row {
  key: number;
  name: string;
  tags: string;
  type: string;
}

let rowSeq = 0;
const toRows = (m: Mappings): Row[] =>
  Object.entries(m.fields).map(([name, f]) => ({ key: ++rowSeq, name, tags: f.tags.join(', '), type: f.type }));

/** The API names each bad entry `fields.<name>…: …`; the message goes next to that row. */
function problemsByField(problems: unknown): { byField: Record<string, string[]>; other: string[] } {
  const byField: Record<string, string[]> = {};
  const other: string[] = [];
  for (const p of Array.isArray(problems) ? problems.map(String) : []) {
    const m = /^fields\.([^.:[\s]+)/.exec(p);
    if (m) (byField[m[1]!] ??= []).push(p);
    else other.push(p);
  }
  return { byField, other };
}

export function MappingsView() {
  const [mappings, setMappings] = useState<Mappings | null>(null);
  const [rows, setRows] = useState<Row[]>([]);
  const [errors, setErrors] = useState<{ byField: Record<string, string[]>; other: string[] }>({ byField: {}, other: [] });
  const [note, setNote] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const load = useCallback(async () => {
    const m = await getJson<Mappings>('/v1/mappings');
    setMappings(m);
    setRows(toRows(m));
  }, []);
  useEffect(() => void load().catch((err: Error) => setNote(err.message)), [load]);

  const edit = (key: number, patch: Partial<Row>) => setRows(rows.map((r) => (r.key === key ? { ...r, ...patch } : r)));
  const save = async (e: Event) => {
    e.preventDefault();
    const names = rows.map((r) => r.name.trim());
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) {
      setErrors({ byField: { [dup]: [`fields.${dup}: the name is used twice.`] }, other: [] });
      return;
    }
    const fields = Object.fromEntries(
      rows.map((r) => [
        r.name.trim(),
        {
          tags: r.tags
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean),
          type: r.type,
        },
      ]),
    );
    setSaving(true);
    setNote(null);
    try {
      const out = await getJson<Mappings & { changed: boolean }>('/v1/mappings', {
        method: 'PUT',
        json: { version: mappings!.version, fields },
      });
      setErrors({ byField: {}, other: [] });
      setMappings(out);
      setRows(toRows(out));
      setNote(
        out.changed
          ? `Saved as version ${out.version}. Resources processed with older mappings are stale: revert them below.`
          : 'No change.',
      );
    } catch (err) {
      const e = err as ApiError;
      const found = problemsByField(e.problem.problems);
      if (!Object.keys(found.byField).length && !found.other.length) found.other.push(e.message);
      setErrors(found);
    } finally {
      setSaving(false);
    }
  };

  if (!mappings) return html`<p class="muted">${note ?? 'Loading…'}</p>`;
  return html`
    <h1>
      Field mappings
      <span class="muted"
        >version
        <span data-testid="mappings-current-version">${mappings.version}</span
        >${mappings.updated ? `, saved ${when(mappings.updated)}` : ' (the defaults)'}</span
      >
    </h1>
    <p class="muted">
      Each field is read from the first of its tags (as <code>exiftool -G</code> names them, e.g. <code>XMP:Title</code>) that has a usable
      value.
    </p>
    <form class="mappings" onSubmit=${save}>
      <table>
        <tr>
          <th>field</th>
          <th>tags, in order</th>
          <th>type</th>
          <th></th>
        </tr>
        ${rows.map((r) => {
          const problems = errors.byField[r.name.trim()];
          return html`<tr data-testid="mapping-field" data-field=${r.name} class=${problems ? 'invalid' : ''}>
            <td>
              <input
                value=${r.name}
                data-testid="mapping-name"
                aria-label="field name"
                onInput=${(e: Event) => edit(r.key, { name: (e.target as HTMLInputElement).value })}
              />
            </td>
            <td>
              <input
                class="tags"
                value=${r.tags}
                data-testid="mapping-tags"
                aria-label="tags of ${r.name}"
                onInput=${(e: Event) => edit(r.key, { tags: (e.target as HTMLInputElement).value })}
              />
              ${problems ? html`<div class="error field-error" data-testid="mapping-error">${problems.join(' ')}</div>` : null}
            </td>
            <td>
              <select value=${r.type} onChange=${(e: Event) => edit(r.key, { type: (e.target as HTMLSelectElement).value })}>
                ${TYPES.map((t) => html`<option>${t}</option>`)}
              </select>
            </td>
            <td><button type="button" class="link" onClick=${() => setRows(rows.filter((x) => x.key !== r.key))}>remove</button></td>
          </tr>`;
        })}
      </table>
      ${errors.other.map((p) => html`<p class="error">${p}</p>`)}
      <button type="button" onClick=${() => setRows([...rows, { key: ++rowSeq, name: '', tags: '', type: 'text' }])}>Add field</button>
      <button type="submit" data-testid="mappings-save" disabled=${saving}>${saving ? 'Saving…' : 'Save mappings'}</button>
      <button type="button" class="link" onClick=${() => (setRows(toRows(mappings)), setErrors({ byField: {}, other: [] }))}>
        Undo changes
      </button>
      ${note ? html`<p class="note" data-testid="mappings-note">${note}</p>` : null}
    </form>
    <${BulkRevert} />
  `;
}

const BATCH_KEY = 'media-ingest.batch';

/** Start a bulk revert and follow it live: progress, ETA; pause, resume, cancel. */
function BulkRevert() {
  const [libraries, setLibraries] = useState<Library[]>([]);
  const [library, setLibrary] = useState('');
  const [staleOnly, setStaleOnly] = useState(true);
  const [reread, setReread] = useState(false);
  const [batch, setBatch] = useState<Batch | null>(null);
  const [batchId, setBatchId] = useState<number | null>(() => Number(sessionStorage.getItem(BATCH_KEY)) || null);
  const [error, setError] = useState<string | null>(null);

  useEffect(
    () =>
      void getJson<{ libraries: Library[] }>('/v1/libraries').then(
        (r) => setLibraries(r.libraries),
        () => undefined,
      ),
    [],
  );
  useEffect(() => {
    if (!batchId) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const b = await getJson<Batch>(`/v1/batches/${batchId}`);
        if (!live) return;
        setBatch(b);
        if (b.state === 'running' || b.state === 'paused') timer = setTimeout(poll, 1000);
      } catch (err) {
        if (live) setError((err as Error).message);
      }
    };
    void poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [batchId]);

  const act = async (what: () => Promise<Response>) => {
    setError(null);
    try {
      const b = (await (await what()).json()) as Batch;
      setBatch(b);
      sessionStorage.setItem(BATCH_KEY, String(b.id));
      // A new id restarts the live view; the same id after pause/resume keeps it going.
      setBatchId(null);
      setTimeout(() => setBatchId(b.id), 0);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const start = () =>
    act(() => request('/v1/reprocess', { method: 'POST', json: { ...(library ? { library } : { all: true }), staleOnly, reread } }));

  return html`
    <section class="card bulk">
      <h2>Bulk revert</h2>
      <div class="toolbar">
        <label
          >Library
          <select value=${library} onChange=${(e: Event) => setLibrary((e.target as HTMLSelectElement).value)}>
            <option value="">all libraries</option>
            ${libraries.map((l) => html`<option value=${l.name}>${l.name}</option>`)}
          </select>
        </label>
        <label
          ><input type="checkbox" checked=${staleOnly} onChange=${(e: Event) => setStaleOnly((e.target as HTMLInputElement).checked)} />
          only stale (older mappings)</label
        >
        <label
          ><input type="checkbox" checked=${reread} onChange=${(e: Event) => setReread((e.target as HTMLInputElement).checked)} /> re-read
          files</label
        >
        <button data-testid="bulk-revert-start" onClick=${start}>Start revert</button>
      </div>
      ${error ? html`<p class="error">${error}</p>` : null}
      ${
        batch
          ? html`<div class="batch" data-testid="batch" data-state=${batch.state}>
              <div>
                <strong>Batch #${batch.id}</strong> <span class="status ${batch.state}" data-testid="batch-state">${batch.state}</span>
              </div>
              <progress max="100" value=${batch.percent}></progress>
              <div>
                ${batch.percent}% · ${batch.done} done, ${batch.failed} failed of ${batch.total} · ETA ${duration(batch.eta?.seconds)}
              </div>
              <div class="toolbar">
                <button
                  disabled=${batch.state !== 'running'}
                  onClick=${() => act(() => request(`/v1/batches/${batch.id}/pause`, { method: 'POST' }))}
                >
                  Pause
                </button>
                <button
                  disabled=${batch.state !== 'paused'}
                  onClick=${() => act(() => request(`/v1/batches/${batch.id}/resume`, { method: 'POST' }))}
                >
                  Resume
                </button>
                <button
                  class="danger"
                  disabled=${batch.state !== 'running' && batch.state !== 'paused'}
                  onClick=${() => act(() => request(`/v1/batches/${batch.id}`, { method: 'DELETE' }))}
                >
                  Cancel
                </button>
              </div>
            </div>`
          : null
      }
    </section>
  `;
}
