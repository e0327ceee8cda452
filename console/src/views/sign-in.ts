import { html } from 'htm/preact';
import { useState } from 'preact/hooks';

export function SignIn({ error, onSubmit }: { error?: string; onSubmit: (key: string) => void }) {
  const [key, setKey] = useState('');
  const submit = (e: Event) => {
    e.preventDefault();
    if (key.trim()) onSubmit(key.trim());
  };
  return html`
    <main class="center">
      <form class="card sign-in" onSubmit=${submit}>
        <h1>media-ingest console</h1>
        <p class="muted">Paste an API key (API_KEYS; <code>npm start</code> prints one). It is kept for this browser tab only.</p>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          data-testid="api-key"
          type="password"
          autocomplete="off"
          value=${key}
          onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)}
        />
        ${error ? html`<p class="error">${error}</p>` : null}
        <button type="submit" data-testid="api-key-submit">Sign in</button>
      </form>
    </main>
  `;
}
