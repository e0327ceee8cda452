/**
 * The warnings a tag set carries: exiftool reports problems with a file as the tags
 * ExifTool:Error and ExifTool:Warning. Derived from the stored tags, so a revert from
 * stored tags reports exactly what the read that produced them reported.
 */
export function tagWarnings(tags: Readonly<Record<string, unknown>>): string[] {
  const out: string[] = [];
  const error = tags['ExifTool:Error'];
  const warning = tags['ExifTool:Warning'];
  if (typeof error === 'string') out.push(`exiftool: ${error}`);
  if (typeof warning === 'string') out.push(`exiftool: ${warning}`);
  return out;
}
