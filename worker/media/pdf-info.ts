import { UnreadableFileError } from '../../shared/errors.js';
import { reasonFrom, runProgram } from '../run-program.js';

export interface PdfInfo {
  pageCount: number;
  /** Page 1's size in points (1/72 inch). */
  width: number;
  height: number;
}

/**
 * Page count and page-1 size from poppler's pdfinfo. Poppler repairs what it can
 * (a broken xref table is rebuilt); a file it cannot open at all, or one locked with a
 * password, is unreadable with the reason.
 */
export async function pdfInfo(file: string): Promise<PdfInfo> {
  const run = await runProgram('pdfinfo', [file], { timeoutMs: 30_000, maxStdoutBytes: 1024 * 1024 });
  // What poppler found wrong, not its follow-on complaint about the page range it was given.
  run.stderr = run.stderr
    .split('\n')
    .filter((l) => !/^Command Line Error|Wrong page range/.test(l))
    .join('\n');
  const text = run.stdout.toString('utf8');
  if (run.code !== 0) {
    if (/incorrect password/i.test(run.stderr))
      throw new UnreadableFileError('The PDF is protected with a password; upload it without one to get a preview.');
    throw new UnreadableFileError(`The PDF could not be read (pdfinfo: ${reasonFrom(run.stderr)}).`);
  }
  const pages = Number(/^Pages:\s+(\d+)/m.exec(text)?.[1]);
  if (!pages) throw new UnreadableFileError(`The PDF has no pages poppler can find (pdfinfo: ${reasonFrom(run.stderr || text)}).`);
  const size = /^Page size:\s+([\d.]+) x ([\d.]+)/m.exec(text);
  return { pageCount: pages, width: Number(size?.[1] ?? 0), height: Number(size?.[2] ?? 0) };
}
