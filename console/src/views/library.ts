import { html } from 'htm/preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { getJson, type Library, type Page, type Resource } from '../api.js';
import { useImage, thumbnailOf, localPath } from '../images.js';
import { UploadPanel } from './upload.js';

const PAGE_SIZE = 48;

function setParams(params: URLSearchParams, patch: Record<string, string | null>): void {
  const next = new URLSearchParams(params);
  for (const [k, v] of Object.entries(patch)) {
    if (v) next.set(k, v);
    else next.delete(k);
  }
  location.hash = `#/?${next}`;
}

/** Libraries with counts, the upload panel, and a page of resources with thumbnails. */
export function LibraryView({ params }: { params: URLSearchParams }) {
  const library = params.get('library') ?? 'default';
  const status = params.get('status') ?? '';
  const type = params.get('type') ?? '';
  const [libraries, setLibraries] = useState<Library[]>([]);
  const [error, setError] = useState<string | null>(null);

  const loadLibraries = useCallback(async () => {
    try {
      const { libraries } = await getJson<{ libraries: Library[] }>('/v1/libraries');
      setLibraries(await Promise.all(libraries.map((l) => getJson<Library>(`/v1/libraries/${l.id}`))));
    } catch (err) {
      setError((err as Error).message);
    }
  }, []);
  useEffect(() => void loadLibraries(), [loadLibraries]);

  // Cursor paging: the API's nextCursor forward, a stack of the cursors seen to go back.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  useEffect(() => setCursors([null]), [library, status, type]);
  const [page, setPage] = useState<Page | null>(null);
  const [tick, setTick] = useState(0);
  const refresh = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    let live = true;
    const q = new URLSearchParams({ library, limit: String(PAGE_SIZE) });
    if (cursor) q.set('cursor', cursor);
    if (status) q.set('status', status);
    if (type) q.set('type', type);
    getJson<Page>(`/v1/resources?${q}`).then(
      (p) => live && (setPage(p), setError(null)),
      (err: Error) => live && setError(err.message),
    );
    return () => {
      live = false;
    };
  }, [library, cursor, status, type, tick]);

  // While anything shown is still processing, look again every two seconds.
  const processing = page?.resources.some((r) => r.status === 'processing') ?? false;
  useEffect(() => {
    if (!processing) return;
    const t = setTimeout(refresh, 2000);
    return () => clearTimeout(t);
  }, [processing, page, refresh]);

  const onUploaded = useMemo(() => {
    let pending: ReturnType<typeof setTimeout> | undefined;
    return () => {
      clearTimeout(pending);
      pending = setTimeout(() => {
        refresh();
        void loadLibraries();
      }, 300);
    };
  }, [refresh, loadLibraries]);

  return html`
    <div class="library">
      <aside class="libraries">
        <h2>Libraries</h2>
        <ul>
          ${libraries.map(
            (l) =>
              html`<li class=${l.name === library || String(l.id) === library ? 'active' : ''}>
                <a href="#/?library=${encodeURIComponent(l.name)}">${l.name}</a> <span class="count">${l.resourceCount ?? ''}</span>
              </li>`,
          )}
        </ul>
      </aside>
      <section class="content">
        <${UploadPanel} library=${library} libraries=${libraries} onOutcome=${onUploaded} />
        <div class="toolbar">
          <label
            >Status
            <select value=${status} onChange=${(e: Event) => setParams(params, { status: (e.target as HTMLSelectElement).value })}>
              <option value="">any</option>
              <option value="processing">processing</option>
              <option value="ready">ready</option>
              <option value="failed">failed</option>
            </select>
          </label>
          <label
            >Type
            <select value=${type} onChange=${(e: Event) => setParams(params, { type: (e.target as HTMLSelectElement).value })}>
              <option value="">any</option>
              <option value="image">image</option>
              <option value="file">file</option>
            </select>
          </label>
          <span class="spacer"></span>
          <button disabled=${cursors.length < 2} onClick=${() => setCursors(cursors.slice(0, -1))}>‹ Previous</button>
          <span class="muted">page ${cursors.length}</span>
          <button disabled=${!page?.nextCursor} onClick=${() => page?.nextCursor && setCursors([...cursors, page.nextCursor])}>
            Next ›
          </button>
        </div>
        ${error ? html`<p class="error">${error}</p>` : null}
        ${page && page.resources.length === 0 ? html`<p class="muted">Nothing here${status || type ? ' with these filters on this stretch of the library; try Next ›' : ' yet: drop files above'}.</p>` : null}
        <ul class="grid">
          ${page?.resources.map((r) => html`<${Tile} key=${r.id} resource=${r} />`)}
        </ul>
      </section>
    </div>
  `;
}

function Tile({ resource: r }: { resource: Resource }) {
  const thumb = thumbnailOf(r);
  const src = useImage(thumb ? localPath(thumb.url) : undefined);
  const ref = useRef<HTMLLIElement>(null);
  return html`
    <li ref=${ref} class="tile ${r.status}" data-testid="resource" data-resource-id=${String(r.id)}>
      <a href="#/resources/${r.id}" title=${r.fileName}>
        <div class="thumb">
          ${src ? html`<img src=${src} alt=${r.fileName} width=${thumb!.width} height=${thumb!.height} />` : html`<span class="placeholder">${r.type === 'image' ? r.status : (r.extension ?? 'file')}</span>`}
        </div>
        <div class="caption"><span class="name">${r.fileName}</span><span class="status ${r.status}">${r.status}</span></div>
      </a>
    </li>
  `;
}
