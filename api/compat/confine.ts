import { DEFAULT_LIBRARY, type Catalog } from '../../shared/catalog/catalog.js';
import { NotFoundError } from '../../shared/errors.js';
import type { Library, ResourceRecord } from '../../shared/model.js';

/**
 * What one compatibility credential may touch (issue 21): the libraries named after its
 * `@` (RESOURCESPACE_USERS, COPERNICA_TOKENS, FLOTIQ_API_KEYS), `default` when none, or
 * every library for `@*`. Anything outside answers exactly as a thing that does not
 * exist — the face's own "not found" — so a credential cannot even learn what is there.
 */
export class Confinement {
  private ids: Promise<Set<number> | '*'> | undefined;

  constructor(
    private readonly catalog: Catalog,
    private readonly libraries: readonly string[],
  ) {}

  /** `@*`: every library, those made later too. */
  get everyLibrary(): boolean {
    return this.libraries.includes('*');
  }

  /** Where the face's uploads go: the first library named (`default` for `@*`). */
  async uploadLibrary(): Promise<Library> {
    const first = this.libraries[0] === '*' || this.libraries[0] === undefined ? DEFAULT_LIBRARY : this.libraries[0];
    return this.catalog.getLibrary(first);
  }

  async allows(libraryId: number): Promise<boolean> {
    this.ids ??= this.resolve();
    const ids = await this.ids;
    return ids === '*' || ids.has(libraryId);
  }

  /** A library by id or name, or the catalog's own "not found" for one outside. */
  async library(idOrName: string): Promise<Library> {
    const lib = await this.catalog.getLibrary(idOrName);
    if (!(await this.allows(lib.id))) throw new NotFoundError('library', idOrName);
    return lib;
  }

  /** A resource, or the catalog's own "not found" for one outside. */
  async resource(id: number): Promise<ResourceRecord> {
    const rec = await this.catalog.requireResource(id);
    if (!(await this.allows(rec.library))) throw new NotFoundError('resource', id);
    return rec;
  }

  private async resolve(): Promise<Set<number> | '*'> {
    if (this.libraries.includes('*')) return '*';
    const found = await Promise.all(this.libraries.map((name) => this.catalog.findLibrary(name)));
    return new Set(found.filter((l): l is Library => l !== undefined).map((l) => l.id));
  }
}
