import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Library } from '../api.js';
import { bytes } from '../format.js';
import { Uploader, type UploadItem } from '../upload/uploader.js';

/**
 * Drop files or pick them: each starts at once (no extra click) into the chosen library,
 * and its line shows progress, then the outcome.
 */
export function UploadPanel({ library, libraries, onOutcome }: { library: string; libraries: Library[]; onOutcome: () => void }) {
  const [items, setItems] = useState<readonly UploadItem[]>([]);
  const [target, setTarget] = useState(library);
  const [over, setOver] = useState(false);
  const uploader = useRef<Uploader | null>(null);
  const done = useRef(0);
  useEffect(() => setTarget(library), [library]);
  useEffect(() => {
    const u = new Uploader(setItems);
    uploader.current = u;
    return () => u.stop();
  }, []);
  useEffect(() => {
    const finished = items.filter((i) => i.state.phase === 'done' || i.state.phase === 'processing').length;
    if (finished !== done.current) {
      done.current = finished;
      onOutcome();
    }
  }, [items, onOutcome]);

  const add = (files: FileList | null) => {
    if (files?.length) uploader.current!.add(Array.from(files), target);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    add(e.dataTransfer?.files ?? null);
  };

  return html`
    <section class="upload card">
      <div
        class="drop ${over ? 'over' : ''}"
        onDragOver=${(e: DragEvent) => (e.preventDefault(), setOver(true))}
        onDragLeave=${() => setOver(false)}
        onDrop=${onDrop}
      >
        <span>Drop files here, or</span>
        <label class="button"
          >Choose files<input
            type="file"
            multiple
            data-testid="upload-input"
            onChange=${(e: Event) => {
              const input = e.target as HTMLInputElement;
              add(input.files);
              input.value = '';
            }}
        /></label>
        <label
          >into
          <select value=${target} onChange=${(e: Event) => setTarget((e.target as HTMLSelectElement).value)}>
            ${libraries.map((l) => html`<option value=${l.name}>${l.name}</option>`)}
          </select>
        </label>
      </div>
      ${
        items.length
          ? html`<ul class="uploads">
                ${items.map((i) => html`<${Line} key=${i.key} item=${i} />`)}
              </ul>
              <button class="link" onClick=${() => uploader.current!.clearFinished()}>Clear finished</button>`
          : null
      }
    </section>
  `;
}

function Line({ item }: { item: UploadItem }) {
  const s = item.state;
  let text: unknown;
  let cls: string = s.phase;
  let percent = 0;
  if (s.phase === 'queued') text = 'waiting';
  else if (s.phase === 'sending') {
    percent = s.total ? Math.round((s.sent / s.total) * 100) : 0;
    text = `sending ${percent}%`;
  } else if (s.phase === 'processing') {
    percent = 100;
    text = html`processing <a href="#/resources/${s.resourceId}">#${s.resourceId}</a>`;
  } else {
    percent = 100;
    const o = s.outcome;
    cls = o.kind;
    text =
      o.kind === 'ready'
        ? html`ready — <a href="#/resources/${o.resourceId}">#${o.resourceId}</a>`
        : o.kind === 'duplicate'
          ? html`duplicate of ${o.of.map((id, n) => html`${n ? ', ' : ''}<a href="#/resources/${id}">#${id}</a>`)}`
          : html`failed: ${o.reason}`;
  }
  return html`
    <li class="upload-line ${cls}" data-testid="upload-item" data-transport=${item.transport}>
      <span class="name">${item.file.name}</span>
      ${item.transport === 'tus' ? html`<span class="via" title="sent through tus: a dropped connection resumes where it stopped">resumable</span>` : null}
      <span class="size">${bytes(item.file.size)}</span>
      <progress max="100" value=${percent}></progress>
      <span class="outcome" data-testid="upload-outcome">${text}</span>
    </li>
  `;
}
