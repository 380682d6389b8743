// Is a file DICOM Part 10? Such a file has a 128-byte preamble followed by "DICM".
// Files without the preamble (bare data sets) are not accepted by STOW-RS either, so the
// check is exactly what the server needs.
export const SNIFF_BYTES = 132;

export function hasDicmPrefix(head: Uint8Array): boolean {
  return (
    head.length >= SNIFF_BYTES &&
    head[128] === 0x44 && // D
    head[129] === 0x49 && // I
    head[130] === 0x43 && // C
    head[131] === 0x4d // M
  );
}

export async function isDicomFile(file: Blob): Promise<boolean> {
  if (file.size < SNIFF_BYTES) return false;
  const head = new Uint8Array(await file.slice(0, SNIFF_BYTES).arrayBuffer());
  return hasDicmPrefix(head);
}
