import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { isAdminKey, storedKey, storeKey } from './api.js';
import { LibraryView } from './views/library.js';
import { MappingsView } from './views/mappings.js';
import { QueuesView } from './views/queues.js';
import { ResourceView } from './views/resource.js';
import { SignIn } from './views/sign-in.js';

/** Routes live in the fragment (#/resources/7), so the API serves one page: /console. */
interface Route {
  name: 'library' | 'resource' | 'mappings' | 'queues';
  id?: number;
  params: URLSearchParams;
}

function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  const resource = /^\/resources\/(\d+)$/.exec(path);
  if (resource) return { name: 'resource', id: Number(resource[1]), params };
  if (path === '/mappings') return { name: 'mappings', params };
  if (path === '/queues') return { name: 'queues', params };
  return { name: 'library', params };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

type Session = { state: 'checking' } | { state: 'signed-out'; error?: string } | { state: 'signed-in'; admin: boolean };

function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session>(() => (storedKey() ? { state: 'checking' } : { state: 'signed-out' }));

  const check = async (key: string) => {
    storeKey(key);
    setSession({ state: 'checking' });
    try {
      // Refused (401) for a bad key; for a good one, says whether it is an admin key.
      setSession({ state: 'signed-in', admin: await isAdminKey() });
    } catch (err) {
      storeKey(null);
      setSession({ state: 'signed-out', error: (err as Error).message });
    }
  };
  useEffect(() => {
    const key = storedKey();
    if (key) void check(key);
  }, []);

  if (session.state === 'checking') return html`<main class="center"><p class="muted">Checking the key…</p></main>`;
  if (session.state === 'signed-out') return html`<${SignIn} error=${session.error} onSubmit=${check} />`;

  const signOut = () => {
    storeKey(null);
    setSession({ state: 'signed-out' });
  };
  const link = (href: string, label: string, active: boolean) => html`<a href=${href} class=${active ? 'active' : ''}>${label}</a>`;
  return html`
    <header class="top">
      <strong>media-ingest</strong>
      <nav>
        ${link('#/', 'Library', route.name === 'library' || route.name === 'resource')}
        ${link('#/mappings', 'Mappings', route.name === 'mappings')} ${link('#/queues', 'Queues', route.name === 'queues')}
      </nav>
      <span class="spacer"></span>
      ${session.admin ? html`<span class="badge">admin</span>` : null}
      <a href="/docs" target="_blank" rel="noopener">API docs</a>
      <button class="link" onClick=${signOut}>Sign out</button>
    </header>
    <main>
      ${
        route.name === 'resource'
          ? html`<${ResourceView} id=${route.id!} />`
          : route.name === 'mappings'
            ? html`<${MappingsView} />`
            : route.name === 'queues'
              ? html`<${QueuesView} admin=${session.admin} />`
              : html`<${LibraryView} params=${route.params} />`
      }
    </main>
  `;
}

render(html`<${App} />`, document.getElementById('app')!);
